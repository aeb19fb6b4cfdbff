//! Command-line redaction: secret values never leave the host.
//!
//! Redacted, each value replaced by `<redacted>`:
//! - `--password=…`, `--api-key=…`, `DB_PASSWORD=…`, `?token=…`: any
//!   `key=value` whose key looks like a secret (see [`secret_key`]), also
//!   inside another value (`--from-literal=password=…`);
//! - `--token …`, `-password …`: the argument after a secret-looking flag;
//! - flags whose meaning depends on the program, decided by its name
//!   (`mysql -pSECRET`, `curl -u user:SECRET`, `redis-cli -a SECRET`,
//!   `docker login -p SECRET`, `sqlplus scott/SECRET@db`; see
//!   [`programs`]), also inside a shell command (`sh -c "…"`);
//! - `"password": "…"`, `Authorization: Bearer …`, `password: …`;
//! - `scheme://user:pass@host` and `user:pass@tcp(host)`: the password;
//! - cloud and SaaS key formats (AWS access key ids, GitHub, GitLab, Slack,
//!   Stripe, npm, PyPI, Vault, OpenAI and Google tokens, JWTs, PEM private
//!   keys), wherever they are;
//! - whatever the operator's extra patterns match.
//!
//! Over-redaction is preferred to a leak: `--author=x` loses its value too.

mod names;
pub mod programs;
mod shell;
mod text;

use regex::Regex;

pub use names::secret_key;
use programs::{Positional, Program, Shape, redact_shaped};
use text::TextRules;

/// What replaces a secret.
pub const REDACTED: &str = "<redacted>";

/// Shell commands nested deeper than this (`sh -c "bash -c '…'"`) are
/// redacted as plain text only.
const MAX_DEPTH: usize = 3;

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
    text: TextRules,
    extra: Vec<Regex>,
}

fn compile(pattern: &str) -> Result<Regex, PatternError> {
    Regex::new(pattern).map_err(|source| PatternError {
        pattern: pattern.to_owned(),
        source,
    })
}

fn is_flag(word: &str) -> bool {
    word.len() > 1 && word.starts_with('-')
}

/// Where one positional rule of the current program stands.
#[derive(Debug, Clone, Copy)]
struct Armed {
    rule: Positional,
    armed: bool,
    skip: usize,
    /// Arguments still to redact; `None`: all the rest.
    left: Option<usize>,
}

impl Armed {
    fn new(rule: Positional) -> Self {
        let (armed, skip, left) = match rule {
            Positional::After {
                word: "",
                skip,
                count,
            } => (true, skip, (count > 0).then_some(count)),
            _ => (false, 0, None),
        };
        Armed {
            rule,
            armed,
            skip,
            left,
        }
    }

    /// Whether `word` (a bare argument) is a secret by this rule; arms the
    /// rule when `word` is its trigger.
    fn take(&mut self, word: &str) -> bool {
        let Positional::After {
            word: trigger,
            skip,
            count,
        } = self.rule
        else {
            return false;
        };
        if !self.armed {
            if word.eq_ignore_ascii_case(trigger) {
                (self.armed, self.skip, self.left) = (true, skip, (count > 0).then_some(count));
            }
            return false;
        }
        if self.skip > 0 {
            self.skip -= 1;
            return false;
        }
        match &mut self.left {
            Some(0) => false,
            Some(n) => {
                *n -= 1;
                true
            }
            None => true,
        }
    }
}

/// What the words seen so far say about the next one.
#[derive(Default)]
struct Scan {
    program: Option<&'static Program>,
    /// The program's gating subcommand (`login`) has been seen.
    gated_open: bool,
    positional: Vec<Armed>,
    /// The next word is a secret of this shape.
    pending: Option<Shape>,
    /// The previous word, to recognise `sh -c "command"`.
    after_dash_c: bool,
}

impl Scan {
    fn enter(&mut self, program: &'static Program) {
        *self = Scan {
            program: Some(program),
            gated_open: program.after.is_none(),
            ..Scan::default()
        };
        self.positional = program.positional.iter().copied().map(Armed::new).collect();
    }
}

