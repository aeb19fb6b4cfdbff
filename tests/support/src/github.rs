//! A fixture GitHub organisation served by an in-process HTTP server in the
//! shape of GitHub's REST API (`Link` pagination pointing back at the
//! server, rate-limit headers on every answer), shared by the collector's
//! tests, its benchmark and the end-to-end tests.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use wiremock::Mock;
use wiremock::matchers::{header, method, path, query_param};
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
        "id": name.len(), "node_id": format!("R_{org}/{name}"), "name": name, "full_name": format!("{org}/{name}"),
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
    let reset = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
        + 3600;
    ResponseTemplate::new(200)
        .set_body_json(body)
        .insert_header("x-ratelimit-limit", "5000")
        .insert_header("x-ratelimit-remaining", "4990")
        .insert_header("x-ratelimit-reset", reset.to_string().as_str())
        .insert_header("x-ratelimit-resource", "core")
}

/// A request for `p` carrying the fixture token.
pub fn get(p: &str) -> wiremock::MockBuilder {
    Mock::given(method("GET"))
        .and(path(p))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
}

/// A GraphQL request (github.com's path) carrying the fixture token.
pub fn graphql() -> wiremock::MockBuilder {
    Mock::given(method("POST"))
        .and(path("/graphql"))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
}

/// Requests one sync of the fixture org costs: REST for the org, outside
/// collaborators, teams, each team's repositories (2) and 2 pages of
/// repositories; GraphQL for 2 pages of members, the teams with their
/// members, platform's members again in 2 pages (more than the nested page
/// held), and the languages and collaborators of all 3 repositories.
pub const FIXTURE_REQUESTS: u64 = 1 + 1 + 1 + 2 + 2 + 2 + 1 + 2 + 1;

/// The fixture's repositories: name, counted languages (bytes) and direct
/// collaborators with their role.
type RepoFixture = (
    &'static str,
    &'static [(&'static str, u64)],
    &'static [(&'static str, &'static str)],
);

const REPOS: [RepoFixture; 3] = [
    (
        "api",
        &[("Rust", 120_000), ("Shell", 800)],
        &[("bob", "admin"), ("oscar", "write")],
    ),
    ("web", &[("TypeScript", 50_000)], &[]),
    ("tools", &[], &[]),
];

fn flags(role: &str) -> Value {
    let rank = ["read", "triage", "write", "maintain", "admin"]
        .iter()
        .position(|r| *r == role)
        .unwrap_or(0);
    json!({"pull": true, "triage": rank >= 1, "push": rank >= 2, "maintain": rank >= 3, "admin": rank >= 4})
}

/// Variations on the fixture org.
#[derive(Debug, Clone)]
pub struct OrgFixture<'a> {
    /// Where the REST API is served: "" as on github.com, "/api/v3" as on
    /// GitHub Enterprise Server (GraphQL is then at "/api/graphql").
    pub prefix: &'a str,
    pub sre_members: &'a [&'a str],
    /// Repositories GraphQL no longer finds (deleted after the listing).
    pub gone: &'a [&'a str],
    /// Repositories whose GraphQL collaborator list is longer than one
    /// page, so the collector must ask REST for them.
    pub long_collaborator_lists: &'a [&'a str],
}

impl Default for OrgFixture<'_> {
    fn default() -> Self {
        OrgFixture {
            prefix: "",
            sre_members: &["carol"],
            gone: &[],
            long_collaborator_lists: &[],
        }
    }
}

/// Mounts the fixture org `org` on `server`:
/// - owners: alice; members: bob, carol; outside collaborator: oscar
/// - teams: platform (maintainer alice, member bob; admin on api, read on
///   web) and its child sre (member carol; write on api)
/// - repos, over two pages: api (Rust, Shell; collaborators bob admin,
///   oscar write), web (TypeScript), tools (no counted language, Python
///   primary; archived)
pub async fn mount_org(server: &MockServer, org: &str) {
    mount(server, org, &OrgFixture::default()).await;
}

