//! The stage processes the benchmark starts, and what each process (stages
//! and servers alike) costs, read from /proc.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::watch::wall_ms;

/// A stage running as its own process, logging to a file; stopped with
/// SIGTERM (then killed) when dropped, so nothing outlives the benchmark.
pub struct Stage {
    pub name: String,
    pub log: PathBuf,
    child: Option<Child>,
}

impl Stage {
    pub fn spawn(name: &str, cmd: &mut Command, log: &Path) -> anyhow::Result<Stage> {
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(log)?)
            .spawn()?;
        Ok(Stage {
            name: name.to_owned(),
            log: log.to_owned(),
            child: Some(child),
        })
    }

    pub fn pid(&self) -> i32 {
        self.child.as_ref().map_or(0, |c| c.id() as i32)
    }

    /// Waits until the stage's log holds `line`, or `within` has passed.
    pub async fn wait_for_log(&self, line: &str, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if std::fs::read_to_string(&self.log).is_ok_and(|s| s.contains(line)) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        false
    }

    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        // SAFETY: kill(2) on our own child's pid, which has not been reaped.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Stage {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The process listening on TCP `port` on this machine (a server's JVM).
pub fn listener_pid(port: u16) -> Option<i32> {
    let inodes: Vec<String> = ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .flat_map(|s| listening_inodes(&s, port))
        .collect();
    let wanted: Vec<String> = inodes.iter().map(|i| format!("socket:[{i}]")).collect();
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        let owns = fds.flatten().any(|fd| {
            std::fs::read_link(fd.path())
                .is_ok_and(|t| wanted.iter().any(|w| t.as_os_str() == w.as_str()))
        });
        if owns {
            return Some(pid);
        }
    }
    None
}

/// Inodes of the sockets in LISTEN state (0A) on `port` in a /proc/net/tcp table.
fn listening_inodes(table: &str, port: u16) -> Vec<String> {
    let want = format!(":{port:04X}");
    table
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let listening = f.get(3) == Some(&"0A") && f.get(1).is_some_and(|a| a.ends_with(&want));
            listening
                .then(|| f.get(9).map(|s| (*s).to_owned()))
                .flatten()
        })
        .collect()
}

/// Resident memory now and at its peak (kB), from /proc/PID/status.
fn memory(pid: i32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// User plus system CPU time in clock ticks, from /proc/PID/stat.
fn cpu_ticks(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces; the fields after it do not.
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12th and 13th here.
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

pub fn ticks_per_second() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t as f64 } else { 100.0 }
}

/// One process's samples over a run.
#[derive(Debug, Clone)]
pub struct Usage {
    pub name: String,
    pub pid: i32,
    /// Highest VmRSS sampled during the run, kB.
    pub peak_rss_kb: u64,
    /// VmHWM at the last sample: the peak since the process started.
    pub hwm_kb: u64,
    /// (wall ms, CPU ticks so far).
    pub cpu: Vec<(i64, u64)>,
}

impl Usage {
    pub fn cpu_seconds(&self) -> f64 {
        match (self.cpu.first(), self.cpu.last()) {
            (Some(a), Some(b)) => (b.1 - a.1) as f64 / ticks_per_second(),
            _ => 0.0,
        }
    }

    /// Seconds between the first and the last sample.
    pub fn span_secs(&self) -> f64 {
        match (self.cpu.first(), self.cpu.last()) {
            (Some(a), Some(b)) => ((b.0 - a.0) as f64 / 1000.0).max(1e-3),
            _ => 1e-3,
        }
    }

    /// Cores used between two instants, from the nearest samples.
    pub fn cores_between(&self, from: i64, to: i64) -> f64 {
        let at = |t: i64| {
            let i = self.cpu.partition_point(|s| s.0 <= t);
            self.cpu.get(i.saturating_sub(1)).copied()
        };
        match (at(from), at(to)) {
            (Some(a), Some(b)) if b.0 > a.0 => {
                (b.1 - a.1) as f64 / ticks_per_second() / ((b.0 - a.0) as f64 / 1000.0)
            }
            _ => 0.0,
        }
    }
}

/// Samples every process once a second until `stop`.
pub async fn sample(procs: Vec<(String, i32)>, stop: watch::Receiver<bool>) -> Vec<Usage> {
    let mut out: Vec<Usage> = procs
        .into_iter()
        .map(|(name, pid)| Usage {
            name,
            pid,
            peak_rss_kb: 0,
            hwm_kb: 0,
            cpu: Vec::new(),
        })
        .collect();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    while !*stop.borrow() {
        tick.tick().await;
        let now = wall_ms();
        for u in &mut out {
            if let (Some((rss, hwm)), Some(t)) = (memory(u.pid), cpu_ticks(u.pid)) {
                u.peak_rss_kb = u.peak_rss_kb.max(rss);
                u.hwm_kb = hwm;
                u.cpu.push((now, t));
            }
        }
    }
    out
}
