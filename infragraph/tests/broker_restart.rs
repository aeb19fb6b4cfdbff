//! The Kafka broker stopped and restarted under load, its log directory
//! kept, as an operator's rolling restart or a crash-and-recover does: a
//! collector syncing every second, two normalizers and the writer, each its
//! own process, carry on by themselves, and the graph ends as an untroubled
//! run of the same host ends.

// A test fails loudly where its setup or a result is not what it needs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use infragraph_test_support::servers::Server;
use infragraph_test_support::{self as support};

const PATIENCE: Duration = Duration::from_secs(180);

/// A host busy enough that the broker goes away in the middle of syncs:
/// `n` processes, one server with a client connected to it.
fn busy_host(n: i32) -> FakeProc {
    let fp = FakeProc::new();
    fp.process(100, "server", 1, 500, &["/usr/bin/server"], &[1001, 1003]);
    fp.process(200, "client", 1, 600, &["/usr/bin/client"], &[1002]);
    for pid in 1000..1000 + n {
        fp.process(
            pid,
            "worker",
            100,
            1000 + pid as u64,
            &["/usr/bin/worker", &pid.to_string()],
            &[],
        );
    }
    const LO: [u8; 4] = [127, 0, 0, 1];
    const ANY: [u8; 4] = [0, 0, 0, 0];
    fp.tcp(&[
        Tcp {
            local: (LO, 8080),
            remote: (ANY, 0),
            state: TCP_LISTEN,
            inode: 1001,
        },
        Tcp {
            local: (LO, 40000),
            remote: (LO, 8080),
            state: TCP_ESTABLISHED,
            inode: 1002,
        },
        Tcp {
            local: (LO, 8080),
            remote: (LO, 40000),
            state: TCP_ESTABLISHED,
            inode: 1003,
        },
    ]);
    fp
}

async fn await_elements(
    sink: &infragraph_graph_writer::BoltSink,
    host: &str,
    expected: &Elements,
    what: &str,
) {
    eventually(what, PATIENCE, async || {
        match bolt_elements(sink, host).await {
            Ok(el) if el == *expected => Ok(()),
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_broker_restarted_under_load_loses_nothing() {
    let Some(bolt_cfg) = bolt_config() else {
        return;
    };
    let Some(mut kafka) = Server::kafka() else {
        return;
    };
    kafka.start();
    let host = support::unique("kr-host");
    let p = Pipeline::unique(kafka.address(), "kr");
    let sink = bolt(&bolt_cfg);

    let fake = busy_host(200);
    let before = embedded_elements(&fake.root(), &host);
    assert_eq!(
        before.counts().nodes.get("Process"),
        Some(&203),
        "the reference run sees every process: {:?}",
        before.counts()
    );

    let mut collect = p.stage(
        "collector",
        &[
            "collect",
            "procfs",
            "--proc-root",
            &fake.root(),
            "--host-id",
            &host,
            "--interval",
            "1s",
        ],
    );
    let mut stages = vec![p.normalizer(1), p.normalizer(2), p.writer(&bolt_cfg)];
    await_elements(
        &sink,
        &host,
        &before,
        "the graph matches the embedded run before the restart",
    )
    .await;

    // The broker goes away while syncs keep starting; the host changes
    // while it is away, so only syncs made during or after the outage can
    // bring the graph to the final state.
    kafka.stop();
    for pid in 1000..1050 {
        fake.remove_process(pid);
    }
    for pid in 3000..3050 {
        fake.process(
            pid,
            "newcomer",
            1,
            9000 + pid as u64,
            &["/usr/bin/newcomer"],
            &[],
        );
    }
    tokio::time::sleep(Duration::from_secs(5)).await;
    kafka.start();

    let after = embedded_elements(&fake.root(), &host);
    assert_ne!(after, before, "the host changed during the outage");
    await_elements(
        &sink,
        &host,
        &after,
        "after the restart the graph matches an untroubled run",
    )
    .await;

    collect.assert_running();
    for s in &mut stages {
        s.assert_running();
    }
    for stage in std::iter::once(collect).chain(stages) {
        let name = stage.name.clone();
        let status = stage.terminate();
        assert!(
            status.success(),
            "{name} stops cleanly on SIGTERM after the outage: {status}"
        );
    }
    bolt_forget(&sink, &host).await;
}
