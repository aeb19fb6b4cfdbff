//! One full read of /proc: the host, every process, and the socket tables
//! and addresses of every network namespace a process with sockets is in.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use crate::addrs::{parse_fib_trie, parse_if_inet6};
use crate::host::{HostInfo, read_host};
use crate::process::{ProcessInfo, Unreadable, netns, read_process};
use crate::read::{Miss, read_into, read_string};
use crate::redact::Redactor;
use crate::sockets::{Socket, TABLES, parse_table};

/// Where to read from and how.
#[derive(Debug, Clone)]
pub struct ScanSetup<'a> {
    pub proc_root: &'a Path,
    pub os_release: &'a Path,
    pub passwd: &'a Path,
    pub host_id: &'a str,
    pub redactor: &'a Redactor,
    /// Worker threads reading processes.
    pub threads: usize,
}

/// What the scan could not read, by cause. None of it fails a sync.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScanStats {
    pub processes: u64,
    /// Processes that exited between listing and reading: normal.
    pub vanished: u64,
    /// Facts (files, links) we were not allowed to read.
    pub denied: u64,
    /// Facts unreadable for another reason, or malformed.
    pub other: u64,
    pub namespaces: u64,
    pub sockets: u64,
    /// Namespaces whose tables no process let us read.
    pub namespaces_unread: u64,
}

/// One network namespace's sockets and addresses.
#[derive(Debug, Clone, Default)]
pub struct NetNs {
    pub inode: Option<u64>,
    /// The host's own namespace (that of pid 1), whose host-local addresses
    /// are scoped to the host id alone.
    pub is_host: bool,
    pub sockets: Vec<Socket>,
    pub addresses: Vec<IpAddr>,
}

/// Everything one scan saw.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub host: HostInfo,
    /// Unix ms at boot, for process start times.
    pub boot_time_ms: i64,
    pub clock_ticks: u64,
    pub page_size: u64,
    pub processes: Vec<ProcessInfo>,
    pub namespaces: Vec<NetNs>,
    pub users: HashMap<u32, String>,
    pub stats: ScanStats,
}

/// Reads everything. Never fails: what cannot be read is counted.
pub fn scan(setup: &ScanSetup<'_>) -> Snapshot {
    let mut stats = ScanStats::default();
    let mut host = read_host(setup.proc_root, setup.os_release, setup.host_id);
    let pids = list_pids(setup.proc_root);
    let processes = read_processes(setup, &pids, &mut stats);
    let namespaces = read_namespaces(setup.proc_root, &processes, &mut stats);
    if let Some(ns) = namespaces.iter().find(|n| n.is_host) {
        host.ip_addresses = ns
            .addresses
            .iter()
            .copied()
            .filter(|ip| !crate::endpoint::host_local(*ip))
            .collect();
    }
    stats.sockets = namespaces.iter().map(|n| n.sockets.len() as u64).sum();
    let users = read_string(setup.passwd)
        .map(|s| parse_passwd(&s))
        .unwrap_or_default();
    Snapshot {
        boot_time_ms: host.boot_time_s.unwrap_or(0) * 1000,
        host,
        clock_ticks: crate::read::clock_ticks(),
        page_size: crate::read::page_size(),
        processes,
        namespaces,
        users,
        stats,
    }
}

fn list_pids(root: &Path) -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect()
}

/// Reads processes on `setup.threads` threads, each taking every n-th pid.
fn read_processes(setup: &ScanSetup<'_>, pids: &[i32], stats: &mut ScanStats) -> Vec<ProcessInfo> {
    let threads = setup.threads.clamp(1, 16).min(pids.len().max(1));
    let results: Vec<(Vec<ProcessInfo>, u64, Unreadable)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || read_some(setup, pids.iter().skip(t).step_by(threads).copied()))
            })
            .collect();
        workers.into_iter().filter_map(|w| w.join().ok()).collect()
    });
    let mut all = Vec::with_capacity(pids.len());
    for (procs, vanished, miss) in results {
        all.extend(procs);
        stats.vanished += vanished;
        stats.denied += u64::from(miss.denied);
        stats.other += u64::from(miss.other);
    }
    all.sort_by_key(|p| p.pid);
    stats.processes = all.len() as u64;
    all
}

