//! AWS API requests and wall time for one sync of a namespace with 100
//! services × 20 instances on the local AWS API server (moto), next to a
//! naive reader that lists the same services but fetches each instance one
//! by one (GetInstance). Both go through the same counting client.
//!
//! Run: `scripts/bench cloudmap` (starts moto), or with
//! `INFRAGRAPH_TEST_AWS=http://host:port` set:
//! `cargo bench -p infragraph-collector-cloudmap --bench requests`.

// A test fails loudly where its setup or a result is not what it needs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

/// The allocator the binaries run with (infragraph/src/main.rs), so the
/// figures are the deployed code's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_servicediscovery::Client;
use aws_sdk_servicediscovery::config::Credentials;
use aws_sdk_servicediscovery::types::OperationTargetType;
use futures::{StreamExt, TryStreamExt};
use infragraph_bus::MemoryBus;
use infragraph_collector::Syncer;
use infragraph_collector_cloudmap::{CloudMapApi, CloudMapCollector, CloudMapConfig};

const SERVICES: usize = 100;
const INSTANCES: usize = 20;
/// A region the tests do not use: moto ignores ListServices' namespace
/// filter, so every service of the region is listed (and read, to learn its
/// namespace) by both readers alike.
const REGION: &str = "ap-southeast-2";
const ACCOUNT: &str = "123456789012";

async fn sdk(endpoint: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new("testing", "testing", None, None, "bench"))
        .load()
        .await
}

/// The namespace, its services and their instances; returns the
/// namespace's name and id.
async fn fixture(sd: &Client) -> (String, String) {
    let name = format!("bench-{}", std::process::id());
    let op = sd
        .create_http_namespace()
        .name(&name)
        .send()
        .await
        .expect("CreateHttpNamespace");
    let op = sd
        .get_operation()
        .operation_id(op.operation_id.expect("an operation id"))
        .send()
        .await
        .expect("GetOperation");
    let ns = op
        .operation
        .and_then(|o| o.targets)
        .and_then(|t| t.get(&OperationTargetType::Namespace).cloned())
        .expect("the namespace id");
    let services: Vec<String> = futures::stream::iter(0..SERVICES)
        .map(|s| {
            let req = sd
                .create_service()
                .name(format!("svc{s}"))
                .namespace_id(&ns);
            async move {
                req.send()
                    .await
                    .map(|o| o.service.and_then(|s| s.id).expect("a service id"))
            }
        })
        .buffered(16)
        .try_collect()
        .await
        .expect("CreateService");
    let registrations = services
        .iter()
        .flat_map(|svc| (0..INSTANCES).map(move |i| (svc, i)));
    futures::stream::iter(registrations)
        .map(|(svc, i)| {
            sd.register_instance()
                .service_id(svc)
                .instance_id(format!("i-{i}"))
                .attributes(
                    "AWS_INSTANCE_IPV4",
                    format!("10.0.{}.{}", i / 250, i % 250 + 1),
                )
                .attributes("AWS_INSTANCE_PORT", "8080")
                .attributes("version", "7")
                .send()
        })
        .buffer_unordered(16)
        .try_collect::<Vec<_>>()
        .await
        .expect("RegisterInstance");
    (name, ns)
}

/// The baseline: the collector's own listing calls, then one GetInstance
/// per instance, one after another. Returns the instances read.
async fn naive(api: &CloudMapApi, ns_id: &str) -> usize {
    let mut read = 0;
    for ns in api
        .namespaces()
        .await
        .expect("ListNamespaces")
        .into_iter()
        .filter(|ns| ns.id == ns_id)
    {
        api.tags(&ns.arn, "namespace")
            .await
            .expect("ListTagsForResource");
        for id in api.service_ids(&ns).await.expect("ListServices") {
            let svc = api.service(&id).await.expect("GetService");
            if svc.namespace_id.as_deref() != Some(ns_id) {
                continue;
            }
            api.tags(&svc.arn, "service")
                .await
                .expect("ListTagsForResource");
            for i in api.instances(&svc).await.expect("ListInstances") {
                let got = api
                    .client()
                    .get_instance()
                    .service_id(&svc.id)
                    .instance_id(&i.id)
                    .send()
                    .await
                    .expect("GetInstance");
                read += usize::from(got.instance.is_some());
            }
        }
    }
    read
}

async fn cleanup(sd: &Client, ns: &str) {
    let Ok(services) = sd.list_services().send().await else {
        return;
    };
    for svc in services.services() {
        let Some(id) = svc.id() else { continue };
        let Ok(one) = sd.get_service().id(id).send().await else {
            continue;
        };
        if one.service().and_then(|s| s.namespace_id()) != Some(ns) {
            continue;
        }
        for i in 0..INSTANCES {
            let _ = sd
                .deregister_instance()
                .service_id(id)
                .instance_id(format!("i-{i}"))
                .send()
                .await;
        }
        let _ = sd.delete_service().id(id).send().await;
    }
    let _ = sd.delete_namespace().id(ns).send().await;
}

fn main() {
    let Some(endpoint) = std::env::var("INFRAGRAPH_TEST_AWS")
        .ok()
        .filter(|v| !v.is_empty())
    else {
        eprintln!(
            "INFRAGRAPH_TEST_AWS is not set: run `scripts/bench cloudmap`, which starts moto"
        );
        std::process::exit(2);
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(async {
        let sdk = sdk(&endpoint).await;
        let setup = Client::new(&sdk);
        eprintln!("creating {SERVICES} services × {INSTANCES} instances on {endpoint} …");
        let (name, ns) = fixture(&setup).await;

        let api = CloudMapApi::new(&sdk).expect("a region is set");
        let config = CloudMapConfig {
            namespaces: vec![name.clone()],
            ..CloudMapConfig::default()
        };
        let collector = CloudMapCollector::with_api(config, api.clone(), ACCOUNT);
        let syncer = Syncer::new(MemoryBus::new());
        let start = Instant::now();
        let report = syncer.sync(&collector).await.expect("the sync completes");
        let ours_time = start.elapsed();
        let stats = collector.last_stats().expect("the sync recorded its stats");
        assert_eq!(
            stats.instances,
            SERVICES * INSTANCES,
            "the sync read every instance"
        );

        api.take_requests();
        let start = Instant::now();
        let read = naive(&api, &ns).await;
        let naive_time = start.elapsed();
        let naive_requests = api.take_requests();
        assert_eq!(
            read,
            SERVICES * INSTANCES,
            "the baseline read every instance"
        );

        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "one sync of {SERVICES} services × {INSTANCES} instances ({} observations published)",
            report.total()
        );
        println!(
            "  collector: {:>6} requests {:>9.0} ms",
            stats.requests,
            ms(ours_time)
        );
        println!(
            "  naive:     {:>6} requests {:>9.0} ms",
            naive_requests,
            ms(naive_time)
        );
        println!(
            "  ratio collector ÷ naive: requests {:.3}, wall time {:.3}",
            stats.requests as f64 / naive_requests as f64,
            ms(ours_time) / ms(naive_time)
        );
        cleanup(&setup, &ns).await;
    });
}
