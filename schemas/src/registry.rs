//! The resource registry: the single declaration of what infragraph knows.
//!
//! A resource type names its topic, its graph label, how its id is formed,
//! its typed properties, the relationships it asserts and the kind of scope
//! that owns it. Labels and relationship types reach Cypher only from here.

use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

/// Declares a closed set of names once: the enum, its wire names and parsing.
macro_rules! named_enum {
    ($(#[$meta:meta])* $vis:vis enum $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        $vis enum $name { $($(#[$vmeta])* $variant),+ }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The name used on the wire and in the graph.
            pub const fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl FromStr for $name {
            type Err = UnknownName;
            fn from_str(s: &str) -> Result<Self, UnknownName> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(UnknownName { kind: stringify!($name), name: s.to_owned() }),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

/// A name that is not in the registry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} {name:?}")]
pub struct UnknownName {
    pub kind: &'static str,
    pub name: String,
}

named_enum! {
    /// A resource type. Its wire name is also the suffix of its topic.
    pub enum ResourceKind {
        Host => "host",
        Process => "process",
        Endpoint => "endpoint",
        CloudMapNamespace => "cloudmap_namespace",
        CloudMapService => "cloudmap_service",
        CloudMapInstance => "cloudmap_instance",
        GitHubOrganization => "github_organization",
        GitHubRepository => "github_repository",
        GitHubUser => "github_user",
        GitHubTeam => "github_team",
        ProgrammingLanguage => "programming_language",
    }
}

named_enum! {
    /// A relationship type, as it appears in the graph (UPPER_SNAKE).
    pub enum RelType {
        RunsOn => "RUNS_ON",
        ChildOf => "CHILD_OF",
        ListensOn => "LISTENS_ON",
        ConnectsTo => "CONNECTS_TO",
        InNamespace => "IN_NAMESPACE",
        RegisteredTo => "REGISTERED_TO",
        DependsOn => "DEPENDS_ON",
        HasEndpoint => "HAS_ENDPOINT",
        BuiltFrom => "BUILT_FROM",
        Owner => "OWNER",
        Language => "LANGUAGE",
        MemberOf => "MEMBER_OF",
        AdminOf => "ADMIN_OF",
        Member => "MEMBER",
        Maintainer => "MAINTAINER",
        Resource => "RESOURCE",
        MemberOfTeam => "MEMBER_OF_TEAM",
        Admin => "ADMIN",
        Maintain => "MAINTAIN",
        Read => "READ",
        Triage => "TRIAGE",
        Write => "WRITE",
        OutsideCollabAdmin => "OUTSIDE_COLLAB_ADMIN",
        OutsideCollabMaintain => "OUTSIDE_COLLAB_MAINTAIN",
        OutsideCollabRead => "OUTSIDE_COLLAB_READ",
        OutsideCollabTriage => "OUTSIDE_COLLAB_TRIAGE",
        OutsideCollabWrite => "OUTSIDE_COLLAB_WRITE",
        DirectCollabAdmin => "DIRECT_COLLAB_ADMIN",
        DirectCollabMaintain => "DIRECT_COLLAB_MAINTAIN",
        DirectCollabRead => "DIRECT_COLLAB_READ",
        DirectCollabTriage => "DIRECT_COLLAB_TRIAGE",
        DirectCollabWrite => "DIRECT_COLLAB_WRITE",
    }
}

named_enum! {
    /// What a collector's sync covers; cleanup never reaches past it.
    pub enum ScopeKind {
        /// One machine, identified by its host id.
        Host => "host",
        /// One AWS account and region, optionally one namespace.
        AwsAccountRegion => "aws_account_region",
        /// One GitHub organisation.
        GitHubOrg => "github_org",
    }
}

/// The Avro type of a property value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PropertyType {
    Bool,
    Long,
    Double,
    String,
    StringList,
}

/// How observations of one property from several places or times combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Merge {
    /// The value from the newest observation wins.
    Latest,
    /// Multi-valued: the union of every observation's values.
    Union,
    /// A measurement that changes on almost every look (CPU time, memory):
    /// latest wins, but it reaches the graph only when it moved by a
    /// meaningful amount or the graph's value grew stale, so a busy host's
    /// syncs stay cheap. The graph is a map, not a time series: the newest
    /// value within those bounds, never its history (Weave Scope kept such
    /// values as time series beside the topology for the same reason).
    Measurement,
}

/// One typed property of a resource type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PropertyDef {
    pub name: &'static str,
    pub ty: PropertyType,
    /// A missing required property makes the observation invalid.
    pub required: bool,
    pub merge: Merge,
    pub doc: &'static str,
}

/// Which way a relationship points in the graph, seen from the observed
/// resource that asserts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// `(observed)-[:REL]->(target)`
    Outgoing,
    /// `(target)-[:REL]->(observed)`
    Incoming,
}

