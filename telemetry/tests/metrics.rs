//! Stage metrics reach an exporter with the documented names and attributes.

// A test fails loudly where its setup or a result is not what it needs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use infragraph_telemetry::StageMetrics;
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};

#[test]
fn records_failures_durations_and_lag_are_exported() {
    let exporter = InMemoryMetricExporter::default();
    let provider = SdkMeterProvider::builder()
        .with_reader(PeriodicReader::builder(exporter.clone()).build())
        .build();
    let m = StageMetrics::new("normalizer", &provider.meter("infragraph"));
    m.records("infragraph.obs.process", "upserted", 3);
    m.records("infragraph.obs.process", "upserted", 2);
    m.failure("undecodable", &"bad magic");
    m.duration("batch", std::time::Duration::from_millis(5));
    m.lag("infragraph.obs.process", 42);
    provider.force_flush().unwrap();

    let metrics = exporter.get_finished_metrics().unwrap();
    let all: Vec<_> = metrics
        .iter()
        .flat_map(|rm| rm.scope_metrics())
        .flat_map(|sm| sm.metrics())
        .collect();
    let names: std::collections::BTreeSet<&str> = all.iter().map(|m| m.name()).collect();
    assert_eq!(
        names.into_iter().collect::<Vec<_>>(),
        [
            "infragraph.duration",
            "infragraph.failures",
            "infragraph.lag",
            "infragraph.records"
        ]
    );
    let records = all
        .iter()
        .find(|m| m.name() == "infragraph.records")
        .unwrap();
    let AggregatedMetrics::U64(MetricData::Sum(sum)) = records.data() else {
        panic!("records is a u64 sum")
    };
    let point = sum.data_points().next().unwrap();
    assert_eq!(point.value(), 5);
    let attrs: Vec<String> = point
        .attributes()
        .map(|kv| format!("{}={}", kv.key, kv.value))
        .collect();
    assert!(attrs.contains(&"stage=normalizer".to_owned()), "{attrs:?}");
    assert!(attrs.contains(&"outcome=upserted".to_owned()), "{attrs:?}");
}
