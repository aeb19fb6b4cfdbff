//! A snapshot turned into observations: the host, every endpoint that is
//! listened on or dialled, and every process with its relationships.

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;

use infragraph_collector::SyncContext;
use infragraph_schemas::{Observation, RelType, ResourceKind};

use crate::endpoint::Endpoint;
use crate::process::ProcessInfo;
use crate::scan::{NetNs, Snapshot};
use crate::sockets::Socket;

/// `<host id>/<pid>/<start time in clock ticks since boot>`: unique even when
/// the kernel reuses the pid.
pub fn process_id(host_id: &str, pid: i32, start_ticks: u64) -> String {
    format!("{host_id}/{pid}/{start_ticks}")
}

/// What scopes host-local addresses in a namespace: the host id for the
/// host's own namespace, `<host id>/netns:<inode>` for the others, so two
/// containers' `127.0.0.1:8080` stay apart too.
pub fn netns_scope(host_id: &str, ns: &NetNs) -> String {
    match ns.inode {
        Some(inode) if !ns.is_host => format!("{host_id}/netns:{inode}"),
        _ => host_id.to_owned(),
    }
}

/// What each socket inode means for its owner.
#[derive(Debug, Default)]
struct Roles {
    listens: HashMap<u64, Vec<Endpoint>>,
    dials: HashMap<u64, Endpoint>,
    /// Every listened-on endpoint, owned or not.
    listened: BTreeSet<Endpoint>,
}

/// Sorts one namespace's sockets into listeners and outbound connections.
/// A connection whose local port is one this namespace listens on (on its
/// address or the wildcard) was accepted, not dialled: its peer is a client.
fn classify(ns: &NetNs, scope: &str, roles: &mut Roles) {
    let listeners: Vec<&Socket> = ns.sockets.iter().filter(|s| s.is_listener()).collect();
    let accepts = |s: &Socket| {
        let ip = s.local.ip().to_canonical();
        listeners.iter().any(|l| {
            l.proto == s.proto
                && l.local.port() == s.local.port()
                && (l.local.ip().is_unspecified() || l.local.ip().to_canonical() == ip)
        })
    };
    for l in &listeners {
        let eps = listen_endpoints(l, &ns.addresses, scope);
        roles.listened.extend(eps.iter().cloned());
        if l.inode != 0 {
            roles.listens.entry(l.inode).or_default().extend(eps);
        }
    }
    for s in ns
        .sockets
        .iter()
        .filter(|s| s.is_connection() && s.inode != 0 && !accepts(s))
    {
        roles.dials.insert(
            s.inode,
            Endpoint::new(s.proto, s.remote.ip(), s.remote.port(), scope),
        );
    }
}

/// A listener's endpoints: its own address and, for a wildcard, every
/// address of the namespace it accepts on (IPv4 ones for `0.0.0.0`, all for
/// `::`, which also takes IPv4 unless the socket is v6-only), so a client on
/// another host dialling `10.0.0.2:80` names an endpoint this side asserts.
fn listen_endpoints(l: &Socket, addresses: &[IpAddr], scope: &str) -> Vec<Endpoint> {
    let (ip, port) = (l.local.ip(), l.local.port());
    let mut out = vec![Endpoint::new(l.proto, ip, port, scope)];
    if ip.is_unspecified() {
        let all_families = ip.is_ipv6();
        out.extend(
            addresses
                .iter()
                .filter(|a| all_families || a.is_ipv4())
                .map(|a| Endpoint::new(l.proto, *a, port, scope)),
        );
    }
    out
}

