//! The kernel's socket tables (`net/tcp`, `tcp6`, `udp`, `udp6`) of one
//! network namespace.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::endpoint::Proto;

pub const TCP_ESTABLISHED: u8 = 0x01;
pub const TCP_LISTEN: u8 = 0x0A;
pub const TCP_TIME_WAIT: u8 = 0x06;
/// UDP sockets report 07 (CLOSE) when not connected, 01 when connected.
pub const UDP_UNCONNECTED: u8 = 0x07;

/// One row of a socket table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Socket {
    pub proto: Proto,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub state: u8,
    /// 0 for sockets no process holds (TIME_WAIT and the like).
    pub inode: u64,
}

impl Socket {
    /// Accepts connections (TCP) or datagrams from anyone (an unconnected,
    /// bound UDP socket).
    pub fn is_listener(&self) -> bool {
        match self.proto {
            Proto::Tcp => self.state == TCP_LISTEN,
            Proto::Udp => self.state == UDP_UNCONNECTED && self.local.port() != 0,
        }
    }

    /// Has a peer: a TCP connection in any state but LISTEN and TIME_WAIT, or
    /// a connected UDP socket.
    pub fn is_connection(&self) -> bool {
        self.remote.port() != 0
            && match self.proto {
                Proto::Tcp => self.state != TCP_LISTEN && self.state != TCP_TIME_WAIT,
                Proto::Udp => self.state == TCP_ESTABLISHED,
            }
    }
}

/// The files of one namespace's tables, with their protocol and family.
pub const TABLES: [(&str, Proto, bool); 4] = [
    ("tcp", Proto::Tcp, false),
    ("tcp6", Proto::Tcp, true),
    ("udp", Proto::Udp, false),
    ("udp6", Proto::Udp, true),
];

/// Parses a table; malformed rows are skipped and counted in the result.
pub fn parse_table(text: &str, proto: Proto, v6: bool, out: &mut Vec<Socket>) -> usize {
    let mut bad = 0;
    for line in text.lines().skip(1) {
        match parse_row(line, proto, v6) {
            Some(s) => out.push(s),
            None if line.trim().is_empty() => {}
            None => bad += 1,
        }
    }
    bad
}

fn parse_row(line: &str, proto: Proto, v6: bool) -> Option<Socket> {
    let mut fields = line.split_ascii_whitespace();
    let _slot = fields.next()?;
    let local = parse_addr(fields.next()?, v6)?;
    let remote = parse_addr(fields.next()?, v6)?;
    let state = u8::from_str_radix(fields.next()?, 16).ok()?;
    // tx:rx queue, timer, retransmits, uid, timeout, then the inode.
    let inode = fields.nth(5)?.parse().ok()?;
    Some(Socket {
        proto,
        local,
        remote,
        state,
        inode,
    })
}

/// `0100007F:1F90`: the address as the kernel's in-memory 32-bit words
/// printed in hex (so byte order is the host's), the port in plain hex.
fn parse_addr(field: &str, v6: bool) -> Option<SocketAddr> {
    let (ip, port) = field.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let ip = if v6 {
        if ip.len() != 32 {
            return None;
        }
        let mut bytes = [0u8; 16];
        for i in 0..4 {
            let word = u32::from_str_radix(ip.get(i * 8..i * 8 + 8)?, 16).ok()?;
            bytes[i * 4..i * 4 + 4].copy_from_slice(&word.to_ne_bytes());
        }
        IpAddr::V6(Ipv6Addr::from(bytes))
    } else {
        if ip.len() != 8 {
            return None;
        }
        IpAddr::V4(Ipv4Addr::from(
            u32::from_str_radix(ip, 16).ok()?.to_ne_bytes(),
        ))
    };
    Some(SocketAddr::new(ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 4242 1 0000000000000000 100 0 0 10 0
   1: 0100007F:C350 0100007F:1F90 01 00000000:00000000 00:00000000 00000000  1000        0 4343 1 0000000000000000 20 4 30 10 -1
   2: garbage
";

    #[test]
    fn ipv4_rows_parse_with_state_and_inode() {
        let mut out = Vec::new();
        let bad = parse_table(TCP, Proto::Tcp, false, &mut out);
        assert_eq!(bad, 1);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].local, "127.0.0.1:8080".parse().unwrap());
        assert!(out[0].is_listener() && !out[0].is_connection());
        assert_eq!(out[0].inode, 4242);
        assert_eq!(out[1].remote, "127.0.0.1:8080".parse().unwrap());
        assert!(out[1].is_connection() && !out[1].is_listener());
    }

    #[test]
    fn ipv6_words_are_in_host_order() {
        let row = "0: 00000000000000000000000001000000:0016 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 99 1";
        let s = parse_row(row, Proto::Tcp, true).unwrap();
        assert_eq!(s.local, "[::1]:22".parse().unwrap());
        let mapped = "0: 0000000000000000FFFF00000100007F:0016 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 99 1";
        assert_eq!(
            parse_row(mapped, Proto::Tcp, true).unwrap().local,
            "[::ffff:127.0.0.1]:22".parse().unwrap()
        );
    }
}
