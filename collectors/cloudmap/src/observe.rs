//! A snapshot turned into observations: namespaces, then services, then
//! instances, with their relationships.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;

use infragraph_collector::SyncContext;
use infragraph_schemas::{Observation, RelType, ResourceKind};

use crate::config::CloudMapConfig;
use crate::model::{Instance, Namespace, Service, Snapshot, Tags};

/// `<service id>/<instance id>`: instance ids are only unique per service.
pub fn instance_id(service_id: &str, instance_id: &str) -> String {
    format!("{service_id}/{instance_id}")
}

/// The host collector's endpoint id for a TCP listener on `ip:port`, so an
/// instance joins the process listening there. `None` for an unparseable
/// address, and for host-local ones (loopback, link-local, unspecified):
/// the host collector qualifies those with its host, which Cloud Map does
/// not know, and unqualified they would merge every host's listeners.
pub fn endpoint_id(ip: &str, port: &str) -> Option<String> {
    let ip: IpAddr = ip.trim().parse().ok()?;
    let port: u16 = port.trim().parse().ok()?;
    let ip = ip.to_canonical();
    let local = match ip {
        IpAddr::V4(v4) => v4.is_loopback() || v4.is_link_local() || v4.is_unspecified(),
        IpAddr::V6(v6) => v6.is_loopback() || v6.is_unicast_link_local() || v6.is_unspecified(),
    };
    if local {
        return None;
    }
    Some(match ip {
        IpAddr::V4(v4) => format!("tcp://{v4}:{port}"),
        IpAddr::V6(v6) => format!("tcp://[{v6}]:{port}"),
    })
}

/// `key=value`, sorted by key, as the registry stores tags and attributes.
fn pairs(map: &BTreeMap<String, String>) -> Option<Vec<String>> {
    (!map.is_empty()).then(|| map.iter().map(|(k, v)| format!("{k}={v}")).collect())
}

/// The GitHub collector's id (the repository's web address) for what a
/// repository tag says: `owner/name`, read against `base`, or a URL
/// (`https://HOST/owner/name`, `git@HOST:owner/name`), with a trailing `/`
/// or `.git` dropped. `None` for anything else: a guessed id would join the
/// service to the wrong repository.
pub fn repository_id(value: &str, base: &str) -> Option<String> {
    let v = value.trim().trim_end_matches('/');
    let v = v.strip_suffix(".git").unwrap_or(v);
    let (origin, path) = if let Some(rest) = v.strip_prefix("git@") {
        let (host, path) = rest.split_once(':')?;
        (format!("https://{host}"), path)
    } else if let Some((scheme, rest)) = v.split_once("://") {
        let (host, path) = rest.split_once('/')?;
        (format!("{scheme}://{host}"), path)
    } else {
        (base.trim_end_matches('/').to_owned(), v)
    };
    let (owner, name) = path.split_once('/')?;
    let part = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    (part(owner) && part(name)).then(|| format!("{origin}/{owner}/{name}"))
}

/// Every observation of one sync.
pub fn observations(
    snap: &Snapshot,
    config: &CloudMapConfig,
    ctx: &SyncContext,
) -> Vec<Observation> {
    let now = ctx.now_ms();
    let resolver = Resolver::new(&snap.services);
    let mut out =
        Vec::with_capacity(snap.namespaces.len() + snap.services.len() + snap.instances.len());
    out.extend(snap.namespaces.iter().map(|ns| namespace(ns, ctx, now)));
    out.extend(
        snap.services
            .iter()
            .map(|s| service(s, &resolver, config, ctx, now)),
    );
    out.extend(snap.instances.iter().map(|i| instance(i, ctx, now)));
    out
}

fn namespace(ns: &Namespace, ctx: &SyncContext, now: i64) -> Observation {
    ctx.observation_at(ResourceKind::CloudMapNamespace, ns.id.as_str(), now)
        .with("arn", ns.arn.as_str())
        .with("name", ns.name.as_str())
        .with("type", ns.kind.clone())
        .with("description", ns.description.clone())
        .with("hosted_zone_id", ns.hosted_zone_id.clone())
        .with("tags", pairs(&ns.tags))
}

