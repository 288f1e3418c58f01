//! Port specifications: `-p 22,80,8000-8100`, `-p-`, nmap's `T:`/`U:`
//! prefixes, `--top-ports N`, and the default set (every port a `services/`
//! definition names, plus 22, 80, 443; its UDP ports for the UDP side).
//!
//! The ranking behind `--top-ports` is our own: ports ordered by how often they
//! are exposed on servers and how much an exposure matters, written for this
//! project (not nmap's NPSL-licensed frequency file).

/// A sorted, duplicate-free list of TCP ports.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct PortList(Vec<u16>);

/// A port specification that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid port spec '{token}': {why}")]
pub struct PortError {
    /// The offending token.
    pub token: String,
    /// Why it was rejected.
    pub why: String,
}

impl PortList {
    /// Builds a list from any ports (sorted, deduplicated, port 0 dropped).
    pub fn from_ports(ports: impl IntoIterator<Item = u16>) -> PortList {
        let mut v: Vec<u16> = ports.into_iter().filter(|&p| p != 0).collect();
        v.sort_unstable();
        v.dedup();
        PortList(v)
    }

    /// The ports of inclusive ranges (any order, overlapping allowed).
    pub fn from_ranges(mut ranges: Vec<(u16, u16)>) -> PortList {
        ranges.sort_unstable();
        let mut out: Vec<u16> = Vec::new();
        let mut next: u32 = 1;
        for (lo, hi) in ranges {
            let lo = u32::from(lo).max(next);
            let hi = u32::from(hi);
            if lo <= hi {
                out.extend((lo..=hi).map(|p| p as u16));
                next = hi + 1;
            }
        }
        PortList(out)
    }

    /// Every port, 1-65535.
    pub fn all() -> PortList {
        PortList((1..=65535).collect())
    }

    /// The ports, ascending.
    pub fn as_slice(&self) -> &[u16] {
        &self.0
    }

    /// How many ports.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether a port is in the list.
    pub fn contains(&self, port: u16) -> bool {
        self.0.binary_search(&port).is_ok()
    }

    /// Compact textual form: `22,80,8000-8100`.
    pub fn to_spec(&self) -> String {
        let mut out = Vec::new();
        let mut i = 0;
        while i < self.0.len() {
            let start = self.0[i];
            let mut end = start;
            while i + 1 < self.0.len() && self.0[i + 1] == end + 1 {
                i += 1;
                end = self.0[i];
            }
            out.push(if start == end {
                start.to_string()
            } else {
                format!("{start}-{end}")
            });
            i += 1;
        }
        out.join(",")
    }
}

/// Longest port specification accepted, in bytes.
pub const MAX_SPEC_BYTES: usize = 1 << 20;

/// The TCP and UDP ports of one specification.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct PortSpec {
    /// TCP ports (`T:` items, and unprefixed ones unless they are UDP's).
    pub tcp: PortList,
    /// UDP ports (`U:` items, and unprefixed ones when UDP is asked for).
    pub udp: PortList,
}

impl PortSpec {
    /// Compact textual form, nmap's: `22,80,U:53,161` (UDP part prefixed).
    pub fn to_spec(&self) -> String {
        match (self.tcp.is_empty(), self.udp.is_empty()) {
            (_, true) => self.tcp.to_spec(),
            (true, false) => format!("U:{}", self.udp.to_spec()),
            (false, false) => format!("{},U:{}", self.tcp.to_spec(), self.udp.to_spec()),
        }
    }
}

/// Parses `22,80,8000-8100`, `-` (all ports), `-1024`, `60000-`, as TCP
/// ports; a `U:` item is refused (see [`parse_spec`]).
pub fn parse_ports(spec: &str) -> Result<PortList, PortError> {
    let parsed = parse_spec(spec, false)?;
    if !parsed.udp.is_empty() {
        return Err(PortError {
            token: spec.chars().take(40).collect(),
            why: "UDP ports (U:) are not allowed here".into(),
        });
    }
    Ok(parsed.tcp)
}

