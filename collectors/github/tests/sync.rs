//! Syncs of a fixture organisation served by an in-process server shaped
//! like GitHub's REST and GraphQL APIs, through the shared collector runtime on a memory
//! bus: what is published, what a 401, a 404, a 5xx and rate limits do, and
//! that the token never leaks.

// A test fails loudly where its setup or a result is not what it needs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::*;
use infragraph_collector::{Collector, Schedule};
use infragraph_collector_github::{AppKey, Credentials, GithubCollector, GithubError};
use infragraph_schemas::{RelType, ResourceKind, SyncStatus, Value};
use serde_json::json;
use wiremock::{MockServer, ResponseTemplate};

const ORG: &str = "acme";

fn repo_url(name: &str) -> String {
    web(&format!("{ORG}/{name}"))
}

async fn fixture() -> MockServer {
    let server = MockServer::start().await;
    mount_org(&server, ORG).await;
    server
}

fn assert_no_token(logs: &Logs, bytes: &[u8]) {
    assert!(!logs.text().contains(TOKEN), "the token is in the logs");
    assert!(
        !bytes.windows(TOKEN.len()).any(|w| w == TOKEN.as_bytes()),
        "the token was published"
    );
}

#[tokio::test]
async fn one_sync_maps_the_fixture_org_in_cartographys_schema() {
    let (logs, _guard) = Logs::capture();
    let server = fixture().await;
    let collector = collector(&server, ORG);
    let bus = infragraph_bus::MemoryBus::new();
    let syncer = syncer(&bus);
    let (_tx, shutdown) = tokio::sync::watch::channel(false);
    let once = Schedule {
        once: true,
        interval: Duration::from_secs(3600),
        jitter: Duration::ZERO,
        reconcile_interval: infragraph_collector::DEFAULT_RECONCILE_INTERVAL,
    };
    let stats = infragraph_collector::run(&collector, &syncer, once, shutdown)
        .await
        .expect("the sync completes");
    assert_eq!(stats.completed, 1);

    let statuses: Vec<SyncStatus> = markers(&bus).iter().map(|m| m.status).collect();
    assert_eq!(statuses, vec![SyncStatus::Started, SyncStatus::Completed]);
    let obs = observations(&bus);
    assert!(
        obs.iter()
            .all(|o| o.scope.source == "github" && o.scope.scope == "github:acme")
    );

    // Organisation.
    let org_id = web(ORG);
    assert_eq!(
        ids(&obs, ResourceKind::GitHubOrganization),
        vec![org_id.as_str()]
    );
    assert_eq!(
        find(&obs, ResourceKind::GitHubOrganization, &org_id)
            .properties
            .get("username"),
        Some(&Value::from("acme"))
    );

    // Repositories: the second page was followed through the Link header.
    assert_eq!(
        ids(&obs, ResourceKind::GitHubRepository),
        vec![
            repo_url("api").as_str(),
            repo_url("tools").as_str(),
            repo_url("web").as_str()
        ]
    );
    let api = find(&obs, ResourceKind::GitHubRepository, &repo_url("api"));
    let p = &api.properties;
    assert_eq!(p.get("name"), Some(&Value::from("api")));
    assert_eq!(p.get("fullname"), Some(&Value::from("acme/api")));
    assert_eq!(p.get("url"), Some(&Value::from(repo_url("api").as_str())));
    assert_eq!(p.get("description"), Some(&Value::from("The api service")));
    assert_eq!(p.get("visibility"), Some(&Value::from("private")));
    assert_eq!(p.get("private"), Some(&Value::Bool(true)));
    assert_eq!(p.get("archived"), Some(&Value::Bool(false)));
    assert_eq!(p.get("fork"), Some(&Value::Bool(false)));
    assert_eq!(p.get("defaultbranch"), Some(&Value::from("main")));
    assert_eq!(p.get("primarylanguage"), Some(&Value::from("Rust")));
    assert_eq!(
        p.get("topics"),
        Some(&Value::StringList(vec!["backend".into(), "grpc".into()]))
    );
    assert_eq!(
        p.get("createdat"),
        Some(&Value::from("2020-01-02T03:04:05Z"))
    );
    assert_eq!(
        p.get("updatedat"),
        Some(&Value::from("2024-05-06T07:08:09Z"))
    );
    assert_eq!(
        p.get("pushedat"),
        Some(&Value::from("2024-05-06T07:00:00Z"))
    );
    assert_eq!(targets(api, RelType::Owner), vec![org_id.as_str()]);
    assert_eq!(targets(api, RelType::Language), vec!["Rust", "Shell"]);
    let tools = find(&obs, ResourceKind::GitHubRepository, &repo_url("tools"));
    assert_eq!(tools.properties.get("archived"), Some(&Value::Bool(true)));
    assert_eq!(
        targets(tools, RelType::Language),
        vec!["Python"],
        "the primary language stands in when none was counted"
    );
    assert_eq!(
        ids(&obs, ResourceKind::ProgrammingLanguage),
        vec!["Python", "Rust", "Shell", "TypeScript"]
    );

    // Teams.
    let platform = team_url(ORG, "platform");
    let sre = team_url(ORG, "sre");
    assert_eq!(
        ids(&obs, ResourceKind::GitHubTeam),
        vec![platform.as_str(), sre.as_str()]
    );
    let sre_obs = find(&obs, ResourceKind::GitHubTeam, &sre);
    assert_eq!(sre_obs.properties.get("slug"), Some(&Value::from("sre")));
    assert_eq!(
        sre_obs.properties.get("privacy"),
        Some(&Value::from("closed"))
    );
    assert_eq!(targets(sre_obs, RelType::Resource), vec![org_id.as_str()]);
    assert_eq!(
        targets(sre_obs, RelType::MemberOfTeam),
        vec![platform.as_str()]
    );
    assert_eq!(
        targets(sre_obs, RelType::Write),
        vec![repo_url("api").as_str()]
    );
    let platform_obs = find(&obs, ResourceKind::GitHubTeam, &platform);
    assert_eq!(
        targets(platform_obs, RelType::Admin),
        vec![repo_url("api").as_str()]
    );
    assert_eq!(
        targets(platform_obs, RelType::Read),
        vec![repo_url("web").as_str()],
        "a custom role maps to its base permission"
    );

    // People: MATCH (u:GitHubUser)-[:MEMBER_OF]->(:GitHubOrganization).
    let (alice, bob, carol, oscar) = (web("alice"), web("bob"), web("carol"), web("oscar"));
    assert_eq!(
        sources(&obs, RelType::MemberOf, &org_id),
        vec![alice.as_str(), bob.as_str(), carol.as_str()]
    );
    assert_eq!(
        sources(&obs, RelType::AdminOf, &org_id),
        vec![alice.as_str()]
    );
    assert_eq!(
        ids(&obs, ResourceKind::GitHubUser),
        vec![alice.as_str(), bob.as_str(), carol.as_str(), oscar.as_str()]
    );
    let bob_props = &find(&obs, ResourceKind::GitHubUser, &bob).properties;
    assert_eq!(bob_props.get("username"), Some(&Value::from("bob")));
    assert_eq!(bob_props.get("fullname"), Some(&Value::from("Bob Builder")));
    assert_eq!(bob_props.get("has_2fa_enabled"), Some(&Value::Bool(false)));
    let alice_props = &find(&obs, ResourceKind::GitHubUser, &alice).properties;
    assert_eq!(alice_props.get("has_2fa_enabled"), Some(&Value::Bool(true)));
    let carol_props = &find(&obs, ResourceKind::GitHubUser, &carol).properties;
    assert_eq!(
        (
            carol_props.get("fullname"),
            carol_props.get("has_2fa_enabled")
        ),
        (None, None),
        "no name and no 2FA status: absent, not invented"
    );
    assert_eq!(
        sources(&obs, RelType::Maintainer, &platform),
        vec![alice.as_str()]
    );
    // Immediate members only: carol is in sre, platform's child team.
    assert_eq!(
        sources(&obs, RelType::Member, &platform),
        vec![bob.as_str()]
    );
    assert_eq!(sources(&obs, RelType::Member, &sre), vec![carol.as_str()]);

    // Admins of a repo through teams:
    // MATCH (u)-[:MEMBER|MAINTAINER]->(t:GitHubTeam)-[:ADMIN]->(r {id: api}).
    let admin_teams = sources(&obs, RelType::Admin, &repo_url("api"));
    let mut admins: Vec<&str> = admin_teams
        .iter()
        .flat_map(|t| {
            [
                sources(&obs, RelType::Member, t),
                sources(&obs, RelType::Maintainer, t),
            ]
            .concat()
        })
        .collect();
    admins.sort_unstable();
    assert_eq!(admins, vec![alice.as_str(), bob.as_str()]);

    // Collaborators: an outside one is marked both DIRECT and OUTSIDE.
    let oscar_obs = find(&obs, ResourceKind::GitHubUser, &oscar);
    assert!(targets(oscar_obs, RelType::MemberOf).is_empty());
    assert_eq!(
        targets(oscar_obs, RelType::OutsideCollabWrite),
        vec![repo_url("api").as_str()]
    );
    assert_eq!(
        targets(oscar_obs, RelType::DirectCollabWrite),
        vec![repo_url("api").as_str()]
    );
    let bob_obs = find(&obs, ResourceKind::GitHubUser, &bob);
    assert_eq!(
        targets(bob_obs, RelType::DirectCollabAdmin),
        vec![repo_url("api").as_str()]
    );
    assert!(targets(bob_obs, RelType::OutsideCollabAdmin).is_empty());

    // Requests counted, and the count matches what the server saw.
    let seen = server
        .received_requests()
        .await
        .expect("recording is on")
        .len() as u64;
    let spent = collector.last_stats().expect("stats of the sync");
    assert_eq!(spent.requests, FIXTURE_REQUESTS);
    assert_eq!(spent.requests, seen);
    assert!(spent.skipped.is_empty());
    assert!(
        logs.text()
            .contains(&format!("requests={FIXTURE_REQUESTS}")),
        "the request count is logged"
    );
    assert_no_token(&logs, &all_bytes(&bus));
}

