//! The collector's settings: the library struct, the credentials (a token
//! or a GitHub App), and the flags that fill them.

use std::path::PathBuf;
use std::time::Duration;

use infragraph_collector::{Schedule, ScheduleArgs, ScheduleDefaults, TopicLayout, parse_duration};
use secrecy::{ExposeSecret, SecretString};

use crate::api::RetrySettings;
use crate::error::GithubError;

/// Environment variables read for the token, in order.
pub const TOKEN_ENV: [&str; 2] = ["INFRAGRAPH_GITHUB_TOKEN", "GITHUB_TOKEN"];

/// A GitHub token. Its `Debug` never shows it, so it cannot leak through a
/// logged config or error.
#[derive(Clone)]
pub struct Token(SecretString);

impl Token {
    pub fn new(token: impl Into<String>) -> Result<Self, GithubError> {
        let token: String = token.into().trim().to_owned();
        if token.is_empty() {
            return Err(GithubError::Config("the GitHub token is empty".to_owned()));
        }
        Ok(Token(SecretString::from(token)))
    }

    /// Reads the token from `file` if given, else from the first of
    /// [`TOKEN_ENV`] that is set.
    pub fn resolve(file: Option<&std::path::Path>) -> Result<Self, GithubError> {
        if let Some(file) = file {
            // The error names the file, never its content.
            let text = std::fs::read_to_string(file).map_err(|e| {
                GithubError::Config(format!(
                    "cannot read the GitHub token file {}: {e}",
                    file.display()
                ))
            })?;
            return Token::new(text);
        }
        TOKEN_ENV
            .iter()
            .find_map(|name| std::env::var(name).ok().filter(|v| !v.trim().is_empty()))
            .map_or_else(
                || {
                    Err(GithubError::Config(format!(
                        "no GitHub token: name a token file or set {}",
                        TOKEN_ENV.join(" or ")
                    )))
                },
                Token::new,
            )
    }

    pub(crate) fn secret(&self) -> SecretString {
        self.0.clone()
    }

    /// For tests that check the token never leaks.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// A GitHub App's private key (PEM), redacted like a [`Token`].
#[derive(Clone)]
pub struct AppKey(SecretString);

impl AppKey {
    /// Reads the PEM file GitHub gave when the key was generated.
    pub fn read(file: &std::path::Path) -> Result<Self, GithubError> {
        // The error names the file, never its content.
        let pem = std::fs::read_to_string(file).map_err(|e| {
            GithubError::Config(format!(
                "cannot read the GitHub App private key file {}: {e}",
                file.display()
            ))
        })?;
        if !pem.contains("PRIVATE KEY-----") {
            return Err(GithubError::Config(format!(
                "the GitHub App private key file {} holds no PEM private key",
                file.display()
            )));
        }
        Ok(AppKey(SecretString::from(pem)))
    }

    pub(crate) fn pem(&self) -> &str {
        self.0.expose_secret()
    }
}

impl std::fmt::Debug for AppKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AppKey(<redacted>)")
    }
}

/// How the collector authenticates to GitHub.
#[derive(Debug, Clone)]
pub enum Credentials {
    /// A personal, fine-grained or installation token.
    Token(Token),
    /// A GitHub App: each org's installation is looked up with the app's
    /// JWT, and its short-lived installation tokens are minted and renewed
    /// as they near expiry.
    App { app_id: u64, key: AppKey },
}

impl Credentials {
    /// A GitHub App's (its id and private key file) if given, else a token:
    /// from `token_file`, else from the environment ([`TOKEN_ENV`]).
    pub fn read(
        token_file: Option<&std::path::Path>,
        app: Option<(u64, &std::path::Path)>,
    ) -> Result<Self, GithubError> {
        match app {
            Some((app_id, key)) => Ok(Credentials::App {
                app_id,
                key: AppKey::read(key)?,
            }),
            None => Ok(Credentials::Token(Token::resolve(token_file)?)),
        }
    }
}

impl From<Token> for Credentials {
    fn from(token: Token) -> Self {
        Credentials::Token(token)
    }
}

impl From<&Token> for Credentials {
    fn from(token: &Token) -> Self {
        Credentials::Token(token.clone())
    }
}

