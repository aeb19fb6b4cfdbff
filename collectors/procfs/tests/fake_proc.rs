//! Against a proc tree built by the test, where a process vanishes between
//! the directory listing and the read.

// A test fails loudly where its setup or a result is not what it needs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::fs;
use std::path::Path;

use common::*;
use infragraph_collector_procfs::{ProcfsCollector, ProcfsConfig};
use infragraph_schemas::RelType;

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, text).unwrap();
}

fn stat(pid: i32, comm: &str, ppid: i32, start: u64) -> String {
    format!("{pid} ({comm}) S {ppid} 1 1 0 -1 0 0 0 0 0 5 5 0 0 20 0 1 0 {start} 1000 10 0")
}

fn fake_proc(root: &Path) {
    write(root, "stat", "cpu 1 1 1\ncpu0 1 1 1\nbtime 1700000000\n");
    write(root, "sys/kernel/hostname", "fakehost\n");
    write(root, "meminfo", "MemTotal: 1024 kB\n");
    write(root, "1/stat", &stat(1, "init", 0, 1));
    write(root, "1/status", "Uid:\t0\t0\t0\t0\n");
    write(root, "1/cmdline", "/sbin/init\0--token\0t0psecret\0");
    write(root, "1/cgroup", "0::/\n");
    fs::create_dir_all(root.join("1/fd")).unwrap();
    write(root, "100/stat", &stat(100, "worker", 1, 500));
    write(root, "100/status", "Uid:\t1000\t1000\t1000\t1000\n");
    write(root, "100/cmdline", "worker\0");
    write(
        root,
        "100/cgroup",
        "0::/system.slice/docker-3f4e5d6c7b8a99887766554433221100ffeeddccbbaa00112233445566778899.scope\n",
    );
    fs::create_dir_all(root.join("100/fd")).unwrap();
    // Listed, but gone by the time it is read.
    fs::create_dir_all(root.join("999")).unwrap();
}

#[tokio::test]
async fn a_process_gone_mid_scan_is_counted_not_an_error() {
    let dir = std::env::temp_dir().join(infragraph_test_support::unique("fake-proc"));
    fake_proc(&dir);
    let cfg = ProcfsConfig {
        host_id: Some("fake".into()),
        proc_root: dir.clone(),
        ..ProcfsConfig::default()
    };
    let collector = ProcfsCollector::new(cfg).unwrap();
    let snap = collector.scan();
    assert_eq!(
        (snap.stats.processes, snap.stats.vanished, snap.stats.other),
        (2, 1, 0),
        "{:?}",
        snap.stats
    );

    let obs = sync_once(&collector).await;
    let w = process(&obs, 100);
    assert_eq!(w.id, "fake/100/500");
    assert_eq!(targets(w, RelType::ChildOf), vec!["fake/1/1"]);
    assert_eq!(
        w.properties.get("container_id").and_then(|v| v.as_str()),
        Some("3f4e5d6c7b8a99887766554433221100ffeeddccbbaa00112233445566778899")
    );
    // start time: boot (s → ms) + 500 ticks.
    let ticks = infragraph_collector_procfs::read::clock_ticks() as i64;
    assert_eq!(
        w.properties.get("start_time").and_then(|v| v.as_long()),
        Some(1_700_000_000_000 + 500 * 1000 / ticks)
    );
    assert_eq!(
        process(&obs, 1)
            .properties
            .get("cmdline")
            .and_then(|v| v.as_str()),
        Some("/sbin/init --token <redacted>")
    );
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn a_directory_that_is_not_proc_is_refused_at_start() {
    let cfg = ProcfsConfig {
        host_id: Some("x".into()),
        proc_root: "/nonexistent-proc".into(),
        ..ProcfsConfig::default()
    };
    let err = ProcfsCollector::new(cfg).unwrap_err();
    assert!(err.to_string().contains("/nonexistent-proc"), "{err}");
}
