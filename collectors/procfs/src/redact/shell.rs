//! Words of a shell command held in one argument (`sh -c "mysql -pX db"`),
//! with where each stands, so redacted words can be put back in place and
//! the rest of the text stays as it was.

use std::ops::Range;

/// One word: its bytes in the text and its value with quotes removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    pub span: Range<usize>,
    pub value: String,
}

/// Splits `text` at unquoted whitespace, as a POSIX shell would, minus
/// expansions: single quotes are literal, double quotes and backslashes
/// escape. An unterminated quote runs to the end.
pub fn words(text: &str) -> Vec<Word> {
    let mut out = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some(&(start, _)) = chars.peek() {
        let mut value = String::new();
        let mut end = start;
        let mut quote: Option<char> = None;
        let mut any = false;
        while let Some(&(i, c)) = chars.peek() {
            if quote.is_none() && c.is_whitespace() {
                break;
            }
            chars.next();
            end = i + c.len_utf8();
            any = true;
            match (quote, c) {
                (None, '\'' | '"') => quote = Some(c),
                (Some(q), c) if c == q => quote = None,
                (Some('\''), c) => value.push(c),
                (_, '\\') => {
                    if let Some((j, n)) = chars.next() {
                        end = j + n.len_utf8();
                        value.push(n);
                    }
                }
                (_, c) => value.push(c),
            }
        }
        if any {
            out.push(Word {
                span: start..end,
                value,
            });
        }
        while chars.peek().is_some_and(|&(_, c)| c.is_whitespace()) {
            chars.next();
        }
    }
    out
}

/// `value` as a shell word: single-quoted when it holds anything a shell
/// would split or expand.
pub fn quote(value: &str) -> String {
    if !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@%+,<>".contains(c))
    {
        value.to_owned()
    } else {
        format!("'{}'", value.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(text: &str) -> Vec<String> {
        words(text).into_iter().map(|w| w.value).collect()
    }

    #[test]
    fn quotes_group_and_disappear() {
        assert_eq!(values("mysql -p'a b' db"), ["mysql", "-pa b", "db"]);
        assert_eq!(
            values(r#"curl -H "Authorization: Bearer x" u"#),
            ["curl", "-H", "Authorization: Bearer x", "u"]
        );
        assert_eq!(values(r"a\ b  c"), ["a b", "c"]);
        assert_eq!(values("x 'open"), ["x", "open"]);
        let w = words("  ab  cd");
        assert_eq!((w[0].span.clone(), w[1].span.clone()), (2..4, 6..8));
    }

    #[test]
    fn quoting_is_added_only_when_needed() {
        assert_eq!(quote("-p<redacted>"), "-p<redacted>");
        assert_eq!(quote("a b"), "'a b'");
    }
}
