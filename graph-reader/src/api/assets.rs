//! The built front end (`ui/dist`, rebuilt by `scripts/ui-build`), inside
//! the binary: `cargo build` needs nothing but the Rust toolchain.

use axum::http::header;
use axum::response::{IntoResponse, Response};

pub const INDEX_HTML: &[u8] = include_bytes!("../../../ui/dist/index.html");
pub const APP_JS: &[u8] = include_bytes!("../../../ui/dist/app.js");
pub const APP_CSS: &[u8] = include_bytes!("../../../ui/dist/app.css");

fn asset(body: &'static [u8], content_type: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

pub async fn index() -> Response {
    asset(INDEX_HTML, "text/html; charset=utf-8")
}

pub async fn app_js() -> Response {
    asset(APP_JS, "text/javascript; charset=utf-8")
}

pub async fn app_css() -> Response {
    asset(APP_CSS, "text/css; charset=utf-8")
}