/// A relationship a resource type may assert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelationshipDef {
    pub rel_type: RelType,
    pub target: ResourceKind,
    pub direction: Direction,
    pub doc: &'static str,
}

/// Everything infragraph knows about one resource type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResourceDef {
    pub kind: ResourceKind,
    /// Graph label, PascalCase; also the Avro record name.
    pub label: &'static str,
    /// The facts the id is formed from, in order (documentation and checks).
    pub id_fields: &'static [&'static str],
    pub properties: &'static [PropertyDef],
    pub relationships: &'static [RelationshipDef],
    pub scope: ScopeKind,
    pub doc: &'static str,
}

impl ResourceDef {
    /// The observation topic for this resource type.
    pub fn topic(&self) -> String {
        format!("infragraph.obs.{}", self.kind.as_str())
    }

    pub fn property(&self, name: &str) -> Option<(usize, &'static PropertyDef)> {
        self.properties
            .iter()
            .enumerate()
            .find(|(_, p)| p.name == name)
    }

    pub fn relationship(&self, rel_type: RelType) -> Option<&'static RelationshipDef> {
        self.relationships.iter().find(|r| r.rel_type == rel_type)
    }
}

impl ResourceKind {
    pub fn def(self) -> &'static ResourceDef {
        match self {
            ResourceKind::Host => &HOST,
            ResourceKind::Process => &PROCESS,
            ResourceKind::Endpoint => &ENDPOINT,
            ResourceKind::CloudMapNamespace => &CLOUDMAP_NAMESPACE,
            ResourceKind::CloudMapService => &CLOUDMAP_SERVICE,
            ResourceKind::CloudMapInstance => &CLOUDMAP_INSTANCE,
            ResourceKind::GitHubOrganization => &GITHUB_ORGANIZATION,
            ResourceKind::GitHubRepository => &GITHUB_REPOSITORY,
            ResourceKind::GitHubUser => &GITHUB_USER,
            ResourceKind::GitHubTeam => &GITHUB_TEAM,
            ResourceKind::ProgrammingLanguage => &PROGRAMMING_LANGUAGE,
        }
    }

    pub fn label(self) -> &'static str {
        self.def().label
    }

    pub fn topic(self) -> String {
        self.def().topic()
    }

    /// The resource type whose graph label is `label`.
    pub fn from_label(label: &str) -> Result<Self, UnknownName> {
        Self::ALL
            .iter()
            .copied()
            .find(|k| k.label() == label)
            .ok_or_else(|| UnknownName {
                kind: "label",
                name: label.to_owned(),
            })
    }

    /// The declared properties sorted by name, the order `Properties` keeps,
    /// so a reader can walk both side by side instead of searching.
    pub fn properties_by_name(self) -> &'static [&'static PropertyDef] {
        static SORTED: OnceLock<Vec<Vec<&'static PropertyDef>>> = OnceLock::new();
        let all = SORTED.get_or_init(|| {
            let sorted = |k: &ResourceKind| {
                let mut props: Vec<&'static PropertyDef> = k.def().properties.iter().collect();
                props.sort_by_key(|p| p.name);
                props
            };
            Self::ALL.iter().map(sorted).collect()
        });
        Self::ALL
            .iter()
            .position(|k| *k == self)
            .map_or(&[], |i| all[i].as_slice())
    }
}

