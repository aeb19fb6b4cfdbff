//! A GitHub organisation, served by the GitHub-shaped mock, through the
//! production pipeline (`infragraph collect github` → broker → normalizer →
//! writer) into the Bolt database. Cartography's own queries for its GitHub
//! schema run unchanged. A team membership removed on GitHub is gone after
//! the next completed sync; a sync cut short by a 401 removes nothing.

// A test fails loudly where its setup or a result is not what it needs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use infragraph_schemas::SyncStatus;
use infragraph_test_support::github::{
    MockServer, OrgFixture, ResponseTemplate, TOKEN, get, mount, mount_org, team_url, web,
};
use infragraph_test_support::{self as support, require};
use serde_json::json;

const PATIENCE: Duration = Duration::from_secs(180);

/// Rows of `cypher` (one string column `v`, parameters `params`), sorted.
async fn column(
    sink: &infragraph_graph_writer::BoltSink,
    cypher: &str,
    params: &[(&str, &str)],
) -> Result<Vec<String>, neo4rs::Error> {
    let q = params
        .iter()
        .fold(neo4rs::query(cypher), |q, (k, v)| q.param(k, *v));
    let mut rows = sink.graph().execute(q).await?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().await? {
        out.push(row.get::<String>("v").expect("v is a string"));
    }
    out.sort();
    Ok(out)
}

/// Cartography's "who is in this org".
const ORG_MEMBERS: &str =
    "MATCH (u:GitHubUser)-[:MEMBER_OF]->(:GitHubOrganization {id: $org}) RETURN u.username AS v";
/// Cartography's "who administers this repository through a team".
const REPO_ADMINS_BY_TEAM: &str = "MATCH (u:GitHubUser)-[:MEMBER|MAINTAINER]->(:GitHubTeam)-[:ADMIN]->(:GitHubRepository {id: $repo}) RETURN DISTINCT u.username AS v";
const TEAM_MEMBERS: &str =
    "MATCH (u:GitHubUser)-[:MEMBER]->(:GitHubTeam {id: $team}) RETURN u.username AS v";
const REPO_LANGUAGES: &str =
    "MATCH (:GitHubRepository {id: $repo})-[:LANGUAGE]->(l:ProgrammingLanguage) RETURN l.name AS v";
const OUTSIDE_WRITERS: &str = "MATCH (u:GitHubUser)-[:OUTSIDE_COLLAB_WRITE]->(:GitHubRepository {id: $repo}) RETURN u.username AS v";
/// Owners with two-factor authentication, by display name.
const ADMINS_WITH_2FA: &str = "MATCH (u:GitHubUser)-[:ADMIN_OF]->(:GitHubOrganization {id: $org}) WHERE u.has_2fa_enabled = true RETURN u.fullname AS v";
const ORG_REPOS: &str =
    "MATCH (r:GitHubRepository)-[:OWNER]->(:GitHubOrganization {id: $org}) RETURN r.name AS v";

