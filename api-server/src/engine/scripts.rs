//! Scripts (MAAS's `Script`): the commissioning and testing scripts machines
//! run in their ephemeral environment, built in or uploaded by
//! administrators, with their text history (`history`, `download
//! ?revision=`, `revert`).
//!
//! A script's text may carry MAAS's embedded metadata, a YAML block between
//! `# --- Start MAAS 1.0 script metadata ---` and `# --- End MAAS 1.0
//! script metadata ---`. [`resolve`] merges it with the form fields as
//! MAAS's `ScriptForm` does: the YAML fills what the request leaves out, a
//! request value that contradicts it is refused, and on update the YAML's
//! tags and timeout do not replace the administrator's.
//!
//! [`for_node_phase`] chooses what a node runs in its phase and
//! [`maas_scripts_tar`] packs it the way MAAS's `maas-scripts` does
//! (`index.json` plus the script files) for the agent's runner.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use crate::db;
use crate::db::nodes::Node;
use crate::db::scripts::{Script, ScriptFields, Version};
use crate::db::DbConn;
use crate::engine::lifecycle::Status;
use crate::error::{Error, FieldErrors, Result};

pub mod builtin;

/// MAAS's SCRIPT_TYPE numbers.
pub mod script_type {
    pub const COMMISSIONING: i32 = 0;
    pub const TESTING: i32 = 2;
    pub const RELEASE: i32 = 3;
    pub const DEPLOYMENT: i32 = 4;
}

/// MAAS's HARDWARE_TYPE numbers.
pub mod hardware_type {
    pub const NODE: i32 = 0;
    pub const CPU: i32 = 1;
    pub const MEMORY: i32 = 2;
    pub const STORAGE: i32 = 3;
    pub const NETWORK: i32 = 4;
    pub const GPU: i32 = 5;
}

/// MAAS's SCRIPT_PARALLEL numbers.
pub mod parallel {
    pub const DISABLED: i32 = 0;
    pub const INSTANCE: i32 = 1;
    pub const ANY: i32 = 2;
}

const SCRIPT_TYPE_NAMES: [(i32, &str); 4] = [
    (script_type::COMMISSIONING, "Commissioning script"),
    (script_type::TESTING, "Testing script"),
    (script_type::RELEASE, "Release script"),
    (script_type::DEPLOYMENT, "Deployment script"),
];
const HARDWARE_TYPE_NAMES: [&str; 6] = ["Node", "CPU", "Memory", "Storage", "Network", "GPU"];
const PARALLEL_NAMES: [&str; 3] =
    ["Disabled", "Run along other instances of this script", "Run along any other script."];

/// MAAS's parameter types (`forms/parameters.py`).
/// Parameters whose default is the MAAS setting of the same name (MAAS's
/// `DEFAULTS_FROM_MAAS_CONFIG`: how `30-maas-01-bmc-config` learns the
/// BMC user, privilege, K_g and cipher suite the operator configured).
pub const DEFAULTS_FROM_CONFIG: [&str; 4] = [
    "maas_auto_ipmi_user",
    "maas_auto_ipmi_user_privilege_level",
    "maas_auto_ipmi_k_g_bmc_key",
    "maas_auto_ipmi_cipher_suite_id",
];

/// The current values of [`DEFAULTS_FROM_CONFIG`] as parameter text.
pub fn config_defaults(c: &mut DbConn) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for name in DEFAULTS_FROM_CONFIG {
        let v = crate::engine::config::value_in(c, name)?;
        out.insert(name.to_string(), form_text(&v));
    }
    Ok(out)
}

pub const PARAMETER_TYPES: [&str; 8] =
    ["boolean", "choice", "interface", "password", "runtime", "storage", "string", "url"];

pub fn script_type_name(t: i32) -> &'static str {
    SCRIPT_TYPE_NAMES.iter().find(|(n, _)| *n == t).map(|(_, s)| *s).unwrap_or("unknown")
}

pub fn hardware_type_name(t: i32) -> &'static str {
    usize::try_from(t).ok().and_then(|i| HARDWARE_TYPE_NAMES.get(i)).copied().unwrap_or("Node")
}

pub fn parallel_name(p: i32) -> &'static str {
    usize::try_from(p).ok().and_then(|i| PARALLEL_NAMES.get(i)).copied().unwrap_or("Disabled")
}

fn all_digits(v: &str) -> bool {
    !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit())
}

/// MAAS's `translate_script_type`, with its words.
pub fn translate_script_type(v: &str) -> std::result::Result<i32, String> {
    if all_digits(v) {
        return v
            .parse::<i32>()
            .ok()
            .filter(|n| SCRIPT_TYPE_NAMES.iter().any(|(t, _)| t == n))
            .ok_or_else(|| "Invalid script type numeric value.".into());
    }
    match v {
        "test" | "testing" => Ok(script_type::TESTING),
        "commission" | "commissioning" => Ok(script_type::COMMISSIONING),
        "release" => Ok(script_type::RELEASE),
        "deployment" => Ok(script_type::DEPLOYMENT),
        _ => Err("Script type must be commissioning, testing, release or deployment".into()),
    }
}

/// MAAS's `translate_hardware_type`, with its words.
pub fn translate_hardware_type(v: &str) -> std::result::Result<i32, String> {
    if all_digits(v) {
        return v
            .parse::<i32>()
            .ok()
            .filter(|n| (0..HARDWARE_TYPE_NAMES.len() as i32).contains(n))
            .ok_or_else(|| "Invalid hardware type numeric value.".into());
    }
    match v.to_lowercase().as_str() {
        "node" | "machine" | "controller" | "other" | "generic" => Ok(hardware_type::NODE),
        "cpu" | "processor" => Ok(hardware_type::CPU),
        "memory" | "ram" => Ok(hardware_type::MEMORY),
        "storage" | "disk" | "ssd" => Ok(hardware_type::STORAGE),
        "network" | "net" | "interface" => Ok(hardware_type::NETWORK),
        "gpu" | "graphics" => Ok(hardware_type::GPU),
        _ => Err("Hardware type must be node, cpu, memory, storage, or gpu".into()),
    }
}