impl ScopeKind {
    /// How scope strings of this kind begin: `host:<host id>`,
    /// `aws:<account>/<region>`, `github:<org>`.
    pub const fn prefix(self) -> &'static str {
        match self {
            ScopeKind::Host => "host:",
            ScopeKind::AwsAccountRegion => "aws:",
            ScopeKind::GitHubOrg => "github:",
        }
    }

    /// The scope string of this kind for `id`: `ScopeKind::Host.scope("ab")`
    /// is `host:ab`.
    pub fn scope(self, id: &str) -> String {
        format!("{}{id}", self.prefix())
    }

    /// The kind of a scope string, by its prefix.
    pub fn of(scope: &str) -> Option<ScopeKind> {
        Self::ALL
            .iter()
            .copied()
            .find(|k| scope.starts_with(k.prefix()))
    }

    /// Resource types a scope of this kind can assert: its own, and the
    /// targets of their relationships (which the writer may create as stubs).
    pub fn resource_kinds(self) -> Vec<ResourceKind> {
        let own = ResourceKind::ALL.iter().filter(|k| k.def().scope == self);
        let mut kinds: Vec<ResourceKind> = own.clone().copied().collect();
        kinds.extend(own.flat_map(|k| k.def().relationships.iter().map(|r| r.target)));
        kinds.sort();
        kinds.dedup();
        kinds
    }
}

/// Every observation topic, in registry order.
pub fn observation_topics() -> Vec<String> {
    ResourceKind::ALL.iter().map(|k| k.topic()).collect()
}

const fn prop(name: &'static str, ty: PropertyType, doc: &'static str) -> PropertyDef {
    PropertyDef {
        name,
        ty,
        required: false,
        merge: Merge::Latest,
        doc,
    }
}

const fn required(name: &'static str, ty: PropertyType, doc: &'static str) -> PropertyDef {
    PropertyDef {
        name,
        ty,
        required: true,
        merge: Merge::Latest,
        doc,
    }
}

const fn measurement(name: &'static str, doc: &'static str) -> PropertyDef {
    PropertyDef {
        name,
        ty: PropertyType::Long,
        required: false,
        merge: Merge::Measurement,
        doc,
    }
}

const fn union(name: &'static str, doc: &'static str) -> PropertyDef {
    PropertyDef {
        name,
        ty: PropertyType::StringList,
        required: false,
        merge: Merge::Union,
        doc,
    }
}

const fn outgoing(rel_type: RelType, target: ResourceKind, doc: &'static str) -> RelationshipDef {
    RelationshipDef {
        rel_type,
        target,
        direction: Direction::Outgoing,
        doc,
    }
}

use PropertyType::{Bool, Long, String as Str};

static HOST: ResourceDef = ResourceDef {
    kind: ResourceKind::Host,
    label: "Host",
    id_fields: &["machine_id"],
    properties: &[
        required("hostname", Str, "Kernel host name"),
        prop("kernel", Str, "Kernel release (uname -r)"),
        prop("os_release", Str, "PRETTY_NAME from /etc/os-release"),
        prop("boot_time", Long, "Boot time, Unix ms"),
        prop("cpu_count", Long, "Online CPUs"),
        prop("memory_bytes", Long, "Total memory in bytes"),
        union("ip_addresses", "Addresses on the host's interfaces"),
    ],
    relationships: &[],
    scope: ScopeKind::Host,
    doc: "A machine: /etc/machine-id, falling back to the host name",
};

static PROCESS: ResourceDef = ResourceDef {
    kind: ResourceKind::Process,
    label: "Process",
    id_fields: &["host_id", "pid", "start_time"],
    properties: &[
        required("host_id", Str, "Id of the Host it runs on"),
        required("pid", Long, "Process id"),
        prop("ppid", Long, "Parent process id"),
        required("name", Str, "Command name (comm)"),
        prop("exe", Str, "Executable path"),
        prop("cmdline", Str, "Command line, secrets redacted on the host"),
        prop("user", Str, "User name of the real uid"),
        prop("uid", Long, "Real user id"),
        required("start_time", Long, "Start time, Unix ms"),
        measurement("threads", "Thread count"),
        measurement("rss_bytes", "Resident memory in bytes"),
        measurement("cpu_time_ms", "User plus system CPU time in ms"),
        prop("container_id", Str, "Container id named by the cgroup path"),
    ],
    relationships: &[
        outgoing(
            RelType::RunsOn,
            ResourceKind::Host,
            "The host the process runs on",
        ),
        outgoing(
            RelType::ChildOf,
            ResourceKind::Process,
            "The parent process",
        ),
        outgoing(
            RelType::ListensOn,
            ResourceKind::Endpoint,
            "A socket it accepts on",
        ),
        outgoing(
            RelType::ConnectsTo,
            ResourceKind::Endpoint,
            "A remote endpoint it dialled",
        ),
    ],
    scope: ScopeKind::Host,
    doc: "A process; its id survives PID reuse",
};