impl From<&Credentials> for Credentials {
    fn from(c: &Credentials) -> Self {
        c.clone()
    }
}

/// GitHub's public API.
pub const DEFAULT_API_URL: &str = "https://api.github.com";

/// Everything the GitHub collector needs; [`GithubArgs`] builds one from
/// flags, tests build one directly.
#[derive(Debug, Clone)]
pub struct GithubConfig {
    /// Organisation logins; each is its own scope `github:<org>`.
    pub orgs: Vec<String>,
    pub api_url: String,
    pub credentials: Credentials,
    /// Repositories and teams read at once within one org.
    pub concurrency: usize,
    pub retry: RetrySettings,
    pub schedule: Schedule,
    pub layout: TopicLayout,
}

/// One hour: an org's people and permissions change on a human scale, and
/// a sync of a large org spends a fair share of the hourly request budget.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(3600);

impl GithubConfig {
    /// A config for `orgs` on `api_url`, with the defaults for the rest.
    pub fn new(
        orgs: Vec<String>,
        api_url: impl Into<String>,
        credentials: impl Into<Credentials>,
    ) -> Self {
        GithubConfig {
            orgs,
            api_url: api_url.into(),
            credentials: credentials.into(),
            concurrency: 8,
            retry: RetrySettings::default(),
            schedule: Schedule {
                once: false,
                interval: DEFAULT_INTERVAL,
                jitter: Duration::from_secs(60),
                reconcile_interval: infragraph_collector::DEFAULT_RECONCILE_INTERVAL,
            },
            layout: TopicLayout::default(),
        }
    }

    /// Checks what the flags cannot: at least one org, each a valid login
    /// (they are put into URL paths as they are).
    pub fn validate(&self) -> Result<(), GithubError> {
        if self.orgs.is_empty() {
            return Err(GithubError::Config(
                "no organisation: pass --org NAME (repeatable)".to_owned(),
            ));
        }
        for org in &self.orgs {
            if org.is_empty()
                || !org
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(GithubError::Config(format!(
                    "{org:?} is not a GitHub organisation login"
                )));
            }
        }
        Ok(())
    }
}

/// Hourly: an organisation's repositories, teams and permissions change
/// slowly, and the REST API allows 5,000 requests an hour per token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hourly;

impl ScheduleDefaults for Hourly {
    const INTERVAL: &'static str = "1h";
    const JITTER: &'static str = "1m";
}

/// The collector's own flags; the binary adds the bus and telemetry ones.
/// The token has no flag of its own so it never shows in `ps` or `--help`.
#[derive(clap::Args, Debug, Clone, PartialEq, Eq)]
pub struct GithubArgs {
    /// An organisation to map, repeatable; each is its own scope. In the
    /// environment, separate several with commas.
    #[arg(
        long = "org",
        env = "INFRAGRAPH_GITHUB_ORGS",
        value_name = "LOGIN",
        value_delimiter = ',',
        required = true
    )]
    pub orgs: Vec<String>,

    /// A file holding the token (default: INFRAGRAPH_GITHUB_TOKEN, then
    /// GITHUB_TOKEN from the environment).
    #[arg(long, env = "INFRAGRAPH_GITHUB_TOKEN_FILE", conflicts_with = "app_id")]
    pub token_file: Option<PathBuf>,

    /// Authenticate as this GitHub App instead of with a token; it must be
    /// installed on every --org. Needs --app-private-key-file.
    #[arg(
        long,
        env = "INFRAGRAPH_GITHUB_APP_ID",
        requires = "app_private_key_file"
    )]
    pub app_id: Option<u64>,

    /// The GitHub App's private key, the PEM file GitHub generated.
    #[arg(
        long,
        env = "INFRAGRAPH_GITHUB_APP_PRIVATE_KEY_FILE",
        requires = "app_id"
    )]
    pub app_private_key_file: Option<PathBuf>,

    /// The REST API base URL; for GitHub Enterprise Server,
    /// https://HOST/api/v3.
    #[arg(long, env = "INFRAGRAPH_GITHUB_API_URL", default_value = DEFAULT_API_URL)]
    pub api_url: String,

    /// Repositories and teams read at once per org. GitHub discourages many
    /// concurrent requests (secondary limits), so keep it small.
    #[arg(long, env = "INFRAGRAPH_GITHUB_CONCURRENCY", default_value_t = 8)]
    pub concurrency: usize,

    /// The longest rate-limit wait accepted before the sync fails.
    #[arg(long, env = "INFRAGRAPH_GITHUB_MAX_RATE_LIMIT_WAIT", default_value = "62m", value_parser = parse_duration)]
    pub max_rate_limit_wait: Duration,

    #[command(flatten)]
    pub schedule: ScheduleArgs<Hourly>,
}