/// Every observation of one sync, hosts and endpoints before the processes
/// that point at them.
pub fn observations(snap: &Snapshot, host_id: &str, ctx: &SyncContext) -> Vec<Observation> {
    let now = ctx.now_ms();
    let mut roles = Roles::default();
    for ns in &snap.namespaces {
        classify(ns, &netns_scope(host_id, ns), &mut roles);
    }
    let mut out =
        Vec::with_capacity(1 + roles.listened.len() + roles.dials.len() + snap.processes.len());
    out.push(host_observation(snap, host_id, ctx, now));
    let dialled: BTreeSet<&Endpoint> = roles.dials.values().collect();
    let endpoints: BTreeSet<&Endpoint> = roles.listened.iter().chain(dialled).collect();
    out.extend(
        endpoints
            .into_iter()
            .map(|e| endpoint_observation(e, host_id, ctx, now)),
    );
    let start_ticks: HashMap<i32, u64> = snap
        .processes
        .iter()
        .map(|p| (p.pid, p.stat.start_ticks))
        .collect();
    for p in &snap.processes {
        out.push(process_observation(
            snap,
            p,
            host_id,
            &start_ticks,
            &roles,
            ctx,
            now,
        ));
    }
    out
}

fn host_observation(snap: &Snapshot, host_id: &str, ctx: &SyncContext, now: i64) -> Observation {
    let h = &snap.host;
    let ips: Vec<String> = h.ip_addresses.iter().map(ToString::to_string).collect();
    ctx.observation_at(ResourceKind::Host, host_id, now)
        .with("hostname", h.hostname.as_str())
        .with("kernel", h.kernel.clone())
        .with("os_release", h.os_release.clone())
        .with("boot_time", h.boot_time_s.map(|s| s * 1000))
        .with("cpu_count", h.cpu_count)
        .with("memory_bytes", h.memory_bytes)
        .with("ip_addresses", (!ips.is_empty()).then_some(ips))
}

fn endpoint_observation(e: &Endpoint, host_id: &str, ctx: &SyncContext, now: i64) -> Observation {
    ctx.observation_at(ResourceKind::Endpoint, e.id(), now)
        .with("protocol", e.proto.as_str())
        .with("address", e.ip.to_string())
        .with("port", i64::from(e.port))
        .with("host_id", e.scope.as_ref().map(|_| host_id))
}

fn process_observation(
    snap: &Snapshot,
    p: &ProcessInfo,
    host_id: &str,
    start_ticks: &HashMap<i32, u64>,
    roles: &Roles,
    ctx: &SyncContext,
    now: i64,
) -> Observation {
    let ticks = snap.clock_ticks.max(1);
    let ms = |t: u64| (t.saturating_mul(1000) / ticks) as i64;
    let mut obs = ctx
        .observation_at(
            ResourceKind::Process,
            process_id(host_id, p.pid, p.stat.start_ticks),
            now,
        )
        .with("host_id", host_id)
        .with("pid", i64::from(p.pid))
        .with("ppid", i64::from(p.stat.ppid))
        .with("name", p.stat.comm.as_str())
        .with("exe", p.exe.clone())
        .with("cmdline", p.cmdline.clone())
        .with("uid", p.uid.map(i64::from))
        .with("user", p.uid.and_then(|u| snap.users.get(&u).cloned()))
        .with("start_time", snap.boot_time_ms + ms(p.stat.start_ticks))
        .with("threads", p.stat.threads)
        .with(
            "rss_bytes",
            p.stat.rss_pages.saturating_mul(snap.page_size as i64),
        )
        .with("cpu_time_ms", ms(p.stat.cpu_ticks))
        .with("container_id", p.container_id.clone())
        .relate(RelType::RunsOn, host_id);
    if let Some(parent) = start_ticks.get(&p.stat.ppid) {
        obs = obs.relate(RelType::ChildOf, process_id(host_id, p.stat.ppid, *parent));
    }
    let mut listens = BTreeSet::new();
    let mut dials = BTreeSet::new();
    for inode in &p.sockets {
        listens.extend(
            roles
                .listens
                .get(inode)
                .into_iter()
                .flatten()
                .map(Endpoint::id),
        );
        dials.extend(roles.dials.get(inode).map(Endpoint::id));
    }
    for id in listens {
        obs = obs.relate(RelType::ListensOn, id);
    }
    for id in dials {
        obs = obs.relate(RelType::ConnectsTo, id);
    }
    obs
}
