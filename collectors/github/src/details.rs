//! Languages and direct collaborators of up to 100 repositories in one
//! GraphQL request (`nodes(ids:)`), where REST needs two requests per
//! repository. A repository GraphQL cannot give in full (no node id, more
//! than 100 languages or collaborators) is left to REST.

use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::{Api, GraphqlError};
use crate::error::GithubError;
use crate::model::{Languages, Repo, User};

/// GitHub's limit on `nodes(ids:)` and on a connection's page.
pub const BATCH: usize = 100;

const QUERY: &str = "query($ids: [ID!]!) {
  nodes(ids: $ids) {
    ... on Repository {
      languages(first: 100) { totalCount edges { size node { name } } }
      collaborators(first: 100, affiliation: DIRECT) { totalCount edges { permission node { login url isSiteAdmin } } }
    }
  }
}";

/// What one batch said about one repository.
#[derive(Debug)]
pub enum Details {
    Read {
        languages: Languages,
        collaborators: Vec<User>,
    },
    /// Deleted or transferred since it was listed.
    Gone(String),
    /// Not (fully) readable here: ask REST.
    Rest,
}

#[derive(Deserialize)]
struct Nodes {
    nodes: Vec<Option<RepoNode>>,
}

#[derive(Deserialize)]
struct RepoNode {
    languages: Option<Connection<LanguageEdge>>,
    collaborators: Option<Connection<CollaboratorEdge>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Connection<E> {
    total_count: usize,
    #[serde(default = "Vec::new")]
    edges: Vec<E>,
}

impl<E> Connection<E> {
    fn complete(&self) -> bool {
        self.edges.len() >= self.total_count
    }
}

#[derive(Deserialize)]
struct LanguageEdge {
    size: u64,
    node: Named,
}

#[derive(Deserialize)]
struct Named {
    name: String,
}

#[derive(Deserialize)]
struct CollaboratorEdge {
    permission: String,
    node: Collaborator,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Collaborator {
    login: String,
    url: String,
    #[serde(default)]
    is_site_admin: Option<bool>,
}

/// The details of `repos` (at most [`BATCH`]), in their order.
pub async fn read_batch(api: &Api, repos: &[Repo]) -> Result<Vec<Details>, GithubError> {
    let asked: Vec<(usize, &str)> = repos
        .iter()
        .enumerate()
        .filter_map(|(i, r)| Some((i, r.node_id.as_deref()?)))
        .collect();
    let mut out: Vec<Details> = repos.iter().map(|_| Details::Rest).collect();
    if asked.is_empty() {
        return Ok(out);
    }
    let ids: Vec<&str> = asked.iter().map(|(_, id)| *id).collect();
    let response = api.graphql::<Nodes>(QUERY, json!({ "ids": ids })).await?;
    let mut gone = vec![None; ids.len()];
    for e in &response.errors {
        match node_index(e) {
            Some(n) if n < gone.len() && e.kind.as_deref() == Some("NOT_FOUND") => {
                gone[n] = Some(e.message.clone())
            }
            _ => return Err(GithubError::Graphql(e.message.clone())),
        }
    }
    let nodes = response.data.map(|d| d.nodes).unwrap_or_default();
    for (n, (i, _)) in asked.iter().enumerate() {
        out[*i] = match (gone[n].take(), nodes.get(n)) {
            (Some(reason), _) => Details::Gone(reason),
            (None, Some(Some(node))) => details(node),
            _ => Details::Rest,
        };
    }
    Ok(out)
}

/// The index `i` of an error at `nodes[i]`.
fn node_index(e: &GraphqlError) -> Option<usize> {
    match e.path.as_slice() {
        [Value::String(field), Value::Number(i)] if field == "nodes" => {
            i.as_u64().and_then(|i| usize::try_from(i).ok())
        }
        _ => None,
    }
}

fn details(node: &RepoNode) -> Details {
    let (Some(languages), Some(collaborators)) = (&node.languages, &node.collaborators) else {
        return Details::Rest;
    };
    if !languages.complete() || !collaborators.complete() {
        return Details::Rest;
    }
    Details::Read {
        languages: languages
            .edges
            .iter()
            .map(|e| (e.node.name.clone(), e.size))
            .collect(),
        collaborators: collaborators
            .edges
            .iter()
            .map(|e| User {
                login: e.node.login.clone(),
                html_url: e.node.url.clone(),
                site_admin: e.node.is_site_admin,
                name: None,
                has_2fa_enabled: None,
                permissions: None,
                // READ, TRIAGE, WRITE, MAINTAIN or ADMIN: the base role.
                role_name: Some(e.permission.to_ascii_lowercase()),
            })
            .collect(),
    }
}
