//! The AWS calls: every list call through its paginator, errors turned into
//! [`ApiError`]s that name the resource they were about.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_servicediscovery::Client;
use aws_sdk_servicediscovery::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_servicediscovery::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_servicediscovery::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_servicediscovery::types::{
    DnsConfig, FilterCondition, HealthCheckConfig, HealthCheckCustomConfig, NamespaceSummary,
    ServiceFilter, ServiceFilterName,
};
use serde_json::{Map, Value, json};

use crate::config::CloudMapConfig;
use crate::error::{ApiError, CloudMapError};
use crate::model::{Instance, Namespace, Service, Tags};

/// The SDK config for `config`: the standard credential chain and region
/// chain, overridden by `--region` and `--endpoint-url`, and the standard
/// retry mode (exponential backoff with jitter on throttling and transient
/// errors) with `max_attempts`.
pub async fn sdk_config(config: &CloudMapConfig) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(RetryConfig::standard().with_max_attempts(config.max_attempts.max(1)));
    if let Some(region) = &config.region {
        loader = loader.region(Region::new(region.clone()));
    }
    if let Some(url) = &config.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    loader.load().await
}

fn api_error<E, R>(
    operation: &'static str,
    resource: impl Into<String>,
    err: SdkError<E, R>,
) -> ApiError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let code = err.code().map(str::to_owned);
    // The service's own message is the clearest; transport errors have
    // none, so the whole chain is shown instead.
    let message = err
        .message()
        .map(str::to_owned)
        .unwrap_or_else(|| DisplayErrorContext(&err).to_string());
    ApiError {
        operation,
        resource: resource.into(),
        code,
        message,
    }
}

/// Counts every HTTP request the SDK sends, retries and pages included:
/// what a sync really costs against the account's request quota.
#[derive(Debug, Clone, Default)]
struct RequestCounter(Arc<AtomicU64>);

impl Intercept for RequestCounter {
    fn name(&self) -> &'static str {
        "RequestCounter"
    }

    fn read_before_transmit(
        &self,
        _: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// Cloud Map and STS clients for one region.
#[derive(Debug, Clone)]
pub struct CloudMapApi {
    sd: Client,
    sts: aws_sdk_sts::Client,
    region: String,
    requests: RequestCounter,
}

impl CloudMapApi {
    pub fn new(sdk: &SdkConfig) -> Result<Self, CloudMapError> {
        let region = sdk
            .region()
            .map(ToString::to_string)
            .ok_or(CloudMapError::NoRegion)?;
        let requests = RequestCounter::default();
        let sd_config = aws_sdk_servicediscovery::config::Builder::from(sdk)
            .interceptor(requests.clone())
            .build();
        let sts_config = aws_sdk_sts::config::Builder::from(sdk)
            .interceptor(requests.clone())
            .build();
        Ok(CloudMapApi {
            sd: Client::from_conf(sd_config),
            sts: aws_sdk_sts::Client::from_conf(sts_config),
            region,
            requests,
        })
    }

    /// The counted Cloud Map client, for calls the collector never makes
    /// (the benchmark's one-instance-at-a-time baseline).
    pub fn client(&self) -> &Client {
        &self.sd
    }

    /// Requests sent since the last call, retries included.
    pub fn take_requests(&self) -> u64 {
        self.requests.0.swap(0, Ordering::Relaxed)
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    /// The account the credentials belong to (STS GetCallerIdentity).
    pub async fn account_id(&self) -> Result<String, CloudMapError> {
        let out = self.sts.get_caller_identity().send().await.map_err(|e| {
            CloudMapError::Account(api_error("GetCallerIdentity", "the caller", e).to_string())
        })?;
        out.account.ok_or_else(|| {
            CloudMapError::Account("GetCallerIdentity returned no account".to_owned())
        })
    }

    /// Every namespace in the region (ListNamespaces, all pages).
    pub async fn namespaces(&self) -> Result<Vec<Namespace>, ApiError> {
        let mut pages = self.sd.list_namespaces().into_paginator().send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page
                .map_err(|e| api_error("ListNamespaces", format!("region {}", self.region), e))?;
            out.extend(
                page.namespaces
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(namespace),
            );
        }
        Ok(out)
    }

    /// The ids of the services in `ns` (ListServices filtered by namespace,
    /// all pages). Some AWS API emulators ignore the filter, so callers must
    /// not rely on it: [`Self::service`] says where a service really is.
    pub async fn service_ids(&self, ns: &Namespace) -> Result<Vec<String>, ApiError> {
        let resource = || format!("namespace {} ({})", ns.id, ns.name);
        let filter = ServiceFilter::builder()
            .name(ServiceFilterName::NamespaceId)
            .condition(FilterCondition::Eq)
            .values(ns.id.clone())
            .build()
            .map_err(|e| ApiError {
                operation: "ListServices",
                resource: resource(),
                code: None,
                message: e.to_string(),
            })?;
        let mut pages = self
            .sd
            .list_services()
            .filters(filter)
            .into_paginator()
            .send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| api_error("ListServices", resource(), e))?;
            out.extend(
                page.services
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|s| s.id),
            );
        }
        Ok(out)
    }

    /// One service in full (GetService): the only call that says which
    /// namespace a service is in.
    pub async fn service(&self, id: &str) -> Result<Service, ApiError> {
        let out = self
            .sd
            .get_service()
            .id(id)
            .send()
            .await
            .map_err(|e| api_error("GetService", format!("service {id}"), e))?;
        let s = out.service.ok_or_else(|| ApiError {
            operation: "GetService",
            resource: format!("service {id}"),
            code: None,
            message: "no service in the response".to_owned(),
        })?;
        Ok(Service {
            id: s.id.unwrap_or_else(|| id.to_owned()),
            arn: s.arn.unwrap_or_default(),
            name: s.name.unwrap_or_default(),
            namespace_id: s.namespace_id,
            description: s.description.filter(|d| !d.is_empty()),
            dns_config: s.dns_config.as_ref().map(|d| dns_json(d).to_string()),
            has_health_check: s.health_check_config.is_some()
                || s.health_check_custom_config.is_some(),
            health_check_config: health_json(
                s.health_check_config.as_ref(),
                s.health_check_custom_config.as_ref(),
            )
            .map(|v| v.to_string()),
            tags: Tags::new(),
        })
    }

    /// A resource's tags (ListTagsForResource; the API has no paging).
    pub async fn tags(&self, arn: &str, resource: &str) -> Result<Tags, ApiError> {
        let out = self
            .sd
            .list_tags_for_resource()
            .resource_arn(arn)
            .send()
            .await
            .map_err(|e| api_error("ListTagsForResource", resource, e))?;
        Ok(out
            .tags
            .unwrap_or_default()
            .into_iter()
            .map(|t| (t.key, t.value))
            .collect())
    }

    /// Every instance of a service with its attributes (ListInstances, all
    /// pages): one call per page rather than one per instance.
    pub async fn instances(&self, svc: &Service) -> Result<Vec<Instance>, ApiError> {
        let resource = format!("service {} ({})", svc.id, svc.name);
        let mut pages = self
            .sd
            .list_instances()
            .service_id(&svc.id)
            .into_paginator()
            .send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| api_error("ListInstances", resource.clone(), e))?;
            out.extend(
                page.instances
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|i| {
                        let attributes: BTreeMap<String, String> =
                            i.attributes.unwrap_or_default().into_iter().collect();
                        Some(Instance {
                            id: i.id?,
                            service_id: svc.id.clone(),
                            attributes,
                            health_status: None,
                        })
                    }),
            );
        }
        Ok(out)
    }

    /// Instance id → HEALTHY, UNHEALTHY or UNKNOWN (GetInstancesHealthStatus,
    /// all pages). Only meaningful for services with a health check.
    pub async fn health(&self, svc: &Service) -> Result<HashMap<String, String>, ApiError> {
        let resource = format!("service {} ({})", svc.id, svc.name);
        let mut pages = self
            .sd
            .get_instances_health_status()
            .service_id(&svc.id)
            .into_paginator()
            .send();
        let mut out = HashMap::new();
        while let Some(page) = pages.next().await {
            let page =
                page.map_err(|e| api_error("GetInstancesHealthStatus", resource.clone(), e))?;
            out.extend(
                page.status
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(k, v)| (k, v.as_str().to_owned())),
            );
        }
        Ok(out)
    }
}

