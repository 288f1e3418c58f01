//! What the README and `examples/` promise, run for real: the README's jq
//! recipes on the JSON and NDJSON of a scan of a real Redis (unauthenticated:
//! a critical finding), the CI recipes through their linters (actionlint for
//! the GitHub workflows, kubernetes-validate for the Kubernetes manifests,
//! `sh -n` for the cron script, a YAML parse for GitLab), and a baseline
//! from a scan of other ports: findings there are `not_scanned`, never
//! `resolved`.

use super::hostile_servers::{self as hs, Kind};
use super::netns::{TestNet, BIN};
use super::servers::{Place, RedisMode, Servers};
use serde_json::Value;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository root.
fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A program of the CI venv (`.ci/run` makes it); fails loudly when absent.
fn venv(tool: &str) -> PathBuf {
    let p = root().join("target/ci-venv/bin").join(tool);
    assert!(
        p.is_file(),
        "{} is missing: run .ci/run (it installs the PyPI consumers into target/ci-venv)",
        p.display()
    );
    p
}

/// The shell lines between the README's recipe markers.
fn readme_recipes() -> Vec<String> {
    readme_block("recipes", "jq ")
}

/// The lines starting with `prefix` between the README's `<!-- NAME: ... -->`
/// and `<!-- /NAME -->` markers.
pub fn readme_block(name: &str, prefix: &str) -> Vec<String> {
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README.md");
    let start = readme
        .find(&format!("<!-- {name}:"))
        .unwrap_or_else(|| panic!("README has no {name} marker"));
    let end = readme[start..]
        .find(&format!("<!-- /{name} -->"))
        .unwrap_or_else(|| panic!("README's {name} block has no end"))
        + start;
    readme[start..end]
        .lines()
        .filter(|l| l.starts_with(prefix))
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_readme_jq_recipes_run_on_a_real_scan() {
    let net = TestNet::new();
    let target = IpAddr::V4(net.target_v4());
    let mut servers = Servers::new(Place {
        ns: Some(net.target_ns.clone()),
        addr: target,
    });
    servers.redis(RedisMode::Open, &[6379]);
    let dir = tempfile::tempdir().expect("tempdir");
    let json = dir.path().join("scan.json");
    let ndjson = dir.path().join("scan.ndjson");
    let args = [
        target.to_string(),
        "-p".into(),
        "6379,22".into(),
        "--no-policy".into(),
        "-q".into(),
        "--json".into(),
        "-o".into(),
        json.to_string_lossy().into_owned(),
        "--write".into(),
        format!("ndjson={}", ndjson.display()),
    ];
    let out = net.exposecheck(&args);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let recipes = readme_recipes();
    assert!(recipes.len() >= 4, "{recipes:?}");
    let mut outputs = Vec::new();
    for r in &recipes {
        let run = Command::new("sh")
            .arg("-c")
            .arg(r)
            .current_dir(dir.path())
            .output()
            .expect("sh");
        let text = String::from_utf8_lossy(&run.stdout).into_owned();
        assert!(
            run.status.success() && !text.trim().is_empty(),
            "recipe {r:?}: exit {:?}, stdout {text:?}, stderr {}",
            run.status.code(),
            String::from_utf8_lossy(&run.stderr)
        );
        outputs.push(text);
    }
    assert_eq!(
        outputs[0].trim(),
        format!("{target}:6379 redis-unauthenticated")
    );
    assert!(outputs[1].contains("--dport 6379"), "{}", outputs[1]);
    let line: Value = serde_json::from_str(outputs[3].lines().next().unwrap_or("")).expect("JSON");
    assert_eq!(line["rule"], "redis-unauthenticated");
    assert!(
        line["time"].as_str().is_some_and(|t| t.ends_with('Z')),
        "{line}"
    );
}

#[test]
fn the_ci_recipes_pass_their_linters() {
    let examples = root().join("examples");
    let workflows = ["github-nightly.yml", "github-matrix.yml"].map(|f| examples.join(f));
    let out = Command::new(venv("actionlint"))
        .args(&workflows)
        .output()
        .expect("actionlint");
    assert!(
        out.status.success(),
        "actionlint: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The linter does catch a broken workflow (an undefined job in `needs`).
    let dir = tempfile::tempdir().expect("tempdir");
    let broken = dir.path().join("broken.yml");
    std::fs::write(
        &broken,
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    needs: nope\n    steps:\n      - run: echo ${{ matrix.x }}\n",
    )
    .expect("write");
    let out = Command::new(venv("actionlint"))
        .arg(&broken)
        .output()
        .expect("actionlint");
    assert!(!out.status.success(), "actionlint passed a broken workflow");
    let k8s = examples.join("k8s-indexed-job.yaml");
    let out = Command::new(venv("kubernetes-validate"))
        .arg("--strict")
        .arg(&k8s)
        .output()
        .expect("kubernetes-validate");
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success() && said.matches("passed").count() == 2,
        "kubernetes-validate: {said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new("sh")
        .arg("-n")
        .arg(examples.join("cron.sh"))
        .output()
        .expect("sh");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let gitlab = examples.join("gitlab-ci.yml");
    let check = "import sys, yaml; d = yaml.safe_load(open(sys.argv[1])); \
                 j = d['exposure-audit']; assert j['stage'] in d['stages']; \
                 assert any('exposecheck' in s for s in j['script'])";
    let out = Command::new(venv("python"))
        .args(["-c", check])
        .arg(&gitlab)
        .output()
        .expect("python");
    assert!(
        out.status.success(),
        "gitlab-ci.yml: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A baseline finding at `ip:port` with `fingerprint`.
fn baseline_line(ip: &str, port: u16, fingerprint: &str) -> String {
    format!(
        "{{\"type\":\"port\",\"ip\":\"{ip}\",\"port\":{port},\"finding\":{{\"rule\":\"unexpected-open-port\",\"severity\":\"low\",\"fingerprint\":\"{fingerprint}\"}}}}\n"
    )
}

#[test]
fn a_baseline_from_other_ports_is_not_scanned_never_resolved() {
    let farm = hs::loopback(Kind::Fin, 1);
    let open = farm.ports[0];
    // A port nothing listens on, probed by this run (closed), and one it never probes.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let dir = tempfile::tempdir().expect("tempdir");
    let base = dir.path().join("base.ndjson");
    let mut text = baseline_line("127.0.0.1", closed, "gone-from-a-probed-port");
    text.push_str(&baseline_line("127.0.0.1", 9, "on-a-port-not-probed"));
    text.push_str(&baseline_line("127.0.0.2", open, "on-a-host-not-probed"));
    std::fs::write(&base, text).expect("write");
    let out = Command::new(BIN)
        .args([
            "-p",
            &format!("{open},{closed}"),
            "--no-canary",
            "--no-policy",
            "--json",
        ])
        .arg("--baseline")
        .arg(&base)
        .arg("127.0.0.1")
        .output()
        .expect("exposecheck");
    let doc: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let fps = |k: &str| -> Vec<String> {
        let mut v: Vec<String> = doc[k]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x["fingerprint"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    };
    assert_eq!(fps("resolved"), ["gone-from-a-probed-port"], "{doc:#}");
    assert_eq!(
        fps("not_scanned"),
        ["on-a-host-not-probed", "on-a-port-not-probed"]
    );
    assert!(Path::new(&base).is_file());
}
