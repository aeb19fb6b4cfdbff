//! Child processes that clean up after themselves, and one sync on a
//! memory bus.

#![allow(dead_code)]

use infragraph_bus::MemoryBus;
use infragraph_collector::{Collector, ManualClock, Syncer};
use infragraph_collector_procfs::{ProcfsCollector, ProcfsConfig};
use infragraph_schemas::{Codec, Observation, RelType, ResourceKind, SYNC_TOPIC, SyncStatus};

// Each test binary uses its own subset of these.
#[allow(unused_imports)]
pub use infragraph_test_support::process::{CLIENT, Kid, SERVER, SERVER_ANY};

pub fn config(host_id: &str) -> ProcfsConfig {
    ProcfsConfig {
        host_id: Some(host_id.to_owned()),
        ..ProcfsConfig::default()
    }
}

/// Runs one sync of `collector` on a memory bus; returns what it published
/// and checks it completed.
pub async fn sync_once(collector: &ProcfsCollector) -> Vec<Observation> {
    let bus = MemoryBus::new();
    let syncer = Syncer::new(bus.clone()).with_clock(ManualClock::new(1_700_000_000_000));
    let report = syncer.sync(collector).await.expect("the sync completes");
    let codec = Codec::builtin();
    let markers: Vec<SyncStatus> = bus
        .messages(SYNC_TOPIC)
        .iter()
        .map(|m| codec.decode_sync_marker(&m.payload).unwrap().status)
        .collect();
    assert_eq!(markers, vec![SyncStatus::Started, SyncStatus::Completed]);
    let obs: Vec<Observation> = ResourceKind::ALL
        .iter()
        .flat_map(|k| bus.messages(&k.topic()))
        .map(|m| codec.decode_observation(&m.payload).unwrap())
        .collect();
    assert_eq!(obs.len() as u64, report.total());
    assert!(
        obs.iter()
            .all(|o| o.scope.scope == collector.scope() && o.scope.source == "procfs")
    );
    obs
}

pub fn process(obs: &[Observation], pid: i32) -> &Observation {
    obs.iter()
        .find(|o| {
            o.kind == ResourceKind::Process
                && o.properties.get("pid").and_then(|v| v.as_long()) == Some(i64::from(pid))
        })
        .unwrap_or_else(|| panic!("no process observation for pid {pid}"))
}

pub fn targets(obs: &Observation, rel: RelType) -> Vec<&str> {
    obs.relationships
        .iter()
        .filter(|r| r.rel_type == rel)
        .map(|r| r.target_id.as_str())
        .collect()
}

pub fn endpoint<'a>(obs: &'a [Observation], id: &str) -> Option<&'a Observation> {
    obs.iter()
        .find(|o| o.kind == ResourceKind::Endpoint && o.id == id)
}