fn namespace(n: NamespaceSummary) -> Option<Namespace> {
    let hosted_zone_id = n
        .properties
        .as_ref()
        .and_then(|p| p.dns_properties.as_ref())
        .and_then(|d| d.hosted_zone_id.clone());
    Some(Namespace {
        id: n.id?,
        arn: n.arn.unwrap_or_default(),
        name: n.name.unwrap_or_default(),
        kind: n.r#type.map(|t| t.as_str().to_owned()),
        description: n.description.filter(|d| !d.is_empty()),
        hosted_zone_id,
        tags: Tags::new(),
    })
}

/// The DNS config with the API's own field names, so it reads like the
/// AWS documentation.
fn dns_json(d: &DnsConfig) -> Value {
    let records: Vec<Value> = d
        .dns_records()
        .iter()
        .map(|r| json!({"Type": r.r#type().as_str(), "TTL": r.ttl()}))
        .collect();
    let mut m = Map::new();
    if let Some(p) = d.routing_policy() {
        m.insert("RoutingPolicy".to_owned(), p.as_str().into());
    }
    m.insert("DnsRecords".to_owned(), records.into());
    Value::Object(m)
}

/// A Route 53 health check and a custom one, in one object.
fn health_json(
    route53: Option<&HealthCheckConfig>,
    custom: Option<&HealthCheckCustomConfig>,
) -> Option<Value> {
    let mut m = Map::new();
    if let Some(h) = route53 {
        m.insert("Type".to_owned(), h.r#type().as_str().into());
        if let Some(p) = h.resource_path() {
            m.insert("ResourcePath".to_owned(), p.into());
        }
        if let Some(t) = h.failure_threshold() {
            m.insert("FailureThreshold".to_owned(), t.into());
        }
    }
    // The custom config's only field is deprecated (always 1): its presence
    // is what matters.
    if custom.is_some() {
        m.insert("Custom".to_owned(), json!({}));
    }
    (!m.is_empty()).then_some(Value::Object(m))
}
