//! The property names the views read, each checked against the registry
//! by a test below, so a rename there fails here instead of drawing
//! nameless nodes.

/// `Host.hostname`.
pub const HOSTNAME: &str = "hostname";
/// `Process.name`, `CloudMapService.name`, `GitHubRepository.name`, ….
pub const NAME: &str = "name";
/// `Process.host_id`, `Endpoint.host_id`: the host a node belongs to.
pub const HOST_ID: &str = "host_id";
/// `Process.pid`.
pub const PID: &str = "pid";
/// `GitHubUser.username`, `GitHubOrganization.username`.
pub const USERNAME: &str = "username";
/// `CloudMapInstance.instance_id`.
pub const INSTANCE_ID: &str = "instance_id";
/// `Endpoint.port`.
pub const PORT: &str = "port";
/// `Endpoint.address`.
pub const ADDRESS: &str = "address";

use infragraph_schemas::ResourceKind;

/// The property that names a node of `kind` to a person, if it has one.
pub fn display_property(kind: ResourceKind) -> Option<&'static str> {
    use ResourceKind as K;
    match kind {
        K::Host => Some(HOSTNAME),
        K::GitHubUser | K::GitHubOrganization => Some(USERNAME),
        K::CloudMapInstance => Some(INSTANCE_ID),
        K::Endpoint => None,
        _ => Some(NAME),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use infragraph_schemas::ResourceKind as K;

    #[test]
    fn every_name_read_is_declared_in_the_registry() {
        let declared = |k: K, p: &str| {
            assert!(
                k.def().property(p).is_some(),
                "{} has no property {p}",
                k.label()
            )
        };
        declared(K::Process, HOST_ID);
        declared(K::Endpoint, HOST_ID);
        declared(K::Process, PID);
        declared(K::Endpoint, PORT);
        declared(K::Endpoint, ADDRESS);
        for k in K::ALL {
            if let Some(p) = display_property(*k) {
                declared(*k, p);
            }
        }
    }
}
