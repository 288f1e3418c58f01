//! FAKE servers for single-exchange protocols, each written from its spec:
//!
//! * Cassandra: `native_protocol_v4.spec` §2 (frame header), §4.1.1
//!   STARTUP, §4.1.3 OPTIONS, §4.2.2 READY, §4.2.3 AUTHENTICATE, §4.2.4
//!   SUPPORTED, §9 error codes.
//! * Kafka: protocol guide, ApiVersions (key 18) request/response v0..v3.
//! * AMQP 0-9-1: spec §4.2.2 protocol header, §4.2.3 frames,
//!   `connection.start` (class 10, method 10), RabbitMQ field-table types.
//! * SQL Server: [MS-TDS] §2.2.3.1 packet header, §2.2.6.5 PRELOGIN.
//! * VNC: RFC 6143 §7.1.1 ProtocolVersion, §7.1.2 Security, §7.1.3
//!   SecurityResult, §7.2.2 VNC Authentication, §7.3 ClientInit/ServerInit.
//! * Telnet: RFC 854 (IAC commands), RFC 1091 (TERMINAL-TYPE), RFC 1073
//!   (NAWS), RFC 857 (ECHO), RFC 858 (SUPPRESS-GO-AHEAD).

use super::Conn;
use std::io;
use std::time::Duration;

// ---- Cassandra -----------------------------------------------------------

fn cql_frame(version: u8, stream: [u8; 2], opcode: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![0x80 | version, 0x00, stream[0], stream[1], opcode];
    v.extend_from_slice(&(body.len() as u32).to_be_bytes());
    v.extend_from_slice(body);
    v
}

fn cql_string(v: &mut Vec<u8>, s: &str) {
    v.extend_from_slice(&(s.len() as u16).to_be_bytes());
    v.extend_from_slice(s.as_bytes());
}

fn cql_error(code: u32, msg: &str) -> Vec<u8> {
    let mut b = code.to_be_bytes().to_vec();
    cql_string(&mut b, msg);
    b
}

/// Cassandra 4.0 native transport.
pub(crate) fn cassandra(c: &mut Conn, auth: bool) -> io::Result<()> {
    loop {
        let h = c.read_exact(9)?;
        let (version, stream, opcode) = (h[0], [h[2], h[3]], h[4]);
        let len = u32::from_be_bytes([h[5], h[6], h[7], h[8]]) as usize;
        if len > 256 * 1024 * 1024 {
            return Ok(());
        }
        let _body = c.read_exact(len)?;
        if !(3..=5).contains(&version) {
            let msg = format!(
                "Invalid or unsupported protocol version ({version}); supported versions are (3/v3, 4/v4, 5/v5, 6/v6-beta)"
            );
            c.write(&cql_frame(4, stream, 0x00, &cql_error(0x000A, &msg)))?;
            return Ok(());
        }
        let reply = match opcode {
            0x05 => {
                let entries: [(&str, &[&str]); 3] = [
                    ("PROTOCOL_VERSIONS", &["3/v3", "4/v4", "5/v5", "6/v6-beta"]),
                    ("COMPRESSION", &["snappy", "lz4"]),
                    ("CQL_VERSION", &["3.4.5"]),
                ];
                let mut b = (entries.len() as u16).to_be_bytes().to_vec();
                for (k, vals) in entries {
                    cql_string(&mut b, k);
                    b.extend_from_slice(&(vals.len() as u16).to_be_bytes());
                    for v in vals {
                        cql_string(&mut b, v);
                    }
                }
                cql_frame(version, stream, 0x06, &b)
            }
            0x01 if auth => {
                let mut b = Vec::new();
                cql_string(&mut b, "org.apache.cassandra.auth.PasswordAuthenticator");
                cql_frame(version, stream, 0x03, &b)
            }
            0x01 => cql_frame(version, stream, 0x02, &[]),
            _ => cql_frame(
                version,
                stream,
                0x00,
                &cql_error(0x000A, "Unexpected message, expecting STARTUP or OPTIONS"),
            ),
        };
        c.write(&reply)?;
    }
}

// ---- Kafka ---------------------------------------------------------------