impl Redactor {
    /// The built-in rules plus `extra` patterns, whose every match is redacted.
    pub fn new<S: AsRef<str>>(extra: &[S]) -> Result<Self, PatternError> {
        let text = TextRules::new().map_err(|source| PatternError {
            pattern: "built-in".to_owned(),
            source,
        })?;
        Ok(Redactor {
            text,
            extra: extra
                .iter()
                .map(|p| compile(p.as_ref()))
                .collect::<Result<_, _>>()?,
        })
    }

    /// Redacts a command line given as its arguments, joined by spaces.
    pub fn redact_args<S: AsRef<str>>(&self, args: &[S]) -> String {
        let words: Vec<&str> = args.iter().map(AsRef::as_ref).collect();
        let out = self.redact_words(&words, 0);
        let mut joined = String::new();
        for (word, redacted) in words.iter().zip(&out) {
            if !joined.is_empty() {
                joined.push(' ');
            }
            joined.push_str(redacted.as_deref().unwrap_or(word));
        }
        joined
    }

    /// Redacts free text (one argument, or a whole shell command in one).
    pub fn redact_text(&self, text: &str) -> String {
        if text.contains(char::is_whitespace) {
            self.redact_shell(text, 0)
        } else {
            self.finish(self.text.redact(text, REDACTED))
        }
    }

    /// Each word redacted, `None` where it stays as it is.
    fn redact_words(&self, words: &[&str], depth: usize) -> Vec<Option<String>> {
        let mut scan = Scan::default();
        words
            .iter()
            .map(|&word| {
                let out = self.redact_word(word, &mut scan, depth);
                scan.after_dash_c = word == "-c";
                out.filter(|o| o != word)
            })
            .collect()
    }

    fn redact_word(&self, word: &str, scan: &mut Scan, depth: usize) -> Option<String> {
        if let Some(shape) = scan.pending.take() {
            // A flag right after a secret flag means the secret flag took no value.
            if !is_flag(word) {
                return redact_shaped(word, shape, REDACTED).map(|s| self.finish(s));
            }
        }
        if let Some(program) = programs::lookup(word) {
            scan.enter(program);
            return None;
        }
        if let Some(out) = self.program_rule(word, scan) {
            return out.map(|s| self.finish(s));
        }
        if word.contains(char::is_whitespace) && scan.after_dash_c && depth < MAX_DEPTH {
            return Some(self.redact_shell(word, depth + 1));
        }
        if let Some(out) = self.generic_flag(word, scan) {
            return out.map(|s| self.finish(s));
        }
        if word.contains(char::is_whitespace) && depth < MAX_DEPTH {
            return Some(self.redact_shell(word, depth + 1));
        }
        Some(self.finish(self.text.redact(word, REDACTED)))
    }

    /// The current program's own flags and positional secrets:
    /// `Some(out)` when one of them decided `word`.
    fn program_rule(&self, word: &str, scan: &mut Scan) -> Option<Option<String>> {
        let program = scan.program?;
        if scan.gated_open {
            for flag in program.flags {
                match flag.matches(word) {
                    Some(None) => {
                        scan.pending = Some(flag.shape);
                        return Some(None);
                    }
                    Some(Some(value)) => {
                        let prefix = &word[..word.len() - value.len()];
                        return Some(
                            redact_shaped(value, flag.shape, REDACTED)
                                .map(|v| format!("{prefix}{v}")),
                        );
                    }
                    None => {}
                }
            }
        } else if program
            .after
            .is_some_and(|sub| word.eq_ignore_ascii_case(sub))
        {
            scan.gated_open = true;
            return Some(None);
        }
        if is_flag(word) || !scan.gated_open {
            return None;
        }
        self.positional_rule(word, scan)
    }