/// MAAS's `translate_script_parallel`, with its words.
pub fn translate_parallel(v: &str) -> std::result::Result<i32, String> {
    if all_digits(v) {
        return v
            .parse::<i32>()
            .ok()
            .filter(|n| (0..PARALLEL_NAMES.len() as i32).contains(n))
            .ok_or_else(|| "Invalid script parallel numeric value.".into());
    }
    match v {
        "disabled" | "none" => Ok(parallel::DISABLED),
        "instance" | "name" => Ok(parallel::INSTANCE),
        "any" | "enabled" => Ok(parallel::ANY),
        _ => Err("Script parallel must be disabled, instance, or any.".into()),
    }
}

/// Python's `str(timedelta)` of whole seconds (`0:05:00`, `1 day, 2:00:00`):
/// how MAAS renders a script's timeout.
pub fn timeout_text(secs: i64) -> String {
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let hms = format!("{}:{:02}:{:02}", rest / 3600, (rest % 3600) / 60, rest % 60);
    match days {
        0 => hms,
        1 => format!("1 day, {hms}"),
        d => format!("{d} days, {hms}"),
    }
}

/// Django's `parse_duration` for the forms MAAS clients send: seconds
/// (`600`, `1.5`), `[[HH:]MM:]SS` and an optional `D ` or `D days, ` prefix.
/// Whole seconds are kept; `None` is Django's "Enter a valid duration."
pub fn parse_timeout(v: &str) -> Option<i64> {
    let v = v.trim();
    let (days, rest) = match v.split_once(' ') {
        Some((d, r)) => {
            let r = r.trim_start_matches("days,").trim_start_matches("day,").trim();
            (d.parse::<i64>().ok()?, r)
        }
        None => (0, v),
    };
    let parts: Vec<&str> = rest.split(':').collect();
    if parts.len() > 3 || parts.iter().any(|p| p.is_empty()) {
        return None;
    }
    let secs_part = parts.last()?;
    let whole = secs_part.split(['.', ',']).next()?;
    if !all_digits(whole) || days < 0 {
        return None;
    }
    let mut total: i64 = whole.parse().ok()?;
    let units = [60, 3600];
    for (i, p) in parts.iter().rev().skip(1).enumerate() {
        if !all_digits(p) {
            return None;
        }
        total = total.checked_add(p.parse::<i64>().ok()?.checked_mul(units[i])?)?;
    }
    total.checked_add(days.checked_mul(86_400)?)
}

/// A script with its history, newest first (`versions[0]` is the text).
#[derive(Debug, Clone)]
pub struct Loaded {
    pub script: Script,
    pub versions: Vec<Version>,
}

impl Loaded {
    pub fn text(&self) -> &str {
        self.versions.first().map(|v| v.data.as_str()).unwrap_or("")
    }

    /// The id of the current text (MAAS's `script_version_id`).
    pub fn version_id(&self) -> i64 {
        self.versions.first().map(|v| v.id).unwrap_or(0)
    }

    pub fn tags(&self) -> Vec<String> {
        serde_json::from_str(&self.script.tags).unwrap_or_default()
    }

    pub fn for_hardware(&self) -> Vec<String> {
        serde_json::from_str(&self.script.for_hardware).unwrap_or_default()
    }

    pub fn json_field(text: &str) -> Value {
        serde_json::from_str(text).unwrap_or_else(|_| json!({}))
    }
}

/// What a create or update sends, as text (MAAS's form data); `None` is
/// an absent field, which matters: MAAS's rules ask "was it sent?".
#[derive(Debug, Clone, Default)]
pub struct ScriptInput {
    pub name: Option<String>,
    pub title: Option<String>,
    pub description: Option<String>,
    pub tags: Option<String>,
    pub script_type: Option<String>,
    pub hardware_type: Option<String>,
    pub parallel: Option<String>,
    pub packages: Option<String>,
    pub timeout: Option<String>,
    pub destructive: Option<String>,
    pub script: Option<String>,
    pub comment: Option<String>,
    pub for_hardware: Option<String>,
    pub may_reboot: Option<String>,
    pub recommission: Option<String>,
    pub apply_configured_networking: Option<String>,
}

/// The form's fields in MAAS's order (`ScriptForm.Meta.fields`).
const FIELDS: [&str; 15] = [
    "name",
    "title",
    "description",
    "tags",
    "script_type",
    "hardware_type",
    "parallel",
    "packages",
    "timeout",
    "destructive",
    "script",
    "for_hardware",
    "may_reboot",
    "recommission",
    "apply_configured_networking",
];

impl ScriptInput {
    fn data(&self) -> BTreeMap<&'static str, String> {
        let pairs: [(&'static str, &Option<String>); 15] = [
            ("name", &self.name),
            ("title", &self.title),
            ("description", &self.description),
            ("tags", &self.tags),
            ("script_type", &self.script_type),
            ("hardware_type", &self.hardware_type),
            ("parallel", &self.parallel),
            ("packages", &self.packages),
            ("timeout", &self.timeout),
            ("destructive", &self.destructive),
            ("script", &self.script),
            ("for_hardware", &self.for_hardware),
            ("may_reboot", &self.may_reboot),
            ("recommission", &self.recommission),
            ("apply_configured_networking", &self.apply_configured_networking),
        ];
        pairs.into_iter().filter_map(|(k, v)| v.clone().map(|v| (k, v))).collect()
    }
}

/// The script a URL names: all digits is an id, anything else a name
/// (MAAS's `_get_script_or_404`; names may not be numbers).
pub fn get(c: &mut DbConn, key: &str) -> Result<Loaded> {
    let found = if all_digits(key) {
        key.parse::<i64>().ok().map(|id| db::scripts::by_id(c, id)).transpose()?.flatten()
    } else {
        db::scripts::by_name(c, key)?
    };
    let script = found.ok_or(Error::NotFound("Script"))?;
    let versions = db::scripts::versions_of(c, &[script.id])?;
    Ok(Loaded { script, versions })
}

