//! One sync on a memory bus, decoded, and the collector set up against a
//! given AWS endpoint with static test credentials.

#![allow(dead_code)]

pub mod mock;

use aws_config::{BehaviorVersion, Region};
use aws_sdk_servicediscovery::config::Credentials;
use infragraph_bus::MemoryBus;
use infragraph_collector::{Collector, ManualClock, SyncError, Syncer};
use infragraph_collector_cloudmap::{CloudMapApi, CloudMapCollector, CloudMapConfig};
use infragraph_schemas::{Codec, Observation, RelType, ResourceKind, SYNC_TOPIC, SyncMarker};

pub const REGION: &str = "us-east-1";
pub const ACCOUNT: &str = "123456789012";
pub const EPOCH: i64 = 1_700_000_000_000;

/// The SDK config every test uses: `endpoint`, static credentials (a local
/// AWS API accepts any), one attempt per call so failures show at once.
pub async fn sdk(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(1))
        .load()
        .await
}

pub async fn collector(endpoint: &str, config: CloudMapConfig) -> CloudMapCollector {
    let api = CloudMapApi::new(&sdk(endpoint).await).expect("a region is set");
    CloudMapCollector::with_api(config, api, ACCOUNT)
}

/// What one sync published: its markers and its decoded observations.
pub struct Published {
    pub result: Result<u64, SyncError>,
    pub markers: Vec<SyncMarker>,
    pub observations: Vec<Observation>,
}

/// One sync of `collector` through the real sync runner on a fresh memory
/// bus.
pub async fn sync_once(collector: &CloudMapCollector) -> Published {
    let bus = MemoryBus::new();
    let syncer = Syncer::new(bus.clone()).with_clock(ManualClock::new(EPOCH));
    let result = syncer.sync(collector).await.map(|r| r.total());
    let codec = Codec::builtin();
    let markers = bus
        .messages(SYNC_TOPIC)
        .iter()
        .map(|m| {
            codec
                .decode_sync_marker(&m.payload)
                .expect("a valid marker")
        })
        .collect();
    let observations: Vec<Observation> = ResourceKind::ALL
        .iter()
        .flat_map(|k| bus.messages(&k.topic()))
        .map(|m| {
            codec
                .decode_observation(&m.payload)
                .expect("a valid observation")
        })
        .collect();
    for o in &observations {
        assert_eq!(
            (o.scope.source.as_str(), o.scope.scope.as_str()),
            ("cloudmap", collector.scope())
        );
        assert_eq!(o.epoch, EPOCH);
    }
    Published {
        result,
        markers,
        observations,
    }
}

pub fn find<'a>(obs: &'a [Observation], kind: ResourceKind, id: &str) -> &'a Observation {
    obs.iter()
        .find(|o| o.kind == kind && o.id == id)
        .unwrap_or_else(|| panic!("no {kind} observation {id:?}"))
}

pub fn of_kind(obs: &[Observation], kind: ResourceKind) -> Vec<&Observation> {
    obs.iter().filter(|o| o.kind == kind).collect()
}

pub fn targets(obs: &Observation, rel: RelType) -> Vec<&str> {
    let mut t: Vec<&str> = obs
        .relationships
        .iter()
        .filter(|r| r.rel_type == rel)
        .map(|r| r.target_id.as_str())
        .collect();
    t.sort();
    t
}

pub fn string(obs: &Observation, name: &str) -> Option<String> {
    obs.properties
        .get(name)
        .and_then(|v| v.as_str())
        .map(str::to_owned)
}

pub fn strings(obs: &Observation, name: &str) -> Vec<String> {
    match obs.properties.get(name) {
        Some(infragraph_schemas::Value::StringList(v)) => v.clone(),
        None => Vec::new(),
        Some(other) => panic!("{name} is not a string list: {other:?}"),
    }
}
