//! Against an in-process AWS JSON server: what moto cannot show. Paging of
//! ListNamespaces and ListServices (moto returns one page), access denied
//! (moto allows everything), and an unreachable endpoint.

// A test fails loudly where its setup or a result is not what it needs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::mock::{MockAws, Reply, error};
use common::*;
use infragraph_collector_cloudmap::CloudMapConfig;
use infragraph_schemas::{RelType, ResourceKind, SyncStatus};
use serde_json::{Value, json};

const DENIED_NS: &str = "ns-denied";

fn arn(kind: &str, id: &str) -> String {
    format!("arn:aws:servicediscovery:{REGION}:{ACCOUNT}:{kind}/{id}")
}

/// Three namespaces over two pages (the second holding `ns-denied`, whose
/// services may not be listed), two services per namespace over two pages,
/// one instance per service.
fn cloud_map(op: &str, body: &Value) -> Reply {
    let token = body["NextToken"].as_str();
    match op {
        "ListNamespaces" => match token {
            None => (
                200,
                json!({"Namespaces": [ns("ns-1"), ns("ns-2")], "NextToken": "ns-page-2"}),
            ),
            Some("ns-page-2") => (200, json!({"Namespaces": [ns(DENIED_NS)]})),
            Some(t) => error(400, "InvalidInput", &format!("bad token {t}")),
        },
        "ListServices" => {
            let ns = body["Filters"][0]["Values"][0]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            if ns == DENIED_NS {
                return error(
                    400,
                    "AccessDeniedException",
                    "User is not authorized to perform: servicediscovery:ListServices",
                );
            }
            match token {
                None => (
                    200,
                    json!({"Services": [{"Id": format!("srv-{ns}-a")}], "NextToken": format!("{ns}-page-2")}),
                ),
                Some(t) if t == format!("{ns}-page-2") => {
                    (200, json!({"Services": [{"Id": format!("srv-{ns}-b")}]}))
                }
                Some(t) => error(400, "InvalidInput", &format!("bad token {t}")),
            }
        }
        "GetService" => {
            let id = body["Id"].as_str().unwrap_or_default();
            let ns = id
                .trim_start_matches("srv-")
                .rsplit_once('-')
                .map(|(ns, _)| ns)
                .unwrap_or_default();
            (
                200,
                json!({"Service": {"Id": id, "Arn": arn("service", id), "Name": id, "NamespaceId": ns}}),
            )
        }
        "ListTagsForResource" => (200, json!({"Tags": []})),
        "ListInstances" => {
            let id = body["ServiceId"].as_str().unwrap_or_default();
            (
                200,
                json!({"Instances": [{"Id": "i-1", "Attributes": {"AWS_INSTANCE_IPV4": "10.9.0.1", "AWS_INSTANCE_PORT": "80", "svc": id}}]}),
            )
        }
        other => error(
            400,
            "InvalidAction",
            &format!("the mock does not serve {other}"),
        ),
    }
}

fn ns(id: &str) -> Value {
    json!({"Id": id, "Arn": arn("namespace", id), "Name": format!("name-{id}"), "Type": "HTTP"})
}

fn config(best_effort: bool) -> CloudMapConfig {
    CloudMapConfig {
        best_effort,
        max_attempts: 1,
        ..CloudMapConfig::default()
    }
}