#[tokio::test]
async fn a_401_half_way_fails_the_sync_and_publishes_nothing_to_clean_up() {
    let (logs, _guard) = Logs::capture();
    let server = MockServer::start().await;
    // Mounted first, so it wins over the fixture's answer.
    get("/orgs/acme/teams/sre/repos")
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"})))
        .mount(&server)
        .await;
    mount_org(&server, ORG).await;
    let collector = collector(&server, ORG);
    let bus = infragraph_bus::MemoryBus::new();
    let err = syncer(&bus)
        .sync(&collector)
        .await
        .expect_err("a 401 fails the sync");
    assert!(err.to_string().contains("401"), "{err}");

    let markers = markers(&bus);
    let statuses: Vec<SyncStatus> = markers.iter().map(|m| m.status).collect();
    assert_eq!(statuses, vec![SyncStatus::Started, SyncStatus::Failed]);
    let reason = markers[1].reason.clone().unwrap_or_default();
    assert!(
        reason.contains("401") && reason.contains("token"),
        "the FAILED marker says why: {reason}"
    );
    assert!(observations(&bus).is_empty());
    assert!(logs.text().contains("401"));
    assert_no_token(&logs, &all_bytes(&bus));
}

#[tokio::test]
async fn a_repository_gone_mid_sync_is_skipped_and_reported() {
    let server = MockServer::start().await;
    mount(
        &server,
        ORG,
        &OrgFixture {
            gone: &["web"],
            ..OrgFixture::default()
        },
    )
    .await;
    let collector = collector(&server, ORG);
    let bus = infragraph_bus::MemoryBus::new();
    syncer(&bus)
        .sync(&collector)
        .await
        .expect("the sync completes");

    let statuses: Vec<SyncStatus> = markers(&bus).iter().map(|m| m.status).collect();
    assert_eq!(statuses, vec![SyncStatus::Started, SyncStatus::Completed]);
    let obs = observations(&bus);
    assert_eq!(
        ids(&obs, ResourceKind::GitHubRepository),
        vec![repo_url("api").as_str(), repo_url("tools").as_str()]
    );
    let platform = find(&obs, ResourceKind::GitHubTeam, &team_url(ORG, "platform"));
    assert!(
        targets(platform, RelType::Read).is_empty(),
        "no edge to the skipped repository"
    );
    let stats = collector.last_stats().expect("stats");
    assert_eq!(stats.skipped.len(), 1);
    assert_eq!(stats.skipped[0].repo, "acme/web");
    assert!(
        stats.skipped[0].reason.contains("Could not resolve"),
        "GraphQL's reason: {:?}",
        stats.skipped[0].reason
    );
}

