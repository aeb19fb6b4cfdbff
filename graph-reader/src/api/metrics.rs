//! Every request counted and timed through the shared metrics setup
//! (`infragraph.records` with outcome `2xx`/`4xx`/`5xx`, and
//! `infragraph.duration`), by route.

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use infragraph_telemetry::StageMetrics;

/// The stage name the view's metrics carry.
pub const STAGE: &str = "ui";

const ROUTES: [&str; 8] = [
    "/",
    "/app.js",
    "/app.css",
    "/api/topologies",
    "/api/topology/{name}",
    "/api/node",
    "/api/counts",
    "/api/events",
];

fn metrics() -> &'static StageMetrics {
    static METRICS: OnceLock<StageMetrics> = OnceLock::new();
    METRICS.get_or_init(|| StageMetrics::global(STAGE))
}

pub async fn record(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .and_then(|p| ROUTES.iter().copied().find(|r| *r == p.as_str()))
        .unwrap_or("other");
    let started = Instant::now();
    let response = next.run(req).await;
    let outcome = match response.status().as_u16() {
        200..=399 => "2xx",
        400..=499 => "4xx",
        _ => "5xx",
    };
    metrics().records(route, outcome, 1);
    metrics().duration(route, started.elapsed());
    response
}