/// Every script with its history, in id order (two queries).
pub fn all(c: &mut DbConn) -> Result<Vec<Loaded>> {
    let scripts = db::scripts::all(c)?;
    let ids: Vec<i64> = scripts.iter().map(|s| s.id).collect();
    let mut by_script: BTreeMap<i64, Vec<Version>> = BTreeMap::new();
    for v in db::scripts::versions_of(c, &ids)? {
        by_script.entry(v.script_id).or_default().push(v);
    }
    Ok(scripts
        .into_iter()
        .map(|script| {
            let versions = by_script.remove(&script.id).unwrap_or_default();
            Loaded { script, versions }
        })
        .collect())
}

/// `GET scripts/`'s filters.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub script_type: Option<i32>,
    pub hardware_type: Option<i32>,
    /// Names or tags; a script matching any is listed.
    pub filters: Option<Vec<String>>,
}

pub fn list(c: &mut DbConn, f: &ListFilter) -> Result<Vec<Loaded>> {
    Ok(all(c)?
        .into_iter()
        .filter(|s| f.script_type.is_none_or(|t| s.script.script_type == t))
        .filter(|s| f.hardware_type.is_none_or(|t| s.script.hardware_type == t))
        .filter(|s| match &f.filters {
            None => true,
            Some(want) => want.contains(&s.script.name) || s.tags().iter().any(|t| want.contains(t)),
        })
        .collect())
}

/// The embedded metadata of a script text: `Ok(None)` when it has none (or
/// its YAML is not a mapping, which MAAS ignores too); `Err` is a message
/// for the `script` field in MAAS's words.
pub fn embedded_metadata(text: &str) -> std::result::Result<Option<Map<String, Value>>, String> {
    let mut lines = text.lines();
    lines.next();
    let mut found = false;
    let mut yaml = String::new();
    for line in lines {
        match delimiter(line) {
            Some((true, version)) if !found && version == "1.0" => found = true,
            Some((_, version)) if found && version == "1.0" => break,
            Some(_) => {}
            None if found && !line.trim().is_empty() => match line.split_once('#') {
                Some((_, rest)) => {
                    yaml.push_str(rest);
                    yaml.push('\n');
                }
                None => return Err("Missing \"#\" on YAML line.".into()),
            },
            None => {}
        }
    }
    if yaml.trim().is_empty() {
        return Ok(None);
    }
    let v: Value = serde_norway::from_str(&yaml).map_err(|e| format!("Invalid YAML: {e}"))?;
    Ok(match v {
        Value::Object(m) => Some(m),
        _ => None,
    })
}

/// `# --- Start MAAS 1.0 script metadata ---` → (is start, version); the
/// match is case-insensitive and lenient on spaces and dashes, as MAAS's.
fn delimiter(line: &str) -> Option<(bool, String)> {
    let l = line.trim().to_lowercase();
    let l = l.strip_prefix('#')?.trim_start();
    let l = l.trim_start_matches('-').trim_start();
    let (start, rest) = if let Some(r) = l.strip_prefix("start maas ") {
        (true, r)
    } else if let Some(r) = l.strip_prefix("end maas ") {
        (false, r)
    } else {
        return None;
    };
    let (version, rest) = rest.split_once(' ')?;
    let rest = rest.trim_start().strip_prefix("script metadata")?;
    if !rest.starts_with(char::is_whitespace) || !rest.trim().starts_with('-') {
        return None;
    }
    let ok = version.split_once('.').is_some_and(|(a, b)| all_digits(a) && all_digits(b));
    ok.then(|| (start, version.to_string()))
}

/// A YAML value as form data (what Django's fields would receive).
fn form_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Django's `BooleanField`: "false" and "0" (any case) are false, empty is
/// false, anything else true.
fn form_bool(v: &str) -> bool {
    !(v.is_empty() || v.eq_ignore_ascii_case("false") || v == "0")
}

/// Characters `shlex.quote` leaves alone (MAAS refuses names it would quote).
fn shell_safe(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || "_@%+=:,./-".contains(c))
}

/// Scripts store Unix line ends (they run on Unix).
fn unix(text: &str) -> String {
    text.replace("\r\n", "\n")
}

type Errors = FieldErrors;

fn push(errors: &mut Errors, field: &str, msg: impl Into<String>) {
    errors.entry(field.to_string()).or_default().push(msg.into());
}

/// The cleaned result of a create or update.
struct Resolved {
    fields: ScriptFields,
    /// A new text, with its comment.
    text: Option<(String, String)>,
}

