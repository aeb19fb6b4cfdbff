//! Command-line redaction: secret values never leave the host.
//!
//! Redacted, each value replaced by `<redacted>`:
//! - `--password=…`, `--api-key=…`, `DB_PASSWORD=…`, `?token=…`: any
//!   `key=value` whose key looks like a secret (see [`secret_key`]);
//! - `--token …`, `-password …`: the argument after a secret-looking flag;
//! - `scheme://user:pass@host`: the password of a URL;
//! - cloud and SaaS key formats (AWS access key ids, GitHub, GitLab, Slack,
//!   Stripe and Google API tokens, JWTs, PEM private keys), wherever they are;
//! - whatever the operator's extra patterns match.
//!
//! Over-redaction is preferred to a leak: `--author=x` loses its value too.

use regex::Regex;

/// What replaces a secret.
pub const REDACTED: &str = "<redacted>";

/// Words that make a key or flag name secret-looking, matched against the
/// lowercased name with separators removed.
const SECRET_WORDS: &[&str] = &[
    "password", "passwd", "passphrase", "secret", "token", "apikey", "accesskey", "privatekey", "credential", "sessionid", "cookie", "auth",
];

/// Whole name segments that are secret on their own but too short to
/// search for inside longer words (`--pass` yes, `--passive` no).
const SECRET_SEGMENTS: &[&str] = &["pass", "pwd", "pw", "key", "sig", "signature"];

const TOKEN_PATTERNS: &[&str] = &[
    r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA)[0-9A-Z]{16}\b",
    r"\bgh[pousr]_[A-Za-z0-9]{30,}",
    r"\bgithub_pat_[A-Za-z0-9_]{20,}",
    r"\bglpat-[A-Za-z0-9_-]{20,}",
    r"\bxox[abposr]-[A-Za-z0-9-]{10,}",
    r"\b[sr]k_(?:live|test)_[A-Za-z0-9]{16,}",
    r"\bAIza[0-9A-Za-z_-]{35}",
    r"\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]+",
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----[^-]*(?:-----END [A-Z ]*PRIVATE KEY-----)?",
];

/// An extra pattern did not compile.
#[derive(Debug, thiserror::Error)]
#[error("invalid redaction pattern {pattern:?}: {source}")]
pub struct PatternError {
    pub pattern: String,
    #[source]
    pub source: regex::Error,
}

/// Redacts command lines. Build once, use for every process.
#[derive(Debug, Clone)]
pub struct Redactor {
    key_value: Regex,
    url_password: Regex,
    tokens: Vec<Regex>,
    extra: Vec<Regex>,
}

/// Whether a key or flag name (`--db-password`, `AWS_SECRET_ACCESS_KEY`)
/// looks like it names a secret.
pub fn secret_key(name: &str) -> bool {
    let name = name.trim_start_matches('-').to_ascii_lowercase();
    let joined: String = name.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
    SECRET_WORDS.iter().any(|w| joined.contains(w))
        || name.split(|c: char| !c.is_ascii_alphanumeric()).any(|seg| SECRET_SEGMENTS.contains(&seg))
}

fn compile(pattern: &str) -> Result<Regex, PatternError> {
    Regex::new(pattern).map_err(|source| PatternError { pattern: pattern.to_owned(), source })
}

impl Redactor {
    /// The built-in rules plus `extra` patterns, whose every match is redacted.
    pub fn new<S: AsRef<str>>(extra: &[S]) -> Result<Self, PatternError> {
        Ok(Redactor {
            key_value: compile(r"([A-Za-z0-9_.-]+)=([^\s&;,]+)")?,
            url_password: compile(r"([A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]*):([^@\s/]+)@")?,
            tokens: TOKEN_PATTERNS.iter().map(|p| compile(p)).collect::<Result<_, _>>()?,
            extra: extra.iter().map(|p| compile(p.as_ref())).collect::<Result<_, _>>()?,
        })
    }

    /// Redacts a command line given as its arguments, joined by spaces.
    pub fn redact_args<S: AsRef<str>>(&self, args: &[S]) -> String {
        let mut out = String::new();
        let mut value_next = false;
        for arg in args {
            let arg = arg.as_ref();
            if !out.is_empty() {
                out.push(' ');
            }
            // A flag right after a secret flag means the secret flag took no value.
            if value_next && !arg.starts_with('-') {
                out.push_str(REDACTED);
                value_next = false;
                continue;
            }
            value_next = arg.starts_with('-') && !arg.contains('=') && secret_key(arg);
            out.push_str(&self.redact_text(arg));
        }
        out
    }

    /// Redacts free text (one argument, or a whole shell command in one).
    pub fn redact_text(&self, text: &str) -> String {
        let mut s = self
            .key_value
            .replace_all(text, |c: &regex::Captures<'_>| {
                if secret_key(&c[1]) { format!("{}={REDACTED}", &c[1]) } else { c[0].to_owned() }
            })
            .into_owned();
        s = self.url_password.replace_all(&s, format!("$1:{REDACTED}@").as_str()).into_owned();
        for re in self.tokens.iter().chain(&self.extra) {
            if re.is_match(&s) {
                s = re.replace_all(&s, REDACTED).into_owned();
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(args: &[&str]) -> String {
        Redactor::new::<&str>(&[]).unwrap().redact_args(args)
    }

    #[test]
    fn secret_names_are_recognised_without_catching_lookalikes() {
        for name in ["--password", "DB_PASSWORD", "AWS_SECRET_ACCESS_KEY", "--api-key", "--auth-token", "--pass", "-pwd", "GITHUB_TOKEN", "key"] {
            assert!(secret_key(name), "{name} should be secret");
        }
        for name in ["--passive", "--port", "--bypass", "--verbose", "HOME", "--keyboard"] {
            assert!(!secret_key(name), "{name} should not be secret");
        }
    }

    #[test]
    fn flags_with_values_are_redacted_both_ways() {
        assert_eq!(r(&["app", "--password=hunter2", "--port=80"]), "app --password=<redacted> --port=80");
        assert_eq!(r(&["app", "--token", "abc123", "--verbose"]), "app --token <redacted> --verbose");
        assert_eq!(r(&["app", "--token", "--verbose", "x"]), "app --token --verbose x");
    }
}
