//! The JSON API: topologies, node details, counts and the event stream.
//! Every error is JSON `{"error": "…"}` with a 4xx for the caller's
//! mistakes and a 5xx for the store's.

use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::Stream;
use serde::Serialize;
use tokio::sync::broadcast::error::RecvError;

use super::AppState;
use crate::details::{DEFAULT_NEIGHBOURS, details};
use crate::error::ReadError;
use crate::request::{Topology, TopologyRequest, limit};
use crate::topology::build;

/// A [`ReadError`] as an HTTP answer.
pub struct ApiError(ReadError);

impl From<ReadError> for ApiError {
    fn from(e: ReadError) -> Self {
        ApiError(e)
    }
}

impl From<QueryRejection> for ApiError {
    fn from(e: QueryRejection) -> Self {
        ApiError(ReadError::bad(format!(
            "malformed query string: {}",
            e.body_text()
        )))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match &self.0 {
            ReadError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ReadError::NotFound(_) => StatusCode::NOT_FOUND,
            ReadError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ReadError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        if status.is_server_error() {
            tracing::warn!(error = %self.0, "API request failed");
        }
        (
            status,
            Json(serde_json::json!({"error": self.0.to_string()})),
        )
            .into_response()
    }
}

type Params = Result<Query<Vec<(String, String)>>, QueryRejection>;

#[derive(Serialize)]
struct TopologyInfo {
    name: &'static str,
    title: &'static str,
    description: &'static str,
}

/// `GET /api/topologies`: the views and the store behind them.
pub async fn topologies(State(state): State<AppState>) -> Json<serde_json::Value> {
    let list: Vec<TopologyInfo> = Topology::ALL
        .iter()
        .map(|t| TopologyInfo {
            name: t.name(),
            title: t.title(),
            description: t.description(),
        })
        .collect();
    Json(serde_json::json!({"store": state.store.describe(), "topologies": list}))
}

/// `GET /api/topology/{name}?q=&label=&host=&limit=&aggregate=`.
pub async fn topology(
    State(state): State<AppState>,
    Path(name): Path<String>,
    params: Params,
) -> Result<Response, ApiError> {
    let Query(params) = params?;
    let req = TopologyRequest::parse(&name, &params)?;
    let (key, seq) = (format!("{req:?}"), state.feed.seq());
    if let Some(body) = state.views.get(&key, seq) {
        return Ok(json_bytes(body));
    }
    let _permit = state
        .reads
        .acquire()
        .await
        .map_err(|_| ReadError::Unavailable("shutting down".into()))?;
    // Another request may have built it while this one waited.
    if let Some(body) = state.views.get(&key, seq) {
        return Ok(json_bytes(body));
    }
    let view = build(&state.store, &req).await?;
    let body = axum::body::Bytes::from(
        serde_json::to_vec(&view).map_err(|e| ReadError::Store(e.to_string()))?,
    );
    state.views.put(key, seq, body.clone());
    Ok(json_bytes(body))
}

fn json_bytes(body: axum::body::Bytes) -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

/// `GET /api/node?label=&id=&limit=`: a node, its properties and neighbours.
pub async fn node(State(state): State<AppState>, params: Params) -> Result<Response, ApiError> {
    let Query(params) = params?;
    let (mut label, mut id, mut max) = (None, None, DEFAULT_NEIGHBOURS);
    for (k, v) in params {
        match k.as_str() {
            "label" => label = Some(v),
            "id" => id = Some(v),
            "limit" => max = limit(&v)?,
            _ => {
                return Err(ReadError::bad(format!(
                    "unknown parameter {k:?}; known: label, id, limit"
                ))
                .into());
            }
        }
    }
    let (Some(label), Some(id)) = (label, id) else {
        return Err(ReadError::bad("label and id are required").into());
    };
    let _permit = state
        .reads
        .acquire()
        .await
        .map_err(|_| ReadError::Unavailable("shutting down".into()))?;
    Ok(Json(details(&state.store, &label, &id, max).await?).into_response())
}

/// `GET /api/counts`: nodes by label, relationships by type, newest sync.
pub async fn counts(State(state): State<AppState>) -> Result<Response, ApiError> {
    Ok(Json(state.store.counts().await?).into_response())
}

/// `GET /api/events`: server-sent events. `ready` once, then `change`
/// whenever the graph changed (a page that fell behind gets one `change`
/// for all it missed); ends when the server shuts down.
pub async fn events(
    State(state): State<AppState>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let rx = state.feed.subscribe();
    let stop = state.stop.clone();
    let ready = futures::stream::once(async { Ok(Event::default().event("ready").data("{}")) });
    let changes = futures::stream::unfold((rx, stop), |(mut rx, mut stop)| async move {
        let event = tokio::select! {
            _ = infragraph_telemetry::stopped(&mut stop) => return None,
            r = rx.recv() => match r {
                Ok(change) => Event::default().event("change").json_data(&change).unwrap_or_else(|_| Event::default().event("change").data("{}")),
                Err(RecvError::Lagged(n)) => Event::default().event("change").data(format!("{{\"missed\":{n}}}")),
                Err(RecvError::Closed) => return None,
            },
        };
        Some((Ok(event), (rx, stop)))
    });
    use futures::StreamExt;
    Sse::new(ready.chain(changes)).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

/// Anything else under `/api`.
pub async fn not_found() -> ApiError {
    ApiError(ReadError::NotFound(
        "no such API route; see /api/topologies".into(),
    ))
}
