//! In-process proxy tests: the real data plane on port 0 in front of real
//! HTTP backends, driven by IR values built directly.

// Test helpers panic on setup failures by design.
#![allow(clippy::unwrap_used)]

mod common;
mod filters;
mod flows;
mod https;
mod idle;
mod l4;
mod lifecycle;
mod proxy_protocol;
mod replay;
mod routing;
mod upstream;
mod websocket_h2;
