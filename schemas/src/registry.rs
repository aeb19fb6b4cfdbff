//! The resource registry: the single declaration of what infragraph knows.
//!
//! A resource type names its topic, its graph label, how its id is formed,
//! its typed properties, the relationships it asserts and the kind of scope
//! that owns it. Labels and relationship types reach Cypher only from here.

use std::fmt;
use std::str::FromStr;

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
    }
}

named_enum! {
    /// A relationship type, as it appears in the graph (UPPER_SNAKE).
    pub enum RelType {
        RunsOn => "RUNS_ON",
        ChildOf => "CHILD_OF",
        ListensOn => "LISTENS_ON",
        ConnectsTo => "CONNECTS_TO",
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
        self.properties.iter().enumerate().find(|(_, p)| p.name == name)
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
        Self::ALL.iter().copied().find(|k| k.label() == label).ok_or_else(|| UnknownName {
            kind: "label",
            name: label.to_owned(),
        })
    }
}

/// Every observation topic, in registry order.
pub fn observation_topics() -> Vec<String> {
    ResourceKind::ALL.iter().map(|k| k.topic()).collect()
}

const fn prop(name: &'static str, ty: PropertyType, doc: &'static str) -> PropertyDef {
    PropertyDef { name, ty, required: false, merge: Merge::Latest, doc }
}

const fn required(name: &'static str, ty: PropertyType, doc: &'static str) -> PropertyDef {
    PropertyDef { name, ty, required: true, merge: Merge::Latest, doc }
}

const fn union(name: &'static str, doc: &'static str) -> PropertyDef {
    PropertyDef { name, ty: PropertyType::StringList, required: false, merge: Merge::Union, doc }
}

const fn outgoing(rel_type: RelType, target: ResourceKind, doc: &'static str) -> RelationshipDef {
    RelationshipDef { rel_type, target, direction: Direction::Outgoing, doc }
}

use PropertyType::{Long, String as Str};

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
        prop("threads", Long, "Thread count"),
        prop("rss_bytes", Long, "Resident memory in bytes"),
        prop("cpu_time_ms", Long, "User plus system CPU time in ms"),
        prop("container_id", Str, "Container id named by the cgroup path"),
    ],
    relationships: &[
        outgoing(RelType::RunsOn, ResourceKind::Host, "The host the process runs on"),
        outgoing(RelType::ChildOf, ResourceKind::Process, "The parent process"),
        outgoing(RelType::ListensOn, ResourceKind::Endpoint, "A socket it accepts on"),
        outgoing(RelType::ConnectsTo, ResourceKind::Endpoint, "A remote endpoint it dialled"),
    ],
    scope: ScopeKind::Host,
    doc: "A process; its id survives PID reuse",
};

static ENDPOINT: ResourceDef = ResourceDef {
    kind: ResourceKind::Endpoint,
    label: "Endpoint",
    id_fields: &["protocol", "address", "port", "host_id for loopback and link-local"],
    properties: &[
        required("protocol", Str, "tcp or udp"),
        required("address", Str, "IP address"),
        required("port", Long, "Port number"),
        prop("host_id", Str, "Host the address is scoped to (loopback, link-local)"),
    ],
    relationships: &[],
    scope: ScopeKind::Host,
    doc: "An ip:port socket address; loopback and link-local ones are scoped to their host",
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
            assert!(labels.insert(def.label), "label {} declared twice", def.label);
            assert_eq!(ResourceKind::from_label(def.label), Ok(*kind));
            assert!(def.label.chars().next().is_some_and(|c| c.is_ascii_uppercase()));
            assert!(!def.label.contains('_'), "labels are PascalCase: {}", def.label);
        }
    }

    #[test]
    fn names_round_trip_and_unknown_names_are_errors() {
        for rel in RelType::ALL {
            assert_eq!(rel.as_str().parse::<RelType>(), Ok(*rel));
            assert!(rel.as_str().chars().all(|c| c.is_ascii_uppercase() || c == '_'));
        }
        let err = "NOT_A_REL".parse::<RelType>().unwrap_err();
        assert_eq!(err.to_string(), "unknown RelType \"NOT_A_REL\"");
    }

    #[test]
    fn property_names_are_unique_per_type() {
        for kind in ResourceKind::ALL {
            let names: std::collections::HashSet<_> =
                kind.def().properties.iter().map(|p| p.name).collect();
            assert_eq!(names.len(), kind.def().properties.len(), "duplicate property in {kind}");
        }
    }
}
