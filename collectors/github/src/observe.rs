//! An [`OrgSnapshot`] turned into observations in Cartography's GitHub
//! schema: GitHubOrganization, GitHubRepository, GitHubUser, GitHubTeam and
//! ProgrammingLanguage, each id its web URL (a language's id its name).

use std::collections::{BTreeMap, BTreeSet};

use infragraph_collector::SyncContext;
use infragraph_schemas::{Observation, RelType, ResourceKind, Value};

use crate::fetch::{OrgSnapshot, RepoSnapshot, TeamSnapshot};
use crate::model::{Permission, User};

/// Every observation one snapshot makes, in publishing order: org,
/// languages, repositories, teams, users.
pub fn observations(snap: &OrgSnapshot, ctx: &SyncContext) -> Vec<Observation> {
    let org_id = snap.org.html_url.as_str();
    let repos = snap.repo_urls();
    let mut out = vec![
        ctx.observation(ResourceKind::GitHubOrganization, org_id)
            .with("username", snap.org.login.as_str())
            .with("url", org_id),
    ];
    out.extend(languages(snap).into_iter().map(|name| {
        ctx.observation(ResourceKind::ProgrammingLanguage, name)
            .with("name", name)
    }));
    out.extend(snap.repos.iter().map(|r| repo(r, org_id, ctx)));
    out.extend(snap.teams.iter().map(|t| team(t, org_id, &repos, ctx)));
    out.extend(
        users(snap, &repos)
            .into_values()
            .map(|u| u.observation(ctx)),
    );
    out
}

fn languages(snap: &OrgSnapshot) -> BTreeSet<&str> {
    snap.repos.iter().flat_map(repo_languages).collect()
}

/// The languages GitHub counted, or the primary one if it counted none.
fn repo_languages(r: &RepoSnapshot) -> BTreeSet<&str> {
    let mut names: BTreeSet<&str> = r.languages.keys().map(String::as_str).collect();
    if names.is_empty() {
        names.extend(r.repo.language.as_deref());
    }
    names
}

fn opt_str(v: &Option<String>) -> Value {
    v.as_ref().map_or(Value::Null, |s| Value::String(s.clone()))
}

fn opt_bool(v: Option<bool>) -> Value {
    v.map_or(Value::Null, Value::Bool)
}

fn repo(r: &RepoSnapshot, org_id: &str, ctx: &SyncContext) -> Observation {
    let repo = &r.repo;
    let mut obs = ctx
        .observation(ResourceKind::GitHubRepository, repo.html_url.as_str())
        .with("name", repo.name.as_str())
        .with("fullname", repo.full_name.as_str())
        .with("url", repo.html_url.as_str())
        .with("description", opt_str(&repo.description))
        .with("visibility", opt_str(&repo.visibility))
        .with("private", opt_bool(repo.private))
        .with("archived", opt_bool(repo.archived))
        .with("fork", opt_bool(repo.fork))
        .with("defaultbranch", opt_str(&repo.default_branch))
        .with("primarylanguage", opt_str(&repo.language))
        .with("createdat", opt_str(&repo.created_at))
        .with("updatedat", opt_str(&repo.updated_at))
        .with("pushedat", opt_str(&repo.pushed_at))
        .relate(RelType::Owner, org_id);
    if let Some(topics) = &repo.topics {
        obs.set("topics", Value::StringList(topics.clone()));
    }
    for lang in repo_languages(r) {
        obs = obs.relate(RelType::Language, lang);
    }
    obs
}

fn team_rel(p: Permission) -> RelType {
    match p {
        Permission::Admin => RelType::Admin,
        Permission::Maintain => RelType::Maintain,
        Permission::Write => RelType::Write,
        Permission::Triage => RelType::Triage,
        Permission::Read => RelType::Read,
    }
}