impl GithubArgs {
    /// The config these flags describe, with the credentials read and the
    /// bus's topic layout.
    pub fn config(&self, layout: TopicLayout) -> Result<GithubConfig, GithubError> {
        let app = self.app_id.zip(self.app_private_key_file.as_deref());
        let credentials = Credentials::read(self.token_file.as_deref(), app)?;
        let mut config = GithubConfig::new(self.orgs.clone(), self.api_url.clone(), credentials);
        config.concurrency = self.concurrency.max(1);
        config.retry.max_rate_limit_wait = self.max_rate_limit_wait;
        config.schedule = self.schedule.schedule();
        config.layout = layout;
        config.validate()?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_debug_is_redacted() {
        let token = Token::new("ghp_secret123").expect("a token");
        let config = GithubConfig::new(vec!["acme".into()], DEFAULT_API_URL, token);
        let shown = format!("{config:?}");
        assert!(!shown.contains("ghp_secret123"), "{shown}");
        assert!(shown.contains("<redacted>"));
    }

    #[test]
    fn token_file_is_read_and_trimmed() {
        let path = std::env::temp_dir().join(format!("infragraph-gh-token-{}", std::process::id()));
        std::fs::write(&path, "ghp_fromfile\n").expect("write the token file");
        let token = Token::resolve(Some(&path)).expect("a token");
        let _ = std::fs::remove_file(&path);
        assert_eq!(token.expose(), "ghp_fromfile");
    }

    #[derive(clap::Parser, Debug)]
    struct Cli {
        #[command(flatten)]
        github: GithubArgs,
    }

    fn parse(args: &[&str]) -> Result<GithubArgs, clap::Error> {
        use clap::Parser;
        Cli::try_parse_from(["collect"].iter().chain(args)).map(|c| c.github)
    }

    #[test]
    fn app_flags_go_together_and_exclude_a_token_file() {
        let err = parse(&["--org", "acme", "--app-id", "7"])
            .expect_err("a key is needed")
            .to_string();
        assert!(err.contains("--app-private-key-file"), "{err}");
        let err = parse(&[
            "--org",
            "acme",
            "--app-id",
            "7",
            "--app-private-key-file",
            "k.pem",
            "--token-file",
            "t",
        ])
        .expect_err("one or the other")
        .to_string();
        assert!(
            err.contains("--token-file") && err.contains("--app-id"),
            "{err}"
        );

        let key =
            std::env::temp_dir().join(format!("infragraph-gh-app-{}.pem", std::process::id()));
        std::fs::write(
            &key,
            "-----BEGIN PRIVATE KEY-----\nMII\n-----END PRIVATE KEY-----\n",
        )
        .expect("write the key");
        let args = parse(&[
            "--org",
            "acme",
            "--app-id",
            "7",
            "--app-private-key-file",
            key.to_str().expect("UTF-8"),
        ])
        .expect("valid flags");
        let config = args.config(TopicLayout::default());
        let _ = std::fs::remove_file(&key);
        assert!(matches!(
            config.expect("a config").credentials,
            Credentials::App { app_id: 7, .. }
        ));
    }

    #[test]
    fn bad_org_logins_are_refused() {
        let token = Token::new("t").expect("a token");
        assert!(
            GithubConfig::new(vec!["a/b".into()], DEFAULT_API_URL, token.clone())
                .validate()
                .is_err()
        );
        assert!(
            GithubConfig::new(vec![], DEFAULT_API_URL, token.clone())
                .validate()
                .is_err()
        );
        assert!(
            GithubConfig::new(vec!["acme-inc".into()], DEFAULT_API_URL, token)
                .validate()
                .is_ok()
        );
    }
}