#[tokio::test]
async fn a_repository_gone_when_read_through_rest_is_skipped_too() {
    let server = MockServer::start().await;
    get("/repos/acme/api/collaborators")
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"message": "Not Found"})))
        .mount(&server)
        .await;
    // api's collaborators do not fit GraphQL's page: REST is asked, and 404s.
    mount(
        &server,
        ORG,
        &OrgFixture {
            long_collaborator_lists: &["api"],
            ..OrgFixture::default()
        },
    )
    .await;
    let collector = collector(&server, ORG);
    let bus = infragraph_bus::MemoryBus::new();
    syncer(&bus)
        .sync(&collector)
        .await
        .expect("the sync completes");
    assert_eq!(
        ids(&observations(&bus), ResourceKind::GitHubRepository),
        vec![repo_url("tools").as_str(), repo_url("web").as_str()]
    );
    let stats = collector.last_stats().expect("stats");
    assert_eq!(
        stats
            .skipped
            .iter()
            .map(|s| s.repo.as_str())
            .collect::<Vec<_>>(),
        ["acme/api"]
    );
    assert!(stats.skipped[0].reason.contains("404"));
}

#[tokio::test]
async fn a_collaborator_list_longer_than_a_graphql_page_is_read_through_rest() {
    let server = MockServer::start().await;
    mount(
        &server,
        ORG,
        &OrgFixture {
            long_collaborator_lists: &["api"],
            ..OrgFixture::default()
        },
    )
    .await;
    let collector = collector(&server, ORG);
    let bus = infragraph_bus::MemoryBus::new();
    syncer(&bus)
        .sync(&collector)
        .await
        .expect("the sync completes");
    let obs = observations(&bus);
    assert_eq!(
        sources(&obs, RelType::DirectCollabAdmin, &repo_url("api")),
        vec![web("bob").as_str()]
    );
    assert_eq!(
        sources(&obs, RelType::OutsideCollabWrite, &repo_url("api")),
        vec![web("oscar").as_str()]
    );
    assert_eq!(
        targets(
            find(&obs, ResourceKind::GitHubRepository, &repo_url("api")),
            RelType::Language
        ),
        vec!["Rust", "Shell"]
    );
    let rest: Vec<String> = server
        .received_requests()
        .await
        .expect("recording is on")
        .iter()
        .map(|r| r.url.path().to_owned())
        .filter(|p| p.starts_with("/repos/"))
        .collect();
    assert_eq!(
        rest,
        ["/repos/acme/api/languages", "/repos/acme/api/collaborators"],
        "REST for that repository only"
    );
    assert_eq!(
        collector.last_stats().expect("stats").requests,
        FIXTURE_REQUESTS + 2
    );
}

