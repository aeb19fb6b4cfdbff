//! Which key and flag names look like they name a secret.

/// Words that make a name secret-looking wherever they appear in it,
/// matched against the lowercased name with separators removed.
#[rustfmt::skip]
const SECRET_WORDS: &[&str] = &[
    "password", "passwd", "passphrase", "secret", "token", "apikey", "accesskey", "privatekey", "privkey", "masterkey",
    "credential", "creds", "sessionid", "cookie", "auth", "bearer", "storepass", "keypass", "passin", "passout", "requirepass",
];

/// Whole name segments that are secret on their own but too short to
/// search for inside longer words (`--pass` yes, `--passive` no).
const SECRET_SEGMENTS: &[&str] = &["pass", "pwd", "pw", "key", "sig", "signature", "psk", "pin"];

/// A last segment that makes the value a place or a property of the secret
/// rather than the secret itself: `--password-file /run/secrets/db` names a
/// file, `-Djavax.net.ssl.keyStore=…` a key store's path, and
/// `--password-stdin` takes no value at all.
const NOT_THE_SECRET: &[&str] = &[
    "file",
    "path",
    "dir",
    "directory",
    "filename",
    "store",
    "stdin",
    "prompt",
    "length",
    "ttl",
    "type",
];

/// Whether a key or flag name (`--db-password`, `AWS_SECRET_ACCESS_KEY`,
/// `AccountKey`) looks like it names a secret.
pub fn secret_key(name: &str) -> bool {
    let segments = segments(name.trim_start_matches('-'));
    if segments
        .last()
        .is_some_and(|s| NOT_THE_SECRET.contains(&s.as_str()))
    {
        return false;
    }
    let joined: String = segments.concat();
    SECRET_WORDS.iter().any(|w| joined.contains(w))
        || segments
            .iter()
            .any(|s| SECRET_SEGMENTS.contains(&s.as_str()))
}

/// Lowercased segments, split at separators and at camelCase boundaries
/// (`keyStorePassword`, `APIKey`), so `AccountKey` has a `key` segment.
fn segments(name: &str) -> Vec<String> {
    let mut out = Vec::new();
    for part in name
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|p| !p.is_empty())
    {
        let chars: Vec<char> = part.chars().collect();
        let mut current = String::new();
        for (i, &c) in chars.iter().enumerate() {
            let lower_before = i > 0 && chars[i - 1].is_ascii_lowercase();
            let acronym_end = i > 0
                && chars[i - 1].is_ascii_uppercase()
                && chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
            if c.is_ascii_uppercase() && (lower_before || acronym_end) && !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
            current.push(c.to_ascii_lowercase());
        }
        out.push(current);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn camel_case_and_separators_make_segments() {
        assert_eq!(segments("AccountKey"), ["account", "key"]);
        assert_eq!(segments("APIKey"), ["api", "key"]);
        assert_eq!(segments("--db-pass"), ["db", "pass"]);
        assert_eq!(segments("wifi-sec.psk"), ["wifi", "sec", "psk"]);
    }

    #[test]
    fn secret_names_are_recognised_without_catching_lookalikes() {
        for name in [
            "--password",
            "DB_PASSWORD",
            "AWS_SECRET_ACCESS_KEY",
            "--api-key",
            "--auth-token",
            "--pass",
            "-pwd",
            "GITHUB_TOKEN",
            "key",
            "AccountKey",
            "-storepass",
            "-passin",
            "--oauth2-bearer",
            "--creds",
        ] {
            assert!(secret_key(name), "{name} should be secret");
        }
        for name in [
            "--passive",
            "--port",
            "--bypass",
            "--verbose",
            "HOME",
            "--keyboard",
            "--password-file",
            "--key-file",
            "--password-stdin",
            "monkey",
        ] {
            assert!(!secret_key(name), "{name} should not be secret");
        }
    }
}