/// MAAS's `ScriptForm` (init, clean, is_valid) against `old` (the script
/// being updated). `edit_default` is the seeding of built-ins, which may
/// change default scripts.
fn resolve(c: &mut DbConn, old: Option<&Loaded>, input: &ScriptInput, edit_default: bool) -> Result<Resolved> {
    let mut errors = Errors::new();
    let mut data = input.data();
    let creating = old.is_none();
    let comment = input.comment.clone();
    // "comment" only travels with a script.
    if comment.is_some() && !data.contains_key("script") {
        push(&mut errors, "comment", "\"comment\" may only be used when specifying a \"script\" as well.");
    }
    let text = data.get("script").map(|s| unix(s));
    let mut results = old.map(|o| Loaded::json_field(&o.script.results)).unwrap_or_else(|| json!({}));
    let mut parameters = old.map(|o| Loaded::json_field(&o.script.parameters)).unwrap_or_else(|| json!({}));
    if let Some(t) = &text {
        if t.lines().next().is_some_and(|l| !l.starts_with("#!/")) {
            push(&mut errors, "script", "Must start with shebang.");
        }
        match embedded_metadata(t) {
            Err(msg) => push(&mut errors, "script", msg),
            Ok(None) => {}
            Ok(Some(mut yaml)) => {
                results = yaml.remove("results").unwrap_or_else(|| json!({}));
                parameters = yaml.remove("parameters").unwrap_or_else(|| json!({}));
                merge_yaml(&mut data, &mut errors, yaml, creating);
            }
        }
    }

    // Field by field: sent values, else the old script's, else MAAS's
    // defaults.
    let s = old.map(|o| &o.script);
    let name = match data.get("name").map(|n| n.trim().to_string()) {
        Some(n) if !n.is_empty() => n,
        Some(_) if !creating => {
            push(&mut errors, "name", "This field cannot be blank.");
            String::new()
        }
        _ => match s {
            Some(s) => s.name.clone(),
            None => {
                push(&mut errors, "name", "This field is required.");
                String::new()
            }
        },
    };
    if creating && text.is_none() {
        push(&mut errors, "script", "Must be given a value");
    }
    let title = data.get("title").cloned().or_else(|| s.map(|s| s.title.clone())).unwrap_or_default();
    for (field, v) in [("name", &name), ("title", &title)] {
        let n = v.chars().count();
        if n > 255 {
            push(&mut errors, field, format!("Ensure this value has at most 255 characters (it has {n})."));
        }
    }
    let description = data.get("description").cloned().or_else(|| s.map(|s| s.description.clone())).unwrap_or_default();
    let mut tags: Vec<String> = match data.get("tags") {
        Some(t) => t.split(',').map(str::trim).filter(|t| !t.is_empty()).map(str::to_string).collect(),
        None => old.map(|o| o.tags()).unwrap_or_default(),
    };
    let mut choice =
        |field: &str, f: fn(&str) -> std::result::Result<i32, String>, old: Option<i32>, dflt: i32| match data
            .get(field)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
        {
            None => old.unwrap_or(dflt),
            Some(v) => f(v).unwrap_or_else(|e| {
                push(&mut errors, field, e);
                dflt
            }),
        };
    let script_type = choice("script_type", translate_script_type, s.map(|s| s.script_type), script_type::TESTING);
    let hw = choice("hardware_type", translate_hardware_type, s.map(|s| s.hardware_type), hardware_type::NODE);
    let par = choice("parallel", translate_parallel, s.map(|s| s.parallel), parallel::DISABLED);
    let timeout_seconds = match data.get("timeout").map(|v| v.trim()).filter(|v| !v.is_empty()) {
        None => s.map(|s| s.timeout_seconds).unwrap_or(0),
        Some(v) => parse_timeout(v).unwrap_or_else(|| {
            push(&mut errors, "timeout", "Enter a valid duration.");
            0
        }),
    };
    let flag = |field: &str, old: Option<bool>| data.get(field).map(|v| form_bool(v)).or(old).unwrap_or(false);
    let destructive = flag("destructive", s.map(|s| s.destructive));
    let may_reboot = flag("may_reboot", s.map(|s| s.may_reboot));
    let recommission = flag("recommission", s.map(|s| s.recommission));
    let apply_net = flag("apply_configured_networking", s.map(|s| s.apply_configured_networking));
    let packages = match data.get("packages").filter(|v| !v.is_empty()) {
        None => old.map(|o| Loaded::json_field(&o.script.packages)).unwrap_or_else(|| json!({})),
        Some(v) => clean_packages(v, &mut errors),
    };
    let for_hardware = match data.get("for_hardware").filter(|v| !v.is_empty()) {
        None => old.map(|o| o.for_hardware()).unwrap_or_default(),
        Some(v) => clean_for_hardware(v, &mut errors),
    };
    if text.is_some() {
        validate_results(&results, &mut errors);
        validate_parameters(&parameters, &mut errors);
    }

    // MAAS's `Script.save`: the hardware type's label and `destructive`
    // are tags the script always carries (or never, when not true).
    // A tag already there keeps its place (MAAS's add_tag appends only
    // what is missing).
    let keep = |tags: &mut Vec<String>, tag: String, on: bool| {
        if !on {
            tags.retain(|t| *t != tag);
        } else if !tags.contains(&tag) {
            tags.push(tag);
        }
    };
    keep(&mut tags, "destructive".into(), destructive);
    for (i, label) in HARDWARE_TYPE_NAMES.iter().enumerate() {
        keep(&mut tags, label.to_lowercase(), i as i32 == hw);
    }
    let mut unique = Vec::new();
    for t in tags {
        if !unique.contains(&t) {
            unique.push(t);
        }
    }

    if errors.is_empty() && old.is_some_and(|o| o.script.is_default) && !edit_default {
        for field in FIELDS {
            if !matches!(field, "tags" | "timeout") && data.contains_key(field) {
                push(&mut errors, field, "Not allowed to change on default scripts.");
            }
        }
    }
    if let Some(n) = data.get("name") {
        if n.eq_ignore_ascii_case("none") {
            push(&mut errors, "name", "\"none\" is a reserved name.");
        }
        if all_digits(n) {
            push(&mut errors, "name", "Cannot be a number.");
        }
        if !shell_safe(n) {
            push(&mut errors, "name", format!("Name '{n}' contains disallowed characters, e.g. space or quotes."));
        }
    }
    if errors.is_empty() {
        if let Some(other) = db::scripts::by_name(c, &name)? {
            if old.is_none_or(|o| o.script.id != other.id) {
                push(&mut errors, "name", "Script with this Name already exists.");
            }
        }
    }
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    let fields = ScriptFields {
        name,
        title,
        description,
        tags: json!(unique).to_string(),
        script_type,
        hardware_type: hw,
        parallel: par,
        results: results.to_string(),
        parameters: parameters.to_string(),
        packages: packages.to_string(),
        timeout_seconds,
        destructive,
        is_default: old.map(|o| o.script.is_default).unwrap_or(edit_default),
        for_hardware: json!(for_hardware).to_string(),
        may_reboot,
        recommission,
        apply_configured_networking: apply_net,
    };
    Ok(Resolved { fields, text: text.map(|t| (t, comment.unwrap_or_default())) })
}