#[tokio::test]
async fn a_graphql_error_other_than_not_found_fails_the_sync() {
    let server = MockServer::start().await;
    let forbidden = json!({
        "data": {"nodes": [null, null, null]},
        "errors": [{"type": "FORBIDDEN", "path": ["nodes", 0, "collaborators"], "message": "Must have push access to view repository collaborators."}]
    });
    graphql()
        .and(wiremock::matchers::body_string_contains("nodes(ids:"))
        .respond_with(ok(forbidden))
        .mount(&server)
        .await;
    mount_org(&server, ORG).await;
    let collector = collector(&server, ORG);
    let bus = infragraph_bus::MemoryBus::new();
    let err = syncer(&bus)
        .sync(&collector)
        .await
        .expect_err("the sync fails rather than drop collaborators");
    assert!(
        err.to_string().contains("push access"),
        "GitHub's message is kept: {err}"
    );
    let statuses: Vec<SyncStatus> = markers(&bus).iter().map(|m| m.status).collect();
    assert_eq!(statuses, vec![SyncStatus::Started, SyncStatus::Failed]);
}

#[tokio::test]
async fn a_graphql_rate_limit_is_waited_out() {
    let (logs, _guard) = Logs::capture();
    let server = MockServer::start().await;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    // GitHub answers a spent GraphQL budget with 200 and a RATE_LIMITED error.
    let limited = ok(json!({"errors": [{"type": "RATE_LIMITED", "message": "API rate limit exceeded for user ID 1."}]}))
        .insert_header("x-ratelimit-remaining", "0")
        .insert_header("x-ratelimit-reset", now.to_string().as_str());
    graphql()
        .respond_with(limited)
        .up_to_n_times(1)
        .mount(&server)
        .await;
    mount_org(&server, ORG).await;
    let collector = collector(&server, ORG);
    let bus = infragraph_bus::MemoryBus::new();
    syncer(&bus)
        .sync(&collector)
        .await
        .expect("the sync completes after the wait");
    assert!(
        logs.text().contains("waiting for the GitHub rate limit"),
        "{}",
        logs.text()
    );
    assert_eq!(
        collector.last_stats().expect("stats").requests,
        FIXTURE_REQUESTS + 1
    );
    assert_eq!(
        targets(
            find(
                &observations(&bus),
                ResourceKind::GitHubRepository,
                &repo_url("api")
            ),
            RelType::Language
        ),
        vec!["Rust", "Shell"]
    );
}

