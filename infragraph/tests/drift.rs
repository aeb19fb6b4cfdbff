//! Declared against observed, end to end: `infragraph up --once` maps this
//! machine, Cloud Map (moto) and a GitHub organisation (an HTTP mock) into
//! one graph, and `infragraph drift` compares what the Cloud Map services
//! declare with what their processes, real processes on this machine,
//! really do:
//! - web declares db and its process connects to db's: confirmed;
//! - web declares cache and never connects: stale;
//! - web connects to search without declaring it: undeclared, until the
//!   connection closes and the next map no longer holds it.
//!
//! web's `repository` tag joins it to the GitHub repository, so a query
//! walks from web's process to the teams that can write its code; db's
//! names a repository nobody collected, which stays a stub. The live view
//! (`infragraph ui` over the same store) draws the three sets as styled
//! service edges, read from its API and, in a real browser, from the page.
//! Every case runs on the embedded store and on Neo4j.

// A test fails loudly where its setup or a result is not what it needs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write;
use std::net::{Ipv4Addr, TcpListener};
use std::process::{ChildStdin, Command, Stdio};

use aws_sdk_servicediscovery::Client;
use aws_sdk_servicediscovery::types::Tag;
use common::cloudmap::{ACCOUNT, CREDENTIALS, REGION, namespace, routable_ipv4};
use common::view::{Serving, browser, browser_modules};
use common::*;
use infragraph_graph_writer::{BoltConfig, SqliteStore};
use infragraph_test_support::github::{self as gh, MockServer};
use infragraph_test_support::{self as support, require};
use serde_json::Value;

/// Listens on argv[1], accepts every client; on stdin `dial IP PORT NAME`
/// opens a connection and `hang NAME` closes it, each answered on stdout.
const SERVICE: &str = "import socket,sys,threading
s=socket.socket(); s.bind((sys.argv[1],0)); s.listen()
print(s.getsockname()[1],flush=True)
held=[]
def serve():
    while True:
        c,_=s.accept(); held.append(c)
threading.Thread(target=serve,daemon=True).start()
out={}
for line in sys.stdin:
    cmd=line.split()
    if cmd[0]=='dial':
        out[cmd[3]]=socket.create_connection((cmd[1],int(cmd[2]))); print('dialled',flush=True)
    elif cmd[0]=='hang':
        out.pop(cmd[1]).close(); print('hung up',flush=True)
";

/// A service's process: listening at `ip`, told what to dial on stdin.
struct ServiceProcess {
    kid: Kid,
    stdin: ChildStdin,
    port: u16,
}

impl ServiceProcess {
    fn start(ip: Ipv4Addr) -> Self {
        let mut kid = Kid::spawn(
            Command::new("python3")
                .arg("-c")
                .arg(SERVICE)
                .arg(ip.to_string())
                .stdin(Stdio::piped()),
        );
        let stdin = kid.child.stdin.take().expect("piped stdin");
        let port = kid.line().parse().expect("the listening port");
        ServiceProcess { kid, stdin, port }
    }

    fn say(&mut self, line: &str, answer: &str) {
        writeln!(self.stdin, "{line}").expect("write to the service process");
        assert_eq!(self.kid.line(), answer, "after {line:?}");
    }

    fn dial(&mut self, ip: Ipv4Addr, to: &ServiceProcess, name: &str) {
        self.say(&format!("dial {ip} {} {name}", to.port), "dialled");
    }

    fn hang_up(&mut self, name: &str) {
        self.say(&format!("hang {name}"), "hung up");
    }
}

fn tag(k: &str, v: &str) -> Tag {
    Tag::builder()
        .key(k)
        .value(v)
        .build()
        .expect("a tag has a key and a value")
}

/// Service `name` with `tags` and one instance at `ip:port`; its id.
async fn service(
    sd: &Client,
    ns: &str,
    name: &str,
    tags: Vec<Tag>,
    ip: Ipv4Addr,
    port: u16,
) -> String {
    let svc = sd
        .create_service()
        .name(name)
        .namespace_id(ns)
        .set_tags(Some(tags))
        .send()
        .await
        .expect("CreateService");
    let id = svc.service.and_then(|s| s.id).expect("a service id");
    sd.register_instance()
        .service_id(&id)
        .instance_id(format!("{name}-1"))
        .attributes("AWS_INSTANCE_IPV4", ip.to_string())
        .attributes("AWS_INSTANCE_PORT", port.to_string())
        .send()
        .await
        .expect("RegisterInstance");
    id
}