/// Parses nmap's port syntax: `22,80,8000-8100`, `-` (all), `-1024`,
/// `60000-`, with `T:` and `U:` prefixes that hold until the next one
/// (`U:53,161,T:22` is UDP 53 and 161, TCP 22). Unprefixed items are UDP
/// when `udp_first` (nmap's `-sU`), else TCP. Items become ranges that are
/// sorted and merged before any port is listed, so the work and memory are
/// bounded by the spec's length and by the 65,535 ports.
pub fn parse_spec(spec: &str, udp_first: bool) -> Result<PortSpec, PortError> {
    let bad = |token: &str, why: &str| PortError {
        token: token.to_string(),
        why: why.to_string(),
    };
    if spec.len() > MAX_SPEC_BYTES {
        let head: String = spec.chars().take(20).collect();
        return Err(bad(
            &format!("{head}..."),
            &format!(
                "port list of {} bytes; at most {} KiB (write ranges: 1-1024)",
                spec.len(),
                MAX_SPEC_BYTES >> 10
            ),
        ));
    }
    let spec = spec.trim();
    if spec.is_empty() {
        return Err(bad(spec, "empty port list"));
    }
    let num = |s: &str, token: &str| -> Result<u16, PortError> {
        let n: u32 = s
            .trim()
            .parse()
            .map_err(|_| bad(token, "not a port number"))?;
        if n == 0 || n > 65535 {
            return Err(bad(token, "ports run from 1 to 65535"));
        }
        Ok(n as u16)
    };
    let mut tcp: Vec<(u16, u16)> = Vec::new();
    let mut udp: Vec<(u16, u16)> = Vec::new();
    let mut to_udp = udp_first;
    for token in spec.split(',') {
        let mut t = token.trim();
        if let Some((prefix, rest)) = t.split_once(':') {
            to_udp = match prefix.trim() {
                "T" | "t" => false,
                "U" | "u" => true,
                _ => return Err(bad(t, "the protocol prefixes are T: and U:")),
            };
            t = rest.trim();
        }
        if t.is_empty() {
            return Err(bad(spec, "empty item in port list"));
        }
        let range = if let Some((a, b)) = t.split_once('-') {
            let lo = if a.trim().is_empty() { 1 } else { num(a, t)? };
            let hi = if b.trim().is_empty() {
                65535
            } else {
                num(b, t)?
            };
            if lo > hi {
                return Err(bad(t, "range runs backwards"));
            }
            (lo, hi)
        } else {
            let p = num(t, t)?;
            (p, p)
        };
        if to_udp { &mut udp } else { &mut tcp }.push(range);
    }
    Ok(PortSpec {
        tcp: PortList::from_ranges(tcp),
        udp: PortList::from_ranges(udp),
    })
}

/// Ports always in the default set, beside those the service catalogue names.
pub const ALWAYS_DEFAULT: [u16; 3] = [22, 80, 443];

/// The default port set: every catalogue port plus 22, 80 and 443.
pub fn default_ports(catalog_ports: impl IntoIterator<Item = u16>) -> PortList {
    PortList::from_ports(catalog_ports.into_iter().chain(ALWAYS_DEFAULT))
}

/// The `n` highest-ranked ports of our own ranking. Past the end of the ranked
/// list, the remaining ports follow in ascending order, so any `n` up to 65535 works.
pub fn top_ports(n: usize) -> PortList {
    let mut seen = vec![false; 65536];
    let mut out = Vec::with_capacity(n.min(65535));
    for &p in RANKED {
        if out.len() >= n {
            break;
        }
        if !seen[p as usize] {
            seen[p as usize] = true;
            out.push(p);
        }
    }
    let mut p: u32 = 1;
    while out.len() < n && p <= 65535 {
        if !seen[p as usize] {
            out.push(p as u16);
        }
        p += 1;
    }
    PortList::from_ports(out)
}