#[tokio::test]
async fn server_errors_are_retried() {
    let server = MockServer::start().await;
    graphql()
        .respond_with(ResponseTemplate::new(502))
        .up_to_n_times(2)
        .mount(&server)
        .await;
    mount_org(&server, ORG).await;
    let collector = collector(&server, ORG);
    let bus = infragraph_bus::MemoryBus::new();
    syncer(&bus)
        .sync(&collector)
        .await
        .expect("the sync completes after retries");
    let api = find(
        &observations(&bus),
        ResourceKind::GitHubRepository,
        &repo_url("api"),
    )
    .clone();
    assert_eq!(targets(&api, RelType::Language), vec!["Rust", "Shell"]);
    assert_eq!(
        collector.last_stats().expect("stats").requests,
        FIXTURE_REQUESTS + 2,
        "retries are counted"
    );
}

#[tokio::test]
async fn a_server_that_keeps_failing_fails_the_sync() {
    let server = MockServer::start().await;
    get("/orgs/acme/outside_collaborators")
        .respond_with(ResponseTemplate::new(503))
        .mount(&server)
        .await;
    mount_org(&server, ORG).await;
    let collector = collector(&server, ORG);
    let bus = infragraph_bus::MemoryBus::new();
    let err = syncer(&bus).sync(&collector).await.expect_err("gives up");
    assert!(err.to_string().contains("503"), "{err}");
    let statuses: Vec<SyncStatus> = markers(&bus).iter().map(|m| m.status).collect();
    assert_eq!(statuses, vec![SyncStatus::Started, SyncStatus::Failed]);
}

#[tokio::test]
async fn rate_limits_are_waited_out_with_progress_logged() {
    let (logs, _guard) = Logs::capture();
    let server = MockServer::start().await;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    // A spent primary limit resetting now (the collector adds a second).
    let primary = ResponseTemplate::new(403)
        .set_body_json(json!({"message": "API rate limit exceeded"}))
        .insert_header("x-ratelimit-remaining", "0")
        .insert_header("x-ratelimit-reset", now.to_string().as_str());
    get("/orgs/acme")
        .respond_with(primary)
        .up_to_n_times(1)
        .mount(&server)
        .await;
    // A secondary limit with Retry-After.
    let secondary = ResponseTemplate::new(403)
        .set_body_json(json!({"message": "You have exceeded a secondary rate limit"}))
        .insert_header("retry-after", "1");
    get("/orgs/acme/outside_collaborators")
        .respond_with(secondary)
        .up_to_n_times(1)
        .mount(&server)
        .await;
    mount_org(&server, ORG).await;
    let collector = collector(&server, ORG);
    let bus = infragraph_bus::MemoryBus::new();
    syncer(&bus)
        .sync(&collector)
        .await
        .expect("the sync completes after the waits");
    let text = logs.text();
    assert!(
        text.contains("waiting for the GitHub rate limit")
            && text.contains("primary rate limit")
            && text.contains("secondary rate limit"),
        "{text}"
    );
    assert_eq!(
        collector.last_stats().expect("stats").requests,
        FIXTURE_REQUESTS + 2
    );
    assert_eq!(
        ids(&observations(&bus), ResourceKind::GitHubOrganization),
        vec![web(ORG).as_str()]
    );
}