/// The nodes the org owns (itself, its repositories and teams) and every
/// relationship touching them. Users and languages are shared between
/// orgs, so they count through their relationships only.
async fn org_elements(sink: &infragraph_graph_writer::BoltSink, org: &str) -> Elements {
    let params = [
        ("org", web(org)),
        ("repos", format!("{}/", web(org))),
        ("teams", format!("https://github.com/orgs/{org}/")),
    ];
    elements_where(
        sink,
        "(x.id = $org OR x.id STARTS WITH $repos OR x.id STARTS WITH $teams)",
        &params,
    )
    .await
    .expect("read the org from the graph")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_github_org_reaches_the_graph_and_cartographys_queries_run_unchanged() {
    require!(brokers = support::KAFKA, "Kafka broker");
    let Some(bolt_cfg) = bolt_config() else {
        return;
    };
    let sink = bolt(&bolt_cfg);
    // Unique per run: the test database is shared and never reset.
    let org = support::unique("acme");
    let server = MockServer::start().await;
    mount_org(&server, &org).await;
    let p = Pipeline::unique(brokers, "gh");
    let mut normalizer = p.normalizer(1);
    let mut writer = p.writer(&bolt_cfg);
    let args = ["github", "--org", org.as_str(), "--api-url", &server.uri()];
    let token = [("INFRAGRAPH_GITHUB_TOKEN", TOKEN)];
    let scope = format!("github:{org}");

    // 1. One sync: Cartography's queries answer as they would on its graph.
    p.collect(&args, &token);
    let first = p
        .await_barrier(&scope, SyncStatus::Completed, None, PATIENCE)
        .await;
    let (org_id, api, sre) = (
        web(&org),
        format!("{}/api", web(&org)),
        team_url(&org, "sre"),
    );
    let q = async |cypher: &str, params: &[(&str, &str)]| {
        column(&sink, cypher, params)
            .await
            .expect("query the graph")
    };
    assert_eq!(
        q(ORG_MEMBERS, &[("org", &org_id)]).await,
        ["alice", "bob", "carol"]
    );
    assert_eq!(
        q(REPO_ADMINS_BY_TEAM, &[("repo", &api)]).await,
        ["alice", "bob"]
    );
    assert_eq!(q(TEAM_MEMBERS, &[("team", &sre)]).await, ["carol"]);
    assert_eq!(
        q(REPO_LANGUAGES, &[("repo", &api)]).await,
        ["Rust", "Shell"]
    );
    assert_eq!(q(OUTSIDE_WRITERS, &[("repo", &api)]).await, ["oscar"]);
    assert_eq!(
        q(ORG_REPOS, &[("org", &org_id)]).await,
        ["api", "tools", "web"]
    );
    assert_eq!(
        q(ADMINS_WITH_2FA, &[("org", &org_id)]).await,
        ["Alice Admin"]
    );

    // 2. carol leaves the sre team (she stays in the org): after the next
    // completed sync her team membership is gone, nothing else.
    let before = org_elements(&sink, &org).await;
    server.reset().await;
    mount(
        &server,
        &org,
        &OrgFixture {
            sre_members: &[],
            ..OrgFixture::default()
        },
    )
    .await;
    p.collect(&args, &token);
    let second = p
        .await_barrier(&scope, SyncStatus::Completed, Some(first), PATIENCE)
        .await;
    assert!(
        q(TEAM_MEMBERS, &[("team", &sre)]).await.is_empty(),
        "the removed membership is gone"
    );
    assert_eq!(
        q(ORG_MEMBERS, &[("org", &org_id)]).await,
        ["alice", "bob", "carol"],
        "carol is still in the org"
    );
    let after = org_elements(&sink, &org).await;
    let removed: Vec<_> = before.edges.difference(&after.edges).collect();
    assert_eq!(
        removed,
        [&("MEMBER".to_owned(), web("carol"), sre.clone())],
        "exactly the membership was removed"
    );
    assert_eq!(before.nodes, after.nodes);

    // 3. The token is revoked half way through the next sync: it fails, and
    // once the writer has applied its FAILED barrier, nothing is removed.
    server.reset().await;
    get(&format!("/orgs/{org}/teams/sre/repos"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"})))
        .mount(&server)
        .await;
    mount(
        &server,
        &org,
        &OrgFixture {
            sre_members: &[],
            ..OrgFixture::default()
        },
    )
    .await;
    let stderr = p.collect_failing(&args, &token);
    assert!(stderr.contains("401"), "the failure says why: {stderr}");
    p.await_barrier(&scope, SyncStatus::Failed, Some(second), PATIENCE)
        .await;
    assert_eq!(
        org_elements(&sink, &org).await,
        after,
        "a sync cut short by a 401 changed the graph"
    );

    normalizer.assert_running();
    writer.assert_running();
    let forget = neo4rs::query("MATCH (x) WHERE x.id = $org OR x.id STARTS WITH $repos OR x.id STARTS WITH $teams DETACH DELETE x")
        .param("org", web(&org))
        .param("repos", format!("{}/", web(&org)))
        .param("teams", format!("https://github.com/orgs/{org}/"));
    if let Err(e) = sink.graph().run(forget).await {
        eprintln!("note: could not remove the org from the test database: {e}");
    }
}
