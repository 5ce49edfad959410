//! The script runner (MAAS's `maas-run-remote-scripts`, agent side): fetch
//! the phase's `maas-scripts` tar, run each script with its parameters and
//! upload each result through `signal`.
//!
//! - Parameters: a `storage` parameter runs the script once per disk of the
//!   inventory (`--storage={path}` unless the script gives its own
//!   `argument_format`), an `interface` parameter once per network port
//!   (`--interface={name}`); any other parameter is passed as
//!   `--{name}={input}` with the value the region put in the index.
//! - Order and parallelism: scripts start in name order; consecutive
//!   `any` scripts run together, the instances of an `instance` script run
//!   together, a `disabled` script runs alone.
//! - Timeouts: a script still running at its `timeout_seconds` (0 is no
//!   limit) is killed with its whole process group and reported TIMEDOUT.
//! - Results: `signal` WORKING (TIMEDOUT for a timeout) with the files
//!   `NAME` (stdout and stderr as they came), `NAME.out`, `NAME.err` and
//!   `NAME.yaml` (what the script wrote to `$RESULT_PATH`), `exit_status`,
//!   `name`, `runtime`, `script_version_id` (and `script_result_id` when
//!   the index has one). Instances of one script without a result id are
//!   reported as one result: every instance's output, headed by its
//!   arguments, and the first failing exit status.
//! - Packages: a script's `packages` are installed before it runs
//!   ([`crate::packages`]); if that fails it does not run and its result is
//!   the installer's output (Failed installing).
//! - The inventory script (`50-maas-01-commissioning`) is answered
//!   in-process from the agent's inventory, and `30-maas-01-bmc-config` by
//!   the agent's own BMC configuration ([`crate::bmc`]), whose credentials
//!   go with its result as `power_type` and `power_parameters` (MAAS's
//!   runner sends them the same way).
//! - A simulated machine ([`Mode::Simulated`]) runs nothing: each script
//!   reports one deterministic line saying it was not run, exit status 0
//!   (the inventory script reports the simulated inventory).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ironpool_common::inventory::Inventory;
use serde_json::{Map, Value};
use tokio::io::AsyncReadExt;

use crate::client::{AgentError, MetadataClient, Result};

/// Whether scripts really run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// On the machine being commissioned (the ephemeral environment):
    /// scripts run, and the agent's own steps that change the hardware
    /// (the BMC's user) are done.
    Machine,
    /// Scripts run, but the host is not the machine (tests run the real
    /// runner on the developer's or CI's host): the hardware-changing
    /// steps report themselves skipped instead of reconfiguring its BMC.
    Real,
    Simulated,
}

/// MAAS's SCRIPT_PARALLEL numbers.
const PARALLEL_DISABLED: i64 = 0;
const PARALLEL_INSTANCE: i64 = 1;
const PARALLEL_ANY: i64 = 2;

/// One `index.json` entry (the keys the runner uses).
#[derive(Debug, Clone)]
pub struct Entry {
    pub name: String,
    pub path: String,
    pub script_version_id: Option<i64>,
    pub script_result_id: Option<i64>,
    pub timeout_seconds: f64,
    pub parallel: i64,
    pub parameters: Map<String, Value>,
    /// `{apt: [...], snap: [...], url: [...]}` to install first.
    pub packages: Value,
}

fn entry(v: &Value) -> Option<Entry> {
    Some(Entry {
        name: v.get("name")?.as_str()?.to_string(),
        path: v.get("path")?.as_str()?.to_string(),
        script_version_id: v.get("script_version_id").and_then(Value::as_i64),
        script_result_id: v.get("script_result_id").and_then(Value::as_i64),
        timeout_seconds: v.get("timeout_seconds").and_then(Value::as_f64).unwrap_or(0.0),
        parallel: v.get("parallel").and_then(Value::as_i64).unwrap_or(0),
        parameters: v.get("parameters").and_then(Value::as_object).cloned().unwrap_or_default(),
        packages: v.get("packages").cloned().unwrap_or(Value::Null),
    })
}