#[tokio::test]
async fn every_page_of_namespaces_and_services_is_read() {
    let mock = MockAws::start(cloud_map).await;
    // Only the readable namespaces, so the sync completes.
    let only = CloudMapConfig {
        namespaces: vec!["ns-1".into(), "name-ns-2".into()],
        ..config(false)
    };
    let c = collector(&mock.url, only).await;
    let p = sync_once(&c).await;

    assert_eq!(
        p.markers.iter().map(|m| m.status).collect::<Vec<_>>(),
        [SyncStatus::Started, SyncStatus::Completed]
    );
    let stats = c.last_stats().expect("the sync recorded what it spent");
    assert_eq!(
        stats.requests,
        mock.operations().len() as u64,
        "every request the server saw, pages included, is counted"
    );
    assert_eq!((stats.namespaces, stats.services), (2, 4));
    assert_eq!(
        of_kind(&p.observations, ResourceKind::CloudMapNamespace).len(),
        2
    );
    let mut services: Vec<&str> = of_kind(&p.observations, ResourceKind::CloudMapService)
        .iter()
        .map(|o| o.id.as_str())
        .collect();
    services.sort();
    assert_eq!(
        services,
        ["srv-ns-1-a", "srv-ns-1-b", "srv-ns-2-a", "srv-ns-2-b"],
        "the second page of each namespace's services is read"
    );
    for s in of_kind(&p.observations, ResourceKind::CloudMapService) {
        let ns = s.id.trim_start_matches("srv-").rsplit_once('-').unwrap().0;
        assert_eq!(targets(s, RelType::InNamespace), [ns]);
    }
    let ep = find(
        &p.observations,
        ResourceKind::CloudMapInstance,
        "srv-ns-2-b/i-1",
    );
    assert_eq!(targets(ep, RelType::HasEndpoint), ["tcp://10.9.0.1:80"]);
    let ops = mock.operations();
    assert_eq!(
        ops.iter().filter(|o| *o == "ListNamespaces").count(),
        2,
        "both pages of namespaces: {ops:?}"
    );
    assert_eq!(
        ops.iter().filter(|o| *o == "ListServices").count(),
        4,
        "two pages per namespace: {ops:?}"
    );
    let calls = mock.calls.lock().unwrap();
    assert!(
        calls
            .iter()
            .any(|(op, body)| op == "ListNamespaces" && body["NextToken"] == "ns-page-2"),
        "the token is passed back"
    );
}

#[tokio::test]
async fn access_denied_on_a_namespace_fails_the_sync_naming_it() {
    let mock = MockAws::start(cloud_map).await;
    let p = sync_once(&collector(&mock.url, config(false)).await).await;

    let err = p
        .result
        .expect_err("access denied fails the sync")
        .to_string();
    assert!(
        err.contains(DENIED_NS)
            && err.contains("ListServices")
            && err.contains("AccessDeniedException"),
        "names the namespace, the call and the cause: {err}"
    );
    assert_eq!(
        p.markers.iter().map(|m| m.status).collect::<Vec<_>>(),
        [SyncStatus::Started, SyncStatus::Failed]
    );
    assert!(
        p.markers[1]
            .reason
            .as_deref()
            .is_some_and(|r| r.contains(DENIED_NS))
    );
    assert!(p.observations.is_empty(), "a failed sync publishes nothing");
}

#[tokio::test]
async fn best_effort_skips_the_denied_namespace_and_syncs_the_rest() {
    let mock = MockAws::start(cloud_map).await;
    let p = sync_once(&collector(&mock.url, config(true)).await).await;

    assert_eq!(p.result.expect("best effort completes"), 2 + 4 + 4);
    assert_eq!(
        p.markers.last().map(|m| m.status),
        Some(SyncStatus::Completed)
    );
    assert!(
        !p.observations.iter().any(|o| o.id.contains(DENIED_NS)),
        "nothing of the denied namespace"
    );
}

#[tokio::test]
async fn a_throttled_call_that_never_succeeds_fails_the_sync_even_in_best_effort() {
    let mock = MockAws::start(|op, body| match op {
        "ListInstances" => error(400, "ThrottlingException", "Rate exceeded"),
        _ => cloud_map(op, body),
    })
    .await;
    let only = CloudMapConfig {
        namespaces: vec!["ns-1".into()],
        ..config(true)
    };
    let p = sync_once(&collector(&mock.url, only).await).await;
    let err = p
        .result
        .expect_err("throttled to the end fails")
        .to_string();
    assert!(
        err.contains("ListInstances") && err.contains("srv-ns-1-"),
        "{err}"
    );
    assert_eq!(p.markers.last().map(|m| m.status), Some(SyncStatus::Failed));
}

