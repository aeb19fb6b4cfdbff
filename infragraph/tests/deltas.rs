//! Delta syncs end to end: continuous collectors of two hosts, Kafka, two
//! normalizers (one of which remembers almost nothing), the writer and
//! Neo4j. Reconciliations are an hour apart here, so after the first sync
//! everything that leaves the graph leaves it through an explicit
//! retraction, never through the writer's cleanup.

// A test fails loudly where its setup or a result is not what it needs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use infragraph_test_support::{self as support, require};

const PATIENCE: Duration = Duration::from_secs(120);
const LO: [u8; 4] = [127, 0, 0, 1];
const ANY: [u8; 4] = [0, 0, 0, 0];

/// An address no other run uses, for the endpoint both hosts assert.
fn shared_ip() -> [u8; 4] {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    [
        10,
        (std::process::id() % 250) as u8 + 1,
        (nanos % 250) as u8 + 1,
        7,
    ]
}

/// Host A: a server listening on the shared address, a local client of a
/// loopback listener, and enough workers that a normalizer with a tiny
/// state forgets most of them between syncs.
fn host_a(ip: [u8; 4]) -> FakeProc {
    let fp = FakeProc::new();
    fp.process(100, "db", 1, 500, &["/usr/bin/db"], &[2001]);
    fp.process(200, "cache", 1, 600, &["/usr/bin/cache"], &[1001]);
    fp.process(201, "app", 1, 601, &["/usr/bin/app"], &[1002]);
    for pid in 1000..1030 {
        fp.process(
            pid,
            "worker",
            1,
            1000 + pid as u64,
            &["/usr/bin/worker", &pid.to_string()],
            &[],
        );
    }
    fp.tcp(&a_sockets(ip, true));
    fp
}

fn a_sockets(ip: [u8; 4], with_db: bool) -> Vec<Tcp> {
    let mut rows = vec![
        Tcp {
            local: (LO, 6379),
            remote: (ANY, 0),
            state: TCP_LISTEN,
            inode: 1001,
        },
        Tcp {
            local: (LO, 41000),
            remote: (LO, 6379),
            state: TCP_ESTABLISHED,
            inode: 1002,
        },
    ];
    if with_db {
        rows.push(Tcp {
            local: (ip, 5432),
            remote: (ANY, 0),
            state: TCP_LISTEN,
            inode: 2001,
        });
    }
    rows
}

/// Host B: a client connected to host A's server.
fn host_b(ip: [u8; 4]) -> FakeProc {
    let fp = FakeProc::new();
    fp.process(300, "client", 1, 700, &["/usr/bin/client"], &[3001]);
    let mut mine = ip;
    mine[3] = 8;
    fp.tcp(&[Tcp {
        local: (mine, 50000),
        remote: (ip, 5432),
        state: TCP_ESTABLISHED,
        inode: 3001,
    }]);
    fp
}

async fn await_host(
    sink: &infragraph_graph_writer::BoltSink,
    fake: &FakeProc,
    host: &str,
    what: &str,
) {
    let expected = embedded_elements(&fake.root(), host);
    eventually(what, PATIENCE, async || {
        match bolt_elements(sink, host).await {
            Ok(el) if el == expected => Ok(()),
            Ok(el) => Err(format!(
                "{:?} (expected {:?})",
                el.counts(),
                expected.counts()
            )),
            Err(e) => Err(e.to_string()),
        }
    })
    .await;
}

/// Which scopes assert the endpoint `id`; `None` if it is not in the graph.
async fn asserted_by(sink: &infragraph_graph_writer::BoltSink, id: &str) -> Option<Vec<String>> {
    let q =
        neo4rs::query("MATCH (e:Endpoint {id: $id}) RETURN e._asserted_by AS by").param("id", id);
    let mut rows = sink.graph().execute(q).await.expect("query the endpoint");
    let row = rows.next().await.expect("read the endpoint")?;
    // A stub (only the far end of B's connection so far) has no list yet.
    let mut by: Vec<String> = row
        .get::<Option<Vec<String>>>("by")
        .expect("assertions")
        .unwrap_or_default();
    by.sort();
    Some(by)
}

