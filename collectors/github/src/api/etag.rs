//! The ETag cache: the last answer to each path, so the next sync asks
//! "changed since?" and a 304 (free of the rate limit) stands for the body
//! kept here.

use http::HeaderMap;

use super::{Api, header};

/// A successful answer kept for its ETag.
#[derive(Clone)]
pub(super) struct Cached {
    pub(super) etag: String,
    pub(super) headers: HeaderMap,
    pub(super) body: String,
}

impl Api {
    pub(super) fn cached(&self, path: &str) -> Option<Cached> {
        self.etags
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(path)
            .cloned()
    }

    /// Keeps an answer that has an ETag, so the next sync can ask "changed
    /// since?" and get a 304 that costs no rate limit.
    pub(super) fn remember(&self, path: &str, headers: &HeaderMap, body: &str) {
        if let Some(etag) = header(headers, "etag") {
            let entry = Cached {
                etag: etag.to_owned(),
                headers: headers.clone(),
                body: body.to_owned(),
            };
            self.etags
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(path.to_owned(), entry);
        }
    }
}
