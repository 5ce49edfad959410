//! Script sets and script results (MAAS's `ScriptSet` / `ScriptResult`):
//! which scripts a commissioning or testing run asks for ([`select`]), the
//! set created with them as PENDING results, what the machine's signals
//! change, which set is current, the status summaries node views carry, and
//! the reads, downloads, suppression and deletion behind
//! `nodes/{system_id}/results/`.
//!
//! A node's *current* set of a result type is its newest one (MAAS keeps a
//! pointer on the node; every run creates a new set, so the newest is the
//! same one while nothing is deleted).

use std::collections::HashMap;
use std::io::Write as _;

use ironpool_common::inventory::COMMISSIONING_SCRIPT;
use serde_json::{json, Map, Value};

use crate::db;
use crate::db::metadata::ScriptResult;
use crate::db::nodes::Node;
use crate::db::results::{NewScriptResult, NewScriptSet, ResultChanges, ScriptSet};
use crate::db::DbConn;
use crate::engine;
use crate::engine::lifecycle::Status;
use crate::error::{Error, Result};

/// MAAS's `RESULT_TYPE`.
pub mod result_type {
    pub const COMMISSIONING: i32 = 0;
    pub const INSTALLATION: i32 = 1;
    pub const TESTING: i32 = 2;
    pub const RELEASE: i32 = 3;
}

/// MAAS's `SCRIPT_STATUS`.
pub mod status {
    pub const PENDING: i32 = 0;
    pub const RUNNING: i32 = 1;
    pub const PASSED: i32 = 2;
    pub const FAILED: i32 = 3;
    pub const TIMEDOUT: i32 = 4;
    pub const ABORTED: i32 = 5;
    pub const DEGRADED: i32 = 6;
    pub const INSTALLING: i32 = 7;
    pub const FAILED_INSTALLING: i32 = 8;
    pub const SKIPPED: i32 = 9;
    pub const APPLYING_NETCONF: i32 = 10;
    pub const FAILED_APPLYING_NETCONF: i32 = 11;
}

/// MAAS's `HARDWARE_TYPE` (one list, kept with the scripts that declare it).
pub use crate::engine::scripts::hardware_type;

const RUNNING_OR_PENDING: [i32; 4] = [status::PENDING, status::RUNNING, status::INSTALLING, status::APPLYING_NETCONF];

/// MAAS's `SCRIPT_STATUS_CHOICES` label; "Unknown" for -1 (no results).
pub fn status_name(s: i32) -> &'static str {
    match s {
        status::PENDING => "Pending",
        status::RUNNING => "Running",
        status::PASSED => "Passed",
        status::FAILED => "Failed",
        status::TIMEDOUT => "Timed out",
        status::ABORTED => "Aborted",
        status::DEGRADED => "Degraded",
        status::INSTALLING => "Installing dependencies",
        status::FAILED_INSTALLING => "Failed installing dependencies",
        status::SKIPPED => "Skipped",
        status::APPLYING_NETCONF => "Applying custom network configuration",
        status::FAILED_APPLYING_NETCONF => "Failed to apply custom network configuration",
        _ => "Unknown",
    }
}

pub fn result_type_name(t: i32) -> &'static str {
    match t {
        result_type::COMMISSIONING => "Commissioning",
        result_type::INSTALLATION => "Installation",
        result_type::TESTING => "Testing",
        result_type::RELEASE => "Release",
        _ => "Deployment",
    }
}

/// MAAS's `translate_result_type`, with its error texts.
pub fn parse_result_type(s: &str) -> Result<i32> {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return match s.parse::<i32>() {
            Ok(n @ 0..=4) => Ok(n),
            _ => Err(Error::BadRequest("Invalid result type numeric value.".into())),
        };
    }
    match s {
        "test" | "testing" => Ok(result_type::TESTING),
        "commission" | "commissioning" => Ok(result_type::COMMISSIONING),
        "install" | "installation" => Ok(result_type::INSTALLATION),
        "release" => Ok(result_type::RELEASE),
        "deployment" => Ok(4),
        _ => Err(Error::BadRequest("Invalid result type name".into())),
    }
}

/// MAAS's `translate_hardware_type`, with its error texts.
pub fn parse_hardware_type(s: &str) -> Result<i32> {
    engine::scripts::translate_hardware_type(s).map_err(Error::BadRequest)
}

/// A script the region knows before the scripts table exists: MAAS's
/// built-ins that matter to selection (name, tags, hardware type,
/// destructive, parameters with their types and defaults).
struct Builtin {
    name: &'static str,
    result_type: i32,
    tags: &'static [&'static str],
    hardware_type: i32,
    destructive: bool,
    /// Always part of a commissioning run (MAAS's default commissioning scripts).
    default: bool,
    params: &'static [(&'static str, &'static str, &'static str)],
}

