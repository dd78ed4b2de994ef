//! String value matching shared by header and query-parameter matchers.

use portico_ir::StringMatch;
use regex::Regex;

use crate::Error;

#[derive(Clone, Debug)]
pub enum ValueMatcher {
    Exact(Box<str>),
    Regex(Regex),
}

impl ValueMatcher {
    pub fn compile(m: &StringMatch) -> Result<ValueMatcher, Error> {
        Ok(match m {
            StringMatch::Exact(v) => ValueMatcher::Exact(v.as_str().into()),
            StringMatch::Regex(re) => ValueMatcher::Regex(super::anchored_regex(re)?),
        })
    }

    pub fn matches(&self, value: &str) -> bool {
        match self {
            ValueMatcher::Exact(v) => value == &**v,
            ValueMatcher::Regex(re) => re.is_match(value),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_is_case_sensitive_and_regex_anchored() {
        let exact = ValueMatcher::compile(&StringMatch::Exact("Val".into())).unwrap();
        assert!(exact.matches("Val"));
        assert!(!exact.matches("val"));
        let re = ValueMatcher::compile(&StringMatch::Regex("v[0-9]".into())).unwrap();
        assert!(re.matches("v1"));
        assert!(!re.matches("xv1"));
        assert!(!re.matches("v12"));
    }
}
