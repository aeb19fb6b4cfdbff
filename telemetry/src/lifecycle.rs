//! Process lifecycle shared by every binary: stop cleanly on SIGINT or
//! SIGTERM (what Ctrl-C, `docker stop` and Kubernetes send).

use tokio::sync::watch;

/// A signal that turns true once SIGINT or SIGTERM arrives. Stages finish
/// what they hold (commit, flush) and return when it does.
pub fn shutdown_on_signals() -> watch::Receiver<bool> {
    let (stop, shutdown) = watch::channel(false);
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutting down");
        let _ = stop.send(true);
    });
    shutdown
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGTERM; stopping on Ctrl-C only");
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Resolves once `shutdown` turns true (or its sender is gone). Holds no
/// borrow of the channel across the await, so the future is `Send`.
pub async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}
