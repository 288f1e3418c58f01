//! `exposecheck policy init`: scans, then writes a policy file listing every
//! open port as an expected exposure for the user to keep (with a reason) or
//! close. Entries for critical and high findings are written commented out:
//! those services should not be reachable, and accepting them should be a
//! deliberate edit.

use crate::model::{PortResult, PortState, Severity};
use crate::output::{Sink, Summary};
use std::io::{self, Write};

/// Collects open ports and writes them as `[[expect]]` entries.
pub struct PolicyInit {
    out: Box<dyn Write>,
    open: Vec<PortResult>,
}

impl PolicyInit {
    /// A writer over `out`.
    pub fn new(out: Box<dyn Write>) -> PolicyInit {
        PolicyInit {
            out,
            open: Vec::new(),
        }
    }
}

/// Quotes a string as a TOML basic string.
fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// Makes network text safe inside a `#` comment line.
fn comment_safe(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

impl Sink for PolicyInit {
    fn port(&mut self, r: &PortResult) -> io::Result<()> {
        if r.state == PortState::Open {
            self.open.push(r.clone());
        }
        Ok(())
    }

    fn finish(&mut self, s: &Summary) -> io::Result<()> {
        self.open.sort_by_key(|r| (r.ip, r.port));
        let o = &mut self.out;
        writeln!(
            o,
            "# exposecheck policy written by `exposecheck policy init` on {}",
            &s.scan.start[..10.min(s.scan.start.len())]
        )?;
        writeln!(
            o,
            "# from a scan of {}.",
            comment_safe(&s.scan.targets.join(", "))
        )?;
        writeln!(
            o,
            "# Every open port found is listed. Keep an entry only if the port must be"
        )?;
        writeln!(
            o,
            "# reachable, and say why in `reason`; close the port otherwise. Entries for"
        )?;
        writeln!(
            o,
            "# critical and high findings are commented out: accept them deliberately."
        )?;
        writeln!(o, "fail_on = \"high\"")?;
        for r in &self.open {
            let svc = r.service.as_ref().and_then(|s| s.identified());
            let sev = r.finding.as_ref().map_or(Severity::Low, |f| f.severity);
            let what = r
                .finding
                .as_ref()
                .map(|f| {
                    format!(
                        "{}: {} — {}",
                        f.severity.as_str(),
                        f.rule,
                        comment_safe(&f.title)
                    )
                })
                .unwrap_or_else(|| "open port".into());
            let host = r.host.clone().unwrap_or_else(|| r.ip.to_string());
            let prefix = if sev >= Severity::High { "# " } else { "" };
            writeln!(o)?;
            writeln!(o, "# {what}")?;
            writeln!(o, "{prefix}[[expect]]")?;
            writeln!(o, "{prefix}host = {}", quote(&host))?;
            writeln!(o, "{prefix}port = {}", r.port)?;
            if let Some(name) = svc {
                writeln!(o, "{prefix}service = {}", quote(name))?;
            }
            writeln!(
                o,
                "{prefix}reason = {}",
                quote("TODO: say why this port must be reachable")
            )?;
        }
        o.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Finding, Service};
    use crate::verdict::policy::Policy;
    use std::sync::{Arc, Mutex};

    struct Shared(Arc<Mutex<Vec<u8>>>);
    impl Write for Shared {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn open(port: u16, name: &str, sev: Severity) -> PortResult {
        PortResult {
            service: Some(Service {
                name: name.into(),
                ..Service::default()
            }),
            finding: Some(Finding {
                rule: format!("{name}-x"),
                severity: sev,
                title: "t\nforged = 1".into(),
                ..Finding::default()
            }),
            ..PortResult::test_open(port)
        }
    }

    #[test]
    fn written_policy_loads_and_comments_out_severe_entries() {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let mut p = PolicyInit::new(Box::new(Shared(buf.clone())));
        p.port(&open(22, "ssh", Severity::Info)).unwrap();
        p.port(&open(6379, "redis", Severity::Critical)).unwrap();
        let mut s = Summary::default();
        s.scan.start = "2026-11-25T00:00:00Z".into();
        s.scan.targets = vec!["198.18.0.2".into()];
        p.finish(&s).unwrap();
        let text = String::from_utf8(buf.lock().unwrap().clone()).unwrap();
        let policy = Policy::parse(&text, "init.toml", jiff::civil::date(2026, 11, 25)).unwrap();
        assert_eq!(policy.entries.len(), 1, "{text}");
        assert_eq!(policy.entries[0].port, 22);
        assert!(text.contains("# port = 6379"));
        assert!(!text.contains("\nforged"));
    }
}
