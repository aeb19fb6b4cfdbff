//! `infragraph-graph-writer`: `infragraph write` under a name of its own, for
//! deployments that run one stage per process.

/// As in `infragraph` (src/main.rs): one allocator choice per binary.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    use infragraph::Command;
    infragraph::standalone("infragraph-graph-writer", &["write"], |a| {
        Command::Write(Box::new(a))
    })
}