    fn positional_rule(&self, word: &str, scan: &mut Scan) -> Option<Option<String>> {
        let counted = !word.contains('=');
        let mut secret = false;
        for armed in &mut scan.positional {
            match armed.rule {
                Positional::After { .. } if counted => secret |= armed.take(word),
                Positional::After { .. } => {}
                Positional::UserSlashPass => {
                    if let Some(out) = redact_shaped(word, Shape::AfterSlash, REDACTED) {
                        return Some(Some(out));
                    }
                }
                Positional::AfterSecretWord => {
                    if counted && secret_key(word) {
                        scan.pending = Some(Shape::Whole);
                    }
                }
            }
        }
        secret.then(|| Some(REDACTED.to_owned()))
    }

    /// Flags and `KEY=value` arguments with secret-looking names, whatever
    /// the program. A value given in the same argument is all secret, to
    /// its end: `--password=a b;c` loses all of `a b;c`.
    fn generic_flag(&self, word: &str, scan: &mut Scan) -> Option<Option<String>> {
        if let Some((name, _)) = word.split_once('=') {
            let env_like = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
            return (env_like && secret_key(name)).then(|| Some(format!("{name}={REDACTED}")));
        }
        if is_flag(word) && secret_key(word) {
            scan.pending = Some(Shape::Whole);
            return Some(None);
        }
        None
    }

    /// A shell command in one argument: text rules over the whole (so
    /// `Authorization: Bearer x` is seen together), then the words' rules,
    /// each redacted word put back where it stood.
    fn redact_shell(&self, text: &str, depth: usize) -> String {
        let whole = self.text.redact(text, REDACTED);
        let words = shell::words(&whole);
        let values: Vec<&str> = words.iter().map(|w| w.value.as_str()).collect();
        let redacted = self.redact_words(&values, depth);
        let mut out = String::with_capacity(whole.len());
        let mut at = 0;
        for (word, new) in words.iter().zip(redacted) {
            if let Some(new) = new {
                out.push_str(&whole[at..word.span.start]);
                out.push_str(&shell::quote(&new));
                at = word.span.end;
            }
        }
        out.push_str(&whole[at..]);
        self.finish(out)
    }

    /// The operator's extra patterns, last.
    fn finish(&self, mut s: String) -> String {
        for re in &self.extra {
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
    fn flags_with_values_are_redacted_both_ways() {
        assert_eq!(
            r(&["app", "--password=hunter2", "--port=80"]),
            "app --password=<redacted> --port=80"
        );
        assert_eq!(
            r(&["app", "--token", "abc123", "--verbose"]),
            "app --token <redacted> --verbose"
        );
        assert_eq!(
            r(&["app", "--token", "--verbose", "x"]),
            "app --token --verbose x"
        );
    }

    #[test]
    fn a_flag_means_a_password_only_to_the_programs_that_say_so() {
        assert_eq!(
            r(&["mysql", "-uroot", "-phunter2", "db"]),
            "mysql -uroot -p<redacted> db"
        );
        assert_eq!(r(&["ssh", "-p", "2222", "host"]), "ssh -p 2222 host");
        assert_eq!(
            r(&["docker", "run", "-p", "8080:80", "nginx"]),
            "docker run -p 8080:80 nginx"
        );
        assert_eq!(
            r(&["docker", "login", "-u", "bob", "-p", "hunter2"]),
            "docker login -u bob -p <redacted>"
        );
        assert_eq!(
            r(&["curl", "-u", "bob:hunter2", "https://x"]),
            "curl -u bob:<redacted> https://x"
        );
    }

    #[test]
    fn shell_commands_in_one_argument_are_redacted_word_by_word() {
        assert_eq!(
            r(&["sh", "-c", "mysql -uroot -p'hunter 2' db"]),
            "sh -c mysql -uroot -p<redacted> db"
        );
        assert_eq!(
            r(&["sh", "-c", "curl -H 'Authorization: Bearer abc' https://x"]),
            "sh -c curl -H 'Authorization: <redacted>' https://x"
        );
        assert_eq!(r(&["nginx", "-g", "daemon off;"]), "nginx -g daemon off;");
    }
}
