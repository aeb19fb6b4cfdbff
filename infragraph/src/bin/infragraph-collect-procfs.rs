//! `infragraph-collect-procfs`: `infragraph collect procfs` under a name of its own, for
//! deployments that run one stage per process.

/// As in `infragraph` (src/main.rs): one allocator choice per binary.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    use infragraph::{Command, stages::Collect};
    infragraph::standalone("infragraph-collect-procfs", &["collect", "procfs"], |a| {
        Command::Collect(Collect::Procfs(a))
    })
}