/// Kafka 3.x broker: answers ApiVersions only.
pub(crate) fn kafka(c: &mut Conn) -> io::Result<()> {
    loop {
        let size = i32::from_be_bytes(c.read_exact(4)?.try_into().unwrap());
        if !(8..=100 * 1024 * 1024).contains(&size) {
            return Ok(());
        }
        let req = c.read_exact(size as usize)?;
        let key = i16::from_be_bytes([req[0], req[1]]);
        let version = i16::from_be_bytes([req[2], req[3]]);
        let corr = &req[4..8];
        if key != 18 {
            return Ok(()); // the broker closes on requests before ApiVersions here
        }
        let apis: [(i16, i16, i16); 6] = [
            (0, 0, 11),
            (1, 0, 16),
            (3, 0, 12),
            (17, 0, 1),
            (18, 0, 3),
            (36, 0, 2),
        ];
        let error: i16 = if version > 3 { 35 } else { 0 };
        let mut body = corr.to_vec();
        body.extend_from_slice(&error.to_be_bytes());
        body.extend_from_slice(&(apis.len() as i32).to_be_bytes());
        for (k, lo, hi) in apis {
            for x in [k, lo, hi] {
                body.extend_from_slice(&x.to_be_bytes());
            }
        }
        if version >= 1 && error == 0 {
            body.extend_from_slice(&0i32.to_be_bytes()); // throttle_time_ms
        }
        let mut m = (body.len() as i32).to_be_bytes().to_vec();
        m.extend_from_slice(&body);
        c.write(&m)?;
    }
}

// ---- AMQP 0-9-1 ------------------------------------------------------------

fn table_str(t: &mut Vec<u8>, k: &str, v: &str) {
    t.push(k.len() as u8);
    t.extend_from_slice(k.as_bytes());
    t.push(b'S');
    t.extend_from_slice(&(v.len() as u32).to_be_bytes());
    t.extend_from_slice(v.as_bytes());
}

fn table_bool(t: &mut Vec<u8>, k: &str, v: bool) {
    t.push(k.len() as u8);
    t.extend_from_slice(k.as_bytes());
    t.push(b't');
    t.push(u8::from(v));
}

/// RabbitMQ 3.12: Connection.Start, then waits (handshake timeout).
pub(crate) fn amqp(c: &mut Conn) -> io::Result<()> {
    let header = c.read_exact(8)?;
    if header != b"AMQP\x00\x00\x09\x01" {
        c.write(b"AMQP\x00\x00\x09\x01")?;
        return Ok(());
    }
    let mut caps = Vec::new();
    for k in [
        "publisher_confirms",
        "exchange_exchange_bindings",
        "basic.nack",
        "consumer_cancel_notify",
    ] {
        table_bool(&mut caps, k, true);
    }
    let mut props = Vec::new();
    props.push(12);
    props.extend_from_slice(b"capabilities");
    props.push(b'F');
    props.extend_from_slice(&(caps.len() as u32).to_be_bytes());
    props.extend_from_slice(&caps);
    table_str(&mut props, "cluster_name", "rabbit@fake-mq");
    table_str(&mut props, "copyright", "Copyright (c) fake");
    table_str(
        &mut props,
        "information",
        "Fake broker for exposecheck tests",
    );
    table_str(&mut props, "platform", "Erlang/OTP 26.2.1");
    table_str(&mut props, "product", "RabbitMQ");
    table_str(&mut props, "version", "3.12.12");
    let mut payload = vec![0x00, 0x0a, 0x00, 0x0a, 0, 9];
    payload.extend_from_slice(&(props.len() as u32).to_be_bytes());
    payload.extend_from_slice(&props);
    for s in ["AMQPLAIN PLAIN", "en_US"] {
        payload.extend_from_slice(&(s.len() as u32).to_be_bytes());
        payload.extend_from_slice(s.as_bytes());
    }
    let mut f = vec![0x01, 0x00, 0x00];
    f.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    f.extend_from_slice(&payload);
    f.push(0xce);
    c.write(&f)?;
    c.drain()
}

// ---- SQL Server (TDS) ------------------------------------------------------

