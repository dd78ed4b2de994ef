//! The UI's static files, embedded at compile time.

pub(crate) const INDEX_HTML: &str = include_str!("assets/index.html");
pub(crate) const APP_JS: &str = include_str!("assets/app.js");
pub(crate) const MAP_JS: &str = include_str!("assets/map.js");
pub(crate) const STYLE_CSS: &str = include_str!("assets/style.css");
