//! Scan cost against `ss -tanp` on the same machine state, in one run.
//!
//! Creates at least 1,000 processes and 10,000 sockets (5,000 loopback TCP
//! connections, both ends held here), then times, alternately, one full
//! sync without publishing (scan, observations, encoding) and `ss -tanp`
//! (which does the same socket-to-process work for TCP only). Prints the
//! median wall time of each, their ratio, and CPU time per run. Everything
//! it creates is gone when it exits, even on a panic.
//!
//! `cargo bench -p infragraph-collector-procfs --bench scan`
//! (`BENCH_PROCESSES`, `BENCH_CONNECTIONS`, `BENCH_ROUNDS` override sizes).

// A test fails loudly where its setup or a result is not what it needs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

/// The allocator the binaries run with (infragraph/src/main.rs), so the
/// figures are the deployed code's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use infragraph_collector::{ManualClock, SyncContext};
use infragraph_collector_procfs::{ProcfsCollector, ProcfsConfig};
use infragraph_schemas::{Codec, ScopeRef};

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Sleeping children, killed and reaped on drop.
struct Sleepers(Vec<Child>);

impl Drop for Sleepers {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
        }
        for c in &mut self.0 {
            let _ = c.wait();
        }
    }
}

fn cpu(who: i32) -> Duration {
    // SAFETY: rusage is plain data, getrusage only writes into it.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(who, &mut ru) } != 0 {
        return Duration::ZERO;
    }
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

fn raise_fd_limit(need: u64) {
    // SAFETY: as above.
    let mut lim: libc::rlimit = unsafe { std::mem::zeroed() };
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
    }
    lim.rlim_cur = lim.rlim_max;
    unsafe {
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
    }
    assert!(
        lim.rlim_cur >= need,
        "need {need} open files, the hard limit is {}",
        lim.rlim_max
    );
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let processes = env_or("BENCH_PROCESSES", 1_000);
    let connections = env_or("BENCH_CONNECTIONS", 5_000);
    let rounds = env_or("BENCH_ROUNDS", 7).max(1);
    raise_fd_limit(2 * connections as u64 + 100);

    let sleepers = Sleepers(
        (0..processes)
            .map(|_| {
                Command::new("sleep")
                    .arg("600")
                    .stdin(Stdio::null())
                    .spawn()
                    .expect("spawn sleep")
            })
            .collect(),
    );
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let mut sockets = Vec::with_capacity(2 * connections);
    for _ in 0..connections {
        let client = TcpStream::connect(addr).expect("connect");
        let (server, _) = listener.accept().expect("accept");
        sockets.push(client);
        sockets.push(server);
    }

    let collector = ProcfsCollector::new(ProcfsConfig {
        host_id: Some("bench".into()),
        ..ProcfsConfig::default()
    })
    .expect("collector");
    let codec = Codec::builtin();
    let ctx = SyncContext::new(
        ScopeRef::new("procfs", "host:bench"),
        0,
        std::sync::Arc::new(ManualClock::new(0)),
    );
    let sync = || {
        let obs = collector.collect_blocking(&ctx);
        let bytes: usize = obs
            .iter()
            .map(|o| codec.encode_observation(o).map_or(0, |b| b.len()))
            .sum();
        (obs.len(), bytes)
    };
    let ss = || {
        let status = Command::new("ss")
            .arg("-tanp")
            .stdout(Stdio::null())
            .status()
            .expect("run ss");
        assert!(status.success(), "ss -tanp failed");
    };

    let snap = collector.scan();
    println!(
        "state: {} processes, {} sockets ({} namespaces) seen by the collector; {} created here",
        snap.stats.processes,
        snap.stats.sockets,
        snap.stats.namespaces,
        processes + 2 * connections + 1
    );
    sync();
    ss();
    let (mut ours, mut theirs, mut our_cpu, mut their_cpu) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut last = (0, 0);
    for _ in 0..rounds {
        let (c0, t0) = (cpu(libc::RUSAGE_SELF), Instant::now());
        last = sync();
        ours.push(t0.elapsed());
        our_cpu.push(cpu(libc::RUSAGE_SELF).saturating_sub(c0));

        let (c0, t0) = (cpu(libc::RUSAGE_CHILDREN), Instant::now());
        ss();
        theirs.push(t0.elapsed());
        their_cpu.push(cpu(libc::RUSAGE_CHILDREN).saturating_sub(c0));
    }
    let (o, t) = (median(ours), median(theirs));
    println!(
        "full sync (no publish): {:>9.2?} wall, {:>9.2?} CPU   ({} observations, {} bytes encoded)",
        o,
        median(our_cpu),
        last.0,
        last.1
    );
    println!(
        "ss -tanp:               {:>9.2?} wall, {:>9.2?} CPU",
        t,
        median(their_cpu)
    );
    println!(
        "ratio (sync / ss):      {:.2}   (target <= 1.0; medians of {rounds} alternating runs)",
        o.as_secs_f64() / t.as_secs_f64()
    );
    drop(sockets);
    drop(sleepers);
}
