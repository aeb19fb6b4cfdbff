//! `infragraph-collect-github`: `infragraph collect github` under a name of its own, for
//! deployments that run one stage per process.

/// As in `infragraph` (src/main.rs): one allocator choice per binary.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    use infragraph::{Command, stages::Collect};
    infragraph::standalone("infragraph-collect-github", &["collect", "github"], |a| {
        Command::Collect(Collect::Github(a))
    })
}