/// MAAS's `_clean_script`: the YAML's values go where the request sent
/// nothing; a sent value that differs from the YAML is refused.
fn merge_yaml(
    data: &mut BTreeMap<&'static str, String>,
    errors: &mut Errors,
    mut yaml: Map<String, Value>,
    creating: bool,
) {
    if let Some(tags) = yaml.remove("tags") {
        if creating && !data.contains_key("tags") {
            let joined = match &tags {
                Value::String(s) => Some(s.clone()),
                Value::Array(items) if items.iter().all(Value::is_string) => {
                    Some(items.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(","))
                }
                _ => None,
            };
            match joined {
                Some(t) => {
                    data.insert("tags", t);
                }
                None => push(
                    errors,
                    "tags",
                    "Embedded tags must be a string of comma seperated values, or a list of strings.",
                ),
            }
        }
    }
    if let Some(timeout) = yaml.remove("timeout") {
        if creating && !data.contains_key("timeout") {
            data.insert("timeout", form_text(&timeout));
        }
    }
    for key in ["packages", "for_hardware"] {
        if let Some(v) = yaml.remove(key) {
            if !v.is_null() && !data.contains_key(key) {
                data.insert(key, v.to_string());
            }
        }
    }
    for (key, value) in yaml {
        // "type" is the API's alias; the YAML's own word is script_type.
        let Some(field) = FIELDS.iter().copied().find(|f| *f == key) else { continue };
        match data.get(field) {
            None => {
                data.insert(field, form_text(&value));
            }
            Some(sent) => {
                let clash = if field == "script_type" {
                    match (translate_script_type(&form_text(&value)), translate_script_type(sent)) {
                        (Ok(a), Ok(b)) => a != b,
                        _ => true,
                    }
                } else {
                    // Python compares the YAML's value with the sent text:
                    // only a string can be equal.
                    value.as_str() != Some(sent.as_str())
                };
                if clash {
                    push(errors, field, "May not override values defined in embedded YAML.");
                }
            }
        }
    }
}

/// MAAS's `clean_packages`: a JSON object of `apt`, `snap`, `url` lists.
fn clean_packages(v: &str, errors: &mut Errors) -> Value {
    let Ok(mut packages) = serde_json::from_str::<Value>(v) else {
        push(errors, "packages", "Enter a valid JSON.");
        return json!({});
    };
    let Some(map) = packages.as_object_mut() else {
        push(errors, "packages", "Must be a dictionary");
        return json!({});
    };
    for key in ["apt", "snap", "url"] {
        if let Some(p) = map.get_mut(key) {
            if !p.is_array() {
                *p = json!([p.clone()]);
            }
        }
    }
    for key in ["apt", "url"] {
        for p in map.get(key).and_then(Value::as_array).into_iter().flatten() {
            if !p.is_string() {
                push(errors, "packages", format!("Each {key} package must be a string."));
            }
        }
    }
    for p in map.get("snap").and_then(Value::as_array).into_iter().flatten() {
        match p {
            Value::Object(o) => {
                if !o.get("name").is_some_and(Value::is_string) {
                    push(errors, "packages", "Snap package name must be defined.");
                }
                if o.get("channel")
                    .is_some_and(|c| !["stable", "edge", "beta", "candidate"].contains(&c.as_str().unwrap_or("")))
                {
                    push(errors, "packages", "Snap channel must be stable, edge, beta, or candidate.");
                }
                if o.get("mode").is_some_and(|m| !["classic", "dev", "jail"].contains(&m.as_str().unwrap_or(""))) {
                    push(errors, "packages", "Snap mode must be classic, dev, or jail.");
                }
            }
            Value::String(_) => {}
            _ => push(errors, "packages", "Snap package must be a string."),
        }
    }
    packages
}

/// MAAS's `clean_for_hardware`: a JSON list or comma-separated text of
/// hardware identifiers, each of a known kind.
fn clean_for_hardware(v: &str, errors: &mut Errors) -> Vec<String> {
    let items: Vec<String> = match serde_json::from_str::<Value>(v) {
        Ok(Value::Array(a)) => a.iter().map(form_text).collect(),
        Ok(Value::String(s)) => s.split(',').map(str::to_string).collect(),
        Ok(_) => {
            push(errors, "for_hardware", "Must be a list or string");
            return Vec::new();
        }
        Err(_) => v.split(',').map(str::to_string).collect(),
    };
    for id in &items {
        if !hardware_id_ok(id) {
            push(
                errors,
                "for_hardware",
                format!(
                    "Hardware identifier '{id}' must be a modalias, PCI ID, USB ID, system vendor, system \
                     product, system version, mainboard vendor, or mainboard product."
                ),
            );
        }
    }
    items
}

fn hardware_id_ok(id: &str) -> bool {
    let lower = id.to_lowercase();
    let hex4 = |s: &str| s.len() == 4 && s.chars().all(|c| c.is_ascii_hexdigit());
    let pair = |rest: &str| rest.get(..9).is_some_and(|p| p.split_once(':').is_some_and(|(a, b)| hex4(a) && hex4(b)));
    if let Some(rest) = lower.strip_prefix("modalias:") {
        return !rest.is_empty();
    }
    if let Some(rest) = lower.strip_prefix("pci:").or_else(|| lower.strip_prefix("usb:")) {
        return pair(rest);
    }
    ["system_vendor:", "system_product:", "system_version:", "mainboard_vendor:", "mainboard_product:"]
        .iter()
        .any(|p| lower.starts_with(p))
}

/// MAAS's `_validate_results`.
fn validate_results(results: &Value, errors: &mut Errors) {
    match results {
        Value::Array(items) => {
            if items.iter().any(|r| !r.is_string()) {
                push(errors, "results", "Each result in a result list must be a string.");
            }
        }
        Value::Object(map) => {
            for r in map.values() {
                match r.as_object() {
                    None => push(errors, "results", "Each result in a result dictionary must be a dictionary."),
                    Some(o) if !o.contains_key("title") => {
                        push(errors, "results", "title must be included in a result dictionary.")
                    }
                    Some(o) => {
                        for key in ["title", "description"] {
                            if o.get(key).is_some_and(|v| !v.is_string()) {
                                push(errors, "results", format!("{key} must be a string."));
                            }
                        }
                    }
                }
            }
        }
        _ => push(errors, "results", "results must be a list of strings or a dictionary of dictionaries."),
    }
}

