//! Two simulated hosts, each in its own network and PID namespace, joined
//! by a veth pair: a client on one dials a server on the other, one
//! collector per "host" reads that namespace's proc, and both name the same
//! server endpoint. Needs root (CI runs as root); skipped otherwise.

mod common;

use std::process::Command;

use common::*;
use infragraph_collector_procfs::{ProcfsCollector, ProcfsConfig};
use infragraph_schemas::{RelType, ResourceKind};

/// Listens on every address, prints the port, accepts one client.
const SERVER_ANY: &str = "import socket,time\ns=socket.socket()\ns.bind(('0.0.0.0',0))\ns.listen()\nprint(s.getsockname()[1],flush=True)\nc,_=s.accept()\nprint('accepted',flush=True)\ntime.sleep(600)";

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip (apt-get install iproute2)");
    assert!(out.status.success(), "ip {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// Two namespaces and the veth pair between them; deleted when dropped,
/// whatever the test did.
struct Net {
    names: [String; 2],
}

impl Net {
    fn new() -> Net {
        let tag = std::process::id() % 100_000;
        let names = [format!("igtest-a-{tag}"), format!("igtest-b-{tag}")];
        let net = Net { names: names.clone() };
        let (va, vb) = (format!("igva{tag}"), format!("igvb{tag}"));
        for n in &names {
            ip(&["netns", "add", n]);
        }
        ip(&["link", "add", &va, "type", "veth", "peer", "name", &vb]);
        for (n, dev, addr) in [(&names[0], &va, "10.231.0.1/24"), (&names[1], &vb, "10.231.0.2/24")] {
            ip(&["link", "set", dev, "netns", n]);
            ip(&["-n", n, "addr", "add", addr, "dev", dev]);
            ip(&["-n", n, "link", "set", dev, "up"]);
            ip(&["-n", n, "link", "set", "lo", "up"]);
        }
        net
    }

    /// Runs `python3 -c script args…` as pid 1 of a new PID namespace (with
    /// its own proc) inside network namespace `i`.
    fn python(&self, i: usize, script: &str, args: &[&str]) -> Kid {
        Kid::spawn(
            Command::new("ip")
                .args(["netns", "exec", &self.names[i], "unshare", "--pid", "--fork", "--mount-proc", "--kill-child"])
                .args(["python3", "-c", script])
                .args(args),
        )
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for n in &self.names {
            let _ = Command::new("ip").args(["netns", "del", n]).status();
        }
    }
}

/// The proc of the PID namespace whose init is the child of `unshare`.
fn ns_proc_root(unshare_pid: i32) -> std::path::PathBuf {
    let children = std::fs::read_to_string(format!("/proc/{unshare_pid}/task/{unshare_pid}/children")).expect("unshare's children");
    let init: i32 = children.split_whitespace().next().and_then(|p| p.parse().ok()).expect("unshare forked its child");
    std::path::PathBuf::from(format!("/proc/{init}/root/proc"))
}

fn collector(host: &str, proc_root: std::path::PathBuf) -> ProcfsCollector {
    ProcfsCollector::new(ProcfsConfig { host_id: Some(host.to_owned()), proc_root, ..ProcfsConfig::default() }).unwrap()
}

#[tokio::test]
async fn two_hosts_in_namespaces_name_the_same_server_endpoint() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        assert!(!infragraph_test_support::in_ci(), "CI must run this test as root");
        eprintln!("skipped: needs root for network and PID namespaces");
        return;
    }
    let net = Net::new();
    let mut server = net.python(1, SERVER_ANY, &[]);
    let port = server.line();
    let mut client = net.python(0, CLIENT, &["10.231.0.2", &port]);
    assert_eq!(client.line(), "connected");
    assert_eq!(server.line(), "accepted");

    let host_a = infragraph_test_support::unique("sim-a");
    let host_b = infragraph_test_support::unique("sim-b");
    let a = sync_once(&collector(&host_a, ns_proc_root(client.pid()))).await;
    let b = sync_once(&collector(&host_b, ns_proc_root(server.pid()))).await;

    let ep = format!("tcp://10.231.0.2:{port}");
    // Each collector sees only its own namespace: pid 1 is the python there.
    let client_proc = process(&a, 1);
    let server_proc = process(&b, 1);
    assert_eq!(client_proc.id.split('/').next(), Some(host_a.as_str()));
    assert_eq!(a.iter().filter(|o| o.kind == ResourceKind::Process).count(), 1, "only the namespace's processes");
    assert_eq!(targets(client_proc, RelType::ConnectsTo), vec![ep.as_str()]);
    assert!(targets(server_proc, RelType::ListensOn).contains(&ep.as_str()), "{:?}", targets(server_proc, RelType::ListensOn));
    assert!(targets(server_proc, RelType::ConnectsTo).is_empty(), "the accepted connection is inbound");
    assert!(endpoint(&a, &ep).is_some() && endpoint(&b, &ep).is_some(), "both sides observe {ep}");
    assert_eq!(endpoint(&b, &ep).and_then(|e| e.properties.get("host_id")), None, "a routable address is not host-scoped");
    // The wildcard itself stays scoped to its host.
    assert!(targets(server_proc, RelType::ListensOn).contains(&format!("tcp://0.0.0.0:{port}@{host_b}").as_str()));
    let host_ips = b.iter().find(|o| o.kind == ResourceKind::Host).and_then(|h| h.properties.get("ip_addresses")).cloned();
    assert_eq!(host_ips, Some(vec!["10.231.0.2".to_owned()].into()));
    drop((client, server));
}