const BUILTINS: &[Builtin] = &[
    Builtin {
        name: COMMISSIONING_SCRIPT,
        result_type: result_type::COMMISSIONING,
        tags: &["node"],
        hardware_type: hardware_type::NODE,
        destructive: false,
        default: true,
        params: &[],
    },
    Builtin {
        name: "smartctl-validate",
        result_type: result_type::TESTING,
        tags: &["commissioning", "storage"],
        hardware_type: hardware_type::STORAGE,
        destructive: false,
        default: true,
        params: &[("storage", "storage", "all")],
    },
    Builtin {
        name: "smartctl-short",
        result_type: result_type::TESTING,
        tags: &["storage"],
        hardware_type: hardware_type::STORAGE,
        destructive: false,
        default: false,
        params: &[("storage", "storage", "all")],
    },
    Builtin {
        name: "memtester",
        result_type: result_type::TESTING,
        tags: &["memory"],
        hardware_type: hardware_type::MEMORY,
        destructive: false,
        default: false,
        params: &[],
    },
    Builtin {
        name: "stress-ng-cpu-short",
        result_type: result_type::TESTING,
        tags: &["cpu"],
        hardware_type: hardware_type::CPU,
        destructive: false,
        default: false,
        params: &[],
    },
    Builtin {
        name: "badblocks-destructive",
        result_type: result_type::TESTING,
        tags: &["storage", "destructive"],
        hardware_type: hardware_type::STORAGE,
        destructive: true,
        default: false,
        params: &[("storage", "storage", "all")],
    },
    Builtin {
        name: "internet-connectivity",
        result_type: result_type::TESTING,
        tags: &["network", "internet", "node"],
        hardware_type: hardware_type::NETWORK,
        destructive: false,
        default: false,
        params: &[("url", "url", "")],
    },
];

/// One script chosen for a run.
#[derive(Debug, Clone)]
pub struct Selected {
    pub name: String,
    pub hardware_type: i32,
    pub destructive: bool,
    /// MAAS's rendered parameters: `{name: {"type": .., "value": ..}}`.
    pub parameters: Value,
}

/// Which scripts a run of `rtype` runs. `requested` are the names or tags
/// the caller gave (`None` or empty: the defaults — every default
/// commissioning script, or the testing scripts tagged `commissioning`;
/// `none`: no testing scripts). Commissioning always includes the default
/// commissioning scripts, as in MAAS. `params` are the request's other
/// fields: `<script>_<param>` for one script, `<param>` for every script
/// with that parameter. `field` names the request field in errors.
///
/// The one place that decides selection, so the scripts table can take over
/// the catalogue without touching callers.
pub fn select(
    c: &mut DbConn,
    rtype: i32,
    requested: Option<&[String]>,
    params: &HashMap<String, String>,
    field: &str,
) -> Result<Vec<Selected>> {
    let catalogue = catalogue(c, rtype)?;
    let settings = engine::scripts::config_defaults(c)?;
    let of_type: Vec<&Entry> = catalogue.iter().collect();
    let wanted: Vec<&str> = requested.unwrap_or_default().iter().map(|s| s.trim()).filter(|s| !s.is_empty()).collect();
    let mut chosen: Vec<&Entry> = Vec::new();
    if rtype == result_type::COMMISSIONING {
        chosen.extend(of_type.iter().filter(|b| b.default));
    }
    if wanted.is_empty() {
        if rtype == result_type::TESTING {
            chosen.extend(of_type.iter().filter(|b| b.tags.iter().any(|t| t == "commissioning")));
        }
    } else if !(wanted == ["none"] && rtype == result_type::TESTING) {
        for w in &wanted {
            let hits: Vec<&&Entry> = of_type.iter().filter(|b| b.name == *w || b.tags.iter().any(|t| t == w)).collect();
            if hits.is_empty() {
                return Err(Error::field(
                    field,
                    format!("Select a valid choice. {w} is not one of the available choices."),
                ));
            }
            chosen.extend(hits.into_iter().copied());
        }
    }
    let mut out: Vec<Selected> = Vec::new();
    for b in chosen {
        if out.iter().any(|s| s.name == b.name) {
            continue;
        }
        let mut p = Map::new();
        for (pname, ptype, default) in &b.params {
            let given = params
                .get(&format!("{}_{pname}", b.name))
                .or_else(|| params.get(pname.as_str()))
                .cloned()
                .or_else(|| settings.get(pname.as_str()).filter(|_| default.is_empty()).cloned())
                .unwrap_or_else(|| default.clone());
            p.insert(pname.clone(), json!({"type": ptype, "value": given}));
        }
        out.push(Selected {
            name: b.name.clone(),
            hardware_type: b.hardware_type,
            destructive: b.destructive,
            parameters: Value::Object(p),
        });
    }
    Ok(out)
}

/// One script selection can choose: from the `scripts` table (built-ins
/// and uploads), or from [`BUILTINS`] for names the table lacks.
struct Entry {
    name: String,
    tags: Vec<String>,
    hardware_type: i32,
    destructive: bool,
    default: bool,
    params: Vec<(String, String, String)>,
}

