//! What every stage records, under one set of names so one dashboard
//! serves every stage:
//!
//! | metric | kind | attributes |
//! |---|---|---|
//! | `infragraph.records` | counter | `stage`, `kind` (topic, label or resource type), `outcome` |
//! | `infragraph.failures` | counter | `stage`, `reason` |
//! | `infragraph.duration` | histogram, seconds | `stage`, `operation` |
//! | `infragraph.lag` | gauge | `stage`, `of` (what lags: a topic, a scope) |

use std::fmt::Display;
use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Gauge, Histogram, Meter};

/// The instruments of one stage.
#[derive(Clone)]
pub struct StageMetrics {
    stage: &'static str,
    records: Counter<u64>,
    failures: Counter<u64>,
    duration: Histogram<f64>,
    lag: Gauge<i64>,
}

impl StageMetrics {
    /// Instruments on the process-wide meter provider that [`crate::init`]
    /// installed (a no-op one when metrics are off).
    pub fn global(stage: &'static str) -> Self {
        Self::new(stage, &opentelemetry::global::meter("infragraph"))
    }

    /// Instruments on `meter`; tests pass one backed by an in-memory exporter.
    pub fn new(stage: &'static str, meter: &Meter) -> Self {
        StageMetrics {
            stage,
            records: meter
                .u64_counter("infragraph.records")
                .with_description("Records handled")
                .build(),
            failures: meter
                .u64_counter("infragraph.failures")
                .with_description("Records or operations that failed")
                .build(),
            duration: meter
                .f64_histogram("infragraph.duration")
                .with_unit("s")
                .with_description("Time spent per operation")
                .build(),
            lag: meter
                .i64_gauge("infragraph.lag")
                .with_description("How far behind a stage is")
                .build(),
        }
    }

    pub fn stage(&self) -> &'static str {
        self.stage
    }

    /// `n` records of `kind` ended with `outcome` (e.g. `published`, `touched`).
    pub fn records(&self, kind: &str, outcome: &'static str, n: u64) {
        if n == 0 {
            return;
        }
        let attrs = [
            KeyValue::new("stage", self.stage),
            KeyValue::new("kind", kind.to_owned()),
            KeyValue::new("outcome", outcome),
        ];
        self.records.add(n, &attrs);
    }

    /// A failure: counted under `reason` and logged with the error.
    pub fn failure(&self, reason: &'static str, error: &dyn Display) {
        tracing::warn!(stage = self.stage, reason, error = %error, "failure");
        self.failures.add(
            1,
            &[
                KeyValue::new("stage", self.stage),
                KeyValue::new("reason", reason),
            ],
        );
    }

    /// A failure counted under `reason` without a log line, for callers
    /// that log repeated failures sparingly themselves.
    pub fn count_failure(&self, reason: &'static str) {
        self.failures.add(
            1,
            &[
                KeyValue::new("stage", self.stage),
                KeyValue::new("reason", reason),
            ],
        );
    }

    /// How long `operation` took.
    pub fn duration(&self, operation: &'static str, took: Duration) {
        let attrs = [
            KeyValue::new("stage", self.stage),
            KeyValue::new("operation", operation),
        ];
        self.duration.record(took.as_secs_f64(), &attrs);
    }

    /// How far behind the stage is on `of` (messages, or ms for time lag).
    pub fn lag(&self, of: &str, value: i64) {
        self.lag.record(
            value,
            &[
                KeyValue::new("stage", self.stage),
                KeyValue::new("of", of.to_owned()),
            ],
        );
    }

    /// Runs `f`, recording its duration under `operation`.
    pub fn timed<T>(&self, operation: &'static str, f: impl FnOnce() -> T) -> T {
        let start = std::time::Instant::now();
        let out = f();
        self.duration(operation, start.elapsed());
        out
    }
}