static ENDPOINT: ResourceDef = ResourceDef {
    kind: ResourceKind::Endpoint,
    label: "Endpoint",
    id_fields: &[
        "protocol",
        "address",
        "port",
        "host_id for loopback and link-local",
    ],
    properties: &[
        required("protocol", Str, "tcp or udp"),
        required("address", Str, "IP address"),
        required("port", Long, "Port number"),
        prop(
            "host_id",
            Str,
            "Host the address is scoped to (loopback, link-local)",
        ),
    ],
    relationships: &[],
    scope: ScopeKind::Host,
    doc: "An ip:port socket address; loopback and link-local ones are scoped to their host",
};

const fn tags() -> PropertyDef {
    PropertyDef {
        name: "tags",
        ty: PropertyType::StringList,
        required: false,
        merge: Merge::Latest,
        doc: "Tags as key=value",
    }
}

static CLOUDMAP_NAMESPACE: ResourceDef = ResourceDef {
    kind: ResourceKind::CloudMapNamespace,
    label: "CloudMapNamespace",
    id_fields: &["namespace id"],
    properties: &[
        required("arn", Str, "Namespace ARN"),
        required("name", Str, "Namespace name"),
        prop("type", Str, "HTTP, DNS_PRIVATE or DNS_PUBLIC"),
        prop("description", Str, "Description"),
        prop(
            "hosted_zone_id",
            Str,
            "Route 53 hosted zone, for DNS namespaces",
        ),
        tags(),
    ],
    relationships: &[],
    scope: ScopeKind::AwsAccountRegion,
    doc: "An AWS Cloud Map namespace",
};

static CLOUDMAP_SERVICE: ResourceDef = ResourceDef {
    kind: ResourceKind::CloudMapService,
    label: "CloudMapService",
    id_fields: &["service id"],
    properties: &[
        required("arn", Str, "Service ARN"),
        required("name", Str, "Service name"),
        prop("namespace_id", Str, "Namespace id"),
        prop("description", Str, "Description"),
        prop("dns_config", Str, "DNS configuration, as JSON"),
        prop(
            "health_check_config",
            Str,
            "Health check configuration, as JSON",
        ),
        tags(),
    ],
    relationships: &[
        outgoing(
            RelType::InNamespace,
            ResourceKind::CloudMapNamespace,
            "The namespace it belongs to",
        ),
        outgoing(
            RelType::DependsOn,
            ResourceKind::CloudMapService,
            "A service it declares a dependency on (tag)",
        ),
        outgoing(
            RelType::BuiltFrom,
            ResourceKind::GitHubRepository,
            "The repository its code lives in (tag)",
        ),
    ],
    scope: ScopeKind::AwsAccountRegion,
    doc: "An AWS Cloud Map service",
};

static CLOUDMAP_INSTANCE: ResourceDef = ResourceDef {
    kind: ResourceKind::CloudMapInstance,
    label: "CloudMapInstance",
    id_fields: &["service id", "instance id"],
    properties: &[
        required("instance_id", Str, "Instance id within its service"),
        required("service_id", Str, "Service id"),
        prop("ipv4", Str, "AWS_INSTANCE_IPV4"),
        prop("ipv6", Str, "AWS_INSTANCE_IPV6"),
        prop("port", Long, "AWS_INSTANCE_PORT"),
        prop("cname", Str, "AWS_INSTANCE_CNAME"),
        prop(
            "attributes",
            PropertyType::StringList,
            "Every attribute, as key=value",
        ),
        prop(
            "health_status",
            Str,
            "HEALTHY, UNHEALTHY or UNKNOWN, where the API gives it",
        ),
    ],
    relationships: &[
        outgoing(
            RelType::RegisteredTo,
            ResourceKind::CloudMapService,
            "The service it is registered to",
        ),
        outgoing(
            RelType::HasEndpoint,
            ResourceKind::Endpoint,
            "The ip:port it is registered at",
        ),
    ],
    scope: ScopeKind::AwsAccountRegion,
    doc: "An instance registered to an AWS Cloud Map service",
};

