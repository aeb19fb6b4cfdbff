//! One process as /proc shows it.

use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use crate::read::{Miss, bracketed_inode, link, read_into};
use crate::redact::Redactor;

/// The fields of `/proc/PID/stat` the collector uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stat {
    pub comm: String,
    pub ppid: i32,
    pub cpu_ticks: u64,
    pub threads: i64,
    /// Start time in clock ticks since boot: with the pid, what makes a
    /// process id survive pid reuse.
    pub start_ticks: u64,
    pub rss_pages: i64,
}

/// Parses `pid (comm) state ppid …`. The command name may itself contain
/// spaces and parentheses, so fields are counted from the last `)`.
pub fn parse_stat(text: &str) -> Option<Stat> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let comm = text.get(open + 1..close)?.to_owned();
    // Field 3 (state) is index 0 here.
    let f: Vec<&str> = text.get(close + 1..)?.split_ascii_whitespace().collect();
    let num = |i: usize| f.get(i).and_then(|v| v.parse::<i64>().ok());
    Some(Stat {
        comm,
        ppid: num(1)? as i32,
        cpu_ticks: (num(11)? + num(12)?) as u64,
        threads: num(17)?,
        start_ticks: num(19)? as u64,
        rss_pages: num(21)?,
    })
}

/// The real uid from `/proc/PID/status`.
pub fn parse_real_uid(status: &str) -> Option<u32> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|rest| rest.split_ascii_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// A container id named by a cgroup path: the last run of 64 hex digits
/// (`docker-<id>.scope`, `/docker/<id>`, `cri-containerd-<id>.scope`,
/// `crio-<id>`, `/kubepods/…/<id>`).
pub fn container_id(cgroup: &str) -> Option<String> {
    let mut found = None;
    for line in cgroup.lines() {
        let path = line.splitn(3, ':').nth(2).unwrap_or("");
        let bytes = path.as_bytes();
        let mut run = 0;
        for (i, b) in bytes.iter().enumerate() {
            if b.is_ascii_digit() || (b'a'..=b'f').contains(b) {
                run += 1;
                let ends = bytes
                    .get(i + 1)
                    .is_none_or(|n| !(n.is_ascii_digit() || (b'a'..=b'f').contains(n)));
                if run == 64 && ends {
                    found = path.get(i + 1 - 64..=i).map(str::to_owned);
                }
            } else {
                run = 0;
            }
        }
    }
    found
}

/// Everything read about one process. Optional facts are `None` when they
/// could not be read (counted in [`crate::scan::ScanStats`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessInfo {
    pub pid: i32,
    pub stat: Stat,
    pub uid: Option<u32>,
    pub cmdline: Option<String>,
    pub exe: Option<String>,
    pub container_id: Option<String>,
    /// Inodes of the sockets it holds open.
    pub sockets: Vec<u64>,
    /// Its network namespace, read only when it holds sockets.
    pub netns: Option<u64>,
}

/// What could not be read about one process, besides what was.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Unreadable {
    pub denied: u32,
    pub other: u32,
}

impl Unreadable {
    fn note<T>(&mut self, r: Result<T, Miss>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(Miss::Denied) => {
                self.denied += 1;
                None
            }
            Err(Miss::Other) => {
                self.other += 1;
                None
            }
            Err(Miss::Vanished) => None,
        }
    }
}

/// Reads process `pid` under `root`. `Err(Miss::Vanished)` when it exited
/// before its stat could be read; facts that vanish later are just absent.
pub fn read_process(
    root: &Path,
    pid: i32,
    redactor: &Redactor,
    buf: &mut Vec<u8>,
    miss: &mut Unreadable,
) -> Result<ProcessInfo, Miss> {
    let dir = root.join(pid.to_string());
    read_into(&dir.join("stat"), buf)?;
    let stat = parse_stat(&String::from_utf8_lossy(buf)).ok_or(Miss::Other)?;
    let uid = miss
        .note(read_into(&dir.join("status"), buf))
        .and_then(|()| parse_real_uid(&String::from_utf8_lossy(buf)));
    let cmdline = miss
        .note(read_into(&dir.join("cmdline"), buf))
        .and_then(|()| cmdline(buf, redactor));
    let exe = match link(&dir.join("exe")) {
        // Kernel threads have no executable: not a failure.
        Err(Miss::Vanished) => None,
        r => miss.note(r),
    };
    let container_id = miss
        .note(read_into(&dir.join("cgroup"), buf))
        .and_then(|()| container_id(&String::from_utf8_lossy(buf)));
    let sockets = miss.note(socket_inodes(&dir)).unwrap_or_default();
    let netns = if sockets.is_empty() {
        None
    } else {
        miss.note(netns(&dir)).flatten()
    };
    Ok(ProcessInfo {
        pid,
        stat,
        uid,
        cmdline,
        exe,
        container_id,
        sockets,
        netns,
    })
}

