//! Lists the YAML files under a directory, recursively and in a stable order.
//!
//! Entries whose name starts with `.` are ignored: editors keep lock and swap
//! files there (`.#gateway.yaml`), and Kubernetes ConfigMap volumes keep the
//! real files under `..data` / `..2024_...` with symlinks beside them, which
//! would otherwise load every object twice. Symlinks are followed.

use std::path::{Path, PathBuf};

use crate::Error;

/// Directories nested deeper than this are not read (guards symlink loops).
const MAX_DEPTH: usize = 32;

fn is_yaml(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml"))
}

fn is_hidden(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with('.'))
}

/// Every `*.yaml` / `*.yml` file under `dir`, sorted by path. Unreadable
/// subdirectories are reported in `errors` and skipped.
pub(crate) fn yaml_files(dir: &Path, errors: &mut Vec<Error>) -> Result<Vec<PathBuf>, Error> {
    let meta = std::fs::metadata(dir).map_err(|e| Error::NotADirectory {
        path: dir.to_path_buf(),
        message: e.to_string(),
    })?;
    if !meta.is_dir() {
        return Err(Error::NotADirectory {
            path: dir.to_path_buf(),
            message: "not a directory".to_string(),
        });
    }
    let mut out = Vec::new();
    walk(dir, 0, &mut out, errors);
    out.sort();
    Ok(out)
}

fn walk(dir: &Path, depth: usize, out: &mut Vec<PathBuf>, errors: &mut Vec<Error>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            errors.push(Error::Read {
                path: dir.to_path_buf(),
                message: e.to_string(),
            });
            return;
        }
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if is_hidden(&path) {
            continue;
        }
        // `metadata` follows symlinks; a dangling link is simply not a file.
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            if depth < MAX_DEPTH {
                walk(&path, depth + 1, out, errors);
            } else {
                errors.push(Error::Read {
                    path,
                    message: format!("directory nested deeper than {MAX_DEPTH} levels, skipped"),
                });
            }
        } else if meta.is_file() && is_yaml(&path) {
            out.push(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_yaml_recursively_sorted_skipping_hidden() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        std::fs::create_dir_all(root.join("b/c")).expect("mkdir");
        std::fs::create_dir_all(root.join(".hidden")).expect("mkdir");
        for f in [
            "z.yaml",
            "a.yml",
            "b/c/d.YAML",
            "b/x.txt",
            ".#lock.yaml",
            ".hidden/h.yaml",
        ] {
            std::fs::write(root.join(f), "").expect("write");
        }
        let mut errors = Vec::new();
        let files = yaml_files(root, &mut errors).expect("dir");
        let rel: Vec<_> = files
            .iter()
            .map(|p| p.strip_prefix(root).expect("under root").to_path_buf())
            .collect();
        assert_eq!(
            rel,
            [
                PathBuf::from("a.yml"),
                PathBuf::from("b/c/d.YAML"),
                PathBuf::from("z.yaml")
            ]
        );
        assert!(errors.is_empty());
    }

    #[test]
    fn missing_dir_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut errors = Vec::new();
        let err = yaml_files(&dir.path().join("nope"), &mut errors).expect_err("missing");
        assert!(matches!(err, Error::NotADirectory { .. }), "{err}");
    }
}