#[tokio::test]
async fn a_plain_403_fails_with_a_permission_message() {
    let server = MockServer::start().await;
    let forbidden = ResponseTemplate::new(403)
        .set_body_json(json!({"message": "Must have admin rights"}))
        .insert_header("x-ratelimit-remaining", "4000");
    get("/orgs/acme/outside_collaborators")
        .respond_with(forbidden)
        .mount(&server)
        .await;
    mount_org(&server, ORG).await;
    let collector = collector(&server, ORG);
    let bus = infragraph_bus::MemoryBus::new();
    let err = syncer(&bus)
        .sync(&collector)
        .await
        .expect_err("a plain 403 fails");
    assert!(
        err.to_string().contains("403") && err.to_string().contains("permission"),
        "{err}"
    );
}

#[tokio::test]
async fn two_orgs_are_two_scopes_and_share_user_nodes() {
    let server = MockServer::start().await;
    mount_org(&server, "acme").await;
    mount_org(&server, "beta").await;
    let token = infragraph_collector_github::Token::new(TOKEN).expect("a token");
    let mut config = infragraph_collector_github::GithubConfig::new(
        vec!["acme".into(), "beta".into()],
        server.uri(),
        token,
    );
    config.retry = quick_retry();
    config.schedule = Schedule {
        once: true,
        interval: Duration::from_secs(3600),
        jitter: Duration::ZERO,
        reconcile_interval: infragraph_collector::DEFAULT_RECONCILE_INTERVAL,
    };
    let bus = infragraph_bus::MemoryBus::new();
    let (_tx, shutdown) = tokio::sync::watch::channel(false);
    let runs = infragraph_collector_github::run(config, bus.clone(), shutdown)
        .await
        .expect("both orgs sync");
    assert_eq!(runs.iter().map(|r| r.completed).sum::<u64>(), 2);
    let completed: Vec<String> = markers(&bus)
        .iter()
        .filter(|m| m.status == SyncStatus::Completed)
        .map(|m| m.scope.scope.clone())
        .collect();
    assert_eq!(completed.len(), 2);
    assert!(
        completed.contains(&"github:acme".to_owned())
            && completed.contains(&"github:beta".to_owned())
    );
    let alice: Vec<String> = observations(&bus)
        .into_iter()
        .filter(|o| o.id == web("alice"))
        .map(|o| o.scope.scope)
        .collect();
    assert_eq!(
        alice.len(),
        2,
        "alice is observed once per org, as one node id"
    );
}

#[tokio::test]
async fn a_link_to_another_host_is_not_followed() {
    let server = MockServer::start().await;
    get("/orgs/acme/teams")
        .respond_with(ok(json!([])).insert_header(
            "link",
            r#"<https://elsewhere.example/orgs/acme/teams?page=2>; rel="next""#,
        ))
        .mount(&server)
        .await;
    mount_org(&server, ORG).await;
    let collector = collector(&server, ORG);
    let bus = infragraph_bus::MemoryBus::new();
    let err = syncer(&bus)
        .sync(&collector)
        .await
        .expect_err("a foreign link fails the sync");
    assert!(err.to_string().contains("elsewhere.example"), "{err}");
}

#[tokio::test]
async fn errors_never_carry_the_token() {
    let token = infragraph_collector_github::Token::new(TOKEN).expect("a token");
    assert!(!format!("{token:?}").contains(TOKEN));
    let err = GithubError::Unauthorized {
        path: "/orgs/acme".into(),
    };
    assert!(!format!("{err} {err:?}").contains(TOKEN));
    let c = infragraph_collector_github::GithubCollector::new(
        "acme",
        "http://127.0.0.1:1",
        &token,
        quick_retry(),
        1,
    )
    .expect("a collector");
    assert!(!format!("{c:?}").contains(TOKEN));
    assert_eq!(c.scope(), "github:acme");
}

#[test]
fn a_client_outside_a_runtime_is_an_error_not_a_panic() {
    let token = infragraph_collector_github::Token::new(TOKEN).expect("a token");
    let err = infragraph_collector_github::GithubCollector::new(
        "acme",
        "http://127.0.0.1:1",
        &token,
        quick_retry(),
        1,
    )
    .expect_err("no runtime");
    assert!(err.to_string().contains("Tokio runtime"), "{err}");
}

