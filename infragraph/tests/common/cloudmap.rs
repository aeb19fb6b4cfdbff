//! Cloud Map on moto for the end-to-end tests: a client, namespaces, and
//! the host address a registration can name.

use std::net::{IpAddr, Ipv4Addr};

use aws_config::{BehaviorVersion, Region};
use aws_sdk_servicediscovery::Client;
use aws_sdk_servicediscovery::config::Credentials;
use aws_sdk_servicediscovery::types::OperationTargetType;
use infragraph_collector_procfs::addrs::parse_fib_trie;
use infragraph_collector_procfs::endpoint::host_local;

pub const REGION: &str = "us-east-1";
pub const ACCOUNT: &str = "123456789012";
/// moto accepts any credentials; a collector process finds these through
/// the SDK's standard chain, as it would find real ones.
pub const CREDENTIALS: [(&str, &str); 2] = [
    ("AWS_ACCESS_KEY_ID", "testing"),
    ("AWS_SECRET_ACCESS_KEY", "testing"),
];

/// An IPv4 address of this host that means the same off the host. A
/// loopback listener is scoped to its host and could never join a Cloud Map
/// registration, which names addresses other machines reach.
pub fn routable_ipv4() -> Ipv4Addr {
    let trie = std::fs::read_to_string("/proc/net/fib_trie").expect("read /proc/net/fib_trie");
    let mut addrs = Vec::new();
    parse_fib_trie(&trie, &mut addrs);
    addrs
        .into_iter()
        .find_map(|ip| match ip {
            IpAddr::V4(v4) if !host_local(ip) => Some(v4),
            _ => None,
        })
        .expect("this machine has a routable IPv4 address (the join needs one, as a Cloud Map registration does)")
}

pub async fn client(endpoint: &str) -> Client {
    let sdk = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
        .load()
        .await;
    Client::new(&sdk)
}

/// An HTTP namespace named `name`; its id.
pub async fn namespace(sd: &Client, name: &str) -> String {
    let op = sd
        .create_http_namespace()
        .name(name)
        .send()
        .await
        .expect("CreateHttpNamespace");
    let op = sd
        .get_operation()
        .operation_id(op.operation_id.expect("an operation id"))
        .send()
        .await
        .expect("GetOperation");
    op.operation
        .and_then(|o| o.targets)
        .and_then(|t| t.get(&OperationTargetType::Namespace).cloned())
        .expect("the namespace id")
}