/// Where a scenario maps to.
enum Store {
    Embedded(TempDir),
    Neo4j(BoltConfig),
}

impl Store {
    fn flags(&self) -> Vec<String> {
        match self {
            Store::Embedded(dir) => strings(&["--data-dir", &dir.str()]),
            Store::Neo4j(cfg) => bolt_flags(cfg),
        }
    }

    /// The password goes through the environment, as flags show in `ps`.
    fn env(&self) -> Vec<(&'static str, &str)> {
        match self {
            Store::Embedded(_) => Vec::new(),
            Store::Neo4j(cfg) => vec![("INFRAGRAPH_NEO4J_PASSWORD", cfg.password.as_str())],
        }
    }
}

/// One world: the services, their processes, and how to map and report it.
struct World {
    store: Store,
    aws: String,
    github: String,
    token: TempDir,
    host: String,
    ns: String,
    org: String,
    ip: Ipv4Addr,
    web: ServiceProcess,
    /// db's and search's processes.
    others: Vec<ServiceProcess>,
    ids: [String; 4],
}

impl World {
    async fn new(store: Store, aws: String, github: &MockServer) -> World {
        let (host, ns, org) = (
            support::unique("drift-host"),
            support::unique("drift-ns"),
            support::unique("drift-org"),
        );
        gh::mount_org(github, &org).await;
        let token = TempDir::new("drift-token");
        std::fs::write(token.path().join("token"), gh::TOKEN).expect("write the token file");
        let ip = routable_ipv4();
        let web = ServiceProcess::start(ip);
        let sd = common::cloudmap::client(&aws).await;
        let ns_id = namespace(&sd, &ns).await;
        // Nothing listens where cache is registered: a port just freed.
        let cache_port = TcpListener::bind((ip, 0))
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let (db, search) = (ServiceProcess::start(ip), ServiceProcess::start(ip));
        let (db_port, search_port) = (db.port, search.port);
        let web_tags = vec![
            tag("infragraph:depends-on", "db, cache"),
            tag("repository", &format!("{org}/api")),
        ];
        let ids = [
            service(&sd, &ns_id, "web", web_tags, ip, web.port).await,
            service(
                &sd,
                &ns_id,
                "db",
                vec![tag(
                    "repository",
                    &format!("https://github.com/{org}/never-collected.git"),
                )],
                ip,
                db_port,
            )
            .await,
            service(&sd, &ns_id, "cache", vec![], ip, cache_port).await,
            service(&sd, &ns_id, "search", vec![], ip, search_port).await,
        ];
        let mut world = World {
            store,
            aws,
            github: github.uri(),
            token,
            host,
            ns,
            org,
            ip,
            web,
            others: vec![db, search],
            ids,
        };
        let [db, search] = [&world.others[0], &world.others[1]];
        world.web.dial(ip, db, "db");
        world.web.dial(ip, search, "search");
        world
    }

    /// `up --once` (blocking, so the GitHub mock keeps serving on another
    /// thread).
    fn up(&self) -> String {
        let token = self.token.path().join("token");
        let mut args = strings(&[
            "up",
            "--once",
            "--host-id",
            &self.host,
            "--cloudmap-region",
            REGION,
            "--cloudmap-endpoint-url",
            &self.aws,
        ]);
        args.extend(strings(&[
            "--cloudmap-account-id",
            ACCOUNT,
            "--cloudmap-namespace",
            &self.ns,
            "--github-org",
            &self.org,
        ]));
        args.extend(strings(&[
            "--github-api-url",
            &self.github,
            "--github-token-file",
            token.to_str().expect("UTF-8 path"),
        ]));
        args.extend(self.store.flags());
        let env: Vec<_> = CREDENTIALS
            .iter()
            .copied()
            .chain(self.store.env())
            .collect();
        tokio::task::block_in_place(|| run_ok(&args, &env))
    }

    /// The report as JSON, and whether the exit code said drift.
    fn drift(&self) -> (Value, bool) {
        let mut args = strings(&["drift", "--namespace", &self.ns, "--format", "json"]);
        args.extend(self.store.flags());
        let out = tokio::task::block_in_place(|| run(&args, &self.store.env()));
        let code = out.status.code();
        assert!(
            matches!(code, Some(0 | 1)),
            "drift exited with {code:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        (
            serde_json::from_slice(&out.stdout).expect("the report is JSON"),
            code == Some(1),
        )
    }

