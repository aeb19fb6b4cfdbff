//! The fixture organisation (`infragraph_test_support::github`), and
//! helpers to run a sync against it and read what it published.

#![allow(dead_code)]

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use infragraph_bus::MemoryBus;
use infragraph_collector::{Collector, ManualClock, Syncer};
use infragraph_collector_github::GithubCollector;
use infragraph_collector_github::api::RetrySettings;
use infragraph_collector_github::config::Token;
use infragraph_schemas::{Codec, Observation, RelType, ResourceKind, SYNC_TOPIC, SyncMarker};
pub use infragraph_test_support::github::*;
use wiremock::MockServer;

/// Short waits so retries do not slow the tests down.
pub fn quick_retry() -> RetrySettings {
    RetrySettings {
        backoff: Duration::from_millis(10),
        progress_every: Duration::from_secs(1),
        ..RetrySettings::default()
    }
}

pub fn collector(server: &MockServer, org: &str) -> GithubCollector {
    let token = Token::new(TOKEN).expect("a token");
    GithubCollector::new(org, &server.uri(), &token, quick_retry(), 4).expect("a collector")
}

pub fn syncer(bus: &MemoryBus) -> Syncer<MemoryBus> {
    Syncer::new(bus.clone()).with_clock(ManualClock::new(1_700_000_000_000))
}

/// Every observation on the bus, decoded.
pub fn observations(bus: &MemoryBus) -> Vec<Observation> {
    let codec = Codec::builtin();
    ResourceKind::ALL
        .iter()
        .flat_map(|k| bus.messages(&k.topic()))
        .map(|m| {
            codec
                .decode_observation(&m.payload)
                .expect("an observation")
        })
        .collect()
}

pub fn markers(bus: &MemoryBus) -> Vec<SyncMarker> {
    let codec = Codec::builtin();
    bus.messages(SYNC_TOPIC)
        .iter()
        .map(|m| codec.decode_sync_marker(&m.payload).expect("a marker"))
        .collect()
}

/// Every byte published on any topic, keys included.
pub fn all_bytes(bus: &MemoryBus) -> Vec<u8> {
    let mut topics: Vec<String> = ResourceKind::ALL.iter().map(|k| k.topic()).collect();
    topics.push(SYNC_TOPIC.to_owned());
    topics
        .iter()
        .flat_map(|t| bus.messages(t))
        .flat_map(|m| [m.key.clone().unwrap_or_default(), m.payload.clone()].concat())
        .collect()
}

pub fn find<'a>(obs: &'a [Observation], kind: ResourceKind, id: &str) -> &'a Observation {
    obs.iter()
        .find(|o| o.kind == kind && o.id == id)
        .unwrap_or_else(|| panic!("no {kind} observation {id}"))
}

pub fn ids(obs: &[Observation], kind: ResourceKind) -> Vec<&str> {
    let mut v: Vec<&str> = obs
        .iter()
        .filter(|o| o.kind == kind)
        .map(|o| o.id.as_str())
        .collect();
    v.sort_unstable();
    v
}

pub fn targets(obs: &Observation, rel: RelType) -> Vec<&str> {
    let mut v: Vec<&str> = obs
        .relationships
        .iter()
        .filter(|r| r.rel_type == rel)
        .map(|r| r.target_id.as_str())
        .collect();
    v.sort_unstable();
    v
}

/// Sources of `rel` edges pointing at `target`: the graph's incoming edges.
pub fn sources<'a>(obs: &'a [Observation], rel: RelType, target: &str) -> Vec<&'a str> {
    let mut v: Vec<&str> = obs
        .iter()
        .filter(|o| {
            o.relationships
                .iter()
                .any(|r| r.rel_type == rel && r.target_id == target)
        })
        .map(|o| o.id.as_str())
        .collect();
    v.sort_unstable();
    v
}

/// Logs written on this thread while the guard lives, at every level.
///
/// One global subscriber routes each event to the buffer of the thread that
/// emitted it: per-test scoped subscribers lose events when tests run in
/// parallel (callsite interest is cached process-wide), and a
/// current-thread test runtime keeps a test's events on its own thread.
#[derive(Clone, Default)]
pub struct Logs(Arc<Mutex<Vec<u8>>>);

thread_local! {
    static SINK: std::cell::RefCell<Option<Logs>> = const { std::cell::RefCell::new(None) };
}

/// Stops capturing on this thread when dropped.
pub struct CaptureGuard;

impl Drop for CaptureGuard {
    fn drop(&mut self) {
        SINK.with(|s| s.borrow_mut().take());
    }
}

/// Writes to the capturing buffer of the current thread, if any.
struct ThreadSink;

impl Write for ThreadSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        SINK.with(|s| {
            if let Some(logs) = s.borrow().as_ref() {
                logs.0
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .extend_from_slice(buf);
            }
        });
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    pub fn capture() -> (Logs, CaptureGuard) {
        static INSTALL: std::sync::Once = std::sync::Once::new();
        INSTALL.call_once(|| {
            let subscriber = tracing_subscriber::fmt()
                .with_max_level(tracing::Level::TRACE)
                .with_ansi(false)
                .with_writer(|| ThreadSink)
                .finish();
            // Another test binary's subscriber cannot be here: each is its
            // own process.
            let _ = tracing::subscriber::set_global_default(subscriber);
        });
        let logs = Logs::default();
        SINK.with(|s| *s.borrow_mut() = Some(logs.clone()));
        (logs, CaptureGuard)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }
}

/// The scope a collector's observations and markers carry.
pub fn scope_of(c: &GithubCollector) -> String {
    c.scope().to_owned()
}