/// SQL Server 2022 (16.0.1000): answers PRELOGIN.
pub(crate) fn mssql(c: &mut Conn) -> io::Result<()> {
    let h = c.read_exact(8)?;
    let len = usize::from(u16::from_be_bytes([h[2], h[3]]));
    if h[0] != 0x12 || len < 8 {
        return Ok(());
    }
    let _req = c.read_exact(len - 8)?;
    let opts: [(u8, Vec<u8>); 5] = [
        (0x00, vec![16, 0, 0x03, 0xe8, 0x00, 0x06]), // VERSION 16.0.1000.6
        (0x01, vec![0x00]),                          // ENCRYPTION: off
        (0x02, vec![0x00]),                          // INSTOPT
        (0x03, vec![]),                              // THREADID (empty from servers)
        (0x04, vec![0x00]),                          // MARS
    ];
    let mut head = Vec::new();
    let mut data = Vec::new();
    let mut off = opts.len() * 5 + 1;
    for (t, d) in &opts {
        head.push(*t);
        head.extend_from_slice(&(off as u16).to_be_bytes());
        head.extend_from_slice(&(d.len() as u16).to_be_bytes());
        data.extend_from_slice(d);
        off += d.len();
    }
    head.push(0xff);
    let total = 8 + head.len() + data.len();
    let mut m = vec![0x04, 0x01];
    m.extend_from_slice(&(total as u16).to_be_bytes());
    m.extend_from_slice(&[0x00, 0x00, 0x01, 0x00]);
    m.extend_from_slice(&head);
    m.extend_from_slice(&data);
    c.write(&m)?;
    c.drain()
}

// ---- VNC (RFB) ---------------------------------------------------------------

/// RFB 3.8 server; `auth` offers VNC Authentication only, else None only.
pub(crate) fn vnc(c: &mut Conn, auth: bool) -> io::Result<()> {
    c.write(b"RFB 003.008\n")?;
    let v = c.read_exact(12)?;
    let minor = match &v[..] {
        b"RFB 003.003\n" => 3,
        b"RFB 003.007\n" => 7,
        b"RFB 003.008\n" => 8,
        _ => {
            let reason = b"Unsupported protocol version";
            let mut m = vec![0];
            m.extend_from_slice(&(reason.len() as u32).to_be_bytes());
            m.extend_from_slice(reason);
            return c.write(&m);
        }
    };
    let ty: u8 = if auth { 2 } else { 1 };
    if minor == 3 {
        c.write(&u32::from(ty).to_be_bytes())?;
    } else {
        c.write(&[1, ty])?;
        if c.read_exact(1)?[0] != ty {
            return Ok(());
        }
    }
    if auth {
        c.write(&[0x42; 16])?; // challenge
        let _response = c.read_exact(16)?;
        let reason = b"Authentication failed";
        let mut m = 1u32.to_be_bytes().to_vec();
        if minor == 8 {
            m.extend_from_slice(&(reason.len() as u32).to_be_bytes());
            m.extend_from_slice(reason);
        }
        return c.write(&m);
    }
    if minor == 8 {
        c.write(&0u32.to_be_bytes())?; // SecurityResult OK
    }
    let _shared = c.read_exact(1)?; // ClientInit
    let name = b"fake-desktop";
    let mut init = Vec::new();
    init.extend_from_slice(&1024u16.to_be_bytes());
    init.extend_from_slice(&768u16.to_be_bytes());
    // PIXEL_FORMAT: 32 bpp, depth 24, little-endian, true colour, 255/255/255, shifts 16/8/0.
    init.extend_from_slice(&[32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0, 0, 0, 0]);
    init.extend_from_slice(&(name.len() as u32).to_be_bytes());
    init.extend_from_slice(name);
    c.write(&init)?;
    c.drain()
}

// ---- Telnet --------------------------------------------------------------------

/// A Linux-style telnetd: negotiates, then prints a banner and `login:`.
pub(crate) fn telnet(c: &mut Conn) -> io::Result<()> {
    // IAC DO TERMINAL-TYPE, IAC DO NAWS, IAC WILL ECHO, IAC WILL SUPPRESS-GO-AHEAD
    c.write(&[0xff, 0xfd, 24, 0xff, 0xfd, 31, 0xff, 0xfb, 1, 0xff, 0xfb, 3])?;
    let _answers = c.read_for(Duration::from_millis(500))?;
    c.write(b"\r\nDebian GNU/Linux 12\r\nfake-host login: ")?;
    let user = c.read_for(Duration::from_secs(5))?;
    if user.is_empty() {
        return Ok(());
    }
    c.write(b"Password: ")?;
    let _pw = c.read_for(Duration::from_secs(5))?;
    c.write(b"\r\nLogin incorrect\r\n")
}