/// One run of one script.
#[derive(Debug, Clone, Default)]
pub struct RunResult {
    pub args: Vec<String>,
    pub exit_status: Option<i32>,
    pub timed_out: bool,
    pub combined: Vec<u8>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub result: Vec<u8>,
    pub runtime: f64,
    /// The script's packages could not be installed: it did not run
    /// (reported as INSTALLING with the installer's exit status).
    pub install_failed: bool,
    /// `(power_type, power_parameters)` a BMC configuration produced.
    pub power: Option<(String, Value)>,
}

impl RunResult {
    pub fn failed(&self) -> bool {
        self.timed_out || self.exit_status != Some(0)
    }
}

/// What a phase ran: (script name, its result) in upload order.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub results: Vec<(String, RunResult)>,
    /// A commissioning index that also lists testing scripts: the run goes
    /// on to them (signal TESTING, then the testing phase).
    pub tests_follow: bool,
}

impl Report {
    pub fn ran(&self, name: &str) -> bool {
        self.results.iter().any(|(n, _)| n == name)
    }

    pub fn failures(&self) -> Vec<&str> {
        self.results.iter().filter(|(_, r)| r.failed()).map(|(n, _)| n.as_str()).collect()
    }
}

/// A scratch directory removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Result<Scratch> {
        static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("ironpool-scripts-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| io("create the scripts directory", e))?;
        Ok(Scratch(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn io(what: &str, e: std::io::Error) -> AgentError {
    AgentError::Protocol(format!("cannot {what}: {e}"))
}

/// Fetches the phase's scripts and runs them (`phase` is `commissioning`
/// or `testing`, the index key's prefix), uploading each result. `None`
/// when the region has nothing for this phase (204, 404, or an index
/// without it).
///
/// `own` are the scripts the agent answers in-process (name, stdout): the
/// inventory and the lshw document, which it builds itself rather than
/// from tools the ephemeral environment may lack.
pub async fn run_phase(
    md: &MetadataClient,
    inventory: &Inventory,
    own: &[(&str, Vec<u8>)],
    mode: Mode,
    phase: &str,
) -> Result<Option<Report>> {
    let own: std::sync::Arc<Vec<(String, Vec<u8>)>> =
        std::sync::Arc::new(own.iter().map(|(n, d)| (n.to_string(), d.clone())).collect());
    let Some(tar_bytes) = md.get("maas-scripts/").await? else { return Ok(None) };
    if tar_bytes.is_empty() {
        return Ok(None);
    }
    let scratch = Scratch::new()?;
    let dir = scratch.0.clone();
    let unpack_dir = dir.clone();
    tokio::task::spawn_blocking(move || tar::Archive::new(&tar_bytes[..]).unpack(&unpack_dir))
        .await
        .map_err(|e| AgentError::Protocol(format!("unpacking maas-scripts crashed: {e}")))?
        .map_err(|e| io("unpack maas-scripts", e))?;
    let index: Value = serde_json::from_slice(
        &std::fs::read(dir.join("index.json")).map_err(|e| io("read maas-scripts' index.json", e))?,
    )
    .map_err(|e| AgentError::Protocol(format!("maas-scripts' index.json: {e}")))?;
    let Some(list) = index["1.0"][format!("{phase}_scripts")].as_array().cloned() else { return Ok(None) };
    let mut entries: Vec<Entry> = list.iter().filter_map(entry).collect();
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    let mut report = Report {
        tests_follow: phase == "commissioning"
            && index["1.0"]["testing_scripts"].as_array().is_some_and(|t| !t.is_empty()),
        ..Report::default()
    };
    let mut installed: Vec<(String, crate::packages::Installed)> = Vec::new();
    let mut i = 0;
    while i < entries.len() {
        // A run of `any` scripts goes together; an `instance` script's
        // entries (one per disk or interface) go together; anything else
        // alone.
        let mut group = vec![entries[i].clone()];
        i += 1;
        if group[0].parallel == PARALLEL_ANY {
            while i < entries.len() && entries[i].parallel == PARALLEL_ANY {
                group.push(entries[i].clone());
                i += 1;
            }
        } else if group[0].parallel == PARALLEL_INSTANCE {
            // The region's per-device entries of one script: together.
            while i < entries.len() && entries[i].name == group[0].name {
                group.push(entries[i].clone());
                i += 1;
            }
        }
        // `instance` (1) and `any` let a script's runs overlap.
        let concurrent = group.len() > 1 || group[0].parallel != PARALLEL_DISABLED;
        let mut runs: Vec<(Entry, Vec<tokio::task::JoinHandle<RunResult>>)> = Vec::new();
        for e in group {
            // Packages first (once per script, whatever its instances); a
            // script whose packages fail does not run.
            if mode != Mode::Simulated && crate::packages::wanted(&e.packages) {
                let mut progress = vec![("name", e.name.clone())];
                if let Some(id) = e.script_result_id {
                    progress.push(("script_result_id", id.to_string()));
                }
                md.signal("INSTALLING", &progress, Vec::new()).await?;
                let installed = match installed.iter().find(|(n, _)| *n == e.name) {
                    Some((_, r)) => r.clone(),
                    None => {
                        let r = crate::packages::install(
                            md.http(),
                            &e.packages,
                            &dir.join("downloads").join(&e.name),
                            mode == Mode::Machine,
                        )
                        .await;
                        installed.push((e.name.clone(), r.clone()));
                        r
                    }
                };
                if let Err((code, log)) = installed {
                    let r = RunResult {
                        exit_status: Some(code),
                        combined: log.clone(),
                        stderr: log,
                        install_failed: true,
                        ..Default::default()
                    };
                    upload(md, &e, &r).await?;
                    report.results.push((e.name.clone(), r));
                    continue;
                }
            }
            let mut handles = Vec::new();
            for args in instances(&e, inventory) {
                let job = run_one(e.clone(), args, dir.clone(), mode, own.clone());
                if concurrent {
                    handles.push(tokio::spawn(job));
                } else {
                    let r = job.await;
                    handles.push(tokio::spawn(async move { r }));
                }
            }
            runs.push((e, handles));
        }
        for (e, handles) in runs {
            let mut results = Vec::new();
            for h in handles {
                results.push(h.await.map_err(|err| AgentError::Protocol(format!("script {} crashed: {err}", e.name)))?);
            }
            if results.is_empty() {
                continue;
            }
            let r = merge(results);
            upload(md, &e, &r).await?;
            report.results.push((e.name.clone(), r));
        }
    }
    drop(scratch);
    Ok(Some(report))
}

/// The argument lists of a script's runs: one per disk for a `storage`
/// parameter, one per port for an `interface` parameter, else one.
pub fn instances(e: &Entry, inventory: &Inventory) -> Vec<Vec<String>> {
    let mut runs: Vec<Vec<String>> = vec![Vec::new()];
    for (key, p) in &e.parameters {
        let ty = p.get("type").and_then(Value::as_str).unwrap_or("");
        let fmt = p.get("argument_format").and_then(Value::as_str);
        // A device the region chose (one instance of a per-device run):
        // only that disk or port.
        let device = p.get("value").and_then(|v| v.get("name")).and_then(Value::as_str);
        let choices: Vec<Vec<String>> = match ty {
            "storage" => inventory
                .resources
                .storage
                .disks
                .iter()
                .filter(|d| device.is_none_or(|n| n == d.id))
                .map(|d| {
                    let path = format!("/dev/{}", d.id);
                    let vals = [
                        ("name", d.id.clone()),
                        ("model", d.model.clone()),
                        ("serial", d.serial.clone()),
                        ("id_path", d.id_path().unwrap_or_else(|| path.clone())),
                        ("path", path.clone()),
                        ("input", path),
                    ];
                    format_args(fmt.unwrap_or("--storage={path}"), &vals)
                })
                .collect(),
            "interface" => inventory
                .ports()
                .filter(|(_, port)| device.is_none_or(|n| n == port.id))
                .map(|(card, port)| {
                    let vals = [
                        ("name", port.id.clone()),
                        ("mac_address", port.address.clone()),
                        ("vendor", card.vendor.clone()),
                        ("product", card.product.clone()),
                        ("input", port.id.clone()),
                    ];
                    format_args(fmt.unwrap_or("--interface={name}"), &vals)
                })
                .collect(),
            _ => {
                let value = p.get("value").or_else(|| p.get("default")).map(text).unwrap_or_default();
                let default_fmt = format!("--{key}={{input}}");
                vec![format_args(fmt.unwrap_or(&default_fmt), &[("input", value)])]
            }
        };
        runs = runs
            .iter()
            .flat_map(|base| {
                choices.iter().map(move |c| {
                    let mut v = base.clone();
                    v.extend(c.iter().cloned());
                    v
                })
            })
            .collect();
    }
    runs
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Python's `str.format(**vals).split()` for the placeholders MAAS uses.
fn format_args(fmt: &str, vals: &[(&str, String)]) -> Vec<String> {
    let mut s = fmt.to_string();
    for (k, v) in vals {
        s = s.replace(&format!("{{{k}}}"), v);
    }
    s.split_whitespace().map(str::to_string).collect()
}

async fn run_one(
    e: Entry,
    args: Vec<String>,
    dir: PathBuf,
    mode: Mode,
    own: std::sync::Arc<Vec<(String, Vec<u8>)>>,
) -> RunResult {
    let start = Instant::now();
    let mut r = if let Some((_, doc)) = own.iter().find(|(n, _)| *n == e.name) {
        RunResult { exit_status: Some(0), combined: doc.clone(), stdout: doc.clone(), ..Default::default() }
    } else {
        match mode {
            Mode::Simulated => {
                let line = format!(
                    "Simulated machine: {} {} was not run; this is its simulated output.\n",
                    e.name,
                    args.join(" ")
                )
                .into_bytes();
                RunResult { exit_status: Some(0), combined: line.clone(), stdout: line, ..Default::default() }
            }
            Mode::Real if e.name == crate::bmc::BMC_CONFIG_SCRIPT => {
                let line = b"INFO: not configuring this host's BMC: the agent is not running on the machine being commissioned.\n".to_vec();
                RunResult {
                    exit_status: Some(0),
                    combined: line.clone(),
                    stdout: line,
                    result: b"status: skipped\n".to_vec(),
                    ..Default::default()
                }
            }
            Mode::Machine if e.name == crate::bmc::BMC_CONFIG_SCRIPT => {
                let a = args.clone();
                match tokio::task::spawn_blocking(move || crate::bmc::run(&a)).await {
                    Ok(o) => RunResult {
                        exit_status: Some(o.exit_status),
                        combined: o.combined,
                        stdout: o.stdout,
                        stderr: o.stderr,
                        power: o.power,
                        ..Default::default()
                    },
                    Err(err) => failed_to_start(&format!("the BMC configuration crashed: {err}")),
                }
            }
            Mode::Real | Mode::Machine => execute(&e, &args, &dir).await,
        }
    };
    r.args = args;
    r.runtime = start.elapsed().as_secs_f64();
    r
}

fn failed_to_start(why: &str) -> RunResult {
    let msg = format!("{why}\n").into_bytes();
    RunResult { exit_status: Some(127), combined: msg.clone(), stderr: msg, ..Default::default() }
}

/// Runs the script file in its own process group with MAAS's environment
/// (`OUTPUT_*_PATH`, `RESULT_PATH`, `DOWNLOAD_PATH`, `RUNTIME`,
/// `HAS_STARTED`), collecting stdout and stderr (and both, as they came).
async fn execute(e: &Entry, args: &[String], dir: &Path) -> RunResult {
    let script = dir.join(&e.path);
    // The region's paths are `phase/name`; nothing may climb out.
    if e.path.split('/').any(|s| s == ".." || s.is_empty()) || !script.is_file() {
        return failed_to_start(&format!("script file '{}' is not in the tar", e.path));
    }
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755));
    }
    let run_dir = dir.join("out").join(format!("{}-{}", e.name, args.join("_").replace('/', "_")));
    // Shared by the script's instances, where its URL packages went (MAAS).
    let downloads = dir.join("downloads").join(&e.name);
    let _ = std::fs::create_dir_all(&downloads);
    let _ = std::fs::create_dir_all(&run_dir);
    let paths = |ext: &str| run_dir.join(format!("{}{ext}", e.name));
    let mut cmd = tokio::process::Command::new(&script);
    cmd.args(args)
        .current_dir(&run_dir)
        .env("OUTPUT_COMBINED_PATH", paths(""))
        .env("OUTPUT_STDOUT_PATH", paths(".out"))
        .env("OUTPUT_STDERR_PATH", paths(".err"))
        .env("RESULT_PATH", paths(".yaml"))
        .env("DOWNLOAD_PATH", &downloads)
        .env("RUNTIME", format!("{}", e.timeout_seconds as u64))
        .env("HAS_STARTED", "False")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(err) => return failed_to_start(&format!("cannot start {}: {err}", e.name)),
    };
    let pid = child.id();
    let mut r = RunResult::default();
    // Each pipe is read by its own task; the chunks arrive here in the
    // order they were read, which is the combined output's order.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(bool, Vec<u8>)>();
    for (is_err, pipe) in [
        (false, child.stdout.take().map(|p| Box::new(p) as Box<dyn tokio::io::AsyncRead + Unpin + Send>)),
        (true, child.stderr.take().map(|p| Box::new(p) as Box<dyn tokio::io::AsyncRead + Unpin + Send>)),
    ] {
        let Some(mut pipe) = pipe else { continue };
        let tx = tx.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 8192];
            while let Ok(n) = pipe.read(&mut buf).await {
                if n == 0 || tx.send((is_err, buf[..n].to_vec())).is_err() {
                    break;
                }
            }
        });
    }
    drop(tx);
    let collect = async {
        while let Some((is_err, chunk)) = rx.recv().await {
            if is_err {
                r.stderr.extend_from_slice(&chunk);
            } else {
                r.stdout.extend_from_slice(&chunk);
            }
            r.combined.extend_from_slice(&chunk);
        }
        child.wait().await.ok()
    };
    let status = if e.timeout_seconds > 0.0 {
        tokio::time::timeout(Duration::from_secs_f64(e.timeout_seconds), collect).await
    } else {
        Ok(collect.await)
    };
    match status {
        Ok(Some(s)) => {
            use std::os::unix::process::ExitStatusExt;
            r.exit_status = Some(s.code().unwrap_or_else(|| 128 + s.signal().unwrap_or(0)));
        }
        Ok(None) => r.exit_status = Some(127),
        Err(_) => {
            // Timed out: the script and everything it started go.
            r.timed_out = true;
            if let Some(pgid) = pid.and_then(|p| libc::pid_t::try_from(p).ok()).filter(|p| *p > 1) {
                // SAFETY: kill(2) takes plain integers and touches no memory.
                // The child leads its own process group (process_group(0)),
                // so -pgid names exactly it and its descendants; pgid > 1
                // keeps -1 ("every process") out of reach.
                unsafe {
                    libc::kill(-pgid, libc::SIGKILL);
                }
            }
            let _ = child.kill().await;
        }
    }
    for (ext, data) in [("", &r.combined), (".out", &r.stdout), (".err", &r.stderr)] {
        let _ = std::fs::write(paths(ext), data);
    }
    r.result = std::fs::read(paths(".yaml")).unwrap_or_default();
    r
}

