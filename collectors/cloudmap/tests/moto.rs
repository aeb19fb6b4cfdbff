//! Against moto's AWS API server: namespaces, tagged services and instances
//! created through the SDK, synced through the real sync runner, and every
//! resource, property and relationship checked in what was published.

// A test fails loudly where its setup or a result is not what it needs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use aws_sdk_servicediscovery::Client;
use aws_sdk_servicediscovery::types::{
    DnsConfig, DnsRecord, HealthCheckCustomConfig, OperationTargetType, RecordType, Tag,
};
use common::*;
use infragraph_collector_cloudmap::CloudMapConfig;
use infragraph_schemas::{RelType, ResourceKind, SyncStatus};
use infragraph_test_support::{self as support, require};

/// What the fixture created.
struct Fixture {
    ns_http: String,
    ns_http_name: String,
    ns_dns: String,
    ns_dns_name: String,
    api: String,
    cache: String,
    db: String,
}

fn tag(k: &str, v: &str) -> Tag {
    Tag::builder().key(k).value(v).build().unwrap()
}

async fn namespace_id(sd: &Client, operation: Option<String>) -> String {
    let op = sd
        .get_operation()
        .operation_id(operation.expect("an operation id"))
        .send()
        .await
        .expect("GetOperation");
    op.operation
        .and_then(|o| o.targets)
        .and_then(|t| t.get(&OperationTargetType::Namespace).cloned())
        .expect("the operation names its namespace")
}

async fn service(
    sd: &Client,
    ns: &str,
    name: &str,
    tags: Vec<Tag>,
    dns: Option<DnsConfig>,
    custom_health: bool,
) -> String {
    let mut req = sd
        .create_service()
        .name(name)
        .namespace_id(ns)
        .description(format!("{name} service"))
        .set_tags(Some(tags))
        .set_dns_config(dns);
    if custom_health {
        req = req.health_check_custom_config(HealthCheckCustomConfig::builder().build());
    }
    req.send()
        .await
        .expect("CreateService")
        .service
        .and_then(|s| s.id)
        .expect("a service id")
}

async fn register(sd: &Client, service: &str, instance: &str, attrs: &[(&str, &str)]) {
    let mut req = sd
        .register_instance()
        .service_id(service)
        .instance_id(instance);
    for (k, v) in attrs {
        req = req.attributes(*k, *v);
    }
    req.send().await.expect("RegisterInstance");
}