/// The scripts a run of `rtype` can choose from. Every commissioning
/// script in the table runs by default (MAAS: built-ins always, uploads
/// unless the operator names others).
fn catalogue(c: &mut DbConn, rtype: i32) -> Result<Vec<Entry>> {
    let mut out: Vec<Entry> = Vec::new();
    for s in engine::scripts::all(c)? {
        if s.script.script_type != rtype {
            continue;
        }
        let mut params = Vec::new();
        if let Some(map) = engine::scripts::Loaded::json_field(&s.script.parameters).as_object() {
            for (pname, p) in map {
                let ty = p.get("type").and_then(Value::as_str).unwrap_or("string").to_string();
                let default = match p.get("default") {
                    Some(Value::String(d)) => d.clone(),
                    Some(Value::Null) | None => {
                        if matches!(ty.as_str(), "storage" | "interface") {
                            "all".to_string()
                        } else {
                            String::new()
                        }
                    }
                    Some(other) => other.to_string(),
                };
                params.push((pname.clone(), ty, default));
            }
        }
        out.push(Entry {
            tags: s.tags(),
            hardware_type: s.script.hardware_type,
            destructive: s.script.destructive,
            default: rtype == result_type::COMMISSIONING,
            name: s.script.name.clone(),
            params,
        });
    }
    for b in BUILTINS.iter().filter(|b| b.result_type == rtype) {
        if out.iter().any(|e| e.name == b.name) {
            continue;
        }
        out.push(Entry {
            name: b.name.to_string(),
            tags: b.tags.iter().map(|t| t.to_string()).collect(),
            hardware_type: b.hardware_type,
            destructive: b.destructive,
            default: b.default,
            params: b.params.iter().map(|(n, t, d)| (n.to_string(), t.to_string(), d.to_string())).collect(),
        });
    }
    Ok(out)
}

/// The hardware type of a script reported by name (built-ins), else node.
fn hardware_type_of(name: &str) -> i32 {
    BUILTINS.iter().find(|b| b.name == name).map(|b| b.hardware_type).unwrap_or(hardware_type::NODE)
}

/// What a run was asked for, stored on its set.
#[derive(Debug, Clone, Default)]
pub struct RunRequest {
    pub requested: Vec<String>,
    pub parameters: HashMap<String, String>,
    pub options: Map<String, Value>,
}

/// Creates a set of `rtype` for `n` with `scripts` as PENDING results.
pub fn create_set(c: &mut DbConn, n: &Node, rtype: i32, scripts: &[Selected], req: &RunRequest) -> Result<ScriptSet> {
    let now = db::now();
    let id = db::results::insert_set(
        c,
        &NewScriptSet {
            node_id: n.id,
            result_type: rtype,
            last_ping: None,
            requested_scripts: Value::from(req.requested.clone()).to_string(),
            script_parameters: serde_json::to_string(&req.parameters).unwrap_or_else(|_| "{}".into()),
            options: Value::Object(req.options.clone()).to_string(),
            created_at: now,
        },
    )?;
    for s in scripts {
        db::results::insert_result(
            c,
            &NewScriptResult {
                node_id: n.id,
                script_set_id: id,
                phase: phase_of(rtype),
                name: s.name.clone(),
                status: status::PENDING,
                exit_status: None,
                output: Vec::new(),
                stdout: Vec::new(),
                stderr: Vec::new(),
                result: Vec::new(),
                runtime: String::new(),
                parameters: s.parameters.to_string(),
                started: None,
                ended: None,
                suppressed: false,
                hardware_type: s.hardware_type,
                created_at: now,
                updated_at: now,
                physical_blockdevice_id: None,
                interface_id: None,
            },
        )?;
    }
    db::results::set_of_node(c, n.id, id)?.ok_or(Error::NotFound("ScriptSet"))
}

/// Marks `set`'s pending results of the scripts tagged `tag` as done
/// without running: exit status 0, `note` as their output and MAAS's
/// `status: skipped` result, so they show Skipped and the runner is not
/// given them (`commission` with `skip_bmc_config`: MAAS keeps the BMC
/// scripts' results in the set so the UI says they were skipped).
pub fn skip_tagged(c: &mut DbConn, set: &ScriptSet, tag: &str, note: &[u8]) -> Result<()> {
    let tagged: Vec<String> = engine::scripts::all(c)?
        .into_iter()
        .filter(|s| s.tags().iter().any(|t| t == tag))
        .map(|s| s.script.name.clone())
        .collect();
    let now = db::now();
    for r in db::results::results_in(c, &[set.id])? {
        if r.status != status::PENDING || !tagged.contains(&r.name) {
            continue;
        }
        let ch = ResultChanges {
            status: Some(status::SKIPPED),
            exit_status: Some(Some(0)),
            output: Some(note.to_vec()),
            stdout: Some(note.to_vec()),
            result: Some(b"status: skipped".to_vec()),
            started: Some(Some(now)),
            ended: Some(Some(now)),
            updated_at: Some(now),
            ..Default::default()
        };
        db::results::update_result(c, r.id, &ch)?;
    }
    Ok(())
}