/// One result for a script's runs (see the module doc).
fn merge(mut results: Vec<RunResult>) -> RunResult {
    if results.len() == 1 {
        return results.remove(0);
    }
    let mut m = RunResult::default();
    for r in &results {
        let head = format!("== {} ==\n", r.args.join(" ")).into_bytes();
        for (into, from) in [(&mut m.combined, &r.combined), (&mut m.stdout, &r.stdout), (&mut m.stderr, &r.stderr)] {
            into.extend_from_slice(&head);
            into.extend_from_slice(from);
        }
        if !r.result.is_empty() {
            m.result.extend_from_slice(&r.result);
        }
        m.timed_out |= r.timed_out;
        if m.power.is_none() {
            m.power.clone_from(&r.power);
        }
        m.runtime += r.runtime;
    }
    m.exit_status = results.iter().map(|r| r.exit_status).find(|s| *s != Some(0)).unwrap_or(Some(0));
    m
}

async fn upload(md: &MetadataClient, e: &Entry, r: &RunResult) -> Result<()> {
    let mut fields = vec![("name", e.name.clone()), ("runtime", format!("{:.2}", r.runtime))];
    if let (false, Some(s)) = (r.timed_out, r.exit_status) {
        fields.push(("exit_status", s.to_string()));
    }
    if let Some(v) = e.script_version_id {
        fields.push(("script_version_id", v.to_string()));
    }
    if let Some(v) = e.script_result_id {
        fields.push(("script_result_id", v.to_string()));
    }
    if let Some((ty, params)) = &r.power {
        fields.push(("power_type", ty.clone()));
        fields.push(("power_parameters", params.to_string()));
    }
    let mut files = vec![
        (e.name.clone(), r.combined.clone()),
        (format!("{}.out", e.name), r.stdout.clone()),
        (format!("{}.err", e.name), r.stderr.clone()),
    ];
    if !r.result.is_empty() {
        files.push((format!("{}.yaml", e.name), r.result.clone()));
    }
    let status = if r.timed_out {
        "TIMEDOUT"
    } else if r.install_failed {
        "INSTALLING"
    } else {
        "WORKING"
    };
    md.signal(status, &fields, files).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn e(params: Value) -> Entry {
        Entry {
            name: "s".into(),
            path: "testing/s".into(),
            script_version_id: None,
            script_result_id: None,
            timeout_seconds: 0.0,
            parallel: 0,
            parameters: params.as_object().cloned().unwrap(),
            packages: Value::Null,
        }
    }

    #[test]
    fn storage_runs_once_per_disk_and_values_become_arguments() {
        let inv = crate::inventory::fake(1);
        let disks = inv.resources.storage.disks.len();
        assert!(disks > 0);
        let runs = instances(&e(json!({"storage": {"type": "storage", "value": "all"}})), &inv);
        assert_eq!(runs.len(), disks);
        assert_eq!(runs[0], vec![format!("--storage=/dev/{}", inv.resources.storage.disks[0].id)]);
        let runs = instances(&e(json!({"url": {"type": "url", "value": "http://r/MAAS/"}})), &inv);
        assert_eq!(runs, vec![vec!["--url=http://r/MAAS/".to_string()]]);
        let runs =
            instances(&e(json!({"n": {"type": "string", "default": "a b", "argument_format": "{input}"}})), &inv);
        assert_eq!(runs, vec![vec!["a".to_string(), "b".to_string()]]);
        assert_eq!(instances(&e(json!({})), &inv), vec![Vec::<String>::new()]);
        // One disk the region chose: that disk alone.
        let one = json!({"storage": {"type": "storage", "value": {"name": inv.resources.storage.disks[0].id, "physical_blockdevice_id": 7}}});
        assert_eq!(
            instances(&e(one), &inv),
            vec![vec![format!("--storage=/dev/{}", inv.resources.storage.disks[0].id)]]
        );
    }

    #[tokio::test]
    async fn a_script_past_its_timeout_is_killed_and_reported() {
        let dir = Scratch::new().unwrap();
        std::fs::create_dir_all(dir.0.join("testing")).unwrap();
        std::fs::write(dir.0.join("testing/s"), "#!/bin/sh\necho started\nsleep 60\necho never\n").unwrap();
        let mut entry = e(json!({}));
        entry.timeout_seconds = 1.0;
        let r = execute(&entry, &[], &dir.0).await;
        assert!(r.timed_out, "{r:?}");
        assert_eq!(String::from_utf8_lossy(&r.stdout), "started\n");
        std::fs::write(
            dir.0.join("testing/s"),
            "#!/bin/sh\necho out\necho err >&2\necho 'status: passed' > \"$RESULT_PATH\"\nexit 3\n",
        )
        .unwrap();
        let r = execute(&entry, &[], &dir.0).await;
        assert_eq!((r.timed_out, r.exit_status), (false, Some(3)));
        assert_eq!((r.stdout.as_slice(), r.stderr.as_slice()), (&b"out\n"[..], &b"err\n"[..]));
        assert_eq!(r.result, b"status: passed\n");
    }
}