    /// `infragraph ui` over this world's store.
    fn view(&self) -> Serving {
        let mut args = strings(&["ui", "--ui-listen", "127.0.0.1:0"]);
        args.extend(self.store.flags());
        tokio::task::block_in_place(|| Serving::start_with(&args, &self.store.env()))
    }

    /// The service edges the Cloud Map view draws from web: (to, rel,
    /// drift set), by name.
    fn drawn_from_web(&self, view: &Serving) -> Vec<(String, String, String)> {
        let topology = tokio::task::block_in_place(|| view.json("/api/topology/cloudmap"));
        let name = |v: &Value| {
            let id = v.as_str().unwrap_or("?");
            let at = self
                .ids
                .iter()
                .position(|i| format!("CloudMapService:{i}") == id);
            at.map_or(id.to_owned(), |i| {
                ["web", "db", "cache", "search"][i].to_owned()
            })
        };
        let mut out: Vec<_> = topology["edges"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| name(&e["source"]) == "web" && e.get("drift").is_some())
            .map(|e| (name(&e["target"]), text(&e["rel"]), text(&e["drift"])))
            .collect();
        out.sort();
        out
    }

    fn repo(&self, name: &str) -> String {
        gh::web(&format!("{}/{name}", self.org))
    }
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or("?").to_owned()
}

fn edge(to: &str, rel: &str, set: &str) -> (String, String, String) {
    (to.to_owned(), rel.to_owned(), set.to_owned())
}

/// The page draws web's three edges, each in its set's own style, with a
/// legend saying which is which.
fn browser_draws_the_sets(w: &World, view: &Serving, modules: &str) {
    let shot = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("ui-drift.png");
    let out = tokio::task::block_in_place(|| {
        let shot = shot.to_str().expect("UTF-8 path");
        browser(modules, &["drift", &view.url, &w.ids[0], "3", shot])
    });
    let drawn: Value = out
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .expect("the browser script prints JSON");
    assert_eq!(
        drawn["legend"], true,
        "a legend explains the styles: {drawn}"
    );
    let style = |set: &str| {
        let e = drawn["edges"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|e| e["drift"] == set)
            .unwrap_or_else(|| panic!("a {set} edge is drawn: {drawn}"));
        (text(&e["line_style"]), text(&e["line_color"]))
    };
    let (confirmed, stale, undeclared) = (style("confirmed"), style("stale"), style("undeclared"));
    assert_eq!(
        [&confirmed.0, &stale.0, &undeclared.0],
        ["solid", "dashed", "dotted"],
        "{drawn}"
    );
    assert!(
        confirmed.1 != stale.1 && stale.1 != undeclared.1 && confirmed.1 != undeclared.1,
        "each set has its own colour: {drawn}"
    );
}

/// `(from, to)` service names of one set of the report.
fn pairs(report: &Value, set: &str) -> Vec<(String, String)> {
    rows(report, set).iter().map(names).collect()
}

fn rows<'r>(report: &'r Value, set: &str) -> &'r [Value] {
    report[set]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_else(|| panic!("the report has {set}: {report}"))
}

fn names(row: &Value) -> (String, String) {
    (
        row["from"]["name"].as_str().unwrap_or("?").to_owned(),
        row["to"]["name"].as_str().unwrap_or("?").to_owned(),
    )
}

fn pair(from: &str, to: &str) -> (String, String) {
    (from.to_owned(), to.to_owned())
}

/// The pids of `processes` mapped under `host`. Other tests map this
/// machine's /proc into the same Neo4j under their own host ids, so they
/// see the same processes and connections while they run.
fn pids_on(processes: impl Iterator<Item = Value>, host: &str) -> Vec<i64> {
    processes
        .filter(|p| p["host"] == host)
        .filter_map(|p| p["pid"].as_i64())
        .collect()
}

fn connection_pids(row: &Value, host: &str) -> Vec<i64> {
    pids_on(
        row["connections"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| c["process"].clone()),
        host,
    )
}

/// The rows of `set` with evidence from `host`.
fn seen_on(report: &Value, set: &str, host: &str) -> Vec<(String, String)> {
    rows(report, set)
        .iter()
        .filter(|r| !connection_pids(r, host).is_empty())
        .map(names)
        .collect()
}