/// The fixture org as `fixture` varies it.
pub async fn mount(server: &MockServer, org: &str, fixture: &OrgFixture<'_>) {
    let prefix = fixture.prefix;
    let get = |p: &str| get(&format!("{prefix}{p}"));
    get(&format!("/orgs/{org}"))
        .respond_with(ok(
            json!({"login": org, "id": 1, "html_url": web(org), "type": "Organization"}),
        ))
        .mount(server)
        .await;
    get(&format!("/orgs/{org}/outside_collaborators"))
        .respond_with(ok(json!([user("oscar")])))
        .mount(server)
        .await;
    get(&format!("/orgs/{org}/teams"))
        .respond_with(
            ok(json!([
                team(org, "platform", "Platform", None),
                team(org, "sre", "SRE", Some("platform"))
            ]))
            .insert_header("etag", TEAMS_ETAG),
        )
        .mount(server)
        .await;
    let t = |slug: &str| format!("/orgs/{org}/teams/{slug}");
    get(&format!("{}/repos", t("platform")))
        .respond_with(ok(json!([
            team_repo(org, "api", "admin", flags("admin")),
            team_repo(org, "web", "custom-reader", flags("read"))
        ])))
        .mount(server)
        .await;
    get(&format!("{}/repos", t("sre")))
        .respond_with(ok(json!([team_repo(org, "api", "write", flags("write"))])))
        .mount(server)
        .await;
    mount_repo_list(server, org, prefix).await;
    mount_repo_details(server, org, prefix).await;
    let graphql = format!("{}/graphql", prefix.strip_suffix("/v3").unwrap_or(prefix));
    Mock::given(method("POST"))
        .and(path(graphql))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .and(ForOrg(org.to_owned()))
        .respond_with(GraphqlApi {
            sre_members: strings(fixture.sre_members),
            gone: strings(fixture.gone),
            long: strings(fixture.long_collaborator_lists),
        })
        .mount(server)
        .await;
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

/// The repositories over two pages, page 1 linking to page 2 the way
/// GitHub does: by numeric org id.
async fn mount_repo_list(server: &MockServer, org: &str, prefix: &str) {
    let base = format!("{}{prefix}", server.uri());
    let page2 = format!("{base}/organizations/1/repos?type=all&per_page=100&page=2");
    let first = format!("{base}/organizations/1/repos?type=all&per_page=100&page=1");
    get(&format!("{prefix}/orgs/{org}/repos"))
        .and(query_param("per_page", "100"))
        .respond_with(
            ok(json!([
                repo(org, "api", Some("Rust"), &["backend", "grpc"], true),
                repo(org, "web", Some("TypeScript"), &[], false)
            ]))
            .insert_header(
                "link",
                format!(r#"<{page2}>; rel="next", <{page2}>; rel="last""#).as_str(),
            ),
        )
        .mount(server)
        .await;
    get(&format!("{prefix}/organizations/1/repos"))
        .and(query_param("page", "2"))
        .respond_with(
            ok(json!([repo(org, "tools", Some("Python"), &["ops"], false)])).insert_header(
                "link",
                format!(r#"<{first}>; rel="prev", <{first}>; rel="first""#).as_str(),
            ),
        )
        .mount(server)
        .await;
}

/// Languages and collaborators through REST, for what GraphQL cannot give.
async fn mount_repo_details(server: &MockServer, org: &str, prefix: &str) {
    for (name, languages, collaborators) in REPOS {
        let r = format!("{prefix}/repos/{org}/{name}");
        let langs: serde_json::Map<String, Value> = languages
            .iter()
            .map(|(l, n)| ((*l).to_owned(), json!(n)))
            .collect();
        get(&format!("{r}/languages"))
            .respond_with(ok(Value::Object(langs)))
            .mount(server)
            .await;
        let collabs: Vec<Value> = collaborators
            .iter()
            .map(|(login, role)| collaborator(login, role, flags(role)))
            .collect();
        get(&format!("{r}/collaborators"))
            .and(query_param("affiliation", "direct"))
            .respond_with(ok(Value::Array(collabs)))
            .mount(server)
            .await;
    }
}

/// The org's people as GraphQL's `membersWithRole` has them: login, role,
/// display name, two-factor status (only owners see it: `null` otherwise).
const PEOPLE: [(&str, &str, &str, Option<bool>); 3] = [
    ("alice", "ADMIN", "Alice Admin", Some(true)),
    ("bob", "MEMBER", "Bob Builder", Some(false)),
    ("carol", "MEMBER", "", None),
];

/// Smaller pages than GitHub's 100, so the fixture's short lists still
/// take several pages and the cursor is followed.
const MEMBERS_PAGE: usize = 2;
const TEAM_MEMBERS_PAGE: usize = 1;

fn person(login: &str) -> Value {
    let name = PEOPLE.iter().find(|p| p.0 == login).map_or("", |p| p.2);
    json!({"login": login, "url": web(login), "name": name, "isSiteAdmin": false})
}

/// One page of a connection: `edges` from `after` (a cursor this mock
/// made: the index of the next edge) and `pageInfo`.
fn connection(edges: Vec<Value>, size: usize, after: Option<&str>) -> Value {
    let start: usize = after
        .and_then(|c| c.strip_prefix("cursor:")?.parse().ok())
        .unwrap_or(0);
    let end = (start + size).min(edges.len());
    let page: Vec<Value> = edges
        .get(start..end)
        .map(<[Value]>::to_vec)
        .unwrap_or_default();
    json!({"totalCount": edges.len(), "pageInfo": {"hasNextPage": end < edges.len(), "endCursor": format!("cursor:{end}")}, "edges": page})
}

/// Matches the GraphQL requests meant for one fixture org: its queries
/// name the org, or the node ids of its repositories.
struct ForOrg(String);

impl wiremock::Match for ForOrg {
    fn matches(&self, request: &wiremock::Request) -> bool {
        let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        let vars = &body["variables"];
        let prefix = format!("R_{}/", self.0);
        vars["org"].as_str() == Some(self.0.as_str())
            || vars["ids"].as_array().is_some_and(|ids| {
                ids.iter()
                    .any(|id| id.as_str().is_some_and(|id| id.starts_with(&prefix)))
            })
    }
}

/// Answers the collector's GraphQL queries the way GitHub's API does: data
/// in the requested shape, cursor pagination, `null` plus a NOT_FOUND error
/// for an id that resolves to nothing, and the rate-limit headers.
struct GraphqlApi {
    sre_members: Vec<String>,
    gone: Vec<String>,
    long: Vec<String>,
}

impl GraphqlApi {
    /// The fixture repository a node id names (`R_<org>/<name>`).
    fn repo_name(id: &str) -> Option<&str> {
        id.strip_prefix("R_")?
            .rsplit_once('/')
            .map(|(_, name)| name)
    }

    fn repo_node(&self, name: &str) -> Option<Value> {
        let (_, languages, collaborators) = REPOS.iter().find(|(n, _, _)| *n == name)?;
        let lang_edges: Vec<Value> = languages
            .iter()
            .map(|(l, n)| json!({"size": n, "node": {"name": l}}))
            .collect();
        let collab_edges: Vec<Value> = collaborators
            .iter()
            .map(|(login, role)| json!({"permission": role.to_uppercase(), "node": {"login": login, "url": web(login), "isSiteAdmin": false}}))
            .collect();
        let total = collab_edges.len()
            + if self.long.iter().any(|l| l == name) {
                100
            } else {
                0
            };
        Some(json!({
            "languages": {"totalCount": lang_edges.len(), "edges": lang_edges},
            "collaborators": {"totalCount": total, "edges": collab_edges}
        }))
    }

    fn nodes(&self, ids: &[Value]) -> Value {
        let mut nodes = Vec::new();
        let mut errors = Vec::new();
        for (i, id) in ids.iter().enumerate() {
            let id = id.as_str().unwrap_or_default();
            match Self::repo_name(id)
                .filter(|n| !self.gone.iter().any(|g| g == n))
                .and_then(|n| self.repo_node(n))
            {
                Some(node) => nodes.push(node),
                None => {
                    nodes.push(Value::Null);
                    errors.push(json!({"type": "NOT_FOUND", "path": ["nodes", i], "locations": [{"line": 2, "column": 3}], "message": format!("Could not resolve to a node with the global id of '{id}'")}));
                }
            }
        }
        let mut answer = json!({"data": {"nodes": nodes}});
        if !errors.is_empty() {
            answer["errors"] = Value::Array(errors);
        }
        answer
    }

    /// A team's immediate members as `members(membership: IMMEDIATE)` edges.
    fn team_edges(&self, slug: &str) -> Vec<Value> {
        let edge = |login: &str, role: &str| json!({"role": role, "node": person(login)});
        match slug {
            "platform" => vec![edge("alice", "MAINTAINER"), edge("bob", "MEMBER")],
            "sre" => self.sre_members.iter().map(|m| edge(m, "MEMBER")).collect(),
            _ => Vec::new(),
        }
    }

    fn answer(&self, query: &str, vars: &Value) -> Option<Value> {
        let after = vars["cursor"].as_str();
        if query.contains("nodes(ids:") {
            return Some(self.nodes(vars["ids"].as_array()?));
        }
        if query.contains("membersWithRole") {
            let edges = PEOPLE.iter().map(|(login, role, _, tfa)| json!({"role": role, "hasTwoFactorEnabled": tfa, "node": person(login)})).collect();
            return Some(
                json!({"data": {"organization": {"membersWithRole": connection(edges, MEMBERS_PAGE, after)}}}),
            );
        }
        if query.contains("team(slug:") {
            let members = connection(
                self.team_edges(vars["slug"].as_str()?),
                TEAM_MEMBERS_PAGE,
                after,
            );
            return Some(json!({"data": {"organization": {"team": {"members": members}}}}));
        }
        if query.contains("teams(first:") {
            let teams = ["platform", "sre"].iter().map(|slug| json!({"node": {"slug": slug, "members": connection(self.team_edges(slug), TEAM_MEMBERS_PAGE, None)}})).collect();
            return Some(
                json!({"data": {"organization": {"teams": connection(teams, 100, after)}}}),
            );
        }
        None
    }
}

impl wiremock::Respond for GraphqlApi {
    fn respond(&self, request: &wiremock::Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        match body["query"]
            .as_str()
            .and_then(|q| self.answer(q, &body["variables"]))
        {
            Some(answer) => ok(answer).insert_header("x-ratelimit-resource", "graphql"),
            None => ResponseTemplate::new(200)
                .set_body_json(json!({"errors": [{"message": "Parse error on the query"}]})),
        }
    }
}