/// The status a result's YAML (what the script wrote to `$RESULT_PATH`)
/// sets, as MAAS's `store_result` reads it: `status:` passed, failed,
/// degraded, timedout or skipped override what the exit status said.
/// `Err` is the parser's complaint (MAAS logs it and keeps the status).
pub fn status_from_result(yaml: &[u8]) -> std::result::Result<Option<i32>, String> {
    if yaml.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let v: Value = serde_norway::from_slice(yaml).map_err(|e| e.to_string())?;
    if !(v.is_object() || v.is_null()) {
        return Err("The results YAML must be a dictionary.".into());
    }
    Ok(match v.get("status").and_then(Value::as_str) {
        Some("passed") => Some(status::PASSED),
        Some("failed") => Some(status::FAILED),
        Some("degraded") => Some(status::DEGRADED),
        Some("timedout") => Some(status::TIMEDOUT),
        Some("skipped") => Some(status::SKIPPED),
        _ => None,
    })
}

/// The node status a result type's results are reported in (the legacy
/// `phase` column).
fn phase_of(rtype: i32) -> i32 {
    match rtype {
        result_type::TESTING => Status::Testing.code(),
        result_type::INSTALLATION => Status::Deploying.code(),
        result_type::RELEASE => Status::Releasing.code(),
        _ => Status::Commissioning.code(),
    }
}

/// The result type a signal from a node in `st` reports into (MAAS: testing
/// while TESTING, installation while DEPLOYING, else commissioning).
pub fn result_type_for(st: Status) -> i32 {
    match st {
        Status::Testing => result_type::TESTING,
        Status::Deploying | Status::Deployed => result_type::INSTALLATION,
        // Erasing and release scripts are a release run (MAAS's RELEASE
        // set), not part of the machine's commissioning results.
        Status::DiskErasing | Status::Releasing => result_type::RELEASE,
        _ => result_type::COMMISSIONING,
    }
}

/// The node's current set of `rtype`, created empty when it has none (a
/// machine enlisting by itself, a deployment's installation log).
pub fn current_or_new(c: &mut DbConn, n: &Node, rtype: i32) -> Result<ScriptSet> {
    match db::results::latest_set(c, n.id, rtype)? {
        Some(s) => Ok(s),
        None => create_set(c, n, rtype, &[], &RunRequest::default()),
    }
}

/// One script's report: its outputs and how it ended (or that it runs).
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub name: String,
    pub status: i32,
    pub exit_status: Option<i32>,
    pub output: Option<Vec<u8>>,
    pub stdout: Option<Vec<u8>>,
    pub stderr: Option<Vec<u8>>,
    pub result: Option<Vec<u8>>,
    pub runtime: Option<String>,
    /// The result row the runner was given (`script_result_id`): one
    /// instance of a per-disk or per-interface script.
    pub result_id: Option<i64>,
}

/// Records a report in the node's current set of `rtype`: the result the
/// report names by id, else the one with that name (the newest), else a new
/// one. Started/ended follow the status.
pub fn record(c: &mut DbConn, n: &Node, rtype: i32, r: &Report) -> Result<()> {
    let set = current_or_new(c, n, rtype)?;
    let now = db::now();
    db::results::touch_set(c, set.id, now)?;
    let results = db::results::results_in(c, &[set.id])?;
    let by_id = r.result_id.and_then(|id| results.iter().find(|x| x.id == id && x.name == r.name)).cloned();
    let existing = by_id.or_else(|| results.into_iter().rfind(|x| x.name == r.name));
    let finished = !RUNNING_OR_PENDING.contains(&r.status);
    match existing {
        Some(x) => {
            let ch = ResultChanges {
                status: Some(r.status),
                exit_status: Some(r.exit_status),
                output: r.output.clone(),
                stdout: r.stdout.clone(),
                stderr: r.stderr.clone(),
                result: r.result.clone(),
                runtime: r.runtime.clone(),
                started: if x.started.is_none() { Some(Some(now)) } else { None },
                ended: Some(if finished { Some(now) } else { None }),
                updated_at: Some(now),
                suppressed: None,
            };
            db::results::update_result(c, x.id, &ch)
        }
        None => {
            db::results::insert_result(
                c,
                &NewScriptResult {
                    node_id: n.id,
                    script_set_id: set.id,
                    phase: n.status.code(),
                    name: r.name.clone(),
                    status: r.status,
                    exit_status: r.exit_status,
                    output: r.output.clone().unwrap_or_default(),
                    stdout: r.stdout.clone().unwrap_or_default(),
                    stderr: r.stderr.clone().unwrap_or_default(),
                    result: r.result.clone().unwrap_or_default(),
                    runtime: r.runtime.clone().unwrap_or_default(),
                    parameters: "{}".into(),
                    started: Some(now),
                    ended: if finished { Some(now) } else { None },
                    suppressed: false,
                    hardware_type: hardware_type_of(&r.name),
                    created_at: now,
                    updated_at: now,
                    physical_blockdevice_id: None,
                    interface_id: None,
                },
            )?;
            Ok(())
        }
    }
}

