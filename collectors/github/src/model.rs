//! The parts of GitHub's REST responses the collector reads. Fields GitHub
//! may leave out or null are optional, so a sparse answer (GitHub Enterprise
//! Server, an older API version) still decodes.

use std::collections::BTreeMap;

use serde::Deserialize;

/// `GET /orgs/{org}`.
#[derive(Debug, Clone, Deserialize)]
pub struct Org {
    pub login: String,
    pub html_url: String,
}

/// An item of `GET /orgs/{org}/repos`.
#[derive(Debug, Clone, Deserialize)]
pub struct Repo {
    /// The GraphQL id, to read the repository's details in batches.
    #[serde(default)]
    pub node_id: Option<String>,
    pub name: String,
    pub full_name: String,
    pub html_url: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub visibility: Option<String>,
    #[serde(default)]
    pub private: Option<bool>,
    #[serde(default)]
    pub archived: Option<bool>,
    #[serde(default)]
    pub fork: Option<bool>,
    #[serde(default)]
    pub default_branch: Option<String>,
    #[serde(default)]
    pub language: Option<String>,
    #[serde(default)]
    pub topics: Option<Vec<String>>,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub updated_at: Option<String>,
    #[serde(default)]
    pub pushed_at: Option<String>,
}

/// `GET /repos/{owner}/{repo}/languages`: language → bytes of code.
pub type Languages = BTreeMap<String, u64>;

/// A user in a member or collaborator list.
#[derive(Debug, Clone, Deserialize)]
pub struct User {
    pub login: String,
    pub html_url: String,
    #[serde(default)]
    pub site_admin: Option<bool>,
    /// The display name: only GraphQL gives it in lists.
    #[serde(default)]
    pub name: Option<String>,
    /// Only GraphQL's org member list, and only to org owners.
    #[serde(default)]
    pub has_2fa_enabled: Option<bool>,
    /// Only in collaborator lists.
    #[serde(default)]
    pub permissions: Option<Permissions>,
    /// Only in collaborator lists: the effective role.
    #[serde(default)]
    pub role_name: Option<String>,
}

/// A team as listed by `GET /orgs/{org}/teams`.
#[derive(Debug, Clone, Deserialize)]
pub struct Team {
    pub name: String,
    pub slug: String,
    pub html_url: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub privacy: Option<String>,
    #[serde(default)]
    pub parent: Option<TeamRef>,
}

/// A team's parent, as nested in a team.
#[derive(Debug, Clone, Deserialize)]
pub struct TeamRef {
    pub html_url: String,
}

/// An item of `GET /orgs/{org}/teams/{slug}/repos`.
#[derive(Debug, Clone, Deserialize)]
pub struct TeamRepo {
    pub html_url: String,
    #[serde(default)]
    pub permissions: Option<Permissions>,
    #[serde(default)]
    pub role_name: Option<String>,
}

/// The permission flags GitHub lists next to a collaborator or team repo.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
pub struct Permissions {
    #[serde(default)]
    pub admin: bool,
    #[serde(default)]
    pub maintain: bool,
    #[serde(default)]
    pub push: bool,
    #[serde(default)]
    pub triage: bool,
    #[serde(default)]
    pub pull: bool,
}

/// One of GitHub's five repository roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Permission {
    Read,
    Triage,
    Write,
    Maintain,
    Admin,
}

impl Permission {
    /// The role from `role_name` when it is a built-in one, else the highest
    /// flag set: custom roles have their own names but inherit a base role,
    /// which the flags show.
    pub fn of(role_name: Option<&str>, permissions: Option<&Permissions>) -> Option<Permission> {
        let named = match role_name {
            Some("admin") => Some(Permission::Admin),
            Some("maintain") => Some(Permission::Maintain),
            Some("write" | "push") => Some(Permission::Write),
            Some("triage") => Some(Permission::Triage),
            Some("read" | "pull") => Some(Permission::Read),
            _ => None,
        };
        named.or_else(|| {
            let p = permissions?;
            [
                (p.admin, Permission::Admin),
                (p.maintain, Permission::Maintain),
                (p.push, Permission::Write),
                (p.triage, Permission::Triage),
                (p.pull, Permission::Read),
            ]
            .into_iter()
            .find_map(|(set, perm)| set.then_some(perm))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permission_prefers_built_in_role_names_then_flags() {
        assert_eq!(
            Permission::of(Some("maintain"), None),
            Some(Permission::Maintain)
        );
        let flags = Permissions {
            push: true,
            pull: true,
            triage: true,
            ..Permissions::default()
        };
        assert_eq!(
            Permission::of(Some("security-reviewer"), Some(&flags)),
            Some(Permission::Write)
        );
        assert_eq!(Permission::of(None, Some(&Permissions::default())), None);
    }
}