static GITHUB_ORGANIZATION: ResourceDef = ResourceDef {
    kind: ResourceKind::GitHubOrganization,
    label: "GitHubOrganization",
    id_fields: &["url"],
    properties: &[
        required("username", Str, "Login"),
        prop("url", Str, "Web URL"),
    ],
    relationships: &[],
    scope: ScopeKind::GitHubOrg,
    doc: "A GitHub organisation (Cartography's schema)",
};

static GITHUB_REPOSITORY: ResourceDef = ResourceDef {
    kind: ResourceKind::GitHubRepository,
    label: "GitHubRepository",
    id_fields: &["url"],
    properties: &[
        required("name", Str, "Name"),
        prop("fullname", Str, "owner/name"),
        prop("url", Str, "Web URL"),
        prop("description", Str, "Description"),
        prop("visibility", Str, "public, private or internal"),
        prop("private", Bool, "Not public"),
        prop("archived", Bool, "Archived"),
        prop("fork", Bool, "A fork"),
        prop("defaultbranch", Str, "Default branch"),
        prop("primarylanguage", Str, "Primary language"),
        prop("topics", PropertyType::StringList, "Topics"),
        prop("createdat", Str, "Created, ISO 8601"),
        prop("updatedat", Str, "Updated, ISO 8601"),
        prop("pushedat", Str, "Last push, ISO 8601"),
    ],
    relationships: &[
        outgoing(
            RelType::Owner,
            ResourceKind::GitHubOrganization,
            "The organisation that owns it",
        ),
        outgoing(
            RelType::Language,
            ResourceKind::ProgrammingLanguage,
            "A language it contains",
        ),
    ],
    scope: ScopeKind::GitHubOrg,
    doc: "A GitHub repository (Cartography's schema)",
};

const fn collab(rel_type: RelType, doc: &'static str) -> RelationshipDef {
    outgoing(rel_type, ResourceKind::GitHubRepository, doc)
}

static GITHUB_USER: ResourceDef = ResourceDef {
    kind: ResourceKind::GitHubUser,
    label: "GitHubUser",
    id_fields: &["url"],
    properties: &[
        required("username", Str, "Login"),
        prop("fullname", Str, "Display name"),
        prop("url", Str, "Web URL"),
        prop("is_site_admin", Bool, "A site administrator"),
        prop(
            "has_2fa_enabled",
            Bool,
            "Two-factor authentication on, where the API says",
        ),
    ],
    relationships: &[
        outgoing(
            RelType::MemberOf,
            ResourceKind::GitHubOrganization,
            "A member of the organisation",
        ),
        outgoing(
            RelType::AdminOf,
            ResourceKind::GitHubOrganization,
            "An owner of the organisation",
        ),
        outgoing(
            RelType::Member,
            ResourceKind::GitHubTeam,
            "A member of the team",
        ),
        outgoing(
            RelType::Maintainer,
            ResourceKind::GitHubTeam,
            "A maintainer of the team",
        ),
        collab(
            RelType::OutsideCollabAdmin,
            "Outside collaborator with admin",
        ),
        collab(
            RelType::OutsideCollabMaintain,
            "Outside collaborator with maintain",
        ),
        collab(RelType::OutsideCollabRead, "Outside collaborator with read"),
        collab(
            RelType::OutsideCollabTriage,
            "Outside collaborator with triage",
        ),
        collab(
            RelType::OutsideCollabWrite,
            "Outside collaborator with write",
        ),
        collab(RelType::DirectCollabAdmin, "Direct collaborator with admin"),
        collab(
            RelType::DirectCollabMaintain,
            "Direct collaborator with maintain",
        ),
        collab(RelType::DirectCollabRead, "Direct collaborator with read"),
        collab(
            RelType::DirectCollabTriage,
            "Direct collaborator with triage",
        ),
        collab(RelType::DirectCollabWrite, "Direct collaborator with write"),
    ],
    scope: ScopeKind::GitHubOrg,
    doc: "A GitHub user (Cartography's schema); in two organisations, one node",
};