fn read_some(
    setup: &ScanSetup<'_>,
    pids: impl Iterator<Item = i32>,
) -> (Vec<ProcessInfo>, u64, Unreadable) {
    let mut buf = Vec::with_capacity(4096);
    let mut out = Vec::new();
    let mut vanished = 0;
    let mut miss = Unreadable::default();
    for pid in pids {
        match read_process(setup.proc_root, pid, setup.redactor, &mut buf, &mut miss) {
            Ok(p) => out.push(p),
            Err(Miss::Vanished) => vanished += 1,
            Err(Miss::Denied) => miss.denied += 1,
            Err(Miss::Other) => miss.other += 1,
        }
    }
    (out, vanished, miss)
}

/// The host namespace (pid 1's) and every namespace a process with sockets
/// is in, each read once through one of its processes.
fn read_namespaces(root: &Path, processes: &[ProcessInfo], stats: &mut ScanStats) -> Vec<NetNs> {
    let host_ns = netns(&root.join("1"))
        .ok()
        .flatten()
        .or_else(|| netns(&root.join("self")).ok().flatten());
    let mut readers: BTreeMap<Option<u64>, Vec<PathBuf>> = BTreeMap::new();
    if let Some(ns) = host_ns {
        readers
            .entry(Some(ns))
            .or_default()
            .extend([root.join("1"), root.join("self")]);
    }
    for p in processes
        .iter()
        .filter(|p| !p.sockets.is_empty() && p.netns.is_some())
    {
        readers
            .entry(p.netns)
            .or_default()
            .push(root.join(p.pid.to_string()));
    }
    let mut out = Vec::with_capacity(readers.len());
    let mut buf = Vec::with_capacity(64 * 1024);
    for (inode, dirs) in readers {
        match dirs.iter().find_map(|d| read_netns(d, &mut buf, stats)) {
            Some((sockets, addresses)) => out.push(NetNs {
                inode,
                is_host: inode == host_ns,
                sockets,
                addresses,
            }),
            None => stats.namespaces_unread += 1,
        }
    }
    stats.namespaces = out.len() as u64;
    out
}

/// The socket tables and addresses through one process; `None` if that
/// process vanished or hid them, so the caller tries another.
fn read_netns(
    proc_dir: &Path,
    buf: &mut Vec<u8>,
    stats: &mut ScanStats,
) -> Option<(Vec<Socket>, Vec<IpAddr>)> {
    let net = proc_dir.join("net");
    let mut sockets = Vec::new();
    let mut any = false;
    for (file, proto, v6) in TABLES {
        // A kernel without IPv6 has no tcp6/udp6: only all four missing is a miss.
        if read_into(&net.join(file), buf).is_ok() {
            any = true;
            stats.other +=
                parse_table(&String::from_utf8_lossy(buf), proto, v6, &mut sockets) as u64;
        }
    }
    if !any {
        return None;
    }
    let mut addresses = Vec::new();
    if read_into(&net.join("fib_trie"), buf).is_ok() {
        parse_fib_trie(&String::from_utf8_lossy(buf), &mut addresses);
    }
    if read_into(&net.join("if_inet6"), buf).is_ok() {
        parse_if_inet6(&String::from_utf8_lossy(buf), &mut addresses);
    }
    Some((sockets, addresses))
}

/// uid → user name from a passwd file.
pub fn parse_passwd(text: &str) -> HashMap<u32, String> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split(':');
            let name = f.next()?;
            let uid = f.nth(1)?.parse().ok()?;
            Some((uid, name.to_owned()))
        })
        .collect()
}