/// The teams that can write the code of the service `process` serves,
/// walking process → endpoint → instance → service → repository ← team.
const TEAMS_THAT_WRITE: &str = "MATCH (p:Process {id: $process})-[:LISTENS_ON]->(:Endpoint)<-[:HAS_ENDPOINT]-(:CloudMapInstance)\
     -[:REGISTERED_TO]->(:CloudMapService)-[:BUILT_FROM]->(r:GitHubRepository)<-[:WRITE|MAINTAIN|ADMIN]-(t:GitHubTeam) \
     RETURN DISTINCT t.id AS team ORDER BY team";

const TEAMS_THAT_WRITE_SQL: &str = "SELECT DISTINCT t.id FROM nodes p \
     JOIN edges l ON l.src = p.nid AND l.rel = 'LISTENS_ON' JOIN edges h ON h.dst = l.dst AND h.rel = 'HAS_ENDPOINT' \
     JOIN edges r ON r.src = h.src AND r.rel = 'REGISTERED_TO' JOIN edges b ON b.src = r.dst AND b.rel = 'BUILT_FROM' \
     JOIN edges w ON w.dst = b.dst AND w.rel IN ('WRITE', 'MAINTAIN', 'ADMIN') JOIN nodes t ON t.nid = w.src AND t.label = 'GitHubTeam' \
     WHERE p.label = 'Process' AND p.id = ?1 ORDER BY t.id";

async fn teams_that_write(store: &Store, process: &str) -> Vec<String> {
    match store {
        Store::Embedded(dir) => SqliteStore::open(dir.path())
            .expect("open the store")
            .query(TEAMS_THAT_WRITE_SQL, [process], |r| r.get(0))
            .expect("query the store"),
        Store::Neo4j(cfg) => {
            let mut rows = bolt(cfg)
                .graph()
                .execute(neo4rs::query(TEAMS_THAT_WRITE).param("process", process))
                .await
                .expect("query Neo4j");
            let mut out = Vec::new();
            while let Some(row) = rows.next().await.expect("read a row") {
                out.push(row.get("team").expect("team is a string"));
            }
            out
        }
    }
}

/// The repository node BUILT_FROM points at and whether it is a stub.
async fn built_from(store: &Store, service: &str) -> Vec<(String, bool)> {
    match store {
        Store::Embedded(dir) => {
            let sql = "SELECT r.id, r.props = '{}' FROM nodes s JOIN edges b ON b.src = s.nid AND b.rel = 'BUILT_FROM' JOIN nodes r ON r.nid = b.dst WHERE s.id = ?1";
            SqliteStore::open(dir.path())
                .expect("open the store")
                .query(sql, [service], |r| Ok((r.get(0)?, r.get(1)?)))
                .expect("query the store")
        }
        Store::Neo4j(cfg) => {
            let q = neo4rs::query("MATCH (:CloudMapService {id: $s})-[:BUILT_FROM]->(r:GitHubRepository) RETURN r.id AS id, coalesce(r._stub, false) AS stub").param("s", service);
            let mut rows = bolt(cfg).graph().execute(q).await.expect("query Neo4j");
            let mut out = Vec::new();
            while let Some(row) = rows.next().await.expect("read a row") {
                out.push((row.get("id").expect("id"), row.get("stub").expect("stub")));
            }
            out
        }
    }
}

