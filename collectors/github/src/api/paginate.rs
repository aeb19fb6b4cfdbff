//! REST lists page by page: `per_page`, `Link: rel="next"`, and the rule
//! that a link is followed only as a path on the API's own host (octocrab
//! attaches the token to relative requests only).

use http::{HeaderMap, Uri};
use serde::de::DeserializeOwned;

use super::{Api, Call, header};
use crate::error::GithubError;

/// GitHub's largest page: the fewer pages, the fewer requests.
pub const PER_PAGE: u32 = 100;

/// The URL in a `Link` header's `rel="next"` entry.
pub fn next_link(headers: &HeaderMap) -> Option<String> {
    let value = header(headers, "link")?;
    value.split(',').find_map(|entry| {
        let mut parts = entry.split(';');
        let url = parts.next()?.trim().strip_prefix('<')?.strip_suffix('>')?;
        parts
            .any(|p| p.trim().replace(' ', "") == "rel=\"next\"")
            .then(|| url.to_owned())
    })
}

fn with_per_page(path: &str) -> String {
    let sep = if path.contains('?') { '&' } else { '?' };
    format!("{path}{sep}per_page={PER_PAGE}")
}

impl Api {
    /// Every item of a list, page after page as `Link: rel="next"` says.
    pub async fn get_all<T: DeserializeOwned>(&self, path: &str) -> Result<Vec<T>, GithubError> {
        let mut items = Vec::new();
        let mut next = Some(with_per_page(path));
        while let Some(page) = next.take() {
            let (headers, body) = self.fetch(Call::Get(&page)).await?;
            let mut batch: Vec<T> =
                serde_json::from_str(&body).map_err(|source| GithubError::Decode {
                    path: page.clone(),
                    source,
                })?;
            items.append(&mut batch);
            next = next_link(&headers)
                .map(|url| self.relative(&url))
                .transpose()?;
        }
        Ok(items)
    }

    /// A `Link` URL as a path on this API's host.
    fn relative(&self, url: &str) -> Result<String, GithubError> {
        let uri: Uri = url
            .parse()
            .map_err(|_| GithubError::ForeignLink(url.to_owned()))?;
        if let Some(authority) = uri.authority()
            && Some(authority.as_str()) != self.authority.as_deref()
        {
            return Err(GithubError::ForeignLink(url.to_owned()));
        }
        Ok(uri
            .path_and_query()
            .map_or_else(|| "/".to_owned(), |pq| pq.as_str().to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::test_headers as headers;

    #[test]
    fn next_link_is_found_among_others() {
        let h = headers(&[(
            "link",
            r#"<https://api.github.com/orgs/a/repos?page=3>; rel="last", <https://api.github.com/orgs/a/repos?page=2>; rel="next""#,
        )]);
        assert_eq!(
            next_link(&h).as_deref(),
            Some("https://api.github.com/orgs/a/repos?page=2")
        );
        let last = headers(&[(
            "link",
            r#"<https://api.github.com/orgs/a/repos?page=1>; rel="prev""#,
        )]);
        assert_eq!(next_link(&last), None);
    }
}