#[tokio::test]
async fn an_unchanged_list_is_asked_for_conditionally_on_the_next_sync() {
    let server = MockServer::start().await;
    // Answers only a request that names the ETag of the first sync's answer.
    get("/orgs/acme/teams")
        .and(wiremock::matchers::header("if-none-match", TEAMS_ETAG))
        .respond_with(ResponseTemplate::new(304).insert_header("etag", TEAMS_ETAG))
        .expect(1)
        .mount(&server)
        .await;
    mount_org(&server, ORG).await;
    let collector = collector(&server, ORG);
    let bus = infragraph_bus::MemoryBus::new();
    let syncer = syncer(&bus);
    syncer
        .sync(&collector)
        .await
        .expect("the first sync completes");
    assert_eq!(collector.last_stats().expect("stats").not_modified, 0);
    syncer
        .sync(&collector)
        .await
        .expect("the second sync completes");
    let stats = collector.last_stats().expect("stats");
    assert_eq!(stats.not_modified, 1);
    assert_eq!(stats.requests, FIXTURE_REQUESTS);
    assert_eq!(stats.teams, 2, "the teams come from the kept answer");
    // The test clock stands still, so both syncs share an epoch: count.
    let teams = observations(&bus)
        .into_iter()
        .filter(|o| o.kind == ResourceKind::GitHubTeam)
        .count();
    assert_eq!(teams, 4, "both syncs published both teams");
}

#[tokio::test]
async fn an_enterprise_server_base_path_is_kept_on_every_page() {
    let server = MockServer::start().await;
    mount(
        &server,
        ORG,
        &OrgFixture {
            prefix: "/api/v3",
            ..OrgFixture::default()
        },
    )
    .await;
    let token = infragraph_collector_github::Token::new(TOKEN).expect("a token");
    let collector = infragraph_collector_github::GithubCollector::new(
        ORG,
        &format!("{}/api/v3", server.uri()),
        &token,
        quick_retry(),
        4,
    )
    .expect("a collector");
    let bus = infragraph_bus::MemoryBus::new();
    syncer(&bus)
        .sync(&collector)
        .await
        .expect("the sync completes");
    assert_eq!(
        ids(&observations(&bus), ResourceKind::GitHubRepository).len(),
        3,
        "the second page, linked under /api/v3, was read"
    );
    let requests = server.received_requests().await.expect("recording is on");
    let paths: Vec<&str> = requests.iter().map(|r| r.url.path()).collect();
    assert!(
        paths
            .iter()
            .all(|p| p.starts_with("/api/v3/") || *p == "/api/graphql"),
        "REST under /api/v3, GraphQL at /api/graphql: {paths:?}"
    );
    assert!(paths.contains(&"/api/graphql"));
}

/// A fresh RSA key pair for a test app, made by openssl: the private key's
/// file and the public key (PEM).
fn app_key_pair(dir: &std::path::Path) -> (std::path::PathBuf, String) {
    let key = dir.join("app.pem");
    let run = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .output()
            .expect("openssl runs");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    let key_str = key.to_str().expect("a UTF-8 path");
    run(&[
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:2048",
        "-out",
        key_str,
    ]);
    let public = String::from_utf8(run(&["pkey", "-in", key_str, "-pubout"])).expect("PEM is text");
    (key, public)
}

const APP_ID: u64 = 424_242;
const INSTALLATION: u64 = 987_654;

/// GitHub's answers to an app: its installation on acme, and an
/// installation token (the fixture's token, so the fixture serves it).
async fn mount_app(server: &MockServer) {
    use wiremock::matchers::{header_regex, method, path};
    let jwt = || header_regex("authorization", r"^Bearer [\w-]+\.[\w-]+\.[\w-]+$");
    wiremock::Mock::given(method("GET"))
        .and(path("/orgs/acme/installation"))
        .and(jwt())
        .respond_with(ok(json!({"id": INSTALLATION, "app_id": APP_ID, "target_type": "Organization", "account": {"login": "acme", "id": 1, "type": "Organization"}, "permissions": {"members": "read", "metadata": "read"}, "events": []})))
        .mount(server)
        .await;
    wiremock::Mock::given(method("POST"))
        .and(path(format!("/app/installations/{INSTALLATION}/access_tokens")))
        .and(jwt())
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"token": TOKEN, "expires_at": "2099-01-01T00:00:00Z", "permissions": {"members": "read", "metadata": "read"}, "repository_selection": "all"})))
        .mount(server)
        .await;
}

