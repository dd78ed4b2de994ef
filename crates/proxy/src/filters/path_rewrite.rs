//! Path modification shared by RequestRedirect and URLRewrite.

use portico_ir::PathModifier;

#[derive(Clone, Debug)]
pub enum PathRewrite {
    Full(Box<str>),
    /// Replace `matched` (the rule's PathPrefix, trailing `/` removed).
    Prefix {
        matched: Box<str>,
        replacement: Box<str>,
    },
}

impl PathRewrite {
    /// `matched_prefix` is the rule's PathPrefix; without one,
    /// ReplacePrefixMatch replaces the root prefix (`/`).
    pub fn compile(m: &PathModifier, matched_prefix: Option<&str>) -> PathRewrite {
        match m {
            PathModifier::ReplaceFullPath(p) => PathRewrite::Full(p.as_str().into()),
            PathModifier::ReplacePrefixMatch(r) => PathRewrite::Prefix {
                matched: matched_prefix.unwrap_or("").trim_end_matches('/').into(),
                replacement: r.as_str().into(),
            },
        }
    }

    /// The new path for `path` (without query).
    pub fn rewrite(&self, path: &str) -> String {
        match self {
            PathRewrite::Full(p) => p.to_string(),
            PathRewrite::Prefix {
                matched,
                replacement,
            } => {
                let rest = path.strip_prefix(&**matched).unwrap_or(path);
                let head = replacement.trim_end_matches('/');
                let mut out = String::with_capacity(head.len() + rest.len() + 1);
                out.push_str(head);
                if !rest.is_empty() && !rest.starts_with('/') {
                    out.push('/');
                }
                out.push_str(rest);
                if out.is_empty() {
                    out.push('/');
                }
                out
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefix(matched: &str, replacement: &str) -> PathRewrite {
        PathRewrite::compile(
            &PathModifier::ReplacePrefixMatch(replacement.into()),
            Some(matched),
        )
    }

    #[test]
    fn replace_prefix_match_table_from_the_spec() {
        // (prefix, request path, replacement, expected)
        let cases = [
            ("/foo", "/foo/bar", "/xyz", "/xyz/bar"),
            ("/foo", "/foo/bar", "/xyz/", "/xyz/bar"),
            ("/foo/", "/foo/bar", "/xyz", "/xyz/bar"),
            ("/foo/", "/foo/bar", "/xyz/", "/xyz/bar"),
            ("/foo", "/foo", "/xyz", "/xyz"),
            ("/foo", "/foo/", "/xyz", "/xyz/"),
            ("/foo/", "/foo", "/xyz", "/xyz"),
            ("/foo", "/foo/bar", "/", "/bar"),
            ("/foo", "/foo", "/", "/"),
            ("/", "/foo/bar", "/xyz", "/xyz/foo/bar"),
            ("/prefix/one", "/prefix/one/two", "/one", "/one/two"),
        ];
        for (matched, path, replacement, expected) in cases {
            assert_eq!(
                prefix(matched, replacement).rewrite(path),
                expected,
                "prefix {matched} path {path} replacement {replacement}"
            );
        }
    }

    #[test]
    fn full_path_replaces_everything() {
        let r = PathRewrite::compile(&PathModifier::ReplaceFullPath("/one".into()), Some("/full"));
        assert_eq!(r.rewrite("/full/path/original"), "/one");
    }
}
