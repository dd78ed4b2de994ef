//! Method matching.

use http::Method;

use crate::Error;

#[derive(Clone, Debug)]
pub struct MethodMatcher(Method);

impl MethodMatcher {
    pub fn compile(method: &str) -> Result<MethodMatcher, Error> {
        Method::from_bytes(method.as_bytes())
            .map(MethodMatcher)
            .map_err(|_| Error::Method(method.to_string()))
    }

    pub fn matches(&self, method: &Method) -> bool {
        self.0 == *method
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_only_that_method() {
        let m = MethodMatcher::compile("POST").unwrap();
        assert!(m.matches(&Method::POST));
        assert!(!m.matches(&Method::GET));
        let custom = MethodMatcher::compile("PURGE").unwrap();
        assert!(custom.matches(&Method::from_bytes(b"PURGE").unwrap()));
        assert!(MethodMatcher::compile("BAD METHOD").is_err());
    }
}
