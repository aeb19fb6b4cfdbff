//! Flags and environment variables that configure the Kafka bus, the way
//! users of librdkafka tools expect (`-X key=value`).

/// Prefix of environment variables passed to librdkafka as settings:
/// `INFRAGRAPH_KAFKA_X_SECURITY_PROTOCOL=SSL` sets `security.protocol`.
pub const ENV_SETTING_PREFIX: &str = "INFRAGRAPH_KAFKA_X_";

/// Where the bus is and how to talk to it.
#[derive(clap::Args, Debug, Clone, Default, PartialEq, Eq)]
pub struct KafkaArgs {
    /// Kafka bootstrap servers, `host:port[,host:port…]`.
    #[arg(
        long = "kafka-brokers",
        env = "INFRAGRAPH_KAFKA_BROKERS",
        value_name = "HOST:PORT,…"
    )]
    pub brokers: Option<String>,

    /// A librdkafka setting, repeatable, e.g. `-X security.protocol=SSL`.
    /// Settings also come from INFRAGRAPH_KAFKA_X_<KEY> variables (dots
    /// written as underscores); flags win over variables.
    #[arg(short = 'X', value_name = "KEY=VALUE", value_parser = parse_setting)]
    pub settings: Vec<(String, String)>,

    /// Partitions of the topics infragraph creates; the normalizer scales
    /// out to this many instances.
    #[arg(long, env = "INFRAGRAPH_TOPIC_PARTITIONS", default_value_t = 6, value_parser = clap::value_parser!(i32).range(1..))]
    pub topic_partitions: i32,

    /// Prefix of every topic name; another namespace keeps two deployments
    /// apart on one cluster (`staging` gives `staging.obs.host`, …).
    #[arg(long, env = "INFRAGRAPH_TOPIC_NAMESPACE", default_value = "infragraph")]
    pub topic_namespace: String,

    /// Replication factor of the topics infragraph creates.
    #[arg(long, env = "INFRAGRAPH_TOPIC_REPLICATION", default_value_t = 1, value_parser = clap::value_parser!(i32).range(1..))]
    pub topic_replication: i32,
}

impl KafkaArgs {
    pub fn with_brokers(brokers: impl Into<String>) -> Self {
        KafkaArgs {
            brokers: Some(brokers.into()),
            settings: Vec::new(),
            topic_partitions: 6,
            topic_namespace: "infragraph".into(),
            topic_replication: 1,
        }
    }

    /// Settings from the environment, then from flags, later ones winning.
    pub fn all_settings(&self) -> Vec<(String, String)> {
        let mut out = env_settings(std::env::vars());
        out.extend(self.settings.iter().cloned());
        out
    }
}

/// Parses one `KEY=VALUE` librdkafka setting.
pub fn parse_setting(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.to_owned())),
        _ => Err(format!(
            "expected KEY=VALUE (a librdkafka setting such as security.protocol=SSL), got {s:?}"
        )),
    }
}

fn env_settings(vars: impl Iterator<Item = (String, String)>) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = vars
        .filter_map(|(k, v)| {
            let key = k.strip_prefix(ENV_SETTING_PREFIX)?;
            Some((key.to_ascii_lowercase().replace('_', "."), v))
        })
        .collect();
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_parse_and_name_their_mistake() {
        assert_eq!(
            parse_setting("linger.ms=5"),
            Ok(("linger.ms".into(), "5".into()))
        );
        assert_eq!(
            parse_setting("sasl.password=a=b"),
            Ok(("sasl.password".into(), "a=b".into()))
        );
        assert!(
            parse_setting("linger.ms")
                .unwrap_err()
                .contains("expected KEY=VALUE")
        );
    }

    #[test]
    fn env_vars_become_dotted_settings() {
        let vars = vec![
            (
                "INFRAGRAPH_KAFKA_X_SECURITY_PROTOCOL".to_owned(),
                "SSL".to_owned(),
            ),
            ("PATH".to_owned(), "/bin".to_owned()),
        ];
        assert_eq!(
            env_settings(vars.into_iter()),
            vec![("security.protocol".to_owned(), "SSL".to_owned())]
        );
    }
}