/// Two namespaces (HTTP and private DNS), three services, one declaring
/// dependencies on the other two by name, and instances with addresses.
async fn fixture(sd: &Client) -> Fixture {
    let ns_http_name = support::unique("cm-http");
    let ns_dns_name = format!("{}.internal", support::unique("cm-dns"));
    let op = sd
        .create_http_namespace()
        .name(&ns_http_name)
        .description("the http one")
        .tags(tag("team", "shop"))
        .send()
        .await
        .expect("CreateHttpNamespace");
    let ns_http = namespace_id(sd, op.operation_id).await;
    let op = sd
        .create_private_dns_namespace()
        .name(&ns_dns_name)
        .vpc(support::unique("vpc"))
        .tags(tag("env", "test"))
        .send()
        .await
        .expect("CreatePrivateDnsNamespace");
    let ns_dns = namespace_id(sd, op.operation_id).await;

    let cache = service(sd, &ns_http, "cache", vec![], None, false).await;
    let dns = DnsConfig::builder()
        .dns_records(
            DnsRecord::builder()
                .r#type(RecordType::A)
                .ttl(60)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let db = service(
        sd,
        &ns_dns,
        "db",
        vec![tag("tier", "data")],
        Some(dns),
        true,
    )
    .await;
    // "db" lives in the other namespace: it resolves because it is the only
    // service of that name in the scope; "ghost" names nothing.
    let api = service(
        sd,
        &ns_http,
        "api",
        vec![
            tag("NEO4J_RELATIONSHIP_TO_SERVICE", "cache, db,ghost"),
            tag("owner", "team-a"),
        ],
        None,
        false,
    )
    .await;

    register(
        sd,
        &api,
        "i-1",
        &[
            ("AWS_INSTANCE_IPV4", "10.1.0.1"),
            ("AWS_INSTANCE_PORT", "8080"),
            ("version", "1"),
        ],
    )
    .await;
    register(
        sd,
        &api,
        "i-2",
        &[
            ("AWS_INSTANCE_IPV4", "10.1.0.2"),
            ("AWS_INSTANCE_PORT", "8080"),
        ],
    )
    .await;
    register(
        sd,
        &db,
        "d-1",
        &[
            ("AWS_INSTANCE_IPV4", "10.2.0.1"),
            ("AWS_INSTANCE_IPV6", "2001:db8::5"),
            ("AWS_INSTANCE_PORT", "5432"),
        ],
    )
    .await;
    Fixture {
        ns_http,
        ns_http_name,
        ns_dns,
        ns_dns_name,
        api,
        cache,
        db,
    }
}

/// The collector restricted to the fixture's namespaces (one by name, one by
/// id): moto is shared with other tests.
fn config(f: &Fixture) -> CloudMapConfig {
    CloudMapConfig {
        namespaces: vec![f.ns_http_name.clone(), f.ns_dns.clone()],
        max_attempts: 1,
        ..CloudMapConfig::default()
    }
}

#[tokio::test]
async fn one_sync_publishes_every_resource_property_and_relationship() {
    require!(aws = support::AWS, "AWS API server");
    let sd = Client::new(&sdk(&aws).await);
    let f = fixture(&sd).await;
    let collector = collector(&aws, config(&f)).await;
    let p = sync_once(&collector).await;

    assert_eq!(p.result.expect("the sync completes"), 8);
    assert_eq!(
        p.markers.iter().map(|m| m.status).collect::<Vec<_>>(),
        [SyncStatus::Started, SyncStatus::Completed]
    );
    let obs = &p.observations;
    assert_eq!(
        (
            of_kind(obs, ResourceKind::CloudMapNamespace).len(),
            of_kind(obs, ResourceKind::CloudMapService).len(),
            of_kind(obs, ResourceKind::CloudMapInstance).len()
        ),
        (2, 3, 3)
    );

    let http = find(obs, ResourceKind::CloudMapNamespace, &f.ns_http);
    assert_eq!(
        string(http, "name").as_deref(),
        Some(f.ns_http_name.as_str())
    );
    assert_eq!(string(http, "type").as_deref(), Some("HTTP"));
    assert_eq!(string(http, "description").as_deref(), Some("the http one"));
    assert!(string(http, "arn").is_some_and(
        |a| a.starts_with("arn:aws:servicediscovery:us-east-1:") && a.ends_with(&f.ns_http)
    ));
    assert_eq!(strings(http, "tags"), ["team=shop"]);
    let dns = find(obs, ResourceKind::CloudMapNamespace, &f.ns_dns);
    assert_eq!(string(dns, "name").as_deref(), Some(f.ns_dns_name.as_str()));
    assert_eq!(string(dns, "type").as_deref(), Some("DNS_PRIVATE"));
    assert!(
        string(dns, "hosted_zone_id").is_some_and(|z| !z.is_empty()),
        "a private DNS namespace has a hosted zone"
    );
    assert_eq!(strings(dns, "tags"), ["env=test"]);

    let api = find(obs, ResourceKind::CloudMapService, &f.api);
    assert_eq!(string(api, "name").as_deref(), Some("api"));
    assert_eq!(
        string(api, "namespace_id").as_deref(),
        Some(f.ns_http.as_str())
    );
    assert_eq!(string(api, "description").as_deref(), Some("api service"));
    assert!(string(api, "arn").is_some_and(|a| a.ends_with(&f.api)));
    assert_eq!(
        strings(api, "tags"),
        [
            "NEO4J_RELATIONSHIP_TO_SERVICE=cache, db,ghost",
            "owner=team-a"
        ]
    );
    assert_eq!(targets(api, RelType::InNamespace), [f.ns_http.as_str()]);
    let mut deps = vec![f.cache.as_str(), f.db.as_str()];
    deps.sort();
    assert_eq!(
        targets(api, RelType::DependsOn),
        deps,
        "cache and db resolve; ghost names nothing"
    );

    let db = find(obs, ResourceKind::CloudMapService, &f.db);
    assert_eq!(targets(db, RelType::InNamespace), [f.ns_dns.as_str()]);
    assert!(targets(db, RelType::DependsOn).is_empty());
    let dns_config: serde_json::Value =
        serde_json::from_str(&string(db, "dns_config").expect("dns_config")).unwrap();
    assert_eq!(
        dns_config["DnsRecords"],
        serde_json::json!([{"Type": "A", "TTL": 60}])
    );
    assert!(string(db, "health_check_config").is_some_and(|h| h.contains("Custom")));
    assert_eq!(strings(db, "tags"), ["tier=data"]);
    let cache = find(obs, ResourceKind::CloudMapService, &f.cache);
    assert_eq!(targets(cache, RelType::InNamespace), [f.ns_http.as_str()]);
    assert!(strings(cache, "tags").is_empty());

    let i1 = find(
        obs,
        ResourceKind::CloudMapInstance,
        &format!("{}/i-1", f.api),
    );
    assert_eq!(string(i1, "instance_id").as_deref(), Some("i-1"));
    assert_eq!(string(i1, "service_id").as_deref(), Some(f.api.as_str()));
    assert_eq!(string(i1, "ipv4").as_deref(), Some("10.1.0.1"));
    assert_eq!(
        i1.properties.get("port").and_then(|v| v.as_long()),
        Some(8080)
    );
    assert_eq!(
        strings(i1, "attributes"),
        [
            "AWS_INSTANCE_IPV4=10.1.0.1",
            "AWS_INSTANCE_PORT=8080",
            "version=1"
        ]
    );
    assert_eq!(targets(i1, RelType::RegisteredTo), [f.api.as_str()]);
    assert_eq!(targets(i1, RelType::HasEndpoint), ["tcp://10.1.0.1:8080"]);
    let d1 = find(
        obs,
        ResourceKind::CloudMapInstance,
        &format!("{}/d-1", f.db),
    );
    assert_eq!(string(d1, "ipv6").as_deref(), Some("2001:db8::5"));
    assert_eq!(
        targets(d1, RelType::HasEndpoint),
        ["tcp://10.2.0.1:5432", "tcp://[2001:db8::5]:5432"]
    );
    assert!(
        string(d1, "health_status").is_some(),
        "a service with a health check reports instance health"
    );
    assert!(
        string(i1, "health_status").is_none(),
        "no health check, no health status"
    );
}

#[tokio::test]
async fn a_deregistered_instance_is_absent_from_the_next_sync() {
    require!(aws = support::AWS, "AWS API server");
    let sd = Client::new(&sdk(&aws).await);
    let f = fixture(&sd).await;
    let collector = collector(&aws, config(&f)).await;
    let gone = format!("{}/i-2", f.api);
    let first = sync_once(&collector).await;
    assert!(first.observations.iter().any(|o| o.id == gone));

    sd.deregister_instance()
        .service_id(&f.api)
        .instance_id("i-2")
        .send()
        .await
        .expect("DeregisterInstance");
    let second = sync_once(&collector).await;
    assert_eq!(
        second.markers.last().map(|m| m.status),
        Some(SyncStatus::Completed)
    );
    assert!(
        !second.observations.iter().any(|o| o.id == gone),
        "i-2 was deregistered"
    );
    assert!(
        second
            .observations
            .iter()
            .any(|o| o.id == format!("{}/i-1", f.api)),
        "i-1 is still there"
    );
    assert_eq!(second.observations.len(), first.observations.len() - 1);
}

#[tokio::test]
async fn the_namespace_filter_keeps_other_namespaces_out() {
    require!(aws = support::AWS, "AWS API server");
    let sd = Client::new(&sdk(&aws).await);
    let f = fixture(&sd).await;
    let only_http = CloudMapConfig {
        namespaces: vec![f.ns_http.clone()],
        ..config(&f)
    };
    let collector = collector(&aws, only_http).await;
    let p = sync_once(&collector).await;
    assert!(p.result.is_ok());
    assert!(collector_scope_is_filtered(&collector, &f.ns_http));
    let ids: Vec<&str> = p.observations.iter().map(|o| o.id.as_str()).collect();
    assert!(
        ids.contains(&f.ns_http.as_str())
            && ids.contains(&f.api.as_str())
            && ids.contains(&f.cache.as_str())
    );
    assert!(
        !ids.iter()
            .any(|id| id.starts_with(&f.db) || *id == f.ns_dns),
        "nothing of the other namespace: {ids:?}"
    );
    // db is outside the scope now: the dependency on it is left out, not guessed.
    assert_eq!(
        targets(
            find(&p.observations, ResourceKind::CloudMapService, &f.api),
            RelType::DependsOn
        ),
        [f.cache.as_str()]
    );
}

fn collector_scope_is_filtered(
    c: &infragraph_collector_cloudmap::CloudMapCollector,
    ns: &str,
) -> bool {
    use infragraph_collector::Collector;
    c.scope() == format!("aws:{ACCOUNT}/{REGION}/ns:{ns}")
}

#[tokio::test]
async fn the_account_comes_from_sts_when_not_given() {
    require!(aws = support::AWS, "AWS API server");
    let api = infragraph_collector_cloudmap::CloudMapApi::new(&sdk(&aws).await).unwrap();
    // moto's default account.
    assert_eq!(
        api.account_id().await.expect("GetCallerIdentity answers"),
        ACCOUNT
    );
}
