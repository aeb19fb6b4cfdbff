//! Reads one organisation into an [`OrgSnapshot`], spending as few requests
//! as the APIs allow: people and teams' members are listed per org through
//! GraphQL ([`crate::people`]), team permissions per team (not per
//! repository); languages and direct collaborators
//! come from GraphQL, 100 repositories a request ([`crate::details`]). One
//! direct-collaborator list serves both direct and outside collaborators,
//! told apart by the org's outside-collaborator list.

use std::collections::BTreeSet;

use futures::stream::{self, StreamExt, TryStreamExt};

use crate::api::Api;
use crate::details::{BATCH, Details, read_batch};
use crate::error::GithubError;
use crate::model::{Languages, Org, Repo, Team, TeamRepo, User};
use crate::people::{self, TeamPeople};

/// GraphQL requests in flight at once: GitHub's secondary limits punish
/// concurrency on GraphQL more than on REST.
const GRAPHQL_AT_ONCE: usize = 2;

/// Everything one sync read about an organisation.
#[derive(Debug, Clone)]
pub struct OrgSnapshot {
    pub org: Org,
    pub repos: Vec<RepoSnapshot>,
    pub admins: Vec<User>,
    /// Members with the plain member role (owners are in `admins`).
    pub members: Vec<User>,
    pub outside_collaborators: Vec<User>,
    pub teams: Vec<TeamSnapshot>,
    /// Repositories left out because they vanished mid-sync (404).
    pub skipped: Vec<Skipped>,
}

#[derive(Debug, Clone)]
pub struct RepoSnapshot {
    pub repo: Repo,
    pub languages: Languages,
    /// Direct collaborators (outside collaborators included), with their
    /// permission.
    pub collaborators: Vec<User>,
}

#[derive(Debug, Clone)]
pub struct TeamSnapshot {
    pub team: Team,
    /// Immediate maintainers and plain members: a child team's people
    /// belong to the child team only.
    pub maintainers: Vec<User>,
    pub members: Vec<User>,
    pub repos: Vec<TeamRepo>,
}

/// A repository left out of a sync, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub repo: String,
    pub reason: String,
}

/// Reads `org` through `api`, `concurrency` repositories or teams at a time.
pub async fn fetch_org(
    api: &Api,
    org: &str,
    concurrency: usize,
) -> Result<OrgSnapshot, GithubError> {
    let org_info: Org = api.get(&format!("/orgs/{org}")).await?;
    let (admins, members) = people::members(api, org).await?;
    let outside_collaborators = api
        .get_all(&format!("/orgs/{org}/outside_collaborators"))
        .await?;
    let teams = fetch_teams(api, org, concurrency).await?;
    let repos: Vec<Repo> = api.get_all(&format!("/orgs/{org}/repos?type=all")).await?;
    let (repos, skipped) = fetch_repos(api, repos, concurrency).await?;
    Ok(OrgSnapshot {
        org: org_info,
        repos,
        admins,
        members,
        outside_collaborators,
        teams,
        skipped,
    })
}

async fn fetch_teams(
    api: &Api,
    org: &str,
    concurrency: usize,
) -> Result<Vec<TeamSnapshot>, GithubError> {
    let teams: Vec<Team> = api.get_all(&format!("/orgs/{org}/teams")).await?;
    let mut people = people::team_members(api, org).await?;
    let with_people: Vec<(Team, TeamPeople)> = teams
        .into_iter()
        .map(|t| {
            let p = people.remove(&t.slug).unwrap_or_default();
            (t, p)
        })
        .collect();
    stream::iter(with_people)
        .map(|(team, people)| fetch_team(api, org, team, people))
        .buffered(concurrency.max(1))
        .try_collect()
        .await
}

async fn fetch_team(
    api: &Api,
    org: &str,
    team: Team,
    people: TeamPeople,
) -> Result<TeamSnapshot, GithubError> {
    let repos = api
        .get_all(&format!("/orgs/{org}/teams/{}/repos", team.slug))
        .await?;
    Ok(TeamSnapshot {
        team,
        maintainers: people.maintainers,
        members: people.members,
        repos,
    })
}

/// Languages and collaborators of every repository; one that is gone
/// (deleted or transferred mid-sync) is skipped, any other error fails.
async fn fetch_repos(
    api: &Api,
    repos: Vec<Repo>,
    concurrency: usize,
) -> Result<(Vec<RepoSnapshot>, Vec<Skipped>), GithubError> {
    // Owned batches: a stream of borrowed slices trips the borrow checker's
    // higher-ranked closure inference inside an `async fn` in a trait.
    let batches: Vec<Vec<Repo>> = repos.chunks(BATCH).map(<[Repo]>::to_vec).collect();
    let batches: Vec<Vec<Details>> = stream::iter(batches)
        .map(|batch| async move { read_batch(api, &batch).await })
        .buffered(GRAPHQL_AT_ONCE)
        .try_collect()
        .await?;
    let mut done = Vec::new();
    let mut skipped = Vec::new();
    let mut by_rest = Vec::new();
    for (repo, details) in repos.into_iter().zip(batches.into_iter().flatten()) {
        match details {
            Details::Read {
                languages,
                collaborators,
            } => done.push(RepoSnapshot {
                repo,
                languages,
                collaborators,
            }),
            Details::Gone(reason) => skipped.push(gone(repo, reason)),
            Details::Rest => by_rest.push(repo),
        }
    }
    let rest: Vec<Result<RepoSnapshot, Skipped>> = stream::iter(by_rest)
        .map(|repo| fetch_repo(api, repo))
        .buffered(concurrency.max(1))
        .try_collect()
        .await?;
    for r in rest {
        match r {
            Ok(snapshot) => done.push(snapshot),
            Err(skip) => skipped.push(skip),
        }
    }
    Ok((done, skipped))
}

fn gone(repo: Repo, reason: String) -> Skipped {
    tracing::warn!(repo = %repo.full_name, reason = %reason, "repository gone mid-sync, skipped");
    Skipped {
        repo: repo.full_name,
        reason,
    }
}

/// One repository through REST: two requests.
async fn fetch_repo(api: &Api, repo: Repo) -> Result<Result<RepoSnapshot, Skipped>, GithubError> {
    let base = format!("/repos/{}", repo.full_name);
    let read = async {
        let languages: Languages = api.get(&format!("{base}/languages")).await?;
        let collaborators: Vec<User> = api
            .get_all(&format!("{base}/collaborators?affiliation=direct"))
            .await?;
        Ok::<_, GithubError>((languages, collaborators))
    };
    match read.await {
        Ok((languages, collaborators)) => Ok(Ok(RepoSnapshot {
            repo,
            languages,
            collaborators,
        })),
        Err(e) if e.is_not_found() => Ok(Err(gone(repo, e.to_string()))),
        Err(e) => Err(e),
    }
}

impl OrgSnapshot {
    /// Web URLs of the repositories kept in this snapshot.
    pub fn repo_urls(&self) -> BTreeSet<&str> {
        self.repos
            .iter()
            .map(|r| r.repo.html_url.as_str())
            .collect()
    }
}
