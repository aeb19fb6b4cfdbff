//! What one sync read from Cloud Map, independent of the SDK's types so the
//! mapping to observations can be tested without AWS.

use std::collections::BTreeMap;

/// Tags as the API returns them, key to value.
pub type Tags = BTreeMap<String, String>;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Namespace {
    pub id: String,
    pub arn: String,
    pub name: String,
    /// HTTP, DNS_PRIVATE or DNS_PUBLIC.
    pub kind: Option<String>,
    pub description: Option<String>,
    pub hosted_zone_id: Option<String>,
    pub tags: Tags,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Service {
    pub id: String,
    pub arn: String,
    pub name: String,
    pub namespace_id: Option<String>,
    pub description: Option<String>,
    /// The DNS config, as JSON with the API's field names.
    pub dns_config: Option<String>,
    /// The health check config (Route 53 or custom), as JSON.
    pub health_check_config: Option<String>,
    /// Whether the service has any health check, so asking for instance
    /// health means something.
    pub has_health_check: bool,
    pub tags: Tags,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Instance {
    pub id: String,
    pub service_id: String,
    /// Every attribute, `AWS_INSTANCE_*` and custom ones.
    pub attributes: BTreeMap<String, String>,
    pub health_status: Option<String>,
}

/// Everything one sync read.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub namespaces: Vec<Namespace>,
    pub services: Vec<Service>,
    pub instances: Vec<Instance>,
}
