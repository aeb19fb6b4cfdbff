//! Child processes that clean up after themselves, and one sync on a
//! memory bus.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdout, Command, Stdio};

use infragraph_bus::MemoryBus;
use infragraph_collector::{Collector, ManualClock, Syncer};
use infragraph_collector_procfs::{ProcfsCollector, ProcfsConfig};
use infragraph_schemas::{Codec, Observation, RelType, ResourceKind, SYNC_TOPIC, SyncStatus};

/// A child process killed when dropped, so a failing test leaves nothing.
pub struct Kid {
    pub child: Child,
    out: BufReader<ChildStdout>,
}

impl Kid {
    pub fn spawn(cmd: &mut Command) -> Kid {
        let mut child = cmd.stdout(Stdio::piped()).spawn().expect("spawn test child");
        let out = BufReader::new(child.stdout.take().expect("piped stdout"));
        Kid { child, out }
    }

    pub fn python(script: &str, args: &[&str]) -> Kid {
        Kid::spawn(Command::new("python3").arg("-c").arg(script).args(args))
    }

    /// The next line the child prints; the child prints once it is ready.
    pub fn line(&mut self) -> String {
        let mut s = String::new();
        self.out.read_line(&mut s).expect("read child output");
        assert!(!s.is_empty(), "child exited before it was ready");
        s.trim().to_owned()
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }
}

impl Drop for Kid {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Listens on 127.0.0.1, prints the port, accepts one client, says so.
pub const SERVER: &str = "import socket,time\ns=socket.socket()\ns.bind(('127.0.0.1',0))\ns.listen()\nprint(s.getsockname()[1],flush=True)\nc,_=s.accept()\nprint('accepted',flush=True)\ntime.sleep(600)";
/// Connects to argv[1]:argv[2], says so.
pub const CLIENT: &str = "import socket,sys,time\nc=socket.create_connection((sys.argv[1],int(sys.argv[2])))\nprint('connected',flush=True)\ntime.sleep(600)";

pub fn config(host_id: &str) -> ProcfsConfig {
    ProcfsConfig { host_id: Some(host_id.to_owned()), ..ProcfsConfig::default() }
}

/// Runs one sync of `collector` on a memory bus; returns what it published
/// and checks it completed.
pub async fn sync_once(collector: &ProcfsCollector) -> Vec<Observation> {
    let bus = MemoryBus::new();
    let syncer = Syncer::new(bus.clone()).with_clock(ManualClock::new(1_700_000_000_000));
    let report = syncer.sync(collector).await.expect("the sync completes");
    let codec = Codec::builtin();
    let markers: Vec<SyncStatus> = bus.messages(SYNC_TOPIC).iter().map(|m| codec.decode_sync_marker(&m.payload).unwrap().status).collect();
    assert_eq!(markers, vec![SyncStatus::Started, SyncStatus::Completed]);
    let obs: Vec<Observation> = ResourceKind::ALL
        .iter()
        .flat_map(|k| bus.messages(&k.topic()))
        .map(|m| codec.decode_observation(&m.payload).unwrap())
        .collect();
    assert_eq!(obs.len() as u64, report.total());
    assert!(obs.iter().all(|o| o.scope.scope == collector.scope() && o.scope.source == "procfs"));
    obs
}

pub fn process(obs: &[Observation], pid: i32) -> &Observation {
    obs.iter()
        .find(|o| o.kind == ResourceKind::Process && o.properties.get("pid").and_then(|v| v.as_long()) == Some(i64::from(pid)))
        .unwrap_or_else(|| panic!("no process observation for pid {pid}"))
}

pub fn targets(obs: &Observation, rel: RelType) -> Vec<&str> {
    obs.relationships.iter().filter(|r| r.rel_type == rel).map(|r| r.target_id.as_str()).collect()
}

pub fn endpoint<'a>(obs: &'a [Observation], id: &str) -> Option<&'a Observation> {
    obs.iter().find(|o| o.kind == ResourceKind::Endpoint && o.id == id)
}