/// The checks of MAAS's `ParametersForm.clean_parameters` that decide
/// whether the runner can use a parameter.
fn validate_parameters(parameters: &Value, errors: &mut Errors) {
    let Some(map) = parameters.as_object() else {
        push(errors, "parameters", "Must be a dictionary");
        return;
    };
    for (name, fields) in map {
        let Some(f) = fields.as_object() else {
            push(errors, "parameters", format!("{name}: parameter must be a dictionary"));
            continue;
        };
        let ty = f.get("type");
        let required = f.get("required").and_then(Value::as_bool).unwrap_or(true);
        match ty.and_then(Value::as_str) {
            None => {
                push(errors, "parameters", format!("{}: type must be a string", form_text(ty.unwrap_or(&Value::Null))))
            }
            Some(t) if !PARAMETER_TYPES.contains(&t) && required => {
                push(errors, "parameters", format!("{t}: type must be one of {}", PARAMETER_TYPES.join(", ")))
            }
            Some(_) => {}
        }
        for key in ["min", "max"] {
            if f.get(key).is_some_and(|v| !v.is_i64()) {
                push(errors, "parameters", format!("{}: {key} must be an integer", form_text(&f[key])));
            }
        }
        for key in ["title", "description", "argument_format"] {
            if f.get(key).is_some_and(|v| !v.is_string()) {
                push(errors, "parameters", format!("{}: {key} must be a string", form_text(&f[key])));
            }
        }
        if f.get("required").is_some_and(|v| !v.is_boolean()) {
            push(errors, "parameters", format!("{}: required must be a boolean", form_text(&f["required"])));
        }
        let t = ty.and_then(Value::as_str).unwrap_or("");
        if matches!(t, "storage" | "interface" | "url" | "choice") && (f.contains_key("min") || f.contains_key("max")) {
            push(errors, "parameters", "Type doesn't support min or max");
        }
        let has_choices = f.get("choices").and_then(Value::as_array).is_some_and(|a| !a.is_empty());
        if t == "choice" && !has_choices {
            push(errors, "parameters", "choices must be given with a \"choice\" parameter type!");
        }
        if f.contains_key("choices") && t != "choice" {
            push(errors, "parameters", "choices only supported with the choice type.");
        }
    }
}

pub fn create(c: &mut DbConn, input: &ScriptInput) -> Result<Loaded> {
    let r = resolve(c, None, input, false)?;
    insert(c, r)
}

fn insert(c: &mut DbConn, r: Resolved) -> Result<Loaded> {
    let id = db::scripts::insert(c, &r.fields)?;
    let (text, comment) = r.text.unwrap_or_default();
    db::scripts::add_version(c, id, &text, &comment)?;
    get(c, &id.to_string())
}

/// Updates what is sent; a changed text becomes a new version and the old
/// one stays in the history (the same text adds none).
pub fn update(c: &mut DbConn, key: &str, input: &ScriptInput) -> Result<Loaded> {
    let old = get(c, key)?;
    let r = resolve(c, Some(&old), input, false)?;
    save(c, &old, r)
}

fn save(c: &mut DbConn, old: &Loaded, r: Resolved) -> Result<Loaded> {
    db::scripts::update(c, old.script.id, &r.fields)?;
    if let Some((text, comment)) = r.text.filter(|(t, _)| t != old.text()) {
        db::scripts::add_version(c, old.script.id, &text, &comment)?;
    }
    get(c, &old.script.id.to_string())
}

/// MAAS refuses to delete a built-in script, in these words.
pub fn delete(c: &mut DbConn, key: &str) -> Result<()> {
    let s = get(c, key)?;
    if s.script.is_default {
        return Err(Error::BadRequest("Unable to delete default script".into()));
    }
    db::scripts::delete(c, s.script.id)
}

/// `revert`: `to` is a version id from the history or a negative count of
/// steps back; newer versions are dropped (MAAS's VersionedTextFile.revert).
/// Built-in scripts are refused.
pub fn revert(c: &mut DbConn, key: &str, to: i64) -> Result<Loaded> {
    let s = get(c, key)?;
    if s.script.is_default {
        return Err(Error::BadRequest("Unable to revert default script".into()));
    }
    let target = if to == 0 {
        return Ok(s);
    } else if to < 0 {
        let back = usize::try_from(to.unsigned_abs()).unwrap_or(usize::MAX);
        s.versions.get(back).ok_or_else(|| Error::BadRequest("Goes too far back.".into()))?.id
    } else {
        s.versions
            .iter()
            .find(|v| v.id == to)
            .ok_or_else(|| Error::BadRequest(format!("{to} not found in history")))?
            .id
    };
    db::scripts::delete_versions_after(c, s.script.id, target)?;
    db::scripts::touch(c, s.script.id)?;
    get(c, &s.script.id.to_string())
}

/// The text of `revision` (a version id), or the current text.
pub fn download(c: &mut DbConn, key: &str, revision: Option<i64>) -> Result<String> {
    let s = get(c, key)?;
    match revision {
        None => Ok(s.text().to_string()),
        Some(r) => s
            .versions
            .iter()
            .find(|v| v.id == r)
            .map(|v| v.data.clone())
            .ok_or_else(|| Error::BadRequest(format!("{r} not found in history"))),
    }
}

/// `add_tag` / `remove_tag` (allowed on built-ins, like MAAS: they do not
/// go through the form).
pub fn set_tag(c: &mut DbConn, key: &str, tag: &str, add: bool) -> Result<Loaded> {
    let s = get(c, key)?;
    let mut tags = s.tags();
    let present = tags.iter().any(|t| t == tag);
    if add && !present {
        tags.push(tag.to_string());
    } else if !add && present {
        tags.retain(|t| t != tag);
    } else {
        return Ok(s);
    }
    let mut fields = fields_of(&s.script);
    fields.tags = json!(tags).to_string();
    db::scripts::update(c, s.script.id, &fields)?;
    get(c, &s.script.id.to_string())
}

