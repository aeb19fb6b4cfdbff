//! GraphQL: where the endpoint lives, what an answer holds, and a query
//! whose `RATE_LIMITED` error (GitHub answers 200) is waited out like a
//! REST rate limit.

use serde::de::DeserializeOwned;

use super::classify::{RetryReason, now_secs, until_reset};
use super::{Api, Call};
use crate::error::GithubError;

pub(super) const GRAPHQL_PATH: &str = "/graphql";

/// A GraphQL answer: data, errors, or (partly) both.
#[derive(Debug, serde::Deserialize)]
pub struct GraphqlResponse<T> {
    pub data: Option<T>,
    #[serde(default)]
    pub errors: Vec<GraphqlError>,
}

#[derive(Debug, Clone, serde::Deserialize)]
pub struct GraphqlError {
    /// NOT_FOUND, FORBIDDEN, RATE_LIMITED, … (GitHub's extension).
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub message: String,
    /// Where in `data` the error belongs: field names and list indexes.
    #[serde(default)]
    pub path: Vec<serde_json::Value>,
}

/// The GraphQL endpoint's base for a REST base URL: `https://api.github.com`
/// serves both; GitHub Enterprise Server serves REST under `/api/v3` and
/// GraphQL at `/api/graphql`.
pub fn graphql_base(api_url: &str) -> String {
    let trimmed = api_url.trim_end_matches('/');
    trimmed.strip_suffix("/v3").unwrap_or(trimmed).to_owned()
}

impl Api {
    /// One GraphQL query. Errors come back with the data (GitHub answers
    /// 200 with both) for the caller to judge, except a spent rate limit,
    /// which is waited out like a REST one.
    pub async fn graphql<T: DeserializeOwned>(
        &self,
        query: &str,
        variables: serde_json::Value,
    ) -> Result<GraphqlResponse<T>, GithubError> {
        let request = serde_json::json!({ "query": query, "variables": variables });
        let mut rate_waits = 0;
        loop {
            let (headers, body) = self.fetch(Call::Graphql(&request)).await?;
            let response: GraphqlResponse<T> =
                serde_json::from_str(&body).map_err(|source| GithubError::Decode {
                    path: GRAPHQL_PATH.to_owned(),
                    source,
                })?;
            if !response
                .errors
                .iter()
                .any(|e| e.kind.as_deref() == Some("RATE_LIMITED"))
            {
                return Ok(response);
            }
            let wait = until_reset(&headers, now_secs());
            rate_waits += 1;
            self.check_wait(GRAPHQL_PATH, wait, rate_waits)?;
            self.wait_for_limit(GRAPHQL_PATH, wait, RetryReason::PrimaryRateLimit)
                .await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graphql_lives_next_to_rest() {
        assert_eq!(
            graphql_base("https://api.github.com"),
            "https://api.github.com"
        );
        assert_eq!(
            graphql_base("https://ghe.example.com/api/v3/"),
            "https://ghe.example.com/api"
        );
        assert_eq!(
            graphql_base("http://127.0.0.1:9000"),
            "http://127.0.0.1:9000"
        );
    }
}
