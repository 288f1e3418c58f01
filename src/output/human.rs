//! Human output: results grouped by host in a table, printed when the scan
//! ends (the progress bar covers the wait), then a one-line coverage summary.
//! Network text is made terminal-safe before it is printed.

use super::{terminal_safe, Show, Sink, Summary};
use crate::model::{PortResult, PortState};
use std::collections::BTreeMap;
use std::io::{self, Write};
use std::net::IpAddr;

/// Buffering table writer.
pub struct Human {
    out: Box<dyn Write>,
    show: Show,
    color: bool,
    hosts: BTreeMap<IpAddr, Vec<PortResult>>,
}

impl Human {
    /// A writer over `out`; `color` enables ANSI colours.
    pub fn new(out: Box<dyn Write>, show: Show, color: bool) -> Human {
        Human {
            out,
            show,
            color,
            hosts: BTreeMap::new(),
        }
    }

    fn paint(&self, code: &str, s: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
}

fn service_cell(r: &PortResult) -> (String, String) {
    match &r.service {
        None => ("".into(), "".into()),
        Some(s) => {
            let mut version = [s.product.as_deref(), s.version.as_deref()]
                .iter()
                .flatten()
                .cloned()
                .collect::<Vec<_>>()
                .join(" ");
            if s.auth != crate::model::AuthState::Unknown {
                if !version.is_empty() {
                    version.push_str(", ");
                }
                version.push_str("auth ");
                version.push_str(s.auth.as_str());
            }
            let name = if s.tls.is_some() && s.name != "tls" {
                format!("{}/tls", s.name)
            } else {
                s.name.clone()
            };
            (terminal_safe(&name), terminal_safe(&version))
        }
    }
}

impl Sink for Human {
    fn port(&mut self, r: &PortResult) -> io::Result<()> {
        if self.show.lists(r) {
            self.hosts.entry(r.ip).or_default().push(r.clone());
        }
        Ok(())
    }

    fn finish(&mut self, s: &Summary) -> io::Result<()> {
        let hosts = std::mem::take(&mut self.hosts);
        for (ip, mut rows) in hosts {
            rows.sort_by_key(|r| r.port);
            let name = rows
                .iter()
                .find_map(|r| r.host.clone())
                .map(|h| format!(" ({})", terminal_safe(&h)))
                .unwrap_or_default();
            writeln!(self.out, "{}", self.paint("1", &format!("{ip}{name}")))?;
            writeln!(
                self.out,
                "  {:<10} {:<9} {:<16} {:<14} {:>9}  {}",
                "PORT", "STATE", "REASON", "SERVICE", "RTT", "VERSION"
            )?;
            for r in &rows {
                let (svc, ver) = service_cell(r);
                let state = match r.state {
                    PortState::Open => self.paint("32", &format!("{:<9}", "open")),
                    PortState::Closed => format!("{:<9}", "closed"),
                    PortState::Filtered => self.paint("2", &format!("{:<9}", "filtered")),
                };
                let rtt = r.rtt_ms.map(|v| format!("{v:.1} ms")).unwrap_or_else(|| "-".into());
                writeln!(
                    self.out,
                    "  {:<10} {} {:<16} {:<14} {:>9}  {}",
                    format!("{}/tcp", r.port),
                    state,
                    r.reason.as_str(),
                    svc,
                    rtt,
                    ver
                )?;
            }
            writeln!(self.out)?;
        }
        let c = &s.coverage;
        let mut line = format!(
            "{} ports attempted: {} open, {} closed, {} filtered",
            c.attempted, c.open, c.closed, c.filtered
        );
        if c.unresolved > 0 {
            line.push_str(&format!(", {} unresolved", c.unresolved));
        }
        if !c.unresolved_hosts.is_empty() {
            line.push_str(&format!(
                "; hosts not resolved: {}",
                terminal_safe(&c.unresolved_hosts.join(", "))
            ));
        }
        if s.interrupted {
            line.push_str(" (interrupted)");
        }
        writeln!(self.out, "{line}")?;
        self.out.flush()
    }
}
