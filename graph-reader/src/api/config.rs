//! The view's flags, shared by `infragraph up` and `infragraph ui`.

use std::net::SocketAddr;

/// Weave Scope's port, so the habit carries over.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:4040";

/// Where the live view is served.
#[derive(clap::Args, Debug, Clone, PartialEq, Eq)]
pub struct UiArgs {
    /// Address of the live topology view (a page and its JSON API). Port 0
    /// picks a free one; the address in use is printed either way.
    #[arg(long, env = "INFRAGRAPH_UI_LISTEN", default_value = DEFAULT_LISTEN)]
    pub ui_listen: SocketAddr,

    /// Do not serve the view.
    #[arg(long, env = "INFRAGRAPH_NO_UI")]
    pub no_ui: bool,

    /// Allow --ui-listen on an address other than loopback. That exposes
    /// the whole graph (hosts, processes, their command lines, who talks to
    /// whom) to anyone who can reach the address, with no authentication.
    #[arg(long, env = "INFRAGRAPH_UI_EXPOSE")]
    pub ui_expose: bool,
}

impl Default for UiArgs {
    fn default() -> Self {
        UiArgs {
            ui_listen: DEFAULT_LISTEN
                .parse()
                .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 4040))),
            no_ui: false,
            ui_expose: false,
        }
    }
}

/// The flags cannot be served as given.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "--ui-listen {0} is not a loopback address: serving there exposes the graph to the network without authentication; pass --ui-expose to do it anyway, or --no-ui"
)]
pub struct Exposed(pub SocketAddr);

impl UiArgs {
    /// The address to serve on, `None` with --no-ui; refuses a
    /// non-loopback address without --ui-expose.
    pub fn address(&self) -> Result<Option<SocketAddr>, Exposed> {
        if self.no_ui {
            return Ok(None);
        }
        if !self.ui_listen.ip().is_loopback() && !self.ui_expose {
            return Err(Exposed(self.ui_listen));
        }
        Ok(Some(self.ui_listen))
    }

    /// Whether the address is the default one (a busy default port is
    /// worth a warning, a busy chosen one an error).
    pub fn is_default(&self) -> bool {
        self.ui_listen == UiArgs::default().ui_listen
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        ui: UiArgs,
    }

    fn parse(args: &[&str]) -> UiArgs {
        Cli::try_parse_from(std::iter::once("x").chain(args.iter().copied()))
            .unwrap()
            .ui
    }

    #[test]
    fn loopback_by_default_and_anywhere_else_only_when_asked() {
        assert_eq!(
            parse(&[]).address(),
            Ok(Some("127.0.0.1:4040".parse().unwrap()))
        );
        assert_eq!(parse(&["--no-ui"]).address(), Ok(None));
        assert_eq!(
            parse(&["--ui-listen", "[::1]:9000"]).address(),
            Ok(Some("[::1]:9000".parse().unwrap()))
        );
        let open = parse(&["--ui-listen", "0.0.0.0:4040"]);
        let err = open.address().unwrap_err();
        assert!(err.to_string().contains("exposes the graph"), "{err}");
        assert!(
            parse(&["--ui-listen", "0.0.0.0:4040", "--ui-expose"])
                .address()
                .is_ok()
        );
    }
}