/// MAAS runs a storage (network) script once per disk (interface), each run
/// its own result. A run's pending result whose `storage` or `interface`
/// parameter says `all` (or names one device) becomes one result per
/// matching physical disk (interface), its parameter's value the device as
/// MAAS renders it, before the runner is given the scripts. A node whose
/// devices are not known yet (a first commissioning) keeps the one result,
/// and the runner merges its runs into it.
pub fn expand_instances(c: &mut DbConn, n: &Node) -> Result<()> {
    let rtype = match n.status {
        Status::Commissioning => result_type::COMMISSIONING,
        Status::Testing => result_type::TESTING,
        _ => return Ok(()),
    };
    let Some(set) = db::results::latest_set(c, n.id, rtype)? else { return Ok(()) };
    let results = db::results::results_in(c, &[set.id])?;
    let pending = results
        .iter()
        .filter(|r| r.status == status::PENDING && r.physical_blockdevice_id.is_none() && r.interface_id.is_none());
    let mut disks: Option<Vec<db::storage::BlockDevice>> = None;
    let mut ifaces: Option<Vec<db::interfaces::Interface>> = None;
    let now = db::now();
    for r in pending {
        let Ok(Value::Object(params)) = serde_json::from_str::<Value>(&r.parameters) else { continue };
        let Some((pname, kind, wanted)) = params.iter().find_map(|(k, p)| {
            let ty = p.get("type").and_then(Value::as_str)?;
            let v = p.get("value").and_then(Value::as_str).unwrap_or("all");
            matches!(ty, "storage" | "interface").then(|| (k.clone(), ty.to_string(), v.to_string()))
        }) else {
            continue;
        };
        // (device value as MAAS renders it, disk id, interface id)
        let devices: Vec<(Value, Option<i64>, Option<i64>)> = if kind == "storage" {
            let all = match &disks {
                Some(d) => d,
                None => disks.insert(
                    db::storage::load_node(c, n.id)?.devices.into_iter().filter(|d| d.dev_type == "physical").collect(),
                ),
            };
            all.iter()
                .filter(|d| wanted == "all" || d.name == wanted || d.id.to_string() == wanted)
                .map(|d| {
                    let v = json!({
                        "name": d.name,
                        "model": d.model.clone().unwrap_or_default(),
                        "serial": d.serial.clone().unwrap_or_default(),
                        "id_path": d.id_path.clone().unwrap_or_else(|| format!("/dev/{}", d.name)),
                        "physical_blockdevice_id": d.id,
                    });
                    (v, Some(d.id), None)
                })
                .collect()
        } else {
            let all = match &ifaces {
                Some(i) => i,
                None => ifaces.insert(
                    db::network::interfaces_of(c, n.id)?.into_iter().filter(|i| i.iftype == "physical").collect(),
                ),
            };
            all.iter()
                .filter(|i| wanted == "all" || i.name == wanted || i.id.to_string() == wanted)
                .map(|i| {
                    let v = json!({
                        "name": i.name,
                        "mac_address": i.mac_address.clone().unwrap_or_default(),
                        "vendor": i.vendor.clone().unwrap_or_default(),
                        "product": i.product.clone().unwrap_or_default(),
                        "interface_id": i.id,
                    });
                    (v, None, Some(i.id))
                })
                .collect()
        };
        if devices.is_empty() {
            continue;
        }
        for (value, disk, iface) in devices {
            let mut p = params.clone();
            if let Some(Value::Object(one)) = p.get_mut(&pname) {
                one.insert("value".into(), value);
            }
            db::results::insert_result(
                c,
                &NewScriptResult {
                    node_id: n.id,
                    script_set_id: set.id,
                    phase: r.phase,
                    name: r.name.clone(),
                    status: status::PENDING,
                    exit_status: None,
                    output: Vec::new(),
                    stdout: Vec::new(),
                    stderr: Vec::new(),
                    result: Vec::new(),
                    runtime: String::new(),
                    parameters: Value::Object(p).to_string(),
                    started: None,
                    ended: None,
                    suppressed: r.suppressed,
                    hardware_type: r.hardware_type,
                    created_at: now,
                    updated_at: now,
                    physical_blockdevice_id: disk,
                    interface_id: iface,
                },
            )?;
        }
        db::results::delete_result(c, r.id)?;
    }
    Ok(())
}

