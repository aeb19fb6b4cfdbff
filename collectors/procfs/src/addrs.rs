//! The addresses configured in one network namespace, read from its
//! `net/fib_trie` (IPv4 local routes) and `net/if_inet6`.

use std::net::{IpAddr, Ipv6Addr};

/// IPv4 addresses: the `/32 host LOCAL` leaves of the routing trie.
pub fn parse_fib_trie(text: &str, out: &mut Vec<IpAddr>) {
    let mut last: Option<IpAddr> = None;
    for line in text.lines() {
        let t = line.trim_start();
        if let Some(rest) = t.strip_prefix("|-- ") {
            last = rest.trim().parse().ok();
        } else if t.starts_with("/32 host LOCAL")
            && let Some(ip) = last
            && !out.contains(&ip)
        {
            out.push(ip);
        }
    }
}

/// IPv6 addresses: the first column of `if_inet6`, 32 hex digits.
pub fn parse_if_inet6(text: &str, out: &mut Vec<IpAddr>) {
    for line in text.lines() {
        let Some(hex) = line.split_ascii_whitespace().next() else {
            continue;
        };
        if let Ok(v) = u128::from_str_radix(hex, 16)
            && hex.len() == 32
        {
            let ip = IpAddr::V6(Ipv6Addr::from(v));
            if !out.contains(&ip) {
                out.push(ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_addresses_come_from_both_files() {
        let trie = "Main:\n  +-- 0.0.0.0/0 3 0 5\n     |-- 0.0.0.0\n        /0 universe UNICAST\n     |-- 10.231.0.2\n        /32 host LOCAL\n     |-- 10.231.0.255\n        /32 link BROADCAST\nLocal:\n     |-- 127.0.0.1\n        /32 host LOCAL\n     |-- 10.231.0.2\n        /32 host LOCAL\n";
        let mut out = Vec::new();
        parse_fib_trie(trie, &mut out);
        assert_eq!(
            out,
            vec![
                "10.231.0.2".parse::<IpAddr>().unwrap(),
                "127.0.0.1".parse().unwrap()
            ]
        );
        parse_if_inet6(
            "00000000000000000000000000000001 01 80 10 80       lo\n",
            &mut out,
        );
        assert_eq!(out.last(), Some(&"::1".parse::<IpAddr>().unwrap()));
    }
}
