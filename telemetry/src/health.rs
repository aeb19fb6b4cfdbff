//! Liveness and readiness over HTTP, for Compose healthchecks and
//! Kubernetes probes. `GET /livez` answers 200 while the process serves
//! requests; `GET /readyz` answers 200 when every dependency the stage
//! named (Kafka, the graph database) answered its last probe, else 503
//! with which did not and why. Probes run in the background every few
//! seconds, so a probe request never waits on a dead dependency.
//!
//! A few lines of HTTP/1.1 on a tokio listener: probes send one small GET
//! and read one small answer, which needs no web framework.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// Time between probes of each dependency.
pub const PROBE_INTERVAL: Duration = Duration::from_secs(5);
/// A probe that takes longer than this failed.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// The flag every long-running stage takes.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct HealthArgs {
    /// Serve /livez and /readyz on this address (e.g. 0.0.0.0:8080):
    /// ready means every dependency of the stage (Kafka, and for the writer
    /// the graph database) answered within the last few seconds. Off when
    /// not given.
    #[arg(long, env = "INFRAGRAPH_HEALTH_LISTEN", value_name = "ADDR")]
    pub health_listen: Option<SocketAddr>,
}

/// Asks a dependency whether it answers: `Err` says why not.
pub type ProbeFuture = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;
type Probe = Box<dyn Fn() -> ProbeFuture + Send + Sync>;

/// What the last probe of each dependency said.
#[derive(Clone, Default)]
pub struct Health {
    probes: Arc<Vec<(&'static str, Probe)>>,
    state: Arc<Mutex<Vec<Result<(), String>>>>,
}

impl Health {
    /// A health with these named probes; none has answered yet, so it is
    /// not ready until the first round.
    pub fn new(probes: Vec<(&'static str, Probe)>) -> Self {
        let state = probes
            .iter()
            .map(|_| Err("not probed yet".to_owned()))
            .collect();
        Health {
            probes: Arc::new(probes),
            state: Arc::new(Mutex::new(state)),
        }
    }

    /// A named probe from an async closure.
    pub fn probe<F, Fut>(name: &'static str, f: F) -> (&'static str, Probe)
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        (name, Box::new(move || Box::pin(f()) as ProbeFuture))
    }

    /// Runs every probe once, recording what each said.
    pub async fn probe_all(&self) {
        for (i, (_, probe)) in self.probes.iter().enumerate() {
            let said = match tokio::time::timeout(PROBE_TIMEOUT, probe()).await {
                Ok(r) => r,
                Err(_) => Err(format!("no answer within {}s", PROBE_TIMEOUT.as_secs())),
            };
            self.state.lock().unwrap_or_else(|e| e.into_inner())[i] = said;
        }
    }

    /// `None` when ready, else one line per dependency that is not.
    pub fn not_ready(&self) -> Option<String> {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let failing: Vec<String> = self
            .probes
            .iter()
            .zip(state.iter())
            .filter_map(|((name, _), r)| r.as_ref().err().map(|e| format!("{name}: {e}")))
            .collect();
        (!failing.is_empty()).then(|| failing.join("\n"))
    }
}

/// Serves `health` on `addr` (when given) until `shutdown`, probing in the
/// background. Returns the bound address, for `:0`.
pub async fn serve(
    addr: Option<SocketAddr>,
    health: Health,
    shutdown: watch::Receiver<bool>,
) -> std::io::Result<Option<SocketAddr>> {
    let Some(addr) = addr else { return Ok(None) };
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    tracing::info!(address = %bound, "health endpoints: /livez, /readyz");
    let prober = health.clone();
    let mut stop = shutdown.clone();
    tokio::spawn(async move {
        loop {
            prober.probe_all().await;
            tokio::select! {
                _ = tokio::time::sleep(PROBE_INTERVAL) => {}
                _ = crate::stopped(&mut stop) => break,
            }
        }
    });
    let mut stop = shutdown;
    tokio::spawn(async move {
        loop {
            tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => { tokio::spawn(answer(stream, health.clone())); }
                    Err(e) => tracing::warn!(error = %e, "health endpoint: accept failed"),
                },
                _ = crate::stopped(&mut stop) => break,
            }
        }
    });
    Ok(Some(bound))
}

/// Reads one request's head and answers it; anything else is a 404.
async fn answer(mut stream: TcpStream, health: Health) {
    let mut buf = [0u8; 1024];
    let Ok(Ok(n)) = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await
    else {
        return;
    };
    let head = String::from_utf8_lossy(&buf[..n]);
    let path = head
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or("");
    let (status, body) = match path {
        "/livez" => ("200 OK", "alive\n".to_owned()),
        "/readyz" => match health.not_ready() {
            None => ("200 OK", "ready\n".to_owned()),
            Some(why) => ("503 Service Unavailable", format!("not ready\n{why}\n")),
        },
        _ => ("404 Not Found", "GET /livez or /readyz\n".to_owned()),
    };
    let reply = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(reply.as_bytes()).await;
    let _ = stream.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    async fn get(addr: SocketAddr, path: &str) -> String {
        let mut s = TcpStream::connect(addr).await.expect("connect");
        s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
            .await
            .expect("send");
        let mut out = String::new();
        s.read_to_string(&mut out).await.expect("read");
        out
    }

    #[tokio::test]
    async fn ready_follows_the_probes_and_live_does_not() {
        let up = Arc::new(AtomicBool::new(false));
        let flag = up.clone();
        let health = Health::new(vec![Health::probe("kafka", move || {
            let up = flag.load(Ordering::SeqCst);
            async move {
                if up {
                    Ok(())
                } else {
                    Err("connection refused by 127.0.0.1:9".to_owned())
                }
            }
        })]);
        let (_stop, stopped) = watch::channel(false);
        let addr = serve(
            Some("127.0.0.1:0".parse().expect("an address")),
            health.clone(),
            stopped,
        )
        .await
        .expect("bind")
        .expect("an address");
        assert!(get(addr, "/livez").await.starts_with("HTTP/1.1 200"));
        health.probe_all().await;
        let r = get(addr, "/readyz").await;
        assert!(
            r.starts_with("HTTP/1.1 503") && r.contains("kafka: connection refused by 127.0.0.1:9"),
            "{r}"
        );
        up.store(true, Ordering::SeqCst);
        health.probe_all().await;
        assert!(get(addr, "/readyz").await.starts_with("HTTP/1.1 200"));
        assert!(get(addr, "/nope").await.starts_with("HTTP/1.1 404"));
    }

    #[tokio::test]
    async fn a_probe_that_hangs_is_a_failed_probe() {
        let health = Health::new(vec![Health::probe("graph", || {
            std::future::pending::<Result<(), String>>()
        })]);
        health.probe_all().await;
        assert!(
            health
                .not_ready()
                .is_some_and(|w| w.contains("graph: no answer within 3s"))
        );
    }
}
