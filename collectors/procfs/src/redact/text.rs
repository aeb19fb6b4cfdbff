//! Secrets recognisable in free text, whatever the program: `key=value`,
//! `"key": "value"`, `Key: value` (headers, YAML), URL and DSN passwords,
//! and token formats that are secret on sight.

use regex::{Captures, Regex};

use super::names::secret_key;

/// Cloud and SaaS credential formats, secret wherever they appear.
#[rustfmt::skip]
const TOKEN_PATTERNS: &[&str] = &[
    r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA)[0-9A-Z]{16}\b",
    r"\bgh[pousr]_[A-Za-z0-9]{30,}",
    r"\bgithub_pat_[A-Za-z0-9_]{20,}",
    r"\bglpat-[A-Za-z0-9_-]{20,}",
    r"\bxox[abposr]-[A-Za-z0-9-]{10,}",
    r"\b[sr]k_(?:live|test)_[A-Za-z0-9]{16,}",
    r"\bAIza[0-9A-Za-z_-]{35}",
    r"\bya29\.[0-9A-Za-z_-]{20,}",
    r"\bnpm_[A-Za-z0-9]{36}\b",
    r"\bpypi-AgE[A-Za-z0-9_-]{30,}",
    r"\bhv[sbr]\.[A-Za-z0-9_-]{20,}",
    r"\bsk-(?:proj-|ant-)?[A-Za-z0-9_-]{20,}",
    r"\bdop_v1_[a-f0-9]{64}\b",
    r"\bSG\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}",
    r"hooks\.slack\.com/services/[A-Za-z0-9/_-]+",
    r"\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]+",
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----[^-]*(?:-----END [A-Z ]*PRIVATE KEY-----)?",
];

/// The free-text rules, compiled once.
#[derive(Debug, Clone)]
pub struct TextRules {
    key_value: Regex,
    quoted_key: Regex,
    colon_key: Regex,
    url_password: Regex,
    bare_userinfo: Regex,
    oracle_jdbc: Regex,
    tokens: Vec<Regex>,
}

impl TextRules {
    pub fn new() -> Result<Self, regex::Error> {
        Ok(TextRules {
            key_value: Regex::new(r#"([A-Za-z0-9_.\-]+)=("[^"]*"|'[^']*'|[^\s&;,]*)"#)?,
            // JSON and Python-dict style: "password": "x", 'pin': 1234.
            quoted_key: Regex::new(
                r#"(["'])([A-Za-z0-9_.\-]+)["']\s*:\s*("(?:[^"\\]|\\.)*"|'[^']*'|[^\s,}\]]+)"#,
            )?,
            // Headers and YAML: `Authorization: Bearer x`, `password: x`,
            // at the start of the text or after a separator (so a path
            // such as `/etc/secret:/data` is not a key).
            colon_key: Regex::new(
                r#"(^|[\s{,;(=])([A-Za-z][A-Za-z0-9_.\-]*)\s*:\s*("[^"]*"|'[^']*'|(?i:(?:bearer|basic|token|digest|negotiate|bot|apikey|hmac|aws4-hmac-sha256)\s+)?[^\s'",;]+)"#,
            )?,
            // Greedy up to the last `@` of the word: a password may hold one.
            url_password: Regex::new(r"([A-Za-z][A-Za-z0-9+.\-]*://[^/\s:@]*):([^\s'\x22]*)@")?,
            // Scheme-less `user:pass@host` (Go's DSN `u:p@tcp(db:3306)/x`).
            bare_userinfo: Regex::new(
                r"(^|[\s=])([A-Za-z0-9_.\-]+):([^\s@/:]+)@([A-Za-z0-9_.\-]+)",
            )?,
            // Oracle's thin driver: `jdbc:oracle:thin:scott/tiger@host`.
            oracle_jdbc: Regex::new(r"(jdbc:oracle:[a-z0-9]+:)([^/\s:@]+)/([^@\s]+)@")?,
            tokens: TOKEN_PATTERNS
                .iter()
                .map(|p| Regex::new(p))
                .collect::<Result<_, _>>()?,
        })
    }

    /// Every rule over `text`, each match's secret replaced by `redacted`.
    pub fn redact(&self, text: &str, redacted: &str) -> String {
        let s = self.key_values(text, redacted);
        let s = self.quoted_key.replace_all(&s, |c: &Captures<'_>| {
            if secret_key(&c[2]) {
                format!("{q}{k}{q}: \"{redacted}\"", q = &c[1], k = &c[2])
            } else {
                c[0].to_owned()
            }
        });
        let s = self.colon_key.replace_all(&s, |c: &Captures<'_>| {
            if secret_key(&c[2]) {
                format!("{}{}: {redacted}", &c[1], &c[2])
            } else {
                c[0].to_owned()
            }
        });
        let s = self
            .url_password
            .replace_all(&s, format!("$1:{redacted}@").as_str());
        let s = self.bare_userinfo.replace_all(&s, |c: &Captures<'_>| {
            // `image:tag@sha256:…` pins a digest; it is no password.
            if c[4].starts_with("sha") {
                c[0].to_owned()
            } else {
                format!("{}{}:{redacted}@{}", &c[1], &c[2], &c[4])
            }
        });
        let s = self
            .oracle_jdbc
            .replace_all(&s, format!("$1$2/{redacted}@").as_str());
        let mut s = s.into_owned();
        for re in &self.tokens {
            if re.is_match(&s) {
                s = re.replace_all(&s, redacted).into_owned();
            }
        }
        s
    }

    /// `key=value` pairs; a value that is itself `key=value`
    /// (`--from-literal=password=x`, `-var=db_password=x`) is looked into.
    fn key_values(&self, text: &str, redacted: &str) -> String {
        self.key_value
            .replace_all(text, |c: &Captures<'_>| {
                if secret_key(&c[1]) {
                    format!("{}={redacted}", &c[1])
                } else if c[2].contains('=') {
                    format!("{}={}", &c[1], self.key_values(&c[2], redacted))
                } else {
                    c[0].to_owned()
                }
            })
            .into_owned()
    }
}
