//! The live topology view: started by `up` beside its pipeline, or alone
//! by `infragraph ui` over a graph another process writes.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use infragraph_graph_reader::api::{self, UiArgs};
use infragraph_graph_reader::{ChangeFeed, GraphStore};
use infragraph_graph_writer::{BoltSink, SinkArgs, SinkChoice};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// A running view server.
pub struct View {
    stop: watch::Sender<bool>,
    task: JoinHandle<std::io::Result<()>>,
}

/// Serves the view as `args` say, printing its address; `None` with
/// --no-ui, or when the default port is taken (a warning says so: mapping
/// goes on without the view). A port chosen with --ui-listen that cannot be
/// bound is an error.
pub async fn start(
    args: &UiArgs,
    store: GraphStore,
    feed: ChangeFeed,
) -> anyhow::Result<Option<View>> {
    let Some(address) = args.address()? else {
        return Ok(None);
    };
    let bound = match api::bind(address).await {
        Ok(b) => b,
        Err(e) if args.is_default() => {
            eprintln!(
                "infragraph: no live view: cannot listen on {address} ({e}); --ui-listen picks another address"
            );
            return Ok(None);
        }
        Err(e) => return Err(e).with_context(|| format!("cannot listen on --ui-listen {address}")),
    };
    let address = bound.address;
    let (stop, stopped) = watch::channel(false);
    let task = tokio::spawn(bound.serve(store, feed, stopped));
    eprintln!("infragraph: live view on http://{address}");
    Ok(Some(View { stop, task }))
}

impl View {
    /// Whether the server ended before being asked to.
    pub fn failed(&self) -> bool {
        self.task.is_finished()
    }

    pub async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(true);
        self.task
            .await
            .context("view server task")?
            .context("view server")
    }
}

/// The read side of the graph `sink` names.
pub fn reader(sink: &SinkChoice) -> anyhow::Result<GraphStore> {
    Ok(match sink {
        SinkChoice::Embedded(dir) => {
            GraphStore::embedded(dir).context("opening the embedded store for reading")?
        }
        SinkChoice::Bolt(cfg) => GraphStore::neo4j(BoltSink::connect(cfg)?.graph().clone()),
    })
}

/// [`reader`] for commands that only read (`ui`, `drift`): an embedded
/// store that does not exist yet is an error naming how to make one, not
/// an empty file created on the spot.
pub fn existing_reader(sink: &SinkChoice) -> anyhow::Result<GraphStore> {
    if let SinkChoice::Embedded(dir) = sink
        && !dir
            .join(infragraph_graph_writer::sqlite::FILE_NAME)
            .exists()
    {
        bail!(
            "no embedded store in {} (run `infragraph up` first, pass --data-dir, or --neo4j-uri for Neo4j)",
            dir.display()
        );
    }
    reader(sink)
}

/// Flags of `infragraph ui`.
#[derive(clap::Args, Debug)]
pub struct UiCommandArgs {
    #[command(flatten)]
    pub sink: SinkArgs,
    #[command(flatten)]
    pub ui: UiArgs,
    /// How often, in ms, to read the graph's counts (by label and type, and
    /// the newest sync record) to tell the page something changed. Both are
    /// cheap on Neo4j (its count store) and on the embedded store.
    #[arg(long, env = "INFRAGRAPH_UI_POLL_MS", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(100..))]
    pub poll_interval_ms: u64,
}

/// `infragraph ui`: the view alone, read-only, until shutdown.
pub async fn ui(
    args: UiCommandArgs,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<ExitCode> {
    if args.ui.no_ui {
        bail!("--no-ui leaves `infragraph ui` nothing to do");
    }
    let store = existing_reader(&args.sink.sink()?)?;
    store.counts().await.context("cannot read the graph")?;
    let feed = ChangeFeed::new();
    let Some(view) = start(&args.ui, store.clone(), feed.clone()).await? else {
        bail!("the view could not be served");
    };
    let (stop_poll, poll_stopped) = watch::channel(false);
    let poller = tokio::spawn(infragraph_graph_reader::feed::poll(
        store,
        feed,
        Duration::from_millis(args.poll_interval_ms),
        poll_stopped,
    ));
    tokio::select! {
        _ = infragraph_telemetry::stopped(&mut shutdown) => {}
        _ = async { while !view.failed() { tokio::time::sleep(Duration::from_millis(200)).await } } => {}
    }
    let _ = stop_poll.send(true);
    let _ = poller.await;
    view.stop().await?;
    Ok(ExitCode::SUCCESS)
}
