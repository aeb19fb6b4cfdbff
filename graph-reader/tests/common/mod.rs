//! What the API tests share: a small graph (two hosts whose processes talk
//! across them, a Cloud Map service registered where the server listens, a
//! GitHub organisation), the view server on a free port, and a plain
//! HTTP/1.1 client.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use infragraph_graph_reader::api;
use infragraph_graph_reader::{ChangeFeed, GraphStore};
use infragraph_graph_writer::Sink;
use infragraph_graph_writer::plan::plan;
use infragraph_schemas::{
    EdgeRef, EdgeUpsert, GraphChange, NodeRef, NodeUpsert, RelType, ResourceKind as K, ScopeRef,
    Value,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

/// The ids of one test's graph, under a unique prefix.
pub struct Fixture {
    pub prefix: String,
    pub epoch: i64,
}

impl Fixture {
    pub fn new(name: &str) -> Self {
        Fixture {
            prefix: infragraph_test_support::unique(name),
            epoch: 1_700_000_000_000,
        }
    }

    pub fn id(&self, name: &str) -> String {
        format!("{}-{name}", self.prefix)
    }

    pub fn host(&self, n: u8) -> String {
        self.id(&format!("h{n}"))
    }

    /// `<host>/<pid>/1`, as procfs names processes.
    pub fn process(&self, host: u8, pid: u32) -> String {
        format!("{}/{pid}/1", self.host(host))
    }

    pub fn endpoint(&self) -> String {
        format!("tcp://10.0.0.2:5432#{}", self.prefix)
    }

    fn scope(&self) -> ScopeRef {
        ScopeRef::new("test", format!("{}/all", self.prefix))
    }

    pub fn node(&self, kind: K, id: &str, props: &[(&str, Value)]) -> GraphChange {
        GraphChange::NodeUpsert(NodeUpsert {
            node: NodeRef {
                kind,
                id: id.to_owned(),
            },
            scope: self.scope(),
            epoch: self.epoch,
            observed_at: self.epoch,
            properties: props
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
            props_at: None,
        })
    }

    pub fn edge(&self, rel: RelType, from: (K, &str), to: (K, &str)) -> GraphChange {
        GraphChange::EdgeUpsert(EdgeUpsert {
            edge: EdgeRef {
                rel_type: rel,
                from: NodeRef {
                    kind: from.0,
                    id: from.1.to_owned(),
                },
                to: NodeRef {
                    kind: to.0,
                    id: to.1.to_owned(),
                },
            },
            scope: self.scope(),
            epoch: self.epoch,
            observed_at: self.epoch,
            properties: Default::default(),
            props_at: None,
        })
    }

    fn proc(&self, host: u8, pid: u32, name: &str) -> GraphChange {
        let props = [
            ("name", Value::from(name)),
            ("host_id", Value::from(self.host(host))),
            ("pid", Value::Long(pid.into())),
            ("start_time", Value::Long(1)),
        ];
        self.node(K::Process, &self.process(host, pid), &props)
    }

    /// h1 (web) runs curl (pid 100), which connects to the endpoint
    /// postgres (pid 200 on h2, db) listens on; cron (201) on h2 talks to
    /// nobody. Cloud Map service `db` has an instance registered at that
    /// endpoint; organisation acme owns repository api.
    pub fn graph(&self) -> Vec<GraphChange> {
        let (h1, h2, ep) = (self.host(1), self.host(2), self.endpoint());
        let (curl, pg, cron) = (
            self.process(1, 100),
            self.process(2, 200),
            self.process(2, 201),
        );
        let (ns, svc, inst, org, repo) = (
            self.id("ns"),
            self.id("svc"),
            self.id("inst"),
            self.id("org"),
            self.id("repo"),
        );
        vec![
            self.node(
                K::Host,
                &h1,
                &[("hostname", Value::from(format!("web-{}", self.prefix)))],
            ),
            self.node(
                K::Host,
                &h2,
                &[("hostname", Value::from(format!("db-{}", self.prefix)))],
            ),
            self.proc(1, 100, "curl"),
            self.proc(2, 200, "postgres"),
            self.proc(2, 201, "cron"),
            self.node(
                K::Endpoint,
                &ep,
                &[
                    ("protocol", Value::from("tcp")),
                    ("address", Value::from("10.0.0.2")),
                    ("port", Value::Long(5432)),
                ],
            ),
            self.edge(RelType::RunsOn, (K::Process, &curl), (K::Host, &h1)),
            self.edge(RelType::RunsOn, (K::Process, &pg), (K::Host, &h2)),
            self.edge(RelType::RunsOn, (K::Process, &cron), (K::Host, &h2)),
            self.edge(RelType::ListensOn, (K::Process, &pg), (K::Endpoint, &ep)),
            self.edge(RelType::ConnectsTo, (K::Process, &curl), (K::Endpoint, &ep)),
            self.node(
                K::CloudMapNamespace,
                &ns,
                &[
                    ("name", Value::from("prod")),
                    ("arn", Value::from("arn:ns")),
                ],
            ),
            self.node(
                K::CloudMapService,
                &svc,
                &[("name", Value::from("db")), ("arn", Value::from("arn:svc"))],
            ),
            self.node(
                K::CloudMapInstance,
                &inst,
                &[
                    ("instance_id", Value::from("i-1")),
                    ("service_id", Value::from(svc.clone())),
                ],
            ),
            self.edge(
                RelType::InNamespace,
                (K::CloudMapService, &svc),
                (K::CloudMapNamespace, &ns),
            ),
            self.edge(
                RelType::RegisteredTo,
                (K::CloudMapInstance, &inst),
                (K::CloudMapService, &svc),
            ),
            self.edge(
                RelType::HasEndpoint,
                (K::CloudMapInstance, &inst),
                (K::Endpoint, &ep),
            ),
            self.node(
                K::GitHubOrganization,
                &org,
                &[("username", Value::from("acme"))],
            ),
            self.node(K::GitHubRepository, &repo, &[("name", Value::from("api"))]),
            self.edge(
                RelType::Owner,
                (K::GitHubRepository, &repo),
                (K::GitHubOrganization, &org),
            ),
        ]
    }
}

pub async fn apply<S: Sink>(sink: &S, changes: &[GraphChange]) {
    sink.prepare().await.expect("prepare the sink");
    sink.apply(&plan(changes)).await.expect("apply the fixture");
}

/// The view server on a free loopback port.
pub struct Server {
    pub address: SocketAddr,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Server {
    pub async fn start(store: GraphStore, feed: ChangeFeed) -> Server {
        let bound = api::bind("127.0.0.1:0".parse().expect("an address"))
            .await
            .expect("bind a free port");
        let address = bound.address;
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(bound.serve(store, feed, stopped));
        Server {
            address,
            stop,
            task,
        }
    }

    pub async fn get(&self, path: &str) -> (u16, serde_json::Value) {
        get(self.address, path).await
    }

    /// Stops the server; it must end cleanly, event streams included.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let ended = tokio::time::timeout(Duration::from_secs(10), self.task).await;
        ended
            .expect("the server stops within 10 s")
            .expect("server task")
            .expect("server ran without error");
    }
}

/// `GET path`: the status and the body as JSON (`null` if it is not).
pub async fn get(address: SocketAddr, path: &str) -> (u16, serde_json::Value) {
    let (status, body) = get_raw(address, path).await;
    (
        status,
        serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
    )
}

pub async fn get_raw(address: SocketAddr, path: &str) -> (u16, Vec<u8>) {
    let mut s = TcpStream::connect(address)
        .await
        .expect("connect to the view");
    let req = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.expect("send the request");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.expect("read the answer");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a header block");
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status code");
    (status, raw[split + 4..].to_vec())
}

/// An open `GET /api/events`, read as it arrives.
pub struct Events {
    stream: TcpStream,
    seen: String,
}

impl Events {
    pub async fn open(address: SocketAddr) -> Events {
        let mut stream = TcpStream::connect(address)
            .await
            .expect("connect to the view");
        let req = format!(
            "GET /api/events HTTP/1.1\r\nHost: {address}\r\nAccept: text/event-stream\r\n\r\n"
        );
        stream
            .write_all(req.as_bytes())
            .await
            .expect("send the request");
        Events {
            stream,
            seen: String::new(),
        }
    }

    /// Reads until the stream has carried `event: NAME` (`times` in all),
    /// for at most `patience`; returns everything read so far.
    pub async fn until(&mut self, name: &str, times: usize, patience: Duration) -> String {
        let marker = format!("event: {name}");
        let read = async {
            let mut buf = [0u8; 4096];
            while self.seen.matches(&marker).count() < times {
                let n = self.stream.read(&mut buf).await.expect("read events");
                assert!(n > 0, "the event stream ended; it carried:\n{}", self.seen);
                self.seen.push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        };
        if tokio::time::timeout(patience, read).await.is_err() {
            panic!(
                "no {marker} (x{times}) within {}s; the stream carried:\n{}",
                patience.as_secs(),
                self.seen
            );
        }
        self.seen.clone()
    }
}