static GITHUB_TEAM: ResourceDef = ResourceDef {
    kind: ResourceKind::GitHubTeam,
    label: "GitHubTeam",
    id_fields: &["url"],
    properties: &[
        required("name", Str, "Name"),
        prop("slug", Str, "Slug"),
        prop("url", Str, "Web URL"),
        prop("description", Str, "Description"),
        prop("privacy", Str, "secret or closed"),
    ],
    relationships: &[
        outgoing(
            RelType::Resource,
            ResourceKind::GitHubOrganization,
            "The organisation it belongs to",
        ),
        outgoing(
            RelType::MemberOfTeam,
            ResourceKind::GitHubTeam,
            "Its parent team",
        ),
        collab(RelType::Admin, "Team permission admin"),
        collab(RelType::Maintain, "Team permission maintain"),
        collab(RelType::Read, "Team permission read (pull)"),
        collab(RelType::Triage, "Team permission triage"),
        collab(RelType::Write, "Team permission write (push)"),
    ],
    scope: ScopeKind::GitHubOrg,
    doc: "A GitHub team (Cartography's schema)",
};

static PROGRAMMING_LANGUAGE: ResourceDef = ResourceDef {
    kind: ResourceKind::ProgrammingLanguage,
    label: "ProgrammingLanguage",
    id_fields: &["name"],
    properties: &[required("name", Str, "Language name")],
    relationships: &[],
    scope: ScopeKind::GitHubOrg,
    doc: "A programming language a repository contains",
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_its_own_def_label_and_topic() {
        let mut labels = std::collections::HashSet::new();
        for kind in ResourceKind::ALL {
            let def = kind.def();
            assert_eq!(def.kind, *kind, "def of {kind} names another kind");
            assert!(
                labels.insert(def.label),
                "label {} declared twice",
                def.label
            );
            assert_eq!(ResourceKind::from_label(def.label), Ok(*kind));
            assert!(
                def.label
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_uppercase())
            );
            assert!(
                !def.label.contains('_'),
                "labels are PascalCase: {}",
                def.label
            );
        }
    }

    #[test]
    fn names_round_trip_and_unknown_names_are_errors() {
        for rel in RelType::ALL {
            assert_eq!(rel.as_str().parse::<RelType>(), Ok(*rel));
            assert!(
                rel.as_str()
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c == '_')
            );
        }
        let err = "NOT_A_REL".parse::<RelType>().unwrap_err();
        assert_eq!(err.to_string(), "unknown RelType \"NOT_A_REL\"");
    }

    #[test]
    fn a_scope_asserts_its_own_kinds_and_the_ends_of_their_relationships() {
        assert_eq!(ScopeKind::of("host:abc"), Some(ScopeKind::Host));
        assert_eq!(ScopeKind::of("github:acme"), Some(ScopeKind::GitHubOrg));
        assert_eq!(ScopeKind::of("other"), None);
        for kind in ScopeKind::ALL {
            assert_eq!(ScopeKind::of(&kind.scope("x")), Some(*kind));
        }
        let aws = ScopeKind::AwsAccountRegion.resource_kinds();
        assert!(aws.contains(&ResourceKind::CloudMapInstance));
        assert!(
            aws.contains(&ResourceKind::Endpoint),
            "an instance's HAS_ENDPOINT may stub an Endpoint"
        );
        assert!(!aws.contains(&ResourceKind::Process));
    }

    #[test]
    fn property_names_are_unique_per_type() {
        for kind in ResourceKind::ALL {
            let names: std::collections::HashSet<_> =
                kind.def().properties.iter().map(|p| p.name).collect();
            assert_eq!(
                names.len(),
                kind.def().properties.len(),
                "duplicate property in {kind}"
            );
        }
    }
}
