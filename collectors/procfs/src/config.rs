//! The collector's settings: the library struct and the flags that fill it.

use std::path::PathBuf;
use std::time::Duration;

use infragraph_collector::{Schedule, ScheduleArgs, ScheduleDefaults, TopicLayout};

/// Everything the procfs collector needs; [`ProcfsArgs`] builds one from
/// flags, the umbrella CLI may build one directly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcfsConfig {
    /// The host id; `None` reads `machine_id_file`, then the host name.
    pub host_id: Option<String>,
    /// Where proc is mounted. Another PID namespace's proc (for example
    /// `/proc/<pid>/root/proc`) makes the collector see that "host".
    pub proc_root: PathBuf,
    /// Extra redaction patterns (regular expressions); every match is redacted.
    pub redact: Vec<String>,
    pub machine_id_file: PathBuf,
    pub os_release_file: PathBuf,
    /// For user names of uids.
    pub passwd_file: PathBuf,
    /// Threads reading processes in parallel.
    pub threads: usize,
    pub schedule: Schedule,
    pub layout: TopicLayout,
}

/// One second: with publishing and the pipeline behind it well under a
/// second, a connection opened just after a scan is in the graph within the
/// 3 s freshness target. A scan of a busy host costs tens of milliseconds of
/// CPU, so the default keeps the collector a few percent of one core.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);
pub const DEFAULT_JITTER: Duration = Duration::from_millis(200);

impl Default for ProcfsConfig {
    fn default() -> Self {
        ProcfsConfig {
            host_id: None,
            proc_root: PathBuf::from("/proc"),
            redact: Vec::new(),
            machine_id_file: PathBuf::from("/etc/machine-id"),
            os_release_file: PathBuf::from("/etc/os-release"),
            passwd_file: PathBuf::from("/etc/passwd"),
            threads: std::thread::available_parallelism().map_or(2, |n| n.get().min(4)),
            schedule: Schedule {
                once: false,
                interval: DEFAULT_INTERVAL,
                jitter: DEFAULT_JITTER,
                reconcile_interval: infragraph_collector::DEFAULT_RECONCILE_INTERVAL,
            },
            layout: TopicLayout::default(),
        }
    }
}

/// Every second: a new connection is visible in the graph within 3 s end
/// to end while a scan costs a few percent of one core; hosts with very
/// many processes raise it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Every;

impl ScheduleDefaults for Every {
    const INTERVAL: &'static str = "1s";
    const JITTER: &'static str = "200ms";
}

/// The collector's own flags; the binary adds the bus and telemetry ones.
#[derive(clap::Args, Debug, Clone, PartialEq, Eq)]
pub struct ProcfsArgs {
    #[command(flatten)]
    pub schedule: ScheduleArgs<Every>,

    /// The host id (default: /etc/machine-id, else the host name).
    #[arg(long, env = "INFRAGRAPH_HOST_ID")]
    pub host_id: Option<String>,

    /// Where proc is mounted.
    #[arg(long, env = "INFRAGRAPH_PROC_ROOT", default_value = "/proc")]
    pub proc_root: PathBuf,

    /// An extra redaction pattern (regular expression), repeatable; every
    /// match in a command line is replaced by <redacted>. In the
    /// environment, separate several with newlines.
    #[arg(
        long = "redact",
        env = "INFRAGRAPH_REDACT",
        value_name = "REGEX",
        value_delimiter = '\n'
    )]
    pub redact: Vec<String>,
}

impl ProcfsArgs {
    /// The config these flags describe, with the bus's topic layout.
    pub fn config(&self, layout: TopicLayout) -> ProcfsConfig {
        ProcfsConfig {
            host_id: self.host_id.clone(),
            proc_root: self.proc_root.clone(),
            redact: self.redact.clone(),
            schedule: self.schedule.schedule(),
            layout,
            ..ProcfsConfig::default()
        }
    }
}
