//! A fixture GitHub organisation served by an in-process HTTP server in the
//! shape of GitHub's REST API (`Link` pagination pointing back at the
//! server, rate-limit headers on every answer), shared by the collector's
//! tests, its benchmark and the end-to-end tests.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use wiremock::matchers::{header, method, path, query_param};
use wiremock::Mock;
pub use wiremock::{MockServer, ResponseTemplate};

/// Distinctive, so a leak anywhere is found by a plain substring search.
pub const TOKEN: &str = "ghp_FixtureTokenDoNotLeak0123456789";

pub fn web(login: &str) -> String {
    format!("https://github.com/{login}")
}

fn user(login: &str) -> Value {
    json!({
        "login": login, "id": login.len(), "node_id": format!("U_{login}"), "type": "User",
        "html_url": web(login), "url": format!("https://api.github.com/users/{login}"), "site_admin": false
    })
}

fn collaborator(login: &str, role: &str, flags: Value) -> Value {
    let mut u = user(login);
    u["role_name"] = json!(role);
    u["permissions"] = flags;
    u
}

fn repo(org: &str, name: &str, language: Option<&str>, topics: &[&str], private: bool) -> Value {
    json!({
        "id": name.len(), "node_id": format!("R_{name}"), "name": name, "full_name": format!("{org}/{name}"),
        "owner": user(org), "private": private, "html_url": web(&format!("{org}/{name}")),
        "description": format!("The {name} service"), "fork": false, "archived": name == "tools",
        "visibility": if private { "private" } else { "public" }, "default_branch": "main",
        "language": language, "topics": topics,
        "created_at": "2020-01-02T03:04:05Z", "updated_at": "2024-05-06T07:08:09Z", "pushed_at": "2024-05-06T07:00:00Z"
    })
}

fn team(org: &str, slug: &str, name: &str, parent: Option<&str>) -> Value {
    json!({
        "id": slug.len(), "node_id": format!("T_{slug}"), "name": name, "slug": slug,
        "description": format!("{name} team"), "privacy": "closed", "permission": "pull",
        "html_url": format!("https://github.com/orgs/{org}/teams/{slug}"),
        "parent": parent.map(|p| json!({"slug": p, "name": p, "html_url": format!("https://github.com/orgs/{org}/teams/{p}")}))
    })
}

fn team_repo(org: &str, name: &str, role: &str, flags: Value) -> Value {
    let mut r = repo(org, name, None, &[], false);
    r["role_name"] = json!(role);
    r["permissions"] = flags;
    r
}

pub fn team_url(org: &str, slug: &str) -> String {
    format!("https://github.com/orgs/{org}/teams/{slug}")
}

/// The ETag the fixture's team list carries.
pub const TEAMS_ETAG: &str = "\"teams-v1\"";

/// GitHub's rate-limit headers on every answer.
pub fn ok(body: Value) -> ResponseTemplate {
    let reset = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) + 3600;
    ResponseTemplate::new(200)
        .set_body_json(body)
        .insert_header("x-ratelimit-limit", "5000")
        .insert_header("x-ratelimit-remaining", "4990")
        .insert_header("x-ratelimit-reset", reset.to_string().as_str())
        .insert_header("x-ratelimit-resource", "core")
}

/// A request for `p` carrying the fixture token.
pub fn get(p: &str) -> wiremock::MockBuilder {
    Mock::given(method("GET")).and(path(p)).and(header("authorization", format!("Bearer {TOKEN}").as_str()))
}

/// Requests one sync of the fixture org costs: org, admins, members,
/// outside collaborators, teams, 3 per team (2 teams), 2 pages of repos,
/// 2 per repo (3 repos).
pub const FIXTURE_REQUESTS: u64 = 1 + 1 + 1 + 1 + 1 + 3 * 2 + 2 + 2 * 3;

/// Mounts the fixture org `org` on `server`:
/// - owners: alice; members: bob, carol; outside collaborator: oscar
/// - teams: platform (maintainer alice, member bob; admin on api, read on
///   web) and its child sre (member carol; write on api)
/// - repos, over two pages: api (Rust, Shell; collaborators bob admin,
///   oscar write), web (TypeScript), tools (no counted language, Python
///   primary; archived)
pub async fn mount_org(server: &MockServer, org: &str) {
    mount_org_at(server, org, "").await;
}

/// The fixture org under a path prefix, as GitHub Enterprise Server serves
/// its API under `/api/v3`.
pub async fn mount_org_at(server: &MockServer, org: &str, prefix: &str) {
    mount_org_with(server, org, prefix, &["carol"]).await;
}

