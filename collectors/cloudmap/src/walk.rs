//! One read of the whole scope: the selected namespaces, their services and
//! instances, and what to do when part of it cannot be read.

use std::collections::BTreeSet;

use futures::{StreamExt, TryStreamExt};

use crate::api::CloudMapApi;
use crate::error::ApiError;
use crate::model::{Instance, Namespace, Service, Snapshot};

/// Services read at once: enough to hide latency, few enough to stay well
/// under Cloud Map's request rate limits.
const PARALLEL_SERVICES: usize = 8;

/// What to do when a namespace or service cannot be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub best_effort: bool,
}

impl Policy {
    /// `Ok(())` to skip the part that failed, or the error that fails the
    /// sync. Something deleted between listing and reading is gone, so it
    /// is skipped either way; access denied is skipped only in best-effort
    /// mode; anything else (throttling after every retry, outages) always
    /// fails the sync, because skipping it would clean it out of the graph.
    fn skip(self, err: ApiError) -> Result<(), ApiError> {
        if is_gone(&err) {
            tracing::info!(error = %err, "vanished while the sync read it; skipped");
            return Ok(());
        }
        if self.best_effort && err.is_access_denied() {
            tracing::warn!(error = %err, "access denied; skipped (best-effort mode)");
            infragraph_telemetry::StageMetrics::global(infragraph_collector::STAGE).records(
                "cloudmap",
                "skipped_access_denied",
                1,
            );
            return Ok(());
        }
        Err(err)
    }
}

fn is_gone(err: &ApiError) -> bool {
    matches!(
        err.code.as_deref(),
        Some("ServiceNotFound" | "NamespaceNotFound")
    )
}

/// Whether `ns` is selected by a filter of names or ids (empty: all).
pub fn selected(ns: &Namespace, filter: &[String]) -> bool {
    filter.is_empty() || filter.iter().any(|f| *f == ns.id || *f == ns.name)
}

/// Reads everything the scope covers.
pub async fn read_scope(
    api: &CloudMapApi,
    filter: &[String],
    policy: Policy,
) -> Result<Snapshot, ApiError> {
    let all = api.namespaces().await?;
    for f in filter
        .iter()
        .filter(|f| !all.iter().any(|ns| ns.id == **f || ns.name == **f))
    {
        tracing::warn!(namespace = %f, "no such namespace in this account and region");
    }
    let mut snap = Snapshot::default();
    let mut service_ids = BTreeSet::new();
    for mut ns in all.into_iter().filter(|ns| selected(ns, filter)) {
        match read_namespace(api, &mut ns).await {
            Ok(ids) => {
                service_ids.extend(ids);
                snap.namespaces.push(ns);
            }
            Err(e) => policy.skip(e)?,
        }
    }
    let kept: BTreeSet<&str> = snap.namespaces.iter().map(|ns| ns.id.as_str()).collect();
    let services: Vec<Option<(Service, Vec<Instance>)>> = futures::stream::iter(service_ids)
        .map(|id| read_service(api, id, &kept, policy))
        .buffered(PARALLEL_SERVICES)
        .try_collect()
        .await?;
    for (svc, instances) in services.into_iter().flatten() {
        snap.services.push(svc);
        snap.instances.extend(instances);
    }
    Ok(snap)
}

/// A namespace's tags and the ids of the services listed in it.
async fn read_namespace(api: &CloudMapApi, ns: &mut Namespace) -> Result<Vec<String>, ApiError> {
    ns.tags = api
        .tags(&ns.arn, &format!("namespace {} ({})", ns.id, ns.name))
        .await?;
    api.service_ids(ns).await
}

/// One service with its tags and instances, or `None` when it is skipped
/// or belongs to a namespace that is not synced.
async fn read_service(
    api: &CloudMapApi,
    id: String,
    namespaces: &BTreeSet<&str>,
    policy: Policy,
) -> Result<Option<(Service, Vec<Instance>)>, ApiError> {
    let mut svc = match api.service(&id).await {
        Ok(s) => s,
        Err(e) => return policy.skip(e).map(|()| None),
    };
    // The namespace GetService names is the truth; the list filter is not
    // honoured by every AWS API implementation.
    if !svc
        .namespace_id
        .as_deref()
        .is_some_and(|n| namespaces.contains(n))
    {
        return Ok(None);
    }
    match read_service_parts(api, &mut svc).await {
        Ok(instances) => Ok(Some((svc, instances))),
        Err(e) => policy.skip(e).map(|()| None),
    }
}

async fn read_service_parts(
    api: &CloudMapApi,
    svc: &mut Service,
) -> Result<Vec<Instance>, ApiError> {
    svc.tags = api
        .tags(&svc.arn, &format!("service {} ({})", svc.id, svc.name))
        .await?;
    let mut instances = api.instances(svc).await?;
    if svc.has_health_check {
        let health = api.health(svc).await?;
        for i in &mut instances {
            i.health_status = health.get(&i.id).cloned();
        }
    }
    Ok(instances)
}