/// Command-line bytes read into redaction, at most: a process's arguments
/// can reach megabytes, and the collector cuts what it publishes much
/// shorter anyway (`infragraph_collector::bound`).
const CMDLINE_MAX_BYTES: usize = 64 * 1024;

fn cmdline(raw: &[u8], redactor: &Redactor) -> Option<String> {
    let text = String::from_utf8_lossy(raw);
    let args: Vec<&str> = text.split('\0').collect();
    let args = match args.split_last() {
        Some((&"", rest)) => rest,
        _ => &args[..],
    };
    if args.is_empty() {
        return None;
    }
    // Whole arguments only: half an argument could be half a secret that
    // the rules no longer recognise.
    let mut total = 0;
    let kept = args.iter().take_while(|a| {
        total += a.len() + 1;
        total <= CMDLINE_MAX_BYTES
    });
    let kept: Vec<&str> = kept.copied().collect();
    let mut out = redactor.redact_args(&kept);
    let dropped: usize = args[kept.len()..].iter().map(|a| a.len() + 1).sum();
    if dropped > 0 {
        out.push_str(&format!(
            " {}",
            infragraph_collector::bound::cut_marker(dropped)
        ));
    }
    Some(out)
}

/// The inode of the process's network namespace.
pub fn netns(proc_dir: &Path) -> Result<Option<u64>, Miss> {
    Ok(bracketed_inode(&link(&proc_dir.join("ns/net"))?, "net"))
}

/// The socket inodes among the process's open file descriptors. A
/// descriptor closed while we look is simply not there.
pub fn socket_inodes(proc_dir: &Path) -> Result<Vec<u64>, Miss> {
    let fd_dir: PathBuf = proc_dir.join("fd");
    let entries = std::fs::read_dir(&fd_dir)?;
    // Links are read relative to the open directory: a process with
    // thousands of sockets would otherwise cost a full path walk per fd.
    let dir = std::fs::File::open(&fd_dir)?;
    let mut out = Vec::new();
    let mut name = [0u8; 24];
    let mut target = [0u8; 64];
    for entry in entries {
        let Ok(entry) = entry else { continue };
        let fd = entry.file_name();
        let fd = fd.as_encoded_bytes();
        if fd.len() >= name.len() {
            continue;
        }
        name[..fd.len()].copy_from_slice(fd);
        name[fd.len()] = 0;
        // SAFETY: `name` is NUL-terminated, `target` is writable for its
        // length, and the directory fd stays open for the call.
        let n = unsafe {
            libc::readlinkat(
                dir.as_raw_fd(),
                name.as_ptr().cast(),
                target.as_mut_ptr().cast(),
                target.len(),
            )
        };
        if n > 0
            && let Some(inode) = std::str::from_utf8(&target[..n as usize])
                .ok()
                .and_then(|t| bracketed_inode(t, "socket"))
        {
            out.push(inode);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_survives_odd_command_names() {
        let text = "4242 (my (odd) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 7 3 0 0 20 0 5 0 123456 1000000 250 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0";
        let s = parse_stat(text).unwrap();
        assert_eq!(s.comm, "my (odd) name");
        assert_eq!(
            (s.ppid, s.cpu_ticks, s.threads, s.start_ticks, s.rss_pages),
            (1, 10, 5, 123456, 250)
        );
    }

    #[test]
    fn container_ids_come_from_cgroup_paths() {
        let id = "3f4e5d6c7b8a99887766554433221100ffeeddccbbaa00112233445566778899";
        assert_eq!(
            container_id(&format!("0::/system.slice/docker-{id}.scope\n")).as_deref(),
            Some(id)
        );
        assert_eq!(
            container_id(&format!("0::/kubepods/besteffort/pod1234/{id}\n")).as_deref(),
            Some(id)
        );
        assert_eq!(
            container_id(&format!("0::/system.slice/cri-containerd-{id}.scope\n")).as_deref(),
            Some(id)
        );
        assert_eq!(
            container_id("0::/user.slice/user-1000.slice/session-2.scope\n"),
            None
        );
        assert_eq!(
            container_id(&format!("0::/x/{id}ab\n")),
            None,
            "66 hex digits are not an id"
        );
    }

    #[test]
    fn a_huge_command_line_is_cut_between_arguments_with_a_marker() {
        let r = Redactor::new::<&str>(&[]).unwrap();
        let big = format!(
            "app\0--token\0s3cr3t\0{}\0--password={}\0",
            "a".repeat(CMDLINE_MAX_BYTES),
            "b".repeat(100)
        );
        let out = cmdline(big.as_bytes(), &r).expect("a command line");
        assert_eq!(
            out,
            format!(
                "app --token <redacted> {}",
                infragraph_collector::bound::cut_marker(CMDLINE_MAX_BYTES + 1 + 112)
            )
        );
    }

    #[test]
    fn real_uid_is_the_first_uid_column() {
        assert_eq!(
            parse_real_uid("Name:\tx\nUid:\t1000\t0\t0\t0\n"),
            Some(1000)
        );
    }
}