/// The fixture org with `sre_members` as the sre team's members.
pub async fn mount_org_with(server: &MockServer, org: &str, prefix: &str, sre_members: &[&str]) {
    let base = format!("{}{prefix}", server.uri());
    let get = |p: &str| get(&format!("{prefix}{p}"));
    get(&format!("/orgs/{org}")).respond_with(ok(json!({"login": org, "id": 1, "html_url": web(org), "type": "Organization"}))).mount(server).await;
    get(&format!("/orgs/{org}/members")).and(query_param("role", "admin")).respond_with(ok(json!([user("alice")]))).mount(server).await;
    get(&format!("/orgs/{org}/members")).and(query_param("role", "member")).respond_with(ok(json!([user("bob"), user("carol")]))).mount(server).await;
    get(&format!("/orgs/{org}/outside_collaborators")).respond_with(ok(json!([user("oscar")]))).mount(server).await;
    get(&format!("/orgs/{org}/teams"))
        .respond_with(ok(json!([team(org, "platform", "Platform", None), team(org, "sre", "SRE", Some("platform"))])).insert_header("etag", TEAMS_ETAG))
        .mount(server)
        .await;
    let t = |slug: &str| format!("/orgs/{org}/teams/{slug}");
    get(&format!("{}/members", t("platform"))).and(query_param("role", "maintainer")).respond_with(ok(json!([user("alice")]))).mount(server).await;
    get(&format!("{}/members", t("platform"))).and(query_param("role", "member")).respond_with(ok(json!([user("bob")]))).mount(server).await;
    get(&format!("{}/members", t("sre"))).and(query_param("role", "maintainer")).respond_with(ok(json!([]))).mount(server).await;
    get(&format!("{}/members", t("sre"))).and(query_param("role", "member")).respond_with(ok(Value::Array(sre_members.iter().map(|m| user(m)).collect()))).mount(server).await;
    let all = json!({"admin": true, "maintain": true, "push": true, "triage": true, "pull": true});
    let read = json!({"admin": false, "maintain": false, "push": false, "triage": false, "pull": true});
    let write = json!({"admin": false, "maintain": false, "push": true, "triage": true, "pull": true});
    get(&format!("{}/repos", t("platform")))
        .respond_with(ok(json!([team_repo(org, "api", "admin", all.clone()), team_repo(org, "web", "custom-reader", read.clone())])))
        .mount(server)
        .await;
    get(&format!("{}/repos", t("sre"))).respond_with(ok(json!([team_repo(org, "api", "write", write.clone())]))).mount(server).await;
    // Page 1 links to page 2 the way GitHub does: by numeric org id.
    let page2 = format!("{base}/organizations/1/repos?type=all&per_page=100&page=2");
    let first = format!("{base}/organizations/1/repos?type=all&per_page=100&page=1");
    get(&format!("/orgs/{org}/repos"))
        .and(query_param("per_page", "100"))
        .respond_with(ok(json!([repo(org, "api", Some("Rust"), &["backend", "grpc"], true), repo(org, "web", Some("TypeScript"), &[], false)])).insert_header("link", format!(r#"<{page2}>; rel="next", <{page2}>; rel="last""#).as_str()))
        .mount(server)
        .await;
    get("/organizations/1/repos")
        .and(query_param("page", "2"))
        .respond_with(ok(json!([repo(org, "tools", Some("Python"), &["ops"], false)])).insert_header("link", format!(r#"<{first}>; rel="prev", <{first}>; rel="first""#).as_str()))
        .mount(server)
        .await;
    let r = |name: &str| format!("/repos/{org}/{name}");
    get(&format!("{}/languages", r("api"))).respond_with(ok(json!({"Rust": 120_000, "Shell": 800}))).mount(server).await;
    get(&format!("{}/languages", r("web"))).respond_with(ok(json!({"TypeScript": 50_000}))).mount(server).await;
    get(&format!("{}/languages", r("tools"))).respond_with(ok(json!({}))).mount(server).await;
    get(&format!("{}/collaborators", r("api")))
        .and(query_param("affiliation", "direct"))
        .respond_with(ok(json!([collaborator("bob", "admin", all), collaborator("oscar", "write", write)])))
        .mount(server)
        .await;
    get(&format!("{}/collaborators", r("web"))).respond_with(ok(json!([]))).mount(server).await;
    get(&format!("{}/collaborators", r("tools"))).respond_with(ok(json!([]))).mount(server).await;
}