#[tokio::test]
async fn an_unreachable_endpoint_fails_the_sync_with_no_completed_marker() {
    // A port that was just free: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let p = sync_once(&collector(&format!("http://127.0.0.1:{port}"), config(true)).await).await;

    let err = p.result.expect_err("nothing answers").to_string();
    assert!(err.contains("ListNamespaces"), "{err}");
    assert_eq!(
        p.markers.iter().map(|m| m.status).collect::<Vec<_>>(),
        [SyncStatus::Started, SyncStatus::Failed]
    );
    assert!(p.observations.is_empty());
}

#[tokio::test]
async fn throttling_is_retried_with_the_configured_attempts() {
    use aws_sdk_servicediscovery::config::Credentials;
    use infragraph_collector_cloudmap::{CloudMapApi, CloudMapCollector, sdk_config};
    use std::collections::HashSet;
    use std::sync::Mutex;

    // Each service's ListInstances is throttled once, then answered.
    let throttled = Mutex::new(HashSet::new());
    let mock = MockAws::start(move |op, body| match op {
        "ListInstances"
            if throttled
                .lock()
                .unwrap()
                .insert(body["ServiceId"].to_string()) =>
        {
            error(400, "ThrottlingException", "Rate exceeded")
        }
        _ => cloud_map(op, body),
    })
    .await;
    // The production SDK config (standard retry mode, `max_attempts`), with
    // static credentials in place of the standard chain.
    let config = CloudMapConfig {
        namespaces: vec!["ns-1".into()],
        endpoint_url: Some(mock.url.clone()),
        region: Some(REGION.into()),
        max_attempts: 2,
        ..CloudMapConfig::default()
    };
    let sdk = sdk_config(&config)
        .await
        .into_builder()
        .credentials_provider(
            aws_sdk_servicediscovery::config::SharedCredentialsProvider::new(Credentials::new(
                "testing", "testing", None, None, "tests",
            )),
        )
        .build();
    let collector = CloudMapCollector::with_api(config, CloudMapApi::new(&sdk).unwrap(), ACCOUNT);
    let p = sync_once(&collector).await;

    assert_eq!(p.result.expect("retries get through"), 1 + 2 + 2);
    assert_eq!(
        mock.operations()
            .iter()
            .filter(|o| *o == "ListInstances")
            .count(),
        4,
        "each of two services: throttled once, then served"
    );
    let spent = collector
        .last_stats()
        .expect("the sync recorded what it spent")
        .requests;
    assert_eq!(
        spent,
        mock.operations().len() as u64,
        "retries are counted as requests"
    );
}

/// ListInstances of one service is denied.
fn instances_denied(op: &str, body: &Value) -> Reply {
    match op {
        "ListInstances" if body["ServiceId"] == "srv-ns-1-a" => {
            error(400, "AccessDeniedException", "not authorized")
        }
        _ => cloud_map(op, body),
    }
}

#[tokio::test]
async fn access_denied_on_a_service_fails_the_sync_or_skips_only_that_service() {
    let mock = MockAws::start(instances_denied).await;
    let only = |best_effort| CloudMapConfig {
        namespaces: vec!["ns-1".into()],
        ..config(best_effort)
    };

    let strict = sync_once(&collector(&mock.url, only(false)).await).await;
    let err = strict
        .result
        .expect_err("denied fails by default")
        .to_string();
    assert!(
        err.contains("service srv-ns-1-a") && err.contains("ListInstances"),
        "{err}"
    );
    assert_eq!(
        strict.markers.last().map(|m| m.status),
        Some(SyncStatus::Failed)
    );

    let lenient = sync_once(&collector(&mock.url, only(true)).await).await;
    assert_eq!(
        lenient.markers.last().map(|m| m.status),
        Some(SyncStatus::Completed)
    );
    let ids: Vec<&str> = lenient.observations.iter().map(|o| o.id.as_str()).collect();
    assert_eq!(
        ids,
        ["ns-1", "srv-ns-1-b", "srv-ns-1-b/i-1"],
        "the denied service and its instances are left out, the rest is there"
    );
}