#[tokio::test]
async fn a_github_app_acts_as_its_installation_on_the_org() {
    let (logs, _guard) = Logs::capture();
    let dir = tempdir("gh-app");
    let (key_file, public) = app_key_pair(&dir);
    let server = MockServer::start().await;
    mount_app(&server).await;
    mount_org(&server, ORG).await;
    let credentials = Credentials::App {
        app_id: APP_ID,
        key: AppKey::read(&key_file).expect("the key file"),
    };
    let collector = GithubCollector::new(ORG, &server.uri(), credentials, quick_retry(), 4)
        .expect("a collector");
    let bus = infragraph_bus::MemoryBus::new();
    syncer(&bus)
        .sync(&collector)
        .await
        .expect("the sync completes as the installation");
    assert_eq!(
        ids(&observations(&bus), ResourceKind::GitHubRepository).len(),
        3
    );
    assert_eq!(
        collector.last_stats().expect("stats").requests,
        FIXTURE_REQUESTS + 1,
        "the installation lookup is one more request"
    );

    // The app's JWT is signed with its key and names the app.
    let requests = server.received_requests().await.expect("recording is on");
    let lookup = requests
        .iter()
        .find(|r| r.url.path() == "/orgs/acme/installation")
        .expect("the installation was looked up");
    let jwt = lookup
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .expect("a bearer JWT");
    let decoding =
        jsonwebtoken::DecodingKey::from_rsa_pem(public.as_bytes()).expect("the public key");
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_required_spec_claims(&["exp"]);
    let claims = jsonwebtoken::decode::<serde_json::Value>(jwt, &decoding, &validation)
        .expect("signed by the app's key")
        .claims;
    assert_eq!(
        claims["iss"].to_string().trim_matches('"'),
        APP_ID.to_string()
    );
    assert_eq!(
        requests
            .iter()
            .filter(|r| r.url.path().ends_with("/access_tokens"))
            .count(),
        1,
        "one installation token serves the whole sync"
    );

    let pem = std::fs::read_to_string(&key_file).expect("the key");
    let body_line = pem.lines().nth(1).expect("a PEM body line");
    assert!(
        !logs.text().contains(body_line),
        "the private key is in the logs"
    );
    assert!(!format!("{collector:?}").contains(body_line));
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn an_app_not_installed_on_the_org_fails_the_sync_saying_so() {
    let dir = tempdir("gh-app-missing");
    let (key_file, _) = app_key_pair(&dir);
    let server = MockServer::start().await;
    mount_org(&server, ORG).await;
    get("/orgs/acme/installation")
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"message": "Not Found"})))
        .mount(&server)
        .await;
    let credentials = Credentials::App {
        app_id: APP_ID,
        key: AppKey::read(&key_file).expect("the key file"),
    };
    let collector = GithubCollector::new(ORG, &server.uri(), credentials, quick_retry(), 4)
        .expect("a collector");
    let bus = infragraph_bus::MemoryBus::new();
    let err = syncer(&bus)
        .sync(&collector)
        .await
        .expect_err("no installation, no sync");
    let text = err.to_string();
    assert!(
        text.contains("acme") && text.contains("404") && text.contains("installed"),
        "{text}"
    );
    let statuses: Vec<SyncStatus> = markers(&bus).iter().map(|m| m.status).collect();
    assert_eq!(statuses, vec![SyncStatus::Started, SyncStatus::Failed]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_file_without_a_private_key_is_refused_naming_the_file() {
    let dir = tempdir("gh-app-bad");
    let file = dir.join("not-a-key.pem");
    std::fs::write(&file, "hello").expect("write");
    let err = AppKey::read(&file).expect_err("not a key");
    assert!(err.to_string().contains("not-a-key.pem"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

fn tempdir(prefix: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(infragraph_test_support::unique(prefix));
    std::fs::create_dir_all(&dir).expect("a temp dir");
    dir
}
