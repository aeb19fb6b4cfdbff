//! The synthetic fleet: hosts whose observations are shaped like the procfs
//! collector's (a Host, every listened and dialled Endpoint, every Process
//! with RUNS_ON, CHILD_OF, LISTENS_ON and CONNECTS_TO), each one a
//! [`Collector`] that the real collector runtime syncs.
//!
//! Sockets become graph elements the way procfs maps them: a listening
//! socket is a LISTENS_ON, an accepted connection is nothing (the client's
//! side records it), and a client's connections to one remote address are
//! one CONNECTS_TO however many there are (a pool).

use std::collections::{BTreeSet, HashSet};
use std::convert::Infallible;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex};

use infragraph_collector::{Collector, SyncContext};
use infragraph_schemas::{Observation, RelType, ResourceKind, ScopeKind};

/// One process in ten serves on one port; its other sockets are accepted
/// connections.
const SERVER_EVERY: usize = 10;
/// Connections a client keeps to one remote endpoint.
const POOL: usize = 5;
/// The hosts whose servers one host's clients dial: the next ones round
/// the fleet. A service calls a handful of others, not the whole fleet.
const NEIGHBOURS: usize = 8;
const FIRST_PORT: usize = 8000;
const NAMES: [&str; 8] = [
    "nginx",
    "postgres",
    "java",
    "python3",
    "node",
    "envoy",
    "redis-server",
    "sidekiq",
];
/// The collector's name on every synthetic scope.
pub const SOURCE: &str = "fleet";

/// What every host looks like and how fast it changes.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    pub hosts: usize,
    pub processes: usize,
    pub sockets: usize,
    /// Share of processes replaced, and of connections re-pointed, per sync.
    pub churn: f64,
}

impl Shape {
    fn is_server(slot: usize) -> bool {
        slot % SERVER_EVERY == SERVER_EVERY / 2
    }

    fn servers(&self) -> usize {
        (0..self.processes).filter(|s| Self::is_server(*s)).count()
    }

    fn remotes_per_client(&self) -> usize {
        (self.sockets / POOL).max(1)
    }
}

/// A listening address: a server slot on a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Listener {
    host: usize,
    slot: usize,
}

/// One run's address space: `10.<tag>.x.y`, so two runs never share an
/// endpoint node.
#[derive(Debug, Clone, Copy)]
pub struct Net {
    pub tag: u8,
}

impl Net {
    fn ip(self, host: usize) -> String {
        format!("10.{}.{}.{}", self.tag, (host >> 8) & 255, host & 255)
    }

    fn endpoint_id(self, l: Listener) -> String {
        format!("tcp://{}:{}", self.ip(l.host), FIRST_PORT + l.slot)
    }
}

/// Small, fast and reproducible: every host draws the same run each time.
struct Rng(u64);

