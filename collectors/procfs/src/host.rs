//! The host: its stable id and the facts about it.

use std::net::IpAddr;
use std::path::Path;

use crate::read::read_string;

/// Facts about the host, read once per sync.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HostInfo {
    pub hostname: String,
    pub kernel: Option<String>,
    pub os_release: Option<String>,
    /// Unix seconds at boot (`btime` in `stat`).
    pub boot_time_s: Option<i64>,
    pub cpu_count: Option<i64>,
    pub memory_bytes: Option<i64>,
    /// Routable addresses in the host's network namespace (loopback and
    /// link-local ones mean nothing off the host, so they are left out).
    pub ip_addresses: Vec<IpAddr>,
}

/// The host id: `override_id`, else `/etc/machine-id`, else the host name.
/// `None` only when none of them is available.
pub fn host_id(
    override_id: Option<&str>,
    machine_id_file: &Path,
    proc_root: &Path,
) -> Option<String> {
    let clean = |s: String| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
    override_id
        .map(str::to_owned)
        .and_then(clean)
        .or_else(|| read_string(machine_id_file).ok().and_then(clean))
        .or_else(|| hostname(proc_root))
}

/// The kernel's host name (the UTS namespace of the reader).
pub fn hostname(proc_root: &Path) -> Option<String> {
    read_string(&proc_root.join("sys/kernel/hostname"))
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

/// Reads the host facts; missing ones stay `None`.
pub fn read_host(proc_root: &Path, os_release_file: &Path, host_id: &str) -> HostInfo {
    let stat = read_string(&proc_root.join("stat")).unwrap_or_default();
    HostInfo {
        hostname: hostname(proc_root).unwrap_or_else(|| host_id.to_owned()),
        kernel: read_string(&proc_root.join("sys/kernel/osrelease"))
            .ok()
            .map(|s| s.trim().to_owned()),
        os_release: read_string(os_release_file)
            .ok()
            .and_then(|s| pretty_name(&s)),
        boot_time_s: boot_time(&stat),
        cpu_count: cpu_count(&stat),
        memory_bytes: read_string(&proc_root.join("meminfo"))
            .ok()
            .and_then(|s| mem_total(&s)),
        ip_addresses: Vec::new(),
    }
}

/// `btime` from `/proc/stat`.
pub fn boot_time(stat: &str) -> Option<i64> {
    stat.lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

/// Online CPUs: the `cpuN` lines of `/proc/stat`.
fn cpu_count(stat: &str) -> Option<i64> {
    let n = stat
        .lines()
        .filter(|l| l.starts_with("cpu") && l.as_bytes().get(3).is_some_and(u8::is_ascii_digit))
        .count();
    (n > 0).then_some(n as i64)
}

fn mem_total(meminfo: &str) -> Option<i64> {
    let kb: i64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))?
        .split_ascii_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kb * 1024)
}

fn pretty_name(os_release: &str) -> Option<String> {
    let v = os_release
        .lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))?;
    Some(v.trim().trim_matches('"').to_owned()).filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_parse_from_their_files() {
        let stat = "cpu  1 2 3\ncpu0 1 2 3\ncpu1 1 2 3\nintr 5\nbtime 1700000000\n";
        assert_eq!(boot_time(stat), Some(1_700_000_000));
        assert_eq!(cpu_count(stat), Some(2));
        assert_eq!(
            mem_total("MemTotal:       2048 kB\nMemFree: 1 kB\n"),
            Some(2048 * 1024)
        );
        assert_eq!(
            pretty_name("NAME=x\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n").as_deref(),
            Some("Debian GNU/Linux 12 (bookworm)")
        );
    }

    #[test]
    fn host_id_prefers_the_override_then_machine_id() {
        let missing = Path::new("/nonexistent/machine-id");
        assert_eq!(
            host_id(Some(" h1 "), missing, Path::new("/proc")).as_deref(),
            Some("h1")
        );
        assert!(
            host_id(None, missing, Path::new("/proc")).is_some(),
            "falls back to the host name"
        );
    }
}