async fn scenario(store: Store, aws: String, github: &MockServer) -> World {
    let mut w = World::new(store, aws, github).await;
    let printed = w.up();
    assert!(
        printed.contains("CloudMapService") && printed.contains("GitHubRepository"),
        "up mapped every source:\n{printed}"
    );

    let (report, drifted) = w.drift();
    assert!(drifted, "stale and undeclared rows are drift: {report}");
    assert_eq!(
        seen_on(&report, "confirmed", &w.host),
        [pair("web", "db")],
        "{report}"
    );
    assert_eq!(pairs(&report, "stale"), [pair("web", "cache")], "{report}");
    assert_eq!(
        seen_on(&report, "undeclared", &w.host),
        [pair("web", "search")],
        "{report}"
    );
    let web_pid = i64::from(w.web.kid.pid());
    let confirmed = &rows(&report, "confirmed")[0];
    assert_eq!(
        connection_pids(confirmed, &w.host),
        [web_pid],
        "web's process is the evidence: {report}"
    );
    let endpoint = confirmed["connections"][0]["endpoint"]
        .as_str()
        .unwrap_or("?");
    assert_eq!(
        endpoint,
        format!("tcp://{}:{}", w.ip, w.others[0].port),
        "the evidence names db's endpoint"
    );
    assert_eq!(
        connection_pids(&rows(&report, "undeclared")[0], &w.host),
        [web_pid],
        "{report}"
    );
    let watched = &rows(&report, "stale")[0]["watched"];
    assert!(
        watched["window_ms"].as_i64().is_some_and(|ms| ms >= 0),
        "the stale row says how long web was watched: {report}"
    );
    assert_eq!(
        pids_on(
            watched["processes"]
                .as_array()
                .into_iter()
                .flatten()
                .cloned(),
            &w.host
        ),
        [web_pid],
        "{report}"
    );

    let web_process = confirmed["connections"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["process"]["host"] == w.host.as_str());
    let web_process = web_process
        .and_then(|c| c["process"]["id"].as_str())
        .expect("web's process id")
        .to_owned();
    let teams = teams_that_write(&w.store, &web_process).await;
    assert_eq!(
        teams,
        [
            gh::team_url(&w.org, "platform"),
            gh::team_url(&w.org, "sre")
        ],
        "admin and write on {}/api",
        w.org
    );
    assert_eq!(
        built_from(&w.store, &w.ids[0]).await,
        [(w.repo("api"), false)],
        "web is built from the collected repository"
    );
    assert_eq!(
        built_from(&w.store, &w.ids[1]).await,
        [(w.repo("never-collected"), true)],
        "db's repository was never collected: a stub"
    );

    let view = w.view();
    assert_eq!(
        w.drawn_from_web(&view),
        [
            edge("cache", "DEPENDS_ON", "stale"),
            edge("db", "DEPENDS_ON", "confirmed"),
            edge("search", "CALLS", "undeclared"),
        ],
        "the Cloud Map view draws the report's rows"
    );
    if let Some(modules) = browser_modules() {
        browser_draws_the_sets(&w, &view, &modules);
    }

    w.web.hang_up("search");
    w.up();
    let (report, drifted) = w.drift();
    assert!(drifted, "cache is still stale: {report}");
    assert_eq!(
        seen_on(&report, "undeclared", &w.host),
        Vec::<(String, String)>::new(),
        "the closed connection is gone: {report}"
    );
    assert_eq!(
        seen_on(&report, "confirmed", &w.host),
        [pair("web", "db")],
        "{report}"
    );
    // Neo4j is shared: another test's map of this machine may still hold
    // the connection under its own host, and the view does not filter by
    // host. The embedded store holds this test's map alone. `ui` learns of
    // the change at its next poll of the counts (--poll-interval-ms).
    if matches!(w.store, Store::Embedded(_)) {
        let want = [
            edge("cache", "DEPENDS_ON", "stale"),
            edge("db", "DEPENDS_ON", "confirmed"),
        ];
        eventually(
            "the closed connection's edge leaves the view",
            std::time::Duration::from_secs(30),
            async || {
                let drawn = w.drawn_from_web(&view);
                if drawn == want { Ok(()) } else { Err(drawn) }
            },
        )
        .await;
    }
    w
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_on_the_embedded_store() {
    require!(aws = support::AWS, "AWS API server (moto)");
    let github = MockServer::start().await;
    scenario(Store::Embedded(TempDir::new("drift-data")), aws, &github).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_on_neo4j() {
    require!(aws = support::AWS, "AWS API server (moto)");
    let Some(cfg) = bolt_config() else { return };
    let github = MockServer::start().await;
    let w = scenario(Store::Neo4j(cfg.clone()), aws, &github).await;
    let sink = bolt(&cfg);
    bolt_forget(&sink, &w.host).await;
    let q = neo4rs::query("MATCH (x) WHERE x.id IN $ids OR x.service_id IN $ids OR x.id STARTS WITH $org DETACH DELETE x")
        .param("ids", w.ids.to_vec())
        .param("org", gh::web(&w.org));
    if let Err(e) = sink.graph().run(q).await {
        eprintln!("note: could not remove this test's Cloud Map and GitHub nodes: {e}");
    }
}
