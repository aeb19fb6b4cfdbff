//! API requests and wall time for one sync of a large fixture organisation
//! (1,000 repositories, 200 users, 50 teams) served by an in-process server
//! shaped like GitHub's REST and GraphQL APIs, next to the request count of reading the
//! same graph one call per repository (or user) per relationship.
//!
//! Run: `cargo bench -p infragraph-collector-github --bench requests`.

// A test fails loudly where its setup or a result is not what it needs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

/// The allocator the binaries run with (infragraph/src/main.rs), so the
/// figures are the deployed code's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::time::{Duration, Instant};

use infragraph_bus::MemoryBus;
use infragraph_collector::Syncer;
use infragraph_collector_github::GithubCollector;
use infragraph_collector_github::api::RetrySettings;
use infragraph_collector_github::config::Token;
use serde_json::{Value, json};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const ORG: &str = "big";
const REPOS: usize = 1000;
const USERS: usize = 200;
const ADMINS: usize = 10;
const OUTSIDE: usize = 20;
const TEAMS: usize = 50;
const REPOS_PER_TEAM: usize = 20;
const PER_PAGE: usize = 100;

fn user(i: usize) -> Value {
    json!({"login": format!("user{i}"), "html_url": format!("https://github.com/user{i}"), "site_admin": false})
}

fn repo(i: usize) -> Value {
    json!({
        "node_id": format!("R_{i}"), "name": format!("repo{i}"), "full_name": format!("{ORG}/repo{i}"), "html_url": format!("https://github.com/{ORG}/repo{i}"),
        "private": i.is_multiple_of(2), "visibility": "private", "fork": false, "archived": false, "default_branch": "main",
        "language": "Rust", "topics": ["a", "b"], "created_at": "2020-01-01T00:00:00Z", "updated_at": "2024-01-01T00:00:00Z", "pushed_at": "2024-01-01T00:00:00Z",
        "role_name": "write", "permissions": {"admin": false, "maintain": false, "push": true, "triage": true, "pull": true}
    })
}

fn team(i: usize) -> Value {
    let parent = (i > 0)
        .then(|| json!({"html_url": format!("https://github.com/orgs/{ORG}/teams/team{}", i / 2)}));
    json!({"name": format!("Team {i}"), "slug": format!("team{i}"), "html_url": format!("https://github.com/orgs/{ORG}/teams/team{i}"), "privacy": "closed", "parent": parent})
}

/// Serves the fixture org, paginating every list at 100 with `Link` headers
/// pointing back at the server.
struct FakeGithub {
    base: String,
}

impl FakeGithub {
    fn query(req: &Request, name: &str) -> Option<String> {
        req.url
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }

    fn page(&self, req: &Request, items: Vec<Value>) -> ResponseTemplate {
        let page: usize = Self::query(req, "page")
            .and_then(|p| p.parse().ok())
            .unwrap_or(1);
        let chunk: Vec<Value> = items
            .iter()
            .skip((page - 1) * PER_PAGE)
            .take(PER_PAGE)
            .cloned()
            .collect();
        let mut resp = ResponseTemplate::new(200)
            .set_body_json(chunk)
            .insert_header("x-ratelimit-remaining", "4000");
        if page * PER_PAGE < items.len() {
            let mut next = req.url.clone();
            let pairs: Vec<(String, String)> = req
                .url
                .query_pairs()
                .filter(|(k, _)| k != "page")
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            next.query_pairs_mut()
                .clear()
                .extend_pairs(pairs)
                .append_pair("page", &(page + 1).to_string());
            let link = format!(
                "<{}{}?{}>; rel=\"next\"",
                self.base,
                next.path(),
                next.query().unwrap_or_default()
            );
            resp = resp.insert_header("link", link.as_str());
        }
        resp
    }
}

/// A repository's languages and its one collaborator, an outside one.
fn details(r: usize) -> Value {
    let login = format!("user{}", USERS + r % OUTSIDE);
    json!({
        "languages": {"totalCount": 2, "edges": [{"size": 1000, "node": {"name": "Rust"}}, {"size": 10, "node": {"name": "Shell"}}]},
        "collaborators": {"totalCount": 1, "edges": [{"permission": "READ", "node": {"login": login, "url": format!("https://github.com/{login}"), "isSiteAdmin": false}}]}
    })
}

fn person(i: usize) -> Value {
    json!({"login": format!("user{i}"), "url": format!("https://github.com/user{i}"), "name": format!("User {i}"), "isSiteAdmin": false})
}

/// A page of 100 edges after `after` (`cursor:<index>`), with `pageInfo`.
fn connection(edges: Vec<Value>, after: Option<&str>) -> Value {
    let start: usize = after
        .and_then(|c| c.strip_prefix("cursor:")?.parse().ok())
        .unwrap_or(0);
    let end = (start + PER_PAGE).min(edges.len());
    json!({"pageInfo": {"hasNextPage": end < edges.len(), "endCursor": format!("cursor:{end}")}, "edges": edges[start.min(end)..end].to_vec()})
}

