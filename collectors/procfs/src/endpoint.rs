//! Endpoint ids: `<proto>://<ip>:<port>`, IPv6 in brackets, and
//! `@<scope>` appended when the address means nothing off its host
//! (loopback, link-local, the unspecified address), so two hosts'
//! `127.0.0.1:5432` never merge.

use std::net::IpAddr;

/// TCP or UDP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    pub const fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

/// Whether an address only has meaning on its own host (or namespace).
pub fn host_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback() || v4.is_link_local() || v4.is_unspecified(),
        IpAddr::V6(v6) => v6.is_loopback() || v6.is_unicast_link_local() || v6.is_unspecified(),
    }
}

/// An endpoint, with the scope it is qualified by when host-local.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Endpoint {
    pub proto: Proto,
    pub ip: IpAddr,
    pub port: u16,
    /// `Some(scope)` for host-local addresses.
    pub scope: Option<String>,
}

impl Endpoint {
    /// An endpoint seen in a namespace whose host-local addresses are scoped
    /// by `scope`. IPv4-mapped IPv6 addresses become plain IPv4 so both
    /// spellings of one address name one endpoint.
    pub fn new(proto: Proto, ip: IpAddr, port: u16, scope: &str) -> Self {
        let ip = ip.to_canonical();
        let scope = host_local(ip).then(|| scope.to_owned());
        Endpoint {
            proto,
            ip,
            port,
            scope,
        }
    }

    pub fn id(&self) -> String {
        let addr = match self.ip {
            IpAddr::V4(v4) => format!("{v4}:{}", self.port),
            IpAddr::V6(v6) => format!("[{v6}]:{}", self.port),
        };
        match &self.scope {
            Some(scope) => format!("{}://{addr}@{scope}", self.proto.as_str()),
            None => format!("{}://{addr}", self.proto.as_str()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_bracket_ipv6_and_scope_host_local_addresses() {
        let id = |ip: &str, port| Endpoint::new(Proto::Tcp, ip.parse().unwrap(), port, "h1").id();
        assert_eq!(id("10.0.0.5", 5432), "tcp://10.0.0.5:5432");
        assert_eq!(id("127.0.0.1", 5432), "tcp://127.0.0.1:5432@h1");
        assert_eq!(id("::1", 22), "tcp://[::1]:22@h1");
        assert_eq!(id("fe80::1", 22), "tcp://[fe80::1]:22@h1");
        assert_eq!(id("169.254.1.1", 80), "tcp://169.254.1.1:80@h1");
        assert_eq!(id("0.0.0.0", 80), "tcp://0.0.0.0:80@h1");
        assert_eq!(id("2001:db8::1", 443), "tcp://[2001:db8::1]:443");
        assert_eq!(
            id("::ffff:10.0.0.5", 80),
            "tcp://10.0.0.5:80",
            "v4-mapped is v4"
        );
        assert_eq!(
            Endpoint::new(Proto::Udp, "10.0.0.5".parse().unwrap(), 53, "h1").id(),
            "udp://10.0.0.5:53"
        );
    }
}