fn service(
    s: &Service,
    resolver: &Resolver,
    config: &CloudMapConfig,
    ctx: &SyncContext,
    now: i64,
) -> Observation {
    let mut obs = ctx
        .observation_at(ResourceKind::CloudMapService, s.id.as_str(), now)
        .with("arn", s.arn.as_str())
        .with("name", s.name.as_str())
        .with("namespace_id", s.namespace_id.clone())
        .with("description", s.description.clone())
        .with("dns_config", s.dns_config.clone())
        .with("health_check_config", s.health_check_config.clone())
        .with("tags", pairs(&s.tags));
    if let Some(ns) = &s.namespace_id {
        obs = obs.relate(RelType::InNamespace, ns.as_str());
    }
    for target in resolver.dependencies(s, &config.dependency_tags) {
        obs = obs.relate(RelType::DependsOn, target);
    }
    if let Some(value) = s.tags.get(&config.repository_tag) {
        match repository_id(value, &config.repository_base_url) {
            Some(repo) => obs = obs.relate(RelType::BuiltFrom, repo),
            None => {
                tracing::warn!(service = %s.id, tag = %config.repository_tag, %value, "repository tag names no owner/name or repository URL; left out")
            }
        }
    }
    obs
}

fn instance(i: &Instance, ctx: &SyncContext, now: i64) -> Observation {
    let attr = |k: &str| i.attributes.get(k).cloned();
    let port = i
        .attributes
        .get("AWS_INSTANCE_PORT")
        .and_then(|p| p.trim().parse::<i64>().ok());
    let mut obs = ctx
        .observation_at(
            ResourceKind::CloudMapInstance,
            instance_id(&i.service_id, &i.id),
            now,
        )
        .with("instance_id", i.id.as_str())
        .with("service_id", i.service_id.as_str())
        .with("ipv4", attr("AWS_INSTANCE_IPV4"))
        .with("ipv6", attr("AWS_INSTANCE_IPV6"))
        .with("port", port)
        .with("cname", attr("AWS_INSTANCE_CNAME"))
        .with("attributes", pairs(&i.attributes))
        .with("health_status", i.health_status.clone())
        .relate(RelType::RegisteredTo, i.service_id.as_str());
    let endpoints: BTreeSet<String> = ["AWS_INSTANCE_IPV4", "AWS_INSTANCE_IPV6"]
        .iter()
        .filter_map(|k| {
            Some((
                i.attributes.get(*k)?,
                i.attributes.get("AWS_INSTANCE_PORT")?,
            ))
        })
        .filter_map(|(ip, port)| endpoint_id(ip, port))
        .collect();
    for e in endpoints {
        obs = obs.relate(RelType::HasEndpoint, e);
    }
    obs
}

/// Service names (as dependency tags spell them) to service ids.
struct Resolver<'a> {
    ids: BTreeSet<&'a str>,
    /// (namespace id, name) → id: names are unique within a namespace.
    in_namespace: HashMap<(Option<&'a str>, &'a str), &'a str>,
    /// name → every id with that name, across namespaces.
    anywhere: HashMap<&'a str, Vec<&'a str>>,
}

impl<'a> Resolver<'a> {
    fn new(services: &'a [Service]) -> Self {
        let mut r = Resolver {
            ids: BTreeSet::new(),
            in_namespace: HashMap::new(),
            anywhere: HashMap::new(),
        };
        for s in services {
            r.ids.insert(&s.id);
            r.in_namespace
                .insert((s.namespace_id.as_deref(), &s.name), &s.id);
            r.anywhere.entry(&s.name).or_default().push(&s.id);
        }
        r
    }

    /// The services `s` declares it depends on. A name resolves in the
    /// service's own namespace first, then to the one service of that name
    /// elsewhere in the scope; a service id is taken as is. What does not
    /// resolve (unknown, or ambiguous across namespaces) is logged and left
    /// out, rather than guessed.
    fn dependencies(&self, s: &Service, tag_keys: &[String]) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for name in declared(&s.tags, tag_keys) {
            match self.resolve(s, name) {
                Some(id) if id != s.id => {
                    out.insert(id.to_owned());
                }
                Some(_) => {}
                None => {
                    tracing::warn!(service = %s.id, dependency = %name, "declared dependency names no single service in this scope; left out")
                }
            }
        }
        out
    }

    fn resolve(&self, s: &Service, name: &str) -> Option<&'a str> {
        if let Some(id) = self.ids.get(name) {
            return Some(id);
        }
        if let Some(id) = self.in_namespace.get(&(s.namespace_id.as_deref(), name)) {
            return Some(id);
        }
        match self.anywhere.get(name).map(Vec::as_slice) {
            Some([only]) => Some(only),
            _ => None,
        }
    }
}