impl Rng {
    fn seeded(seed: u64) -> Rng {
        Rng((seed + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

struct Proc {
    pid: i64,
    start_ms: i64,
    slot: usize,
    remotes: Vec<Listener>,
    cpu_ms: i64,
    rss: i64,
    threads: i64,
}

struct HostState {
    rng: Rng,
    procs: Vec<Proc>,
    next_pid: i64,
    /// Fractions of a churn event carried to the next sync, so 1 % of 100
    /// processes is one a sync and 1 % of 360 connections 3.6 on average.
    carry_procs: f64,
    carry_conns: f64,
    /// Hashes of the elements the last sync saw, to count churn exactly.
    last: Option<HashSet<u64>>,
}

/// Per sync: its epoch and how many elements appeared or vanished since
/// the host's previous sync (every element, for a host's first sync).
#[derive(Default)]
pub struct Churn {
    syncs: Mutex<Vec<(i64, u64)>>,
}

impl Churn {
    fn record(&self, epoch: i64, changed: u64) {
        let mut s = self.syncs.lock().unwrap_or_else(|e| e.into_inner());
        s.push((epoch, changed));
    }

    pub fn take(&self) -> Vec<(i64, u64)> {
        std::mem::take(&mut *self.syncs.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// One simulated host.
pub struct FleetHost {
    id: String,
    scope: String,
    index: usize,
    shape: Shape,
    net: Net,
    boot_ms: i64,
    churned: Arc<Churn>,
    state: Mutex<HostState>,
}

impl FleetHost {
    pub fn new(run: &str, index: usize, shape: Shape, net: Net, churn: Arc<Churn>) -> FleetHost {
        let id = format!("{run}-h{index:04}");
        let boot_ms = 1_700_000_000_000;
        let mut host = FleetHost {
            scope: format!("{}{id}", ScopeKind::Host.prefix()),
            id,
            index,
            shape,
            net,
            boot_ms,
            churned: churn,
            state: Mutex::new(HostState {
                rng: Rng::seeded(index as u64),
                procs: Vec::new(),
                next_pid: 100,
                carry_procs: 0.0,
                carry_conns: 0.0,
                last: None,
            }),
        };
        host.start_processes();
        host
    }

    fn start_processes(&mut self) {
        let st = self.state.get_mut().unwrap_or_else(|e| e.into_inner());
        for slot in 0..self.shape.processes {
            let pid = st.next_pid;
            st.next_pid += 1;
            let started = self.boot_ms + slot as i64 * 1_000;
            let mut p = new_proc(&self.shape, self.index, &mut st.rng, slot, pid, started);
            p.cpu_ms += st.rng.below(10_000_000) as i64;
            st.procs.push(p);
        }
    }

    pub fn id(&self) -> &str {
        &self.id
    }
}

fn new_proc(shape: &Shape, host: usize, rng: &mut Rng, slot: usize, pid: i64, start: i64) -> Proc {
    let mut remotes = Vec::new();
    if !Shape::is_server(slot) {
        for _ in 0..shape.remotes_per_client() {
            if let Some(l) = draw_remote(shape, host, rng, &remotes) {
                remotes.push(l);
            }
        }
    }
    Proc {
        pid,
        start_ms: start,
        slot,
        remotes,
        cpu_ms: rng.below(1_000) as i64,
        rss: 50_000_000 + rng.below(500_000_000) as i64,
        threads: 1 + rng.below(32) as i64,
    }
}

/// A server on one of the host's neighbours that `taken` does not hold yet.
fn draw_remote(shape: &Shape, host: usize, rng: &mut Rng, taken: &[Listener]) -> Option<Listener> {
    let servers = shape.servers();
    if servers == 0 {
        return None;
    }
    let neighbours = NEIGHBOURS.min(shape.hosts.saturating_sub(1)).max(1);
    for _ in 0..8 {
        let l = Listener {
            host: (host + 1 + rng.below(neighbours)) % shape.hosts.max(1),
            slot: server_slot(rng.below(servers)),
        };
        if !taken.contains(&l) {
            return Some(l);
        }
    }
    None
}

/// The slot of the `n`th server.
fn server_slot(n: usize) -> usize {
    n * SERVER_EVERY + SERVER_EVERY / 2
}

impl HostState {
    /// CPU time grows and memory wanders a little on every sync, as on a
    /// real host: the normalizer decides which of these reach the graph.
    fn measure(&mut self) {
        for i in 0..self.procs.len() {
            let cpu = self.rng.below(200) as i64;
            let wobble = self.rng.below(201) as i64 - 100;
            let p = &mut self.procs[i];
            p.cpu_ms += cpu;
            p.rss += wobble * p.rss / 10_000;
        }
    }
}

impl FleetHost {
    fn churn(&self, st: &mut HostState, now: i64) {
        st.carry_procs += self.shape.churn * self.shape.processes as f64;
        while st.carry_procs >= 1.0 {
            st.carry_procs -= 1.0;
            self.replace_process(st, now);
        }
        let conns: usize = st.procs.iter().map(|p| p.remotes.len()).sum();
        st.carry_conns += self.shape.churn * conns as f64;
        while st.carry_conns >= 1.0 {
            st.carry_conns -= 1.0;
            self.repoint(st);
        }
    }

    /// A process exits and another starts in its place: a new pid and
    /// start time, so a new Process node. The first process stays: it is
    /// every other one's parent.
    fn replace_process(&self, st: &mut HostState, now: i64) {
        if st.procs.len() < 2 {
            return;
        }
        let i = 1 + st.rng.below(st.procs.len() - 1);
        let (slot, pid) = (st.procs[i].slot, st.next_pid);
        st.next_pid += 1;
        st.procs[i] = new_proc(&self.shape, self.index, &mut st.rng, slot, pid, now);
    }

    /// A client drops a connection pool and opens one to another server.
    fn repoint(&self, st: &mut HostState) {
        let clients: Vec<usize> = (0..st.procs.len())
            .filter(|i| !st.procs[*i].remotes.is_empty())
            .collect();
        if clients.is_empty() {
            return;
        }
        let i = clients[st.rng.below(clients.len())];
        let j = st.rng.below(st.procs[i].remotes.len());
        let taken = st.procs[i].remotes.clone();
        if let Some(l) = draw_remote(&self.shape, self.index, &mut st.rng, &taken) {
            st.procs[i].remotes[j] = l;
        }
    }

    fn process_id(&self, p: &Proc) -> String {
        format!("{}/{}/{}", self.id, p.pid, (p.start_ms - self.boot_ms) / 10)
    }

    fn observe(&self, st: &HostState, ctx: &SyncContext) -> Vec<Observation> {
        let now = ctx.now_ms();
        let mut out = Vec::with_capacity(1 + 2 * st.procs.len());
        out.push(self.host_observation(ctx, now));
        let listened = st
            .procs
            .iter()
            .filter(|p| Shape::is_server(p.slot))
            .map(|p| Listener {
                host: self.index,
                slot: p.slot,
            });
        let dialled = st.procs.iter().flat_map(|p| p.remotes.iter().copied());
        let endpoints: BTreeSet<Listener> = listened.chain(dialled).collect();
        out.extend(
            endpoints
                .into_iter()
                .map(|l| self.endpoint_observation(ctx, now, l)),
        );
        let root = st.procs.first().map(|p| (p.pid, self.process_id(p)));
        for p in &st.procs {
            out.push(self.process_observation(ctx, now, p, root.as_ref()));
        }
        out
    }

    fn host_observation(&self, ctx: &SyncContext, now: i64) -> Observation {
        ctx.observation_at(ResourceKind::Host, &self.id, now)
            .with("hostname", format!("{}.fleet.internal", self.id))
            .with("kernel", "6.1.0-28-amd64")
            .with("os_release", "Debian GNU/Linux 12 (bookworm)")
            .with("boot_time", self.boot_ms)
            .with("cpu_count", 8i64)
            .with("memory_bytes", 34_359_738_368i64)
            .with("ip_addresses", vec![self.net.ip(self.index)])
    }

    fn endpoint_observation(&self, ctx: &SyncContext, now: i64, l: Listener) -> Observation {
        ctx.observation_at(ResourceKind::Endpoint, self.net.endpoint_id(l), now)
            .with("protocol", "tcp")
            .with("address", self.net.ip(l.host))
            .with("port", (FIRST_PORT + l.slot) as i64)
    }

    fn process_observation(
        &self,
        ctx: &SyncContext,
        now: i64,
        p: &Proc,
        root: Option<&(i64, String)>,
    ) -> Observation {
        let name = NAMES[p.slot % NAMES.len()];
        let ppid = root.filter(|(pid, _)| *pid != p.pid);
        let mut obs = ctx
            .observation_at(ResourceKind::Process, self.process_id(p), now)
            .with("host_id", self.id.as_str())
            .with("pid", p.pid)
            .with("ppid", ppid.map_or(0, |(pid, _)| *pid))
            .with("name", name)
            .with("exe", format!("/usr/bin/{name}"))
            .with(
                "cmdline",
                format!("/usr/bin/{name} --config /etc/{name}/{}.conf", p.slot),
            )
            .with("uid", 1000i64)
            .with("user", "app")
            .with("start_time", p.start_ms)
            .with("threads", p.threads)
            .with("rss_bytes", p.rss)
            .with("cpu_time_ms", p.cpu_ms)
            .relate(RelType::RunsOn, self.id.as_str());
        if let Some((_, parent)) = ppid {
            obs = obs.relate(RelType::ChildOf, parent.as_str());
        }
        if Shape::is_server(p.slot) {
            let own = Listener {
                host: self.index,
                slot: p.slot,
            };
            obs = obs.relate(RelType::ListensOn, self.net.endpoint_id(own));
        }
        for l in &p.remotes {
            obs = obs.relate(RelType::ConnectsTo, self.net.endpoint_id(*l));
        }
        obs
    }
}

fn hash_of(v: impl Hash) -> u64 {
    let mut h = DefaultHasher::new();
    v.hash(&mut h);
    h.finish()
}

/// Every node and relationship a sync asserts, hashed.
fn elements(observations: &[Observation]) -> HashSet<u64> {
    let mut out = HashSet::with_capacity(observations.len() * 4);
    for o in observations {
        out.insert(hash_of((o.kind, &o.id)));
        for r in &o.relationships {
            out.insert(hash_of((r.rel_type, &o.id, &r.target_id)));
        }
    }
    out
}

impl Collector for FleetHost {
    type Error = Infallible;

    fn source(&self) -> &str {
        SOURCE
    }

    fn scope(&self) -> &str {
        &self.scope
    }

    async fn collect(&self, ctx: &SyncContext) -> Result<Vec<Observation>, Infallible> {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if st.last.is_some() {
            self.churn(&mut st, ctx.epoch());
        }
        st.measure();
        let observations = self.observe(&st, ctx);
        let seen = elements(&observations);
        let changed = st
            .last
            .as_ref()
            .map_or(seen.len(), |prev| prev.symmetric_difference(&seen).count());
        st.last = Some(seen);
        self.churned.record(ctx.epoch(), changed as u64);
        Ok(observations)
    }
}
