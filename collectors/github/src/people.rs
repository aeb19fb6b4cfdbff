//! Org members and teams' immediate members through GraphQL: the member
//! list carries names, roles and two-factor status that REST lists lack, and
//! one query returns every team's members where REST needs two requests per
//! team (and counts child teams' members as the parent's, which Cartography
//! does not).

use std::collections::HashMap;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::api::Api;
use crate::error::GithubError;
use crate::model::User;

const MEMBERS: &str = "query($org: String!, $cursor: String) {
  organization(login: $org) {
    membersWithRole(first: 100, after: $cursor) {
      pageInfo { hasNextPage endCursor }
      edges { role hasTwoFactorEnabled node { login url name isSiteAdmin } }
    }
  }
}";

const TEAMS: &str = "query($org: String!, $cursor: String) {
  organization(login: $org) {
    teams(first: 100, after: $cursor) {
      pageInfo { hasNextPage endCursor }
      edges { node { slug members(first: 100, membership: IMMEDIATE) {
        pageInfo { hasNextPage endCursor }
        edges { role node { login url name isSiteAdmin } }
      } } }
    }
  }
}";

const TEAM_MEMBERS: &str = "query($org: String!, $slug: String!, $cursor: String) {
  organization(login: $org) {
    team(slug: $slug) {
      members(first: 100, after: $cursor, membership: IMMEDIATE) {
        pageInfo { hasNextPage endCursor }
        edges { role node { login url name isSiteAdmin } }
      }
    }
  }
}";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PageInfo {
    has_next_page: bool,
    end_cursor: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Page<E> {
    page_info: PageInfo,
    #[serde(default = "Vec::new")]
    edges: Vec<E>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Person {
    login: String,
    url: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    is_site_admin: Option<bool>,
}

impl Person {
    fn user(self, has_2fa_enabled: Option<bool>) -> User {
        let name = self.name.filter(|n| !n.is_empty());
        User {
            login: self.login,
            html_url: self.url,
            site_admin: self.is_site_admin,
            name,
            has_2fa_enabled,
            permissions: None,
            role_name: None,
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MemberEdge {
    role: String,
    #[serde(default)]
    has_two_factor_enabled: Option<bool>,
    node: Person,
}

#[derive(Deserialize)]
struct TeamEdge {
    node: TeamNode,
}

#[derive(Deserialize)]
struct TeamNode {
    slug: String,
    members: Page<TeamMemberEdge>,
}

#[derive(Deserialize)]
struct TeamMemberEdge {
    role: String,
    node: Person,
}

/// A team's immediate maintainers and members.
#[derive(Debug, Default)]
pub struct TeamPeople {
    pub maintainers: Vec<User>,
    pub members: Vec<User>,
}

/// Every edge of the connection at `at` (a JSON pointer into `data`),
/// following `endCursor` page after page. Any GraphQL error fails: these
/// are org-level lists, and a partial one would clean people out.
async fn all<E: DeserializeOwned>(
    api: &Api,
    query: &str,
    mut variables: Value,
    at: &str,
) -> Result<Vec<E>, GithubError> {
    let mut out = Vec::new();
    loop {
        let response = api.graphql::<Value>(query, variables.clone()).await?;
        if let Some(e) = response.errors.first() {
            return Err(GithubError::Graphql(e.message.clone()));
        }
        let connection = response
            .data
            .as_ref()
            .and_then(|d| d.pointer(at))
            .filter(|c| !c.is_null());
        let connection =
            connection.ok_or_else(|| GithubError::Graphql(format!("the answer has no {at}")))?;
        let page: Page<E> =
            serde_json::from_value(connection.clone()).map_err(|source| GithubError::Decode {
                path: format!("/graphql {at}"),
                source,
            })?;
        out.extend(page.edges);
        match (page.page_info.has_next_page, page.page_info.end_cursor) {
            (true, Some(cursor)) => variables["cursor"] = json!(cursor),
            _ => return Ok(out),
        }
    }
}

/// The org's owners and plain members, with names and two-factor status.
pub async fn members(api: &Api, org: &str) -> Result<(Vec<User>, Vec<User>), GithubError> {
    let edges: Vec<MemberEdge> = all(
        api,
        MEMBERS,
        json!({ "org": org }),
        "/organization/membersWithRole",
    )
    .await?;
    let (mut admins, mut members) = (Vec::new(), Vec::new());
    for e in edges {
        let admin = e.role == "ADMIN";
        let user = e.node.user(e.has_two_factor_enabled);
        if admin {
            admins.push(user)
        } else {
            members.push(user)
        }
    }
    Ok((admins, members))
}

/// Each team's immediate members by slug. A team with more members than
/// the nested page holds is read again on its own, page after page.
pub async fn team_members(
    api: &Api,
    org: &str,
) -> Result<HashMap<String, TeamPeople>, GithubError> {
    let teams: Vec<TeamEdge> =
        all(api, TEAMS, json!({ "org": org }), "/organization/teams").await?;
    let mut out = HashMap::new();
    for TeamEdge { node: team } in teams {
        let edges = if team.members.page_info.has_next_page {
            all(
                api,
                TEAM_MEMBERS,
                json!({ "org": org, "slug": team.slug }),
                "/organization/team/members",
            )
            .await?
        } else {
            team.members.edges
        };
        let mut people = TeamPeople::default();
        for e in edges {
            let maintainer = e.role == "MAINTAINER";
            let user = e.node.user(None);
            if maintainer {
                people.maintainers.push(user)
            } else {
                people.members.push(user)
            }
        }
        out.insert(team.slug, people);
    }
    Ok(out)
}