/// The results of the node's current set of `rtype` (empty without one).
pub fn current_results(c: &mut DbConn, n: &Node, rtype: i32) -> Result<Vec<ScriptResult>> {
    match db::results::latest_set(c, n.id, rtype)? {
        Some(s) => db::results::results_in(c, &[s.id]),
        None => Ok(Vec::new()),
    }
}

/// The first failed (or timed out) result of the node's current set of
/// `rtype`, by name: the script a failure message names.
pub fn first_failure(c: &mut DbConn, n: &Node, rtype: i32) -> Result<Option<ScriptResult>> {
    Ok(first_failed(&current_results(c, n, rtype)?).cloned())
}

/// The first failed (or timed out) unsuppressed result among `results`
/// (for callers that already hold the run's results).
pub fn first_failed(results: &[ScriptResult]) -> Option<&ScriptResult> {
    results.iter().find(|r| is_failed(r.status) && !r.suppressed)
}

pub fn is_failed(s: i32) -> bool {
    matches!(s, status::FAILED | status::TIMEDOUT | status::FAILED_INSTALLING | status::FAILED_APPLYING_NETCONF)
}

/// A run ended: results it never reported are SKIPPED (ok) or ABORTED
/// (the run failed), as MAAS aborts a failed run's pending scripts.
pub fn close_run(c: &mut DbConn, n: &Node, rtype: i32, failed: bool) -> Result<()> {
    if let Some(s) = db::results::latest_set(c, n.id, rtype)? {
        let to = if failed { status::ABORTED } else { status::SKIPPED };
        db::results::move_statuses(c, &[s.id], &RUNNING_OR_PENDING, to, db::now())?;
    }
    Ok(())
}

/// MAAS's `get_status_from_qs`: -1 without results, else the most pressing
/// status of the unsuppressed ones (running beats pending beats failures).
pub fn overall_status<'a>(results: impl IntoIterator<Item = &'a (i32, bool, i32)>) -> i32 {
    let all: Vec<&(i32, bool, i32)> = results.into_iter().collect();
    if all.is_empty() {
        return -1;
    }
    let live: Vec<i32> = all.iter().filter(|r| !r.1).map(|r| r.0).collect();
    for s in [
        status::RUNNING,
        status::APPLYING_NETCONF,
        status::INSTALLING,
        status::PENDING,
        status::ABORTED,
        status::FAILED,
        status::FAILED_APPLYING_NETCONF,
        status::FAILED_INSTALLING,
        status::TIMEDOUT,
        status::DEGRADED,
    ] {
        if live.contains(&s) {
            return match s {
                status::APPLYING_NETCONF | status::INSTALLING | status::RUNNING => status::RUNNING,
                status::FAILED_APPLYING_NETCONF | status::FAILED_INSTALLING | status::TIMEDOUT | status::FAILED => {
                    status::FAILED
                }
                other => other,
            };
        }
    }
    status::PASSED
}

/// What a node view shows of its script sets.
#[derive(Debug, Clone, Default)]
pub struct NodeSummary {
    pub current_commissioning: Option<i64>,
    pub current_testing: Option<i64>,
    pub current_installation: Option<i64>,
    pub commissioning_status: i32,
    pub testing_status: i32,
    /// Testing status per hardware type (node, cpu, memory, storage, network).
    pub test_status_by_hw: [i32; 5],
}

/// A node's summary from its current sets (`db::results::current_summaries`).
pub fn summarise(sets: &[db::results::SetSummary]) -> NodeSummary {
    let mut s =
        NodeSummary { commissioning_status: -1, testing_status: -1, test_status_by_hw: [-1; 5], ..Default::default() };
    for (set, rows) in sets {
        match set.result_type {
            result_type::COMMISSIONING => {
                s.current_commissioning = Some(set.id);
                s.commissioning_status = overall_status(rows);
            }
            result_type::TESTING => {
                s.current_testing = Some(set.id);
                s.testing_status = overall_status(rows);
                for (hw, slot) in s.test_status_by_hw.iter_mut().enumerate() {
                    *slot = overall_status(rows.iter().filter(|r| r.2 == hw as i32));
                }
            }
            result_type::INSTALLATION => s.current_installation = Some(set.id),
            _ => {}
        }
    }
    s
}

// ---- nodes/{system_id}/results/ --------------------------------------------------

/// Which results of a set a read shows: MAAS's `filters` (names, tags or
/// result ids) and `hardware_type`.
#[derive(Debug, Clone, Default)]
pub struct ResultFilter {
    pub filters: Option<Vec<String>>,
    pub hardware_type: Option<i32>,
}

impl ResultFilter {
    fn keeps(&self, r: &ScriptResult) -> bool {
        let by_name = match &self.filters {
            None => true,
            Some(fs) => fs.iter().any(|f| {
                f == &r.name
                    || BUILTINS.iter().any(|b| b.name == r.name && b.tags.contains(&f.as_str()))
                    || (f.bytes().all(|b| b.is_ascii_digit()) && f.parse::<i64>().ok() == Some(r.id))
            }),
        };
        by_name && self.hardware_type.is_none_or(|h| h == r.hardware_type)
    }
}

