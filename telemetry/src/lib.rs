//! Logs and metrics for every stage, set up in one place.
//!
//! # Layout
//! - this file: [`init`] installs the `tracing` subscriber (human or JSON)
//!   and, when the standard `OTEL_*` variables ask for it, an OTLP metrics
//!   exporter; [`Telemetry`] flushes on shutdown.
//! - [`clock`]: [`now_ms`], the one reading of the wall clock.
//! - [`lifecycle`]: a shutdown signal on SIGINT or SIGTERM.
//! - [`backoff`]: the one retry backoff, its pauses cut short by shutdown.
//! - [`health`]: `/livez` and `/readyz` over HTTP, from dependency probes.
//! - [`stage`]: [`StageMetrics`], the counts, durations and lag every stage
//!   records, each call writing the metric and, for failures, the log line.
//!
//! Metrics are off unless `OTEL_EXPORTER_OTLP_ENDPOINT`,
//! `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT` or `OTEL_METRICS_EXPORTER=otlp` is
//! set; `OTEL_METRICS_EXPORTER=none` turns them off regardless. The exporter
//! speaks OTLP over HTTP/protobuf and honours the other `OTEL_EXPORTER_OTLP_*`
//! variables (headers, timeout) and `OTEL_METRIC_EXPORT_INTERVAL`.

pub mod backoff;
pub mod clock;
pub mod health;
pub mod lifecycle;
pub mod stage;

use opentelemetry::global;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::prelude::*;

pub use backoff::{Backoff, Paused, pause, stop_signal};
pub use clock::{now_ms, now_secs};
pub use health::{Health, HealthArgs};
pub use lifecycle::{shutdown_on_signals, stopped};
pub use stage::StageMetrics;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum LogFormat {
    /// One readable line per event.
    #[default]
    Human,
    /// One JSON object per line, for log shippers.
    Json,
}

/// Logging flags every binary takes.
#[derive(clap::Args, Debug, Clone, PartialEq, Eq)]
pub struct TelemetryArgs {
    /// Log line format.
    #[arg(long, env = "INFRAGRAPH_LOG_FORMAT", value_enum, default_value_t = LogFormat::Human, global = true)]
    pub log_format: LogFormat,

    /// Log filter, in `RUST_LOG` syntax (e.g. `info,infragraph_bus=debug`).
    /// Default: `info` for the stages, `warn` for interactive commands.
    #[arg(long, env = "INFRAGRAPH_LOG", global = true)]
    pub log: Option<String>,
}

impl Default for TelemetryArgs {
    fn default() -> Self {
        TelemetryArgs {
            log_format: LogFormat::Human,
            log: None,
        }
    }
}

impl TelemetryArgs {
    /// The filter in force: the one asked for, else `fallback`.
    pub fn filter_or(&self, fallback: &str) -> String {
        self.log.clone().unwrap_or_else(|| fallback.to_owned())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("invalid log filter {filter:?}: {reason}")]
    Filter { filter: String, reason: String },
    #[error("cannot set up the OTLP metrics exporter: {0}")]
    Exporter(String),
    #[error("a logger is already installed")]
    AlreadyInstalled,
}

/// Keeps the metrics pipeline alive; flushes pending metrics on drop.
pub struct Telemetry {
    provider: Option<SdkMeterProvider>,
}

impl Telemetry {
    pub fn metrics_enabled(&self) -> bool {
        self.provider.is_some()
    }

    /// Exports what is pending and stops the exporter.
    pub fn shutdown(&mut self) {
        if let Some(p) = self.provider.take()
            && let Err(e) = p.shutdown()
        {
            tracing::warn!(error = %e, "metrics shutdown failed");
        }
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// An error and its causes in one line, each said once: a cause whose text
/// its effect already carries (`cannot publish: broker down` over `broker
/// down`) is not repeated, as `{:#}` would.
pub fn causes<'a>(
    chain: impl IntoIterator<Item = &'a (dyn std::error::Error + 'static)>,
) -> String {
    let mut out = String::new();
    for cause in chain {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

/// Whether the environment asks for OTLP metrics.
pub fn otlp_requested(var: impl Fn(&str) -> Option<String>) -> bool {
    match var("OTEL_METRICS_EXPORTER").as_deref() {
        Some("none") => false,
        Some("otlp") => true,
        _ => {
            var("OTEL_EXPORTER_OTLP_ENDPOINT").is_some()
                || var("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT").is_some()
        }
    }
}

/// Installs logging and (if configured) metrics for a process named
/// `service`. Logs go to stderr so stdout stays for command output.
pub fn init(service: &'static str, args: &TelemetryArgs) -> Result<Telemetry, TelemetryError> {
    init_with(service, args, "info")
}

/// [`init`], with `default_filter` when no filter was asked for.
pub fn init_with(
    service: &'static str,
    args: &TelemetryArgs,
    default_filter: &str,
) -> Result<Telemetry, TelemetryError> {
    let wanted = args.filter_or(default_filter);
    let filter = EnvFilter::try_new(&wanted).map_err(|e| TelemetryError::Filter {
        filter: wanted.clone(),
        reason: e.to_string(),
    })?;
    let registry = tracing_subscriber::registry().with(filter);
    let installed = match args.log_format {
        LogFormat::Human => registry
            .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
            .try_init(),
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_writer(std::io::stderr),
            )
            .try_init(),
    };
    installed.map_err(|_| TelemetryError::AlreadyInstalled)?;

    let provider = if otlp_requested(|k| std::env::var(k).ok().filter(|v| !v.is_empty())) {
        Some(otlp_provider(service)?)
    } else {
        None
    };
    if let Some(p) = &provider {
        global::set_meter_provider(p.clone());
        tracing::info!("exporting metrics over OTLP");
    }
    Ok(Telemetry { provider })
}

/// A meter provider exporting over OTLP/HTTP, configured by `OTEL_*`.
pub fn otlp_provider(service: &'static str) -> Result<SdkMeterProvider, TelemetryError> {
    let exporter = opentelemetry_otlp::MetricExporter::builder()
        .with_http()
        .build()
        .map_err(|e| TelemetryError::Exporter(e.to_string()))?;
    let reader = PeriodicReader::builder(exporter).build();
    Ok(SdkMeterProvider::builder()
        .with_reader(reader)
        .with_resource(Resource::builder().with_service_name(service).build())
        .build())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_cause_is_said_once() {
        #[derive(Debug, thiserror::Error)]
        #[error("cannot create topics: {0}")]
        struct Outer(#[source] Inner);
        #[derive(Debug, thiserror::Error)]
        #[error("timed out")]
        struct Inner;
        #[derive(Debug, thiserror::Error)]
        #[error("setup failed")]
        struct Top(#[source] Outer);
        let e = Top(Outer(Inner));
        let mut chain: Vec<&(dyn std::error::Error + 'static)> = vec![&e];
        while let Some(next) = chain.last().and_then(|c| c.source()) {
            chain.push(next);
        }
        assert_eq!(
            causes(chain),
            "setup failed: cannot create topics: timed out"
        );
    }

    #[test]
    fn otlp_is_off_unless_asked_for() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        assert!(!otlp_requested(env(&[])));
        assert!(otlp_requested(env(&[(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "http://x:4318"
        )])));
        assert!(otlp_requested(env(&[("OTEL_METRICS_EXPORTER", "otlp")])));
        assert!(!otlp_requested(env(&[
            ("OTEL_METRICS_EXPORTER", "none"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://x")
        ])));
    }
}
