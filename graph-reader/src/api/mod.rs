//! The live view's HTTP server: the embedded page and its JSON API (see
//! the README's "The view" for every route), over any [`GraphStore`].
//!
//! # Layout
//! - this file: the router, binding and serving.
//! - [`config`]: `--ui-listen`, `--no-ui`, `--ui-expose`.
//! - [`handlers`]: the API routes.
//! - [`assets`]: the built page, embedded.
//! - [`metrics`]: a count and a duration per request, by route.
//! - [`cache`]: built views, kept until the graph changes.

pub mod assets;
mod cache;
pub mod config;
mod handlers;
mod metrics;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

pub use config::{Exposed, UiArgs};

use crate::feed::ChangeFeed;
use crate::store::GraphStore;

/// Store reads the API runs at once; more requests wait their turn.
const CONCURRENT_READS: usize = 8;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    store: GraphStore,
    feed: ChangeFeed,
    reads: Arc<Semaphore>,
    views: Arc<cache::ViewCache>,
    stop: watch::Receiver<bool>,
}

/// The page and the API over `store`, with events from `feed`; event
/// streams end when `stop` turns true.
pub fn router(store: GraphStore, feed: ChangeFeed, stop: watch::Receiver<bool>) -> Router {
    let state = AppState {
        store,
        feed,
        reads: Arc::new(Semaphore::new(CONCURRENT_READS)),
        views: Arc::default(),
        stop,
    };
    Router::new()
        .route("/", get(assets::index))
        .route("/app.js", get(assets::app_js))
        .route("/app.css", get(assets::app_css))
        .route("/api/topologies", get(handlers::topologies))
        .route("/api/topology/{name}", get(handlers::topology))
        .route("/api/node", get(handlers::node))
        .route("/api/counts", get(handlers::counts))
        .route("/api/events", get(handlers::events))
        .fallback(handlers::not_found)
        .layer(axum::middleware::from_fn(metrics::record))
        .with_state(state)
}

/// A bound view, not yet serving.
pub struct Bound {
    listener: TcpListener,
    pub address: SocketAddr,
}

pub async fn bind(address: SocketAddr) -> std::io::Result<Bound> {
    let listener = TcpListener::bind(address).await?;
    let address = listener.local_addr()?;
    Ok(Bound { listener, address })
}

impl Bound {
    /// Serves until `stop` turns true.
    pub async fn serve(
        self,
        store: GraphStore,
        feed: ChangeFeed,
        stop: watch::Receiver<bool>,
    ) -> std::io::Result<()> {
        let app = router(store, feed, stop.clone());
        axum::serve(self.listener, app)
            .with_graceful_shutdown(stopped(stop))
            .await
    }
}

async fn stopped(mut stop: watch::Receiver<bool>) {
    infragraph_telemetry::stopped(&mut stop).await
}