/// Our ranking: common public services first, then the data stores and control
/// planes that leak most often, then other well-known ports.
const RANKED: &[u16] = &[
    80, 443, 22, 21, 25, 3389, 110, 445, 139, 143, 53, 135, 3306, 8080, 23, 1723, 111, 995, 993,
    5900, 1025, 587, 8888, 199, 1720, 465, 548, 113, 81, 6001, 10000, 514, 5060, 179, 1026, 2000,
    8443, 8000, 32768, 554, 26, 1433, 49152, 2001, 515, 8008, 49154, 1027, 5666, 646, 5000, 5631,
    631, 49153, 8081, 2049, 88, 79, 5800, 106, 2121, 1110, 49155, 6000, 513, 990, 5357, 427, 49156,
    543, 544, 5101, 144, 7, 389, 6379, 11211, 27017, 5432, 9200, 2375, 2376, 2379, 2380, 10250,
    10255, 6443, 5984, 5672, 15672, 9042, 2181, 9092, 8086, 4369, 1883, 8883, 4222, 11300, 873,
    3000, 5601, 9090, 9093, 9100, 8500, 8200, 1521, 27018, 27019, 9300, 7000, 7001, 9160, 6380,
    5005, 1099, 4040, 11434, 8088, 8089, 9000, 9001, 9443, 5601, 8001, 8002, 8010, 8082, 8083,
    8084, 8085, 8090, 8091, 8181, 8280, 8800, 8880, 8889, 9080, 9091, 9999, 10001, 3001, 4000,
    4200, 4443, 5001, 5002, 5173, 5555, 6060, 6666, 7070, 7474, 7687, 8005, 8009, 8123, 8161, 8222,
    8333, 8834, 9043, 9060, 9200, 9418, 9990, 10080, 10443, 15000, 16379, 18080, 19999, 20000,
    25565, 27015, 28017, 33060, 50000, 50070, 61616, 1900, 2082, 2083, 2086, 2087, 2095, 2096,
    2222, 2525, 3128, 3268, 3269, 3690, 4444, 4567, 4848, 5044, 5080, 5222, 5269, 5353, 5433, 5500,
    5632, 5901, 5902, 5903, 5985, 5986, 6002, 6003, 6004, 6005, 6006, 6007, 6543, 6667, 7077, 7443,
    7777, 8020, 8042, 8060, 8069, 8087, 8098, 8139, 8140, 8291, 8383, 8400, 8444, 8530, 8531, 8545,
    8649, 8686, 8728, 8787, 8983, 9002, 9003, 9009, 9010, 9030, 9050, 9051, 9094, 9095, 9101, 9102,
    9103, 9104, 9105, 9106, 9107, 9110, 9115, 9182, 9187, 9216, 9300, 9411, 9415, 9500, 9600, 9800,
    9870, 9876, 9981, 10051, 10243, 10256, 11000, 12345, 13579, 14000, 16000, 16080, 17000, 18000,
    18081, 20547, 21025, 22222, 24007, 25000, 26257, 28015, 30000, 31337, 32400, 37777, 44818,
    47808, 49157, 50030, 50060, 50075, 50090, 55553, 60000, 60010, 60030, 62078, 64738,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lists_and_ranges() {
        let p = parse_ports("22,80,8000-8003,80").unwrap();
        assert_eq!(p.as_slice(), &[22, 80, 8000, 8001, 8002, 8003]);
        assert_eq!(p.to_spec(), "22,80,8000-8003");
        assert_eq!(parse_ports("-").unwrap().len(), 65535);
        assert_eq!(parse_ports("-3").unwrap().as_slice(), &[1, 2, 3]);
        assert_eq!(parse_ports("65534-").unwrap().as_slice(), &[65534, 65535]);
        assert_eq!(parse_ports("T:22").unwrap().as_slice(), &[22]);
        assert!(parse_ports("U:53").is_err(), "UDP where only TCP goes");
    }

    #[test]
    fn rejects_malformed_specs() {
        for (spec, token) in [
            ("0", "0"),
            ("65536", "65536"),
            ("80-22", "80-22"),
            ("http", "http"),
            ("22,,80", "22,,80"),
            ("1-2-3", "1-2-3"),
            ("", ""),
        ] {
            let e = parse_ports(spec).unwrap_err();
            assert_eq!(e.token, token, "{spec}");
        }
    }

    #[test]
    fn protocol_prefixes_hold_until_the_next_one() {
        let s = parse_spec("U:53,161-162,T:22,80,u:5353", false).unwrap();
        assert_eq!(s.udp.as_slice(), &[53, 161, 162, 5353]);
        assert_eq!(s.tcp.as_slice(), &[22, 80]);
        assert_eq!(s.to_spec(), "22,80,U:53,161-162,5353");
        let u = parse_spec("53,T:22", true).unwrap();
        assert_eq!((u.udp.as_slice(), u.tcp.as_slice()), (&[53][..], &[22][..]));
        assert_eq!(parse_spec("U:-", false).unwrap().udp.len(), 65535);
        assert!(parse_spec("S:80", false).is_err());
        assert!(parse_spec("U:", false).is_err());
    }

    #[test]
    fn top_ports_are_ranked_then_ascending() {
        let t = top_ports(3);
        assert_eq!(t.as_slice(), &[22, 80, 443]);
        assert_eq!(top_ports(65535).len(), 65535);
        let t = top_ports(1000);
        assert_eq!(t.len(), 1000);
        assert!(t.contains(6379) && t.contains(27017) && t.contains(10250));
    }

    #[test]
    fn default_includes_always_ports() {
        let d = default_ports([6379, 3306]);
        assert_eq!(d.as_slice(), &[22, 80, 443, 3306, 6379]);
    }

    #[test]
    fn overlapping_items_stay_cheap() {
        // 60,000 full ranges: merged, never listed one by one.
        let spec = vec!["1-65535"; 60_000].join(",");
        let t = std::time::Instant::now();
        assert_eq!(parse_ports(&spec).unwrap().len(), 65535);
        let spec = (1..=60_000)
            .map(|p| p.to_string())
            .collect::<Vec<_>>()
            .join(",");
        assert_eq!(parse_ports(&spec).unwrap().len(), 60_000);
        assert!(
            t.elapsed() < std::time::Duration::from_secs(2),
            "{:?}",
            t.elapsed()
        );
        let huge = "1,".repeat(MAX_SPEC_BYTES);
        let e = parse_ports(&huge).unwrap_err();
        assert!(e.why.contains("at most 1024 KiB"), "{e}");
        assert_eq!(
            PortList::from_ranges(vec![(5, 9), (1, 3), (2, 6), (20, 20)]).to_spec(),
            "1-9,20"
        );
    }
}