/// A set with its (filtered) results, ready to render.
#[derive(Debug, Clone)]
pub struct SetWithResults {
    pub set: ScriptSet,
    pub system_id: String,
    pub hostname: String,
    /// Every result, for the set's own status (MAAS computes it over all).
    pub all: Vec<ScriptResult>,
    pub shown: Vec<ScriptResult>,
}

impl SetWithResults {
    pub fn status(&self) -> i32 {
        let rows: Vec<(i32, bool, i32)> = self.all.iter().map(|r| (r.status, r.suppressed, r.hardware_type)).collect();
        overall_status(&rows)
    }
    pub fn started(&self) -> Option<chrono::NaiveDateTime> {
        self.all.iter().filter_map(|r| r.started).min()
    }
    /// Ended only once every result has ended.
    pub fn ended(&self) -> Option<chrono::NaiveDateTime> {
        if self.all.is_empty() || self.all.iter().any(|r| r.ended.is_none()) {
            return None;
        }
        self.all.iter().filter_map(|r| r.ended).max()
    }
}

fn with_results(c: &mut DbConn, n: &Node, sets: Vec<ScriptSet>, f: &ResultFilter) -> Result<Vec<SetWithResults>> {
    let ids: Vec<i64> = sets.iter().map(|s| s.id).collect();
    let results = db::results::results_in(c, &ids)?;
    Ok(sets
        .into_iter()
        .map(|set| {
            let all: Vec<ScriptResult> = results.iter().filter(|r| r.script_set_id == set.id).cloned().collect();
            let mut shown: Vec<ScriptResult> = all.iter().filter(|r| f.keeps(r)).cloned().collect();
            shown.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
            SetWithResults { set, system_id: n.system_id.clone(), hostname: n.hostname.clone(), all, shown }
        })
        .collect())
}

/// `GET nodes/{id}/results/`: every set of the node (of one type).
pub fn list(c: &mut DbConn, n: &Node, rtype: Option<i32>, f: &ResultFilter) -> Result<Vec<SetWithResults>> {
    let sets = db::results::sets_of(c, n.id, rtype)?;
    with_results(c, n, sets, f)
}

/// The set `id` names: a number (the node's set), or `current-commissioning`,
/// `current-testing`, `current-installation` — MAAS's texts otherwise.
pub fn resolve(c: &mut DbConn, n: &Node, id: &str) -> Result<ScriptSet> {
    let current = match id {
        "current-commissioning" => Some(result_type::COMMISSIONING),
        "current-testing" => Some(result_type::TESTING),
        "current-installation" => Some(result_type::INSTALLATION),
        _ => None,
    };
    if let Some(t) = current {
        return db::results::latest_set(c, n.id, t)?
            .ok_or_else(|| Error::BadRequest(format!("No {} script set exists for this node.", id.replace('-', " "))));
    }
    if !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) {
        let num = id.parse::<i64>().map_err(|_| Error::NotFound("ScriptSet"))?;
        return db::results::set_of_node(c, n.id, num)?.ok_or(Error::NotFound("ScriptSet"));
    }
    Err(Error::BadRequest(format!(
        "Unknown id \"{id}\" must be current-commissioning, current-testing, current-installation, or the id number of a specific result."
    )))
}

/// `GET nodes/{id}/results/{id}/`.
pub fn read(c: &mut DbConn, n: &Node, id: &str, f: &ResultFilter) -> Result<SetWithResults> {
    let set = resolve(c, n, id)?;
    with_results(c, n, vec![set], f)?.pop().ok_or(Error::NotFound("ScriptSet"))
}

/// `PUT nodes/{id}/results/{id}/` with `suppressed`: sets the flag on the
/// filtered results, in one transaction with the read that follows.
pub fn set_suppressed(
    c: &mut DbConn,
    n: &Node,
    id: &str,
    f: &ResultFilter,
    suppressed: Option<bool>,
) -> Result<SetWithResults> {
    let set = read(c, n, id, f)?;
    if let Some(flag) = suppressed {
        for r in &set.shown {
            db::results::update_result(c, r.id, &ResultChanges { suppressed: Some(flag), ..Default::default() })?;
        }
        return read(c, n, &set.set.id.to_string(), f);
    }
    Ok(set)
}

/// `DELETE nodes/{id}/results/{id}/`.
pub fn delete(c: &mut DbConn, n: &Node, id: &str) -> Result<()> {
    let set = resolve(c, n, id)?;
    db::results::delete_set(c, set.id)
}

/// Which outputs `download` writes (MAAS's `output`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputKind {
    Combined,
    Stdout,
    Stderr,
    Result,
    All,
}

