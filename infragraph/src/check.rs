//! `--check-config`: everything a command would do with its flags and
//! environment before its first connection, and nothing after. A deployment
//! (the compose file, a Kubernetes manifest) is checked against the real
//! parser this way, so a renamed flag fails in CI rather than at 3 a.m.
//! Secret files are named but not read: they exist only where the stage
//! runs.

use anyhow::Context;
use infragraph_bus::{KafkaArgs, KafkaBus, TopicLayout};
use infragraph_collector_github::{GithubArgs, GithubConfig, Token};
use infragraph_graph_writer::SinkArgs;

use crate::Command;
use crate::stages::{CloudMapStage, Collect, GithubStage, ProcfsStage};

/// What the checked command would run, for the one line printed.
pub fn check(command: &Command) -> anyhow::Result<String> {
    match command {
        Command::Up(args) => {
            let layout = kafka(&args.kafka)?;
            args.procfs.config(layout);
            sink(&args.sink)?;
            Ok("up".to_owned())
        }
        Command::Collect(Collect::Procfs(ProcfsStage {
            procfs, kafka: k, ..
        })) => {
            procfs.config(kafka(k)?);
            Ok("collect procfs".to_owned())
        }
        Command::Collect(Collect::Cloudmap(CloudMapStage {
            cloudmap, kafka: k, ..
        })) => {
            cloudmap.config(kafka(k)?);
            Ok("collect cloudmap".to_owned())
        }
        Command::Collect(Collect::Github(GithubStage {
            github, kafka: k, ..
        })) => {
            github_orgs(github, kafka(k)?)?;
            Ok("collect github".to_owned())
        }
        Command::Normalize(args) => {
            kafka(&args.kafka)?;
            Ok("normalize".to_owned())
        }
        Command::Write(args) => {
            kafka(&args.kafka)?;
            sink(&args.sink)?;
            Ok("write".to_owned())
        }
        Command::Ui(args) => {
            sink(&args.sink)?;
            Ok("ui".to_owned())
        }
        Command::Export(_) | Command::Drift(_) => Ok("a command without a deployment".to_owned()),
    }
}

/// The topic layout, and the librdkafka settings as the client would take
/// them (an unknown `-X` key fails here).
fn kafka(args: &KafkaArgs) -> anyhow::Result<TopicLayout> {
    if args.brokers.is_some() {
        drop(KafkaBus::connect(args).context("the Kafka settings")?);
    }
    Ok(TopicLayout::from(args))
}

fn sink(args: &SinkArgs) -> anyhow::Result<()> {
    args.check().context("the graph settings")
}

/// The organisations and API address, with a stand-in for the token.
fn github_orgs(args: &GithubArgs, layout: TopicLayout) -> anyhow::Result<()> {
    let stand_in = Token::new("check-config").context("a stand-in token")?;
    let mut config = GithubConfig::new(args.orgs.clone(), args.api_url.clone(), stand_in);
    config.layout = layout;
    config.validate().context("--org")
}