/// The comma-separated names under any of `keys`, trimmed, empties dropped.
fn declared<'t>(tags: &'t Tags, keys: &[String]) -> impl Iterator<Item = &'t str> {
    keys.iter()
        .filter_map(|k| tags.get(k))
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|n| !n.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_tags_read_as_the_github_collectors_ids() {
        let base = "https://github.com";
        for tag in [
            "acme/web",
            " acme/web/ ",
            "https://github.com/acme/web",
            "https://github.com/acme/web.git",
            "git@github.com:acme/web.git",
        ] {
            assert_eq!(
                repository_id(tag, base).as_deref(),
                Some("https://github.com/acme/web"),
                "{tag:?}"
            );
        }
        assert_eq!(
            repository_id("acme/web", "https://git.example.com/").as_deref(),
            Some("https://git.example.com/acme/web")
        );
        assert_eq!(
            repository_id("https://git.example.com/acme/web", base).as_deref(),
            Some("https://git.example.com/acme/web")
        );
        for bad in [
            "",
            "web",
            "acme/web/tree/main",
            "acme/ web",
            "https://github.com/acme",
            "git@github.com",
            "/web",
        ] {
            assert_eq!(repository_id(bad, base), None, "{bad:?}");
        }
    }

    #[test]
    fn endpoint_ids_match_the_host_collector() {
        assert_eq!(
            endpoint_id("10.0.0.5", "8080").as_deref(),
            Some("tcp://10.0.0.5:8080")
        );
        assert_eq!(
            endpoint_id("2001:db8::1", "443").as_deref(),
            Some("tcp://[2001:db8::1]:443")
        );
        assert_eq!(
            endpoint_id("::ffff:10.1.2.3", "80").as_deref(),
            Some("tcp://10.1.2.3:80")
        );
        assert_eq!(
            endpoint_id("127.0.0.1", "80"),
            None,
            "host-local: no host to qualify it with"
        );
        assert_eq!(endpoint_id("10.0.0.5", "http"), None);
        assert_eq!(endpoint_id("db.internal", "5432"), None);
    }

    fn svc(id: &str, name: &str, ns: &str, deps: Option<&str>) -> Service {
        let mut tags = Tags::new();
        if let Some(d) = deps {
            tags.insert("NEO4J_RELATIONSHIP_TO_SERVICE".to_owned(), d.to_owned());
        }
        Service {
            id: id.into(),
            name: name.into(),
            namespace_id: Some(ns.into()),
            tags,
            ..Service::default()
        }
    }

    #[test]
    fn dependencies_resolve_in_own_namespace_first_and_never_guess() {
        let services = vec![
            svc(
                "srv-a",
                "api",
                "ns-1",
                Some("db, cache ,,srv-x, nope, dup, api"),
            ),
            svc("srv-db1", "db", "ns-1", None),
            svc("srv-db2", "db", "ns-2", None),
            svc("srv-c", "cache", "ns-2", None),
            svc("srv-x", "x", "ns-2", None),
            svc("srv-d1", "dup", "ns-2", None),
            svc("srv-d2", "dup", "ns-3", None),
        ];
        let r = Resolver::new(&services);
        let keys = vec!["NEO4J_RELATIONSHIP_TO_SERVICE".to_owned()];
        let got: Vec<String> = r.dependencies(&services[0], &keys).into_iter().collect();
        // db: own namespace wins; cache: only one elsewhere; srv-x: an id;
        // nope: unknown; dup: ambiguous; api: itself.
        assert_eq!(got, ["srv-c", "srv-db1", "srv-x"]);
        assert!(
            r.dependencies(&services[0], &["other".to_owned()])
                .is_empty()
        );
    }
}