impl OutputKind {
    pub fn parse(s: &str) -> Option<OutputKind> {
        Some(match s {
            "combined" => OutputKind::Combined,
            "stdout" => OutputKind::Stdout,
            "stderr" => OutputKind::Stderr,
            "result" => OutputKind::Result,
            "all" => OutputKind::All,
            _ => return None,
        })
    }
}

/// A download: content type and bytes.
pub struct Download {
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

/// `GET nodes/{id}/results/{id}/?op=download`: one output as is, several as
/// a text file with a dashed title line per file, or a `.tar.xz` under
/// `<hostname>-<type>-<set id>/` (MAAS's shapes and content types).
/// Unknown `output` values give no files, as in MAAS.
pub fn download(set: &SetWithResults, output: Option<OutputKind>, filetype: &str) -> Result<Download> {
    let mut files: Vec<(String, Vec<u8>, i64)> = Vec::new();
    for r in &set.shown {
        let mtime = r.updated_at.and_utc().timestamp();
        let is_binary = is_tar_name(&r.name);
        let mut push = |ext: Option<&str>, data: &Vec<u8>| {
            let title = match ext {
                Some(e) => format!("{}.{e}", r.name),
                None => r.name.clone(),
            };
            files.push((title, data.clone(), mtime));
        };
        if is_binary {
            push(None, &r.output);
            continue;
        }
        match output {
            Some(OutputKind::Combined) => push(None, &r.output),
            Some(OutputKind::Stdout) => push(Some("out"), &r.stdout),
            Some(OutputKind::Stderr) => push(Some("err"), &r.stderr),
            Some(OutputKind::Result) => push(Some("yaml"), &r.result),
            Some(OutputKind::All) => {
                push(None, &r.output);
                push(Some("out"), &r.stdout);
                push(Some("err"), &r.stderr);
                push(Some("yaml"), &r.result);
            }
            None => {}
        }
    }
    match filetype {
        "txt" if files.len() == 1 => {
            Ok(Download { content_type: "application/binary", body: files.pop().map(|f| f.1).unwrap_or_default() })
        }
        "txt" => {
            let mut out = Vec::new();
            for (name, data, _) in &files {
                let dashes = "-".repeat(((80.0 - (2 + name.len()) as f64) / 2.0).max(0.0) as usize);
                let _ = writeln!(out, "{dashes} {name} {dashes}");
                if is_tar_name(name) {
                    out.extend_from_slice(b"Binary file");
                } else {
                    out.extend_from_slice(data);
                }
                out.push(b'\n');
            }
            Ok(Download { content_type: "application/binary", body: out })
        }
        "tar.xz" => {
            let root =
                format!("{}-{}-{}", set.hostname, result_type_name(set.set.result_type).to_lowercase(), set.set.id);
            let mut tar = tar::Builder::new(Vec::new());
            for (name, data, mtime) in &files {
                let mut h = tar::Header::new_gnu();
                h.set_size(data.len() as u64);
                h.set_mode(0o644);
                h.set_mtime((*mtime).max(0) as u64);
                let base = name.rsplit('/').next().unwrap_or(name);
                tar.append_data(&mut h, format!("{root}/{base}"), data.as_slice())
                    .map_err(|e| Error::Internal(format!("building the results tarball: {e}")))?;
            }
            let raw = tar.into_inner().map_err(|e| Error::Internal(format!("building the results tarball: {e}")))?;
            let mut xz = Vec::new();
            lzma_rs::xz_compress(&mut raw.as_slice(), &mut xz)
                .map_err(|e| Error::Internal(format!("compressing the results tarball: {e}")))?;
            Ok(Download { content_type: "application/x-tar", body: xz })
        }
        other => Err(Error::BadRequest(format!("Unknown filetype \"{other}\" must be txt or tar.xz"))),
    }
}

/// MAAS treats results named like tarballs as binary (`.+\.tar(\..+)?`,
/// searched anywhere in the name).
fn is_tar_name(name: &str) -> bool {
    name.char_indices().nth(1).is_some_and(|(i, _)| name[i..].contains(".tar"))
}

/// The options (enable_ssh, skip_*) the node's current run of `rtype` was
/// started with; empty without a set.
pub fn run_options(c: &mut DbConn, n: &Node, rtype: i32) -> Result<Map<String, Value>> {
    Ok(db::results::latest_set(c, n.id, rtype)?
        .and_then(|s| serde_json::from_str::<Map<String, Value>>(&s.options).ok())
        .unwrap_or_default())
}

/// Whether the node's current run of `rtype` was asked for `option`
/// (`enable_ssh`, `skip_storage`, `skip_networking`).
pub fn run_option(c: &mut DbConn, n: &Node, rtype: i32, option: &str) -> Result<bool> {
    Ok(option_set(&run_options(c, n, rtype)?, option))
}

/// Whether `option` is on in a run's options (from [`run_options`]).
pub fn option_set(options: &Map<String, Value>, option: &str) -> bool {
    options.get(option).and_then(Value::as_bool).unwrap_or(false)
}