fn collector(p: &Pipeline, fake: &FakeProc, host: &str) -> Stage {
    let root = fake.root();
    let args = [
        "collect",
        "procfs",
        "--proc-root",
        &root,
        "--host-id",
        host,
        "--interval",
        "1s",
        "--reconcile-interval",
        "1h",
    ];
    p.stage(&format!("collector {host}"), &args)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retractions_remove_what_vanished_through_restarts_evictions_and_shared_nodes() {
    require!(brokers = support::KAFKA, "Kafka broker");
    let Some(bolt_cfg) = bolt_config() else {
        return;
    };
    let (a, b) = (support::unique("dl-a"), support::unique("dl-b"));
    let p = Pipeline::unique(brokers, "dl");
    let sink = bolt(&bolt_cfg);
    let ip = shared_ip();
    let endpoint = format!("tcp://{}.{}.{}.{}:5432", ip[0], ip[1], ip[2], ip[3]);
    let (fa, fb) = (host_a(ip), host_b(ip));

    let forgetful = ["--state-capacity", "16"];
    let mut normalizers = vec![p.normalizer_with(1, &[]), p.normalizer_with(2, &forgetful)];
    let writer = p.writer(&bolt_cfg);
    let collectors = [collector(&p, &fa, &a), collector(&p, &fb, &b)];
    await_host(&sink, &fa, &a, "host A's first sync").await;
    await_host(&sink, &fb, &b, "host B's first sync").await;
    let both = {
        let mut v = vec![format!("procfs/host:{a}"), format!("procfs/host:{b}")];
        v.sort();
        v
    };
    eventually(
        "both hosts assert the shared endpoint",
        PATIENCE,
        async || match asserted_by(&sink, &endpoint).await {
            Some(by) if by == both => Ok(()),
            other => Err(format!("{other:?}")),
        },
    )
    .await;

    // 1. Workers exit between two delta syncs: they are retracted, with
    // their relationships, though the forgetful normalizer forgot them.
    for pid in 1000..1010 {
        fa.remove_process(pid);
    }
    await_host(&sink, &fa, &a, "the exited workers are retracted").await;

    // 2. Workers exit while no normalizer runs: the first syncs after the
    // restart retract them, though the new instances never saw them.
    for n in normalizers.drain(..) {
        assert!(n.terminate().success(), "a normalizer stops cleanly");
    }
    for pid in 1010..1020 {
        fa.remove_process(pid);
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    normalizers = vec![p.normalizer_with(3, &forgetful), p.normalizer_with(4, &[])];
    await_host(
        &sink,
        &fa,
        &a,
        "what vanished while the normalizers were down is retracted",
    )
    .await;

    // 3. The server leaves host A: A retracts the endpoint it listened on,
    // and B's assertion of it (B still has a connection to it) stays.
    fa.remove_process(100);
    fa.tcp(&a_sockets(ip, false));
    await_host(&sink, &fa, &a, "the server's exit is retracted").await;
    eventually(
        "only host B asserts the endpoint now",
        PATIENCE,
        async || match asserted_by(&sink, &endpoint).await {
            Some(by) if by == [format!("procfs/host:{b}")] => Ok(()),
            other => Err(format!("{other:?}")),
        },
    )
    .await;
    await_host(&sink, &fb, &b, "host B is untouched by A's retractions").await;

    for stage in collectors.into_iter().chain(normalizers).chain([writer]) {
        let name = stage.name.clone();
        assert!(
            stage.terminate().success(),
            "{name} stops cleanly on SIGTERM"
        );
    }
    bolt_forget(&sink, &a).await;
    bolt_forget(&sink, &b).await;
    let q = neo4rs::query("MATCH (e:Endpoint {id: $id}) DETACH DELETE e")
        .param("id", endpoint.as_str());
    let _ = sink.graph().run(q).await;
}
