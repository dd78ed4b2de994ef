//! Splits a multi-document YAML stream into its documents at `---` lines,
//! so a syntax error in one document cannot stop the others from loading.
//!
//! A line that starts with `---` followed by whitespace or end of line is a
//! document start marker in YAML and cannot be part of any scalar; a line
//! that is exactly `...` (plus trailing whitespace) ends a document. Both are
//! recognised only at column 1, as the YAML spec requires.

/// One document's text and the 1-based line its text starts on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Chunk<'a> {
    /// Line (1-based) of the first line of `text` in the whole file.
    pub(crate) first_line: usize,
    /// Column (1-based) where `text` begins on its first line: 4 right after
    /// a `---` marker, else 1.
    pub(crate) first_column: usize,
    pub(crate) text: &'a str,
}

impl Chunk<'_> {
    /// Maps a 1-based (line, column) inside `text` to the whole file.
    pub(crate) fn to_file(&self, line: usize, column: usize) -> (usize, usize) {
        let line = line.max(1);
        let column = if line == 1 {
            column + self.first_column - 1
        } else {
            column
        };
        (self.first_line + line - 1, column.max(1))
    }

    /// True when the chunk holds nothing but blank lines, comments and directives.
    pub(crate) fn is_blank(&self) -> bool {
        self.text.lines().all(|line| {
            let t = line.trim_start();
            t.is_empty() || t.starts_with('#') || line.starts_with('%')
        })
    }
}

fn is_document_start(line: &str) -> bool {
    line.strip_prefix("---")
        .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t', '\r']))
}

fn is_document_end(line: &str) -> bool {
    line.strip_prefix("...")
        .is_some_and(|rest| rest.trim_end().is_empty())
}

/// Splits `text` into documents. A `---` line may carry content after the
/// marker (`--- !tag` or `--- {a: 1}`); that content stays in the new chunk
/// with the marker replaced, so columns are unchanged.
pub(crate) fn split_documents(text: &str) -> Vec<Chunk<'_>> {
    let mut chunks = Vec::new();
    let mut start_byte = 0usize;
    let mut start_line = 1usize;
    let mut start_column = 1usize;
    let mut offset = 0usize;
    for (line_no, line) in (1usize..).zip(text.split_inclusive('\n')) {
        let bare = line.trim_end_matches(['\n', '\r']);
        if is_document_start(bare) {
            if offset > start_byte {
                chunks.push(Chunk {
                    first_line: start_line,
                    first_column: start_column,
                    text: &text[start_byte..offset],
                });
            }
            // The rest of the marker line belongs to the new document.
            start_byte = offset + 3;
            start_line = line_no;
            start_column = 4;
        } else if is_document_end(bare) {
            if offset > start_byte {
                chunks.push(Chunk {
                    first_line: start_line,
                    first_column: start_column,
                    text: &text[start_byte..offset],
                });
            }
            start_byte = offset + line.len();
            start_line = line_no + 1;
            start_column = 1;
        }
        offset += line.len();
    }
    if text.len() > start_byte {
        chunks.push(Chunk {
            first_line: start_line,
            first_column: start_column,
            text: &text[start_byte..],
        });
    }
    chunks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<(usize, String)> {
        split_documents(text)
            .into_iter()
            .filter(|c| !c.is_blank())
            .map(|c| (c.first_line, c.text.trim().to_string()))
            .collect()
    }

    #[test]
    fn splits_at_markers_and_keeps_line_numbers() {
        let text = "a: 1\n---\nb: 2\n\n---\n# only a comment\n---\nc: 3\n";
        assert_eq!(
            lines(text),
            vec![
                (1, "a: 1".to_string()),
                (2, "b: 2".to_string()),
                (7, "c: 3".to_string())
            ]
        );
    }

    #[test]
    fn leading_marker_and_document_end() {
        let text = "---\na: 1\n...\n---\nb: 2\n";
        assert_eq!(
            lines(text),
            vec![(1, "a: 1".to_string()), (4, "b: 2".to_string())]
        );
    }

    #[test]
    fn dashes_inside_content_are_not_markers() {
        let text = "a: |\n  ---\n  x\nb: ---x\n----\n";
        let chunks = split_documents(text);
        assert_eq!(chunks.len(), 1);
        assert_eq!(chunks[0].text, text);
    }

    #[test]
    fn crlf_markers() {
        let text = "a: 1\r\n---\r\nb: 2\r\n";
        assert_eq!(
            lines(text),
            vec![(1, "a: 1".to_string()), (2, "b: 2".to_string())]
        );
    }

    #[test]
    fn content_after_marker_stays_with_new_document() {
        let chunks = split_documents("a: 1\n--- {b: 2}\n");
        assert_eq!(chunks.len(), 2);
        assert_eq!(chunks[1].first_line, 2);
        assert_eq!(chunks[1].text.trim(), "{b: 2}");
        // `{` is on file column 5; inside the chunk it is column 2.
        assert_eq!(chunks[1].to_file(1, 2), (2, 5));
        assert_eq!(chunks[0].to_file(1, 1), (1, 1));
    }
}
