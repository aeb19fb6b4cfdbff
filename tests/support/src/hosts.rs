//! Two simulated hosts on one machine: each a network namespace (with its
//! own PID namespace per program), joined by a veth pair with private
//! addresses that exist only inside those namespaces. Needs root.

use std::path::PathBuf;
use std::process::Command;

use crate::process::Kid;

fn ip(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .output()
        .expect("run ip (apt-get install iproute2)");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Whether this process may create namespaces. Without root, a test skips
/// with a note, except in CI, where it fails.
pub fn root_or_skip() -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    assert!(!crate::in_ci(), "CI must run this test as root");
    eprintln!("skipped: needs root for network and PID namespaces");
    false
}

/// Two network namespaces and the veth pair between them; deleted when
/// dropped, whatever the test did (deleting a namespace deletes its end of
/// the pair, and with it the other end).
pub struct TwoHosts {
    names: [String; 2],
    veth: String,
    subnet: String,
}

impl TwoHosts {
    /// Hosts `<prefix>-a-*` at `<subnet>.1` and `<prefix>-b-*` at
    /// `<subnet>.2`; tests running at once pick different subnets.
    pub fn new(prefix: &str, subnet: &str) -> TwoHosts {
        let tag = std::process::id() % 100_000;
        let names = [format!("{prefix}-a-{tag}"), format!("{prefix}-b-{tag}")];
        let (va, vb) = (format!("{prefix}va{tag}"), format!("{prefix}vb{tag}"));
        let mut net = TwoHosts {
            names: [String::new(), String::new()],
            veth: va.clone(),
            subnet: subnet.to_owned(),
        };
        for (i, n) in names.iter().enumerate() {
            ip(&["netns", "add", n]);
            // Recorded as soon as it exists, so Drop removes it even if a
            // later step fails.
            net.names[i] = n.clone();
        }
        ip(&["link", "add", &va, "type", "veth", "peer", "name", &vb]);
        for (i, (n, dev)) in [(&names[0], &va), (&names[1], &vb)].into_iter().enumerate() {
            ip(&["link", "set", dev, "netns", n]);
            ip(&[
                "-n",
                n,
                "addr",
                "add",
                &format!("{}/24", net.address(i)),
                "dev",
                dev,
            ]);
            ip(&["-n", n, "link", "set", dev, "up"]);
            ip(&["-n", n, "link", "set", "lo", "up"]);
        }
        net
    }

    /// Host `i`'s address (0 is A, 1 is B).
    pub fn address(&self, i: usize) -> String {
        format!("{}.{}", self.subnet, i + 1)
    }

    /// Runs `python3 -c script args…` as pid 1 of a new PID namespace (with
    /// its own proc) inside host `i`'s network namespace.
    pub fn python(&self, i: usize, script: &str, args: &[&str]) -> Kid {
        Kid::spawn(
            Command::new("ip")
                .args([
                    "netns",
                    "exec",
                    &self.names[i],
                    "unshare",
                    "--pid",
                    "--fork",
                    "--mount-proc",
                    "--kill-child",
                ])
                .args(["python3", "-c", script])
                .args(args),
        )
    }
}

impl Drop for TwoHosts {
    fn drop(&mut self) {
        for n in self.names.iter().filter(|n| !n.is_empty()) {
            let _ = Command::new("ip").args(["netns", "del", n]).status();
        }
        // Only still there if setup failed before moving it into a
        // namespace; otherwise this fails quietly.
        let _ = Command::new("ip")
            .args(["link", "del", &self.veth])
            .output();
    }
}

/// The host pid of a namespace's init: the child `unshare` forked.
pub fn ns_init(unshare_pid: i32) -> i32 {
    let children =
        std::fs::read_to_string(format!("/proc/{unshare_pid}/task/{unshare_pid}/children"))
            .expect("unshare's children");
    children
        .split_whitespace()
        .next()
        .and_then(|p| p.parse().ok())
        .expect("unshare forked its child")
}

/// The proc of the PID namespace whose init is `init`.
pub fn ns_proc_root(init: i32) -> PathBuf {
    PathBuf::from(format!("/proc/{init}/root/proc"))
}