fn fields_of(s: &Script) -> ScriptFields {
    ScriptFields {
        name: s.name.clone(),
        title: s.title.clone(),
        description: s.description.clone(),
        tags: s.tags.clone(),
        script_type: s.script_type,
        hardware_type: s.hardware_type,
        parallel: s.parallel,
        results: s.results.clone(),
        parameters: s.parameters.clone(),
        packages: s.packages.clone(),
        timeout_seconds: s.timeout_seconds,
        destructive: s.destructive,
        is_default: s.is_default,
        for_hardware: s.for_hardware.clone(),
        may_reboot: s.may_reboot,
        recommission: s.recommission,
        apply_configured_networking: s.apply_configured_networking,
    }
}

/// Creates the built-in scripts that are missing and brings changed ones
/// up to date (a new version), keeping an administrator's tags and timeout
/// as MAAS does. A user script that took a built-in's name is left alone.
/// Idempotent: a second run changes nothing.
pub fn seed_builtins(c: &mut DbConn) -> Result<()> {
    for (name, text) in builtin::BUILTIN {
        let input = ScriptInput { script: Some((*text).to_string()), ..Default::default() };
        match db::scripts::by_name(c, name)? {
            None => {
                let r = resolve(c, None, &input, true)?;
                insert(c, r)?;
            }
            Some(s) if s.is_default => {
                let old = get(c, &s.id.to_string())?;
                if old.text() != *text {
                    let r = resolve(c, Some(&old), &input, true)?;
                    save(c, &old, r)?;
                }
            }
            Some(_) => tracing::warn!(script = %name, "a user script has a built-in script's name; not replaced"),
        }
    }
    Ok(())
}

/// The scripts `node` runs in its current phase, in name order (the order
/// the runner starts them). Commissioning runs every commissioning script,
/// built in or uploaded (MAAS's default: built-ins always, custom ones
/// unless the operator chose); testing runs the testing scripts tagged
/// `commissioning` (MAAS's default testing selection). Other phases run
/// none.
/// `scripts` is the whole table ([`all`]), loaded once by the caller.
pub fn for_node_phase(c: &mut DbConn, node: &Node, scripts: &[Loaded]) -> Result<Vec<Serving>> {
    let rtype = match node.status {
        Status::Commissioning => script_type::COMMISSIONING,
        Status::Testing => script_type::TESTING,
        _ => return Ok(Vec::new()),
    };
    // The run's script set (commission/test chose its scripts and their
    // parameters) decides; a node without one runs the defaults.
    if let Some(set) = db::results::latest_set(c, node.id, rtype)? {
        // Scripts that already ran (or were skipped, as skip_bmc_config's)
        // are not run again (MAAS: only running or pending ones).
        /// MAAS's SCRIPT_STATUS_RUNNING_OR_PENDING.
        const RUNNING_OR_PENDING: [i32; 4] = [0, 1, 7, 10];
        let results = db::results::results_in(c, &[set.id])?;
        return Ok(serving(scripts.iter(), &results, |r| RUNNING_OR_PENDING.contains(&r.status)));
    }
    let mut chosen: Vec<Serving> = scripts
        .iter()
        .filter(|s| {
            s.script.script_type == rtype
                && (rtype == script_type::COMMISSIONING || s.tags().iter().any(|t| t == "commissioning"))
        })
        .map(|script| Serving { script: script.clone(), parameters: None, result_id: None })
        .collect();
    chosen.sort_by(|a, b| a.script.script.name.cmp(&b.script.script.name));
    Ok(chosen)
}

/// One `index.json` entry to serve: a script, the parameters its run asked
/// for, and the result it reports to (one per disk or interface for a
/// per-device script: `engine::results::expand_instances`).
pub struct Serving {
    pub script: Loaded,
    pub parameters: Option<Value>,
    pub result_id: Option<i64>,
}

/// An entry per result of `results` that `keep` accepts and whose script
/// exists, in name order (then result order).
fn serving<'a>(
    scripts: impl Iterator<Item = &'a Loaded>,
    results: &[db::metadata::ScriptResult],
    keep: impl Fn(&db::metadata::ScriptResult) -> bool,
) -> Vec<Serving> {
    let mut out = Vec::new();
    for s in scripts {
        for r in results.iter().filter(|r| r.name == s.script.name && keep(r)) {
            let parameters = serde_json::from_str::<Value>(&r.parameters).ok().filter(Value::is_object);
            out.push(Serving { script: s.clone(), parameters, result_id: Some(r.id) });
        }
    }
    out.sort_by(|a, b| (&a.script.script.name, a.result_id).cmp(&(&b.script.script.name, b.result_id)));
    out
}

/// The tests a commissioning run goes on to: the scripts its testing set
/// still lists as pending (none when `testing_scripts=none`, or when the
/// machine has no testing set, as one that enlisted by itself).
fn tests_after_commissioning(c: &mut DbConn, node: &Node, scripts: &[Loaded]) -> Result<Vec<Serving>> {
    /// MAAS's SCRIPT_STATUS.PENDING.
    const PENDING: i32 = 0;
    let Some(set) = db::results::latest_set(c, node.id, script_type::TESTING)? else { return Ok(Vec::new()) };
    let results = db::results::results_in(c, &[set.id])?;
    let tests = scripts.iter().filter(|s| s.script.script_type == script_type::TESTING);
    Ok(serving(tests, &results, |r| r.status == PENDING))
}