/// A team's immediate maintainer and four members.
fn team_people(t: usize) -> Vec<Value> {
    let mut edges = vec![json!({"role": "MAINTAINER", "node": person(t % USERS)})];
    edges.extend((1..5).map(|k| json!({"role": "MEMBER", "node": person((t * 4 + k) % USERS)})));
    edges
}

/// The collector's GraphQL queries: repositories by node id, org members,
/// teams with their members.
fn graphql(req: &Request) -> ResponseTemplate {
    let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
    let (query, vars) = (
        body["query"].as_str().unwrap_or_default(),
        &body["variables"],
    );
    let after = vars["cursor"].as_str();
    let data = if query.contains("nodes(ids:") {
        let ids = vars["ids"].as_array().cloned().unwrap_or_default();
        let nodes: Vec<Value> = ids
            .iter()
            .map(|id| {
                id.as_str()
                    .and_then(|id| id.strip_prefix("R_")?.parse().ok())
                    .map_or(Value::Null, details)
            })
            .collect();
        json!({"nodes": nodes})
    } else if query.contains("membersWithRole") {
        let edges = (0..USERS).map(|i| json!({"role": if i < ADMINS { "ADMIN" } else { "MEMBER" }, "hasTwoFactorEnabled": true, "node": person(i)})).collect();
        json!({"organization": {"membersWithRole": connection(edges, after)}})
    } else {
        let teams = (0..TEAMS).map(|t| json!({"node": {"slug": format!("team{t}"), "members": connection(team_people(t), None)}})).collect();
        json!({"organization": {"teams": connection(teams, after)}})
    };
    ResponseTemplate::new(200)
        .set_body_json(json!({"data": data}))
        .insert_header("x-ratelimit-remaining", "4000")
}

impl Respond for FakeGithub {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let path = req.url.path().to_owned();
        if path == "/graphql" {
            return graphql(req);
        }
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        match parts.as_slice() {
            ["orgs", _] => ResponseTemplate::new(200).set_body_json(
                json!({"login": ORG, "html_url": format!("https://github.com/{ORG}")}),
            ),
            ["orgs", _, "outside_collaborators"] => {
                self.page(req, (USERS..USERS + OUTSIDE).map(user).collect())
            }
            ["orgs", _, "teams"] => self.page(req, (0..TEAMS).map(team).collect()),
            ["orgs", _, "teams", slug, "repos"] => {
                let t: usize = slug.trim_start_matches("team").parse().unwrap_or(0);
                self.page(
                    req,
                    (0..REPOS_PER_TEAM)
                        .map(|k| repo((t * REPOS_PER_TEAM + k) % REPOS))
                        .collect(),
                )
            }
            ["orgs", _, "repos"] => self.page(req, (0..REPOS).map(repo).collect()),
            ["repos", _, _, "languages"] => {
                ResponseTemplate::new(200).set_body_json(json!({"Rust": 1000, "Shell": 10}))
            }
            ["repos", _, name, "collaborators"] => {
                let r: usize = name.trim_start_matches("repo").parse().unwrap_or(0);
                let mut u = user(USERS + r % OUTSIDE);
                u["role_name"] = json!("read");
                self.page(req, vec![u])
            }
            _ => ResponseTemplate::new(404),
        }
    }
}

/// Reading the same graph one call per repository per relationship:
/// per repository its languages, direct collaborators, outside
/// collaborators and teams; per user their org role; per team its members;
/// plus the lists to enumerate repositories, users and teams.
fn naive_requests() -> usize {
    let pages = |n: usize| n.div_ceil(PER_PAGE).max(1);
    let lists = 1 + pages(REPOS) + pages(USERS) + pages(TEAMS) + pages(OUTSIDE);
    lists + REPOS * 4 + USERS + TEAMS
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(async {
        let server = MockServer::start().await;
        Mock::given(any())
            .respond_with(FakeGithub { base: server.uri() })
            .mount(&server)
            .await;
        let token = Token::new("bench-token").expect("a token");
        let retry = RetrySettings {
            backoff: Duration::from_millis(10),
            ..RetrySettings::default()
        };
        let collector =
            GithubCollector::new(ORG, &server.uri(), &token, retry, 8).expect("a collector");
        let syncer = Syncer::new(MemoryBus::new());
        let started = Instant::now();
        let report = syncer.sync(&collector).await.expect("the sync completes");
        let wall = started.elapsed();
        let stats = collector.last_stats().expect("stats");
        let naive = naive_requests();
        println!("fixture: {REPOS} repositories, {USERS} users, {TEAMS} teams");
        println!("observations published: {}", report.total());
        println!(
            "requests: {} (naive one-per-repository-per-relationship: {naive})",
            stats.requests
        );
        println!(
            "ratio: {:.3} (target <= 0.200)",
            stats.requests as f64 / naive as f64
        );
        println!("wall time: {:.2?} against the in-process server", wall);
    });
}