/// Team permissions on repositories this sync kept: one skipped as gone
/// gets no edges pointing at it.
fn team(t: &TeamSnapshot, org_id: &str, repos: &BTreeSet<&str>, ctx: &SyncContext) -> Observation {
    let team = &t.team;
    let mut obs = ctx
        .observation(ResourceKind::GitHubTeam, team.html_url.as_str())
        .with("name", team.name.as_str())
        .with("slug", team.slug.as_str())
        .with("url", team.html_url.as_str())
        .with("description", opt_str(&team.description))
        .with("privacy", opt_str(&team.privacy))
        .relate(RelType::Resource, org_id);
    if let Some(parent) = &team.parent {
        obs = obs.relate(RelType::MemberOfTeam, parent.html_url.as_str());
    }
    for r in t
        .repos
        .iter()
        .filter(|r| repos.contains(r.html_url.as_str()))
    {
        if let Some(p) = Permission::of(r.role_name.as_deref(), r.permissions.as_ref()) {
            obs = obs.relate(team_rel(p), r.html_url.as_str());
        }
    }
    obs
}

fn collab_rel(p: Permission, outside: bool) -> RelType {
    match (outside, p) {
        (true, Permission::Admin) => RelType::OutsideCollabAdmin,
        (true, Permission::Maintain) => RelType::OutsideCollabMaintain,
        (true, Permission::Write) => RelType::OutsideCollabWrite,
        (true, Permission::Triage) => RelType::OutsideCollabTriage,
        (true, Permission::Read) => RelType::OutsideCollabRead,
        (false, Permission::Admin) => RelType::DirectCollabAdmin,
        (false, Permission::Maintain) => RelType::DirectCollabMaintain,
        (false, Permission::Write) => RelType::DirectCollabWrite,
        (false, Permission::Triage) => RelType::DirectCollabTriage,
        (false, Permission::Read) => RelType::DirectCollabRead,
    }
}

/// One user as seen from every list they appear in.
struct UserAcc<'a> {
    user: &'a User,
    rels: BTreeSet<(RelType, &'a str)>,
}

impl<'a> UserAcc<'a> {
    fn observation(&self, ctx: &SyncContext) -> Observation {
        let mut obs = ctx
            .observation(ResourceKind::GitHubUser, self.user.html_url.as_str())
            .with("username", self.user.login.as_str())
            .with("url", self.user.html_url.as_str())
            .with("fullname", opt_str(&self.user.name))
            .with("is_site_admin", opt_bool(self.user.site_admin))
            .with("has_2fa_enabled", opt_bool(self.user.has_2fa_enabled));
        for (rel, target) in &self.rels {
            obs = obs.relate(*rel, *target);
        }
        obs
    }
}

/// Users by login, each with every relationship this org gives them:
/// membership (owners are members too), team roles, collaborations.
fn users<'a>(snap: &'a OrgSnapshot, repos: &BTreeSet<&str>) -> BTreeMap<&'a str, UserAcc<'a>> {
    let mut users: BTreeMap<&str, UserAcc> = BTreeMap::new();
    let org_id = snap.org.html_url.as_str();
    let mut add = |user: &'a User, rel: Option<(RelType, &'a str)>| {
        let acc = users.entry(user.login.as_str()).or_insert_with(|| UserAcc {
            user,
            rels: BTreeSet::new(),
        });
        acc.rels.extend(rel);
    };
    for u in &snap.admins {
        add(u, Some((RelType::MemberOf, org_id)));
        add(u, Some((RelType::AdminOf, org_id)));
    }
    for u in &snap.members {
        add(u, Some((RelType::MemberOf, org_id)));
    }
    for u in &snap.outside_collaborators {
        add(u, None);
    }
    for t in &snap.teams {
        let team_id = t.team.html_url.as_str();
        t.maintainers
            .iter()
            .for_each(|u| add(u, Some((RelType::Maintainer, team_id))));
        t.members
            .iter()
            .for_each(|u| add(u, Some((RelType::Member, team_id))));
    }
    let outside: BTreeSet<&str> = snap
        .outside_collaborators
        .iter()
        .map(|u| u.login.as_str())
        .collect();
    for r in snap
        .repos
        .iter()
        .filter(|r| repos.contains(r.repo.html_url.as_str()))
    {
        let repo_id = r.repo.html_url.as_str();
        for u in &r.collaborators {
            let Some(p) = Permission::of(u.role_name.as_deref(), u.permissions.as_ref()) else {
                continue;
            };
            // Cartography's DIRECT affiliation includes outside
            // collaborators; OUTSIDE marks them on top.
            add(u, Some((collab_rel(p, false), repo_id)));
            if outside.contains(u.login.as_str()) {
                add(u, Some((collab_rel(p, true), repo_id)));
            }
        }
    }
    users
}