/// The `maas-scripts` tar for `node`: `index.json` (`{"1.0":
/// {"commissioning_scripts"|"testing_scripts": [...]}}`) and each script
/// at its `path`. `None` when the node has nothing to run (MAAS's 204).
/// `region_url` is the region's `/MAAS/` URL as the node reached it: the
/// value of a `url` parameter that has no default.
pub fn maas_scripts_tar(c: &mut DbConn, node: &Node, region_url: &str) -> Result<Option<Vec<u8>>> {
    let table = all(c)?;
    let scripts = for_node_phase(c, node, &table)?;
    if scripts.is_empty() {
        return Ok(None);
    }
    let settings = config_defaults(c)?;
    let (key, prefix) = match node.status {
        Status::Testing => ("testing_scripts", "testing"),
        _ => ("commissioning_scripts", "commissioning"),
    };
    // A commissioning run's tests come in the same index, as MAAS's do:
    // the runner sees it has tests to go on to (it signals TESTING and
    // fetches them again once the machine is Testing).
    let tests =
        if node.status == Status::Commissioning { tests_after_commissioning(c, node, &table)? } else { Vec::new() };
    let mtime = u64::try_from(chrono::Utc::now().timestamp()).unwrap_or(0);
    let mut tar = tar::Builder::new(Vec::new());
    let mut index = Map::new();
    for (key, prefix, scripts) in [(key, prefix, &scripts), ("testing_scripts", "testing", &tests)] {
        if scripts.is_empty() {
            continue;
        }
        let mut entries = Vec::new();
        let mut added = std::collections::HashSet::new();
        for e in scripts.iter() {
            let path = format!("{prefix}/{}", e.script.script.name);
            if added.insert(path.clone()) {
                add_file(&mut tar, &path, e.script.text().as_bytes(), 0o755, mtime)?;
            }
            entries.push(index_entry(e, &path, region_url, &settings));
        }
        index.insert(key.to_string(), Value::Array(entries));
    }
    let index = json!({ "1.0": index });
    add_file(&mut tar, "index.json", index.to_string().as_bytes(), 0o644, mtime)?;
    let bytes = tar.into_inner().map_err(|e| Error::Internal(format!("maas-scripts tar: {e}")))?;
    Ok(Some(bytes))
}

fn add_file(tar: &mut tar::Builder<Vec<u8>>, path: &str, data: &[u8], mode: u32, mtime: u64) -> Result<()> {
    let mut h = tar::Header::new_gnu();
    h.set_size(data.len() as u64);
    h.set_mode(mode);
    h.set_mtime(mtime);
    h.set_entry_type(tar::EntryType::Regular);
    tar.append_data(&mut h, path, data).map_err(|e| Error::Internal(format!("maas-scripts tar: {e}")))
}

/// One `index.json` entry, MAAS's keys. Parameters keep their definitions;
/// the runner resolves `storage` and `interface` ones against the disks
/// and interfaces it finds (one run each), the others get their `value`
/// here: the default, or the region for a `url` without one. A served
/// result's id is its `script_result_id` (what the runner reports to).
/// `chosen` are the parameters the run asked for (`{name: {"value": ..}}`);
/// a value given there wins over the script's default, and `settings`
/// ([`config_defaults`]) give the default of the parameters named after them.
fn index_entry(e: &Serving, path: &str, region_url: &str, settings: &BTreeMap<String, String>) -> Value {
    let (s, chosen) = (&e.script, e.parameters.as_ref());
    let mut params = Loaded::json_field(&s.script.parameters);
    if let Some(map) = params.as_object_mut() {
        for (name, p) in map.iter_mut() {
            let Some(p) = p.as_object_mut() else { continue };
            let given = chosen.and_then(|c| c.get(name)).and_then(|v| v.get("value"));
            // One disk or interface of a per-device run: the device as MAAS
            // renders it; the runner runs on it alone.
            if let Some(device) = given.filter(|v| v.is_object()) {
                p.insert("value".into(), device.clone());
                continue;
            }
            let asked = given.map(form_text).filter(|v| !v.is_empty());
            if let Some(v) = asked {
                p.insert("value".into(), json!(v));
                continue;
            }
            let ty = p.get("type").and_then(Value::as_str).unwrap_or("").to_string();
            if matches!(ty.as_str(), "storage" | "interface") {
                p.insert("value".into(), json!("all"));
                continue;
            }
            let default = p.get("default").filter(|d| !d.is_null()).map(form_text).unwrap_or_default();
            let value = match settings.get(name.as_str()) {
                Some(setting) if default.is_empty() => setting.clone(),
                _ if default.is_empty() && ty == "url" => region_url.to_string(),
                _ => default,
            };
            p.insert("value".into(), json!(value));
        }
    }
    json!({
        "name": s.script.name,
        "path": path,
        "script_version_id": s.version_id(),
        "script_result_id": e.result_id,
        "timeout_seconds": s.script.timeout_seconds as f64,
        "parallel": s.script.parallel,
        "hardware_type": s.script.hardware_type,
        "parameters": params,
        "packages": Loaded::json_field(&s.script.packages),
        "for_hardware": s.for_hardware(),
        "apply_configured_networking": s.script.apply_configured_networking,
        "has_started": false,
        "has_finished": false,
        "default": s.script.is_default,
        "tags": s.tags(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_read_and_render_like_django_and_python() {
        assert_eq!(parse_timeout("600"), Some(600));
        assert_eq!(parse_timeout("0:10:00"), Some(600));
        assert_eq!(parse_timeout("10:00"), Some(600));
        assert_eq!(parse_timeout("1 day, 0:00:05"), Some(86_405));
        assert_eq!(parse_timeout("1.5"), Some(1));
        assert_eq!(parse_timeout("ten"), None);
        assert_eq!(parse_timeout("-5"), None);
        assert_eq!(timeout_text(0), "0:00:00");
        assert_eq!(timeout_text(600), "0:10:00");
        assert_eq!(timeout_text(2 * 86_400 + 3661), "2 days, 1:01:01");
    }

    #[test]
    fn embedded_yaml_is_found_between_the_delimiters() {
        let t = "#!/bin/sh\n# --- Start MAAS 1.0 script metadata ---\n# name: x\n# tags: [a, b]\n# --- End MAAS 1.0 script metadata ---\necho\n";
        let m = embedded_metadata(t).unwrap().unwrap();
        assert_eq!(m["name"], "x");
        assert_eq!(m["tags"], json!(["a", "b"]));
        assert_eq!(embedded_metadata("#!/bin/sh\necho\n").unwrap(), None);
        let bad =
            "#!/bin/sh\n# --- Start MAAS 1.0 script metadata ---\nname: x\n# --- End MAAS 1.0 script metadata ---\n";
        assert_eq!(embedded_metadata(bad).unwrap_err(), "Missing \"#\" on YAML line.");
    }

    #[test]
    fn builtins_have_valid_headers() {
        for (name, text) in builtin::BUILTIN {
            let m = embedded_metadata(text).unwrap().unwrap();
            assert_eq!(m["name"], *name);
        }
    }
}
