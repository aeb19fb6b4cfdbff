//! Against this machine's real /proc.

// A test fails loudly where its setup or a result is not what it needs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;

use common::*;
use infragraph_collector_procfs::ProcfsCollector;
use infragraph_schemas::{RelType, ResourceKind};

#[tokio::test]
async fn a_listener_and_its_client_are_found_with_the_edge_between_them() {
    let host = infragraph_test_support::unique("live-host");
    let mut server = Kid::python(SERVER, &[]);
    let port = server.line();
    let mut client = Kid::python(CLIENT, &["127.0.0.1", &port]);
    assert_eq!(client.line(), "connected");
    assert_eq!(server.line(), "accepted");

    let collector = ProcfsCollector::new(config(&host)).unwrap();
    let obs = sync_once(&collector).await;

    let ep = format!("tcp://127.0.0.1:{port}@{host}");
    let s = process(&obs, server.pid());
    let c = process(&obs, client.pid());
    assert_eq!(
        s.id,
        format!(
            "{host}/{}/{}",
            server.pid(),
            s.id.rsplit('/').next().unwrap()
        )
    );
    assert!(
        targets(s, RelType::ListensOn).contains(&ep.as_str()),
        "server listens on {ep}: {:?}",
        s.relationships
    );
    assert_eq!(
        targets(c, RelType::ConnectsTo),
        vec![ep.as_str()],
        "client dials the listener"
    );
    assert!(
        targets(s, RelType::ConnectsTo).is_empty(),
        "an accepted connection is not an outbound one: {:?}",
        targets(s, RelType::ConnectsTo)
    );
    assert_eq!(targets(s, RelType::RunsOn), vec![host.as_str()]);

    let e = endpoint(&obs, &ep).expect("the listener's endpoint is observed");
    assert_eq!(
        e.properties.get("port").and_then(|v| v.as_long()),
        Some(port.parse().unwrap())
    );
    assert_eq!(
        e.properties.get("host_id").and_then(|v| v.as_str()),
        Some(host.as_str())
    );
    assert_eq!(
        e.properties.get("protocol").and_then(|v| v.as_str()),
        Some("tcp")
    );

    let h = obs
        .iter()
        .find(|o| o.kind == ResourceKind::Host)
        .expect("a host observation");
    assert_eq!(h.id, host);
    assert!(
        h.properties
            .get("boot_time")
            .and_then(|v| v.as_long())
            .is_some_and(|t| t > 0)
    );
    // The test process is the parent of both children.
    let me = process(&obs, std::process::id() as i32);
    assert_eq!(targets(s, RelType::ChildOf), vec![me.id.as_str()]);
}

#[tokio::test]
async fn secrets_in_a_real_command_line_never_leave_the_host() {
    let host = infragraph_test_support::unique("redact-host");
    let secrets = [
        "hunter2",
        "abc123tok",
        "s3cretpw",
        "AKIAIOSFODNN7EXAMPLE",
        "corp-98765",
        "pgpass1",
    ];
    let mut kid = Kid::spawn(Command::new("python3").args([
        "-c",
        "print('up',flush=True)\nimport time\ntime.sleep(600)",
        "--password=hunter2",
        "--token",
        "abc123tok",
        "DB_PASSWORD=s3cretpw",
        "AKIAIOSFODNN7EXAMPLE",
        "postgres://app:pgpass1@db.internal:5432/x",
        "ticket=corp-98765",
        "--port=8080",
    ]));
    assert_eq!(kid.line(), "up");
    let mut cfg = config(&host);
    cfg.redact = vec![r"corp-[0-9]+".into()];
    let obs = sync_once(&ProcfsCollector::new(cfg).unwrap()).await;
    let cmdline = process(&obs, kid.pid())
        .properties
        .get("cmdline")
        .and_then(|v| v.as_str())
        .expect("cmdline is read")
        .to_owned();
    for s in secrets {
        assert!(!cmdline.contains(s), "{s} leaked: {cmdline}");
    }
    assert!(
        cmdline.contains("--port=8080") && cmdline.contains("db.internal:5432"),
        "non-secrets are kept: {cmdline}"
    );
    assert!(
        cmdline.contains("--password=<redacted>") && cmdline.contains("--token <redacted>"),
        "{cmdline}"
    );
}

#[test]
fn processes_exiting_during_scans_are_normal() {
    // Short-lived processes come and go while the collector scans; none of
    // them may fail a scan or be reported as unreadable.
    let collector = ProcfsCollector::new(config("churn-host")).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let churn = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let _ = Command::new("true").status();
                n += 1;
            }
            n
        })
    };
    let mut vanished = 0;
    for _ in 0..40 {
        let snap = collector.scan();
        assert!(snap.stats.processes > 0);
        assert_eq!(
            snap.stats.other, 0,
            "nothing but vanishing and permissions may go unread: {:?}",
            snap.stats
        );
        vanished += snap.stats.vanished;
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let spawned = churn.join().unwrap();
    assert!(spawned > 0);
    eprintln!("{spawned} processes spawned, {vanished} seen vanishing mid-scan");
}
