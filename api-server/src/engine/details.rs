//! Hardware details (the lshw and LLDP documents of a node's last
//! commissioning) and the tags whose definitions are XPath over them.
//!
//! MAAS evaluates a tag definition against one XML document merged from a
//! node's details (provisioningserver/tags.py `merge_details`): the lshw
//! document's root is the root of the merge and keeps its children
//! unqualified (so `//node[@class="disk"]` works as written for lshw), then
//! a copy of the lshw document with every element in the namespace `lshw`
//! and the LLDP document with every element in the namespace `lldp`; the
//! prefixes `lshw:` and `lldp:` are bound to those namespaces when the
//! expression runs. A node without details is evaluated against an empty
//! `<list/>`. Any result that is "truthy" as Python sees it (a non-empty
//! node-set, true, a non-zero number, a non-empty string) is a match; an
//! expression that fails to evaluate matches nothing.
//!
//! The evaluator is libxml2 (through the `libxml` crate), as in MAAS
//! (through lxml): the same XPath 1.0, the same syntax errors.

use std::fmt::Write as _;

use libxml::parser::Parser;
use libxml::xpath::{Context, Expression};

use crate::db;
use crate::db::node_details::NodeDetails;
use crate::db::tags::Tag;
use crate::db::DbConn;
use crate::error::{Error, Result};

/// Namespace prefixes (bound to namespaces of the same name) for the
/// details other than lshw's unqualified copy.
const NAMESPACES: [&str; 2] = ["lldp", "lshw"];

/// While alive, libxml2 reports errors on this thread to nobody: an
/// invalid definition is the client's mistake (answered with a 400) and a
/// definition that fails on one node's document is a non-match, as in
/// MAAS; neither belongs on the region's stderr, where libxml2 writes by
/// default. The last error stays readable (libxml2 records it before it
/// calls any handler), which is what [`Expression::compile`] reports.
struct Quiet {
    saved_handler: libxml::bindings::xmlStructuredErrorFunc,
    saved_data: *mut std::ffi::c_void,
}

unsafe extern "C" fn ignore_error(_data: *mut std::ffi::c_void, _error: libxml::bindings::xmlErrorPtr) {}

impl Quiet {
    fn new() -> Quiet {
        use libxml::bindings::{__xmlStructuredError, __xmlStructuredErrorContext, xmlSetStructuredErrorFunc};
        // SAFETY: libxml2's per-thread handler slots, read and replaced on
        // this thread only; the handler ignores its (unused) data pointer.
        unsafe {
            let q = Quiet { saved_handler: *__xmlStructuredError(), saved_data: *__xmlStructuredErrorContext() };
            xmlSetStructuredErrorFunc(std::ptr::null_mut(), Some(ignore_error));
            q
        }
    }
}

impl Drop for Quiet {
    fn drop(&mut self) {
        // SAFETY: puts back what `new` found on this same thread.
        unsafe { libxml::bindings::xmlSetStructuredErrorFunc(self.saved_data, self.saved_handler) }
    }
}

/// Checks a tag definition compiles; MAAS's form error otherwise.
pub fn validate_definition(definition: &str) -> Result<()> {
    if definition.trim().is_empty() {
        return Ok(());
    }
    let _quiet = Quiet::new();
    Expression::compile(definition).map(drop).map_err(|e| {
        let why = e.message.as_deref().map(str::trim).filter(|m| !m.is_empty()).unwrap_or("Invalid expression");
        Error::field("definition", format!("Invalid xpath expression: {why}"))
    })
}

/// The merged document MAAS evaluates tag definitions against.
pub fn merged_document(d: Option<&NodeDetails>) -> String {
    let parse = |b: Option<&Vec<u8>>| -> Option<String> {
        let text = std::str::from_utf8(b?).ok()?;
        // Syntax is checked here so a malformed document is left out (as
        // MAAS leaves it out, with a warning) rather than spoiling the
        // merge.
        roxmltree::Document::parse(text).ok().map(|_| text.to_string())
    };
    let lshw = parse(d.and_then(|d| d.lshw.as_ref()));
    let lldp = parse(d.and_then(|d| d.lldp.as_ref()));
    let lshw_doc = lshw.as_deref().and_then(|t| roxmltree::Document::parse(t).ok());
    let lldp_doc = lldp.as_deref().and_then(|t| roxmltree::Document::parse(t).ok());
    let mut out = String::new();
    let root_name = lshw_doc.as_ref().map(|d| d.root_element().tag_name().name().to_string());
    let root_name = root_name.unwrap_or_else(|| "list".into());
    let _ = write!(out, "<{root_name} xmlns:lldp=\"lldp\" xmlns:lshw=\"lshw\"");
    if let Some(doc) = &lshw_doc {
        write_attrs(&mut out, doc.root_element());
    }
    out.push('>');
    if let Some(doc) = &lshw_doc {
        for child in doc.root_element().children() {
            write_node(&mut out, child, None);
        }
        write_node(&mut out, doc.root_element(), Some("lshw"));
    }
    if let Some(doc) = &lldp_doc {
        write_node(&mut out, doc.root_element(), Some("lldp"));
    }
    let _ = write!(out, "</{root_name}>");
    out
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// Unqualified attributes only: lshw and lldpctl write no others, and
/// MAAS's merge moves elements, not attributes, into namespaces.
fn write_attrs(out: &mut String, n: roxmltree::Node) {
    for a in n.attributes().filter(|a| a.namespace().is_none()) {
        let _ = write!(out, " {}=\"{}\"", a.name(), escape(a.value()));
    }
}

/// Writes `n` with its unqualified elements moved to `prefix` (when given).
fn write_node(out: &mut String, n: roxmltree::Node, prefix: Option<&str>) {
    if n.is_text() {
        out.push_str(&escape(n.text().unwrap_or("")));
        return;
    }
    if !n.is_element() {
        return;
    }
    let local = n.tag_name().name();
    let (name, xmlns) = match (n.tag_name().namespace(), prefix) {
        (Some(ns), _) => (local.to_string(), Some(ns)),
        (None, Some(p)) => (format!("{p}:{local}"), None),
        (None, None) => (local.to_string(), None),
    };
    let _ = write!(out, "<{name}");
    if let Some(ns) = xmlns {
        let _ = write!(out, " xmlns=\"{}\"", escape(ns));
    }
    write_attrs(out, n);
    out.push('>');
    for c in n.children() {
        write_node(out, c, prefix);
    }
    let _ = write!(out, "</{name}>");
}

/// Definitions compiled once, evaluated against many documents.
pub struct Definitions {
    compiled: Vec<(i64, Expression)>,
}

impl Definitions {
    /// The defined tags among `tags`; a definition that no longer compiles
    /// (stored before validation existed) matches nothing.
    pub fn of(tags: &[Tag]) -> Definitions {
        let _quiet = Quiet::new();
        let compiled = tags
            .iter()
            .filter(|t| !t.definition.trim().is_empty())
            .filter_map(|t| Expression::compile(&t.definition).ok().map(|e| (t.id, e)))
            .collect();
        Definitions { compiled }
    }

    /// Which of the tags (by id) match the merged document `doc`.
    pub fn matching(&self, doc: &str) -> Vec<i64> {
        let _quiet = Quiet::new();
        let Ok(parsed) = Parser::default().parse_string(doc) else { return Vec::new() };
        let Ok(ctx) = Context::new(&parsed) else { return Vec::new() };
        for ns in NAMESPACES {
            let _ = ctx.register_namespace(ns, ns);
        }
        self.compiled
            .iter()
            .filter(|(_, e)| ctx.evaluate_compiled(e).map(|o| truthy(&o)).unwrap_or(false))
            .map(|(id, _)| *id)
            .collect()
    }
}

/// Python's `bool()` of what lxml returns for the result.
fn truthy(o: &libxml::xpath::Object) -> bool {
    use libxml::bindings::{xmlXPathCastToBoolean, xmlXPathObjectType_XPATH_NUMBER};
    // SAFETY: `o.ptr` is the non-null result libxml2 handed back for this
    // evaluation, alive until `o` is dropped; only its type and number
    // fields are read, and the cast does not keep the pointer.
    unsafe {
        let raw = &*o.ptr;
        if raw.type_ == xmlXPathObjectType_XPATH_NUMBER {
            // NaN is true to Python, false to XPath's boolean().
            return raw.floatval != 0.0;
        }
        xmlXPathCastToBoolean(o.ptr) != 0
    }
}

/// Stores the details a commissioning reported and re-evaluates every
/// defined tag for the node (MAAS's `populate_tags_for_single_node`).
pub fn record(c: &mut DbConn, node_id: i64, lshw: Option<Vec<u8>>, lldp: Option<Vec<u8>>) -> Result<()> {
    let d = NodeDetails { node_id, lshw, lldp };
    db::node_details::put(c, &d)?;
    let tags = db::tags::list(c)?;
    let defs = Definitions::of(&tags);
    let matching = defs.matching(&merged_document(Some(&d)));
    for (id, _) in &defs.compiled {
        if matching.contains(id) {
            db::tags::attach(c, *id, &[node_id])?;
        } else {
            db::tags::detach(c, *id, &[node_id])?;
        }
    }
    Ok(())
}

/// Re-evaluates one tag against every node (MAAS's
/// `populate_tag_for_multiple_nodes`): the mapping afterwards is exactly
/// the matching nodes. A tag without a definition is left alone.
pub fn populate_tag(c: &mut DbConn, tag: &Tag) -> Result<()> {
    if tag.definition.trim().is_empty() {
        return Ok(());
    }
    let defs = Definitions::of(std::slice::from_ref(tag));
    let details = db::node_details::all(c)?;
    let empty = merged_document(None);
    let empty_matches = !defs.matching(&empty).is_empty();
    let mut matching = Vec::new();
    for id in db::node_details::all_node_ids(c)? {
        let hit = match details.binary_search_by_key(&id, |d| d.node_id) {
            Ok(i) => !defs.matching(&merged_document(Some(&details[i]))).is_empty(),
            Err(_) => empty_matches,
        };
        if hit {
            matching.push(id);
        }
    }
    let current = db::tags::node_ids(c, tag.id)?;
    let stale: Vec<i64> = current.into_iter().filter(|id| !matching.contains(id)).collect();
    db::tags::detach(c, tag.id, &stale)?;
    db::tags::attach(c, tag.id, &matching)?;
    Ok(())
}

/// `hardware_info` entries MAAS fills from the system's DMI data (hooks.py
/// `_process_system_information`), read here from the lshw document: the
/// system node, its motherboard (`core`) and the motherboard's firmware.
/// `None` for what is missing or a vendor's placeholder (`0123456789`,
/// `None`), which MAAS shows as `Unknown`. `None` overall when the document
/// has no system node.
pub fn hardware_info(lshw: &[u8]) -> Option<Vec<(&'static str, Option<String>)>> {
    let text = std::str::from_utf8(lshw).ok()?;
    let doc = roxmltree::Document::parse(text).ok()?;
    let is_node = |n: &roxmltree::Node, class: &str| n.has_tag_name("node") && n.attribute("class") == Some(class);
    let system = doc.descendants().find(|n| is_node(n, "system"))?;
    let board = system.children().find(|n| is_node(n, "bus") && n.attribute("id") == Some("core"));
    let firmware =
        board.and_then(|b| b.children().find(|n| is_node(n, "memory") && n.attribute("id") == Some("firmware")));
    let value = |n: Option<roxmltree::Node>, tag: &str| -> Option<String> {
        let v = n?.children().find(|c| c.has_tag_name(tag))?.text()?.trim().to_string();
        let placeholder = v.is_empty() || v == "0123456789" || v.eq_ignore_ascii_case("none");
        (!placeholder).then_some(v)
    };
    Some(vec![
        ("system_vendor", value(Some(system), "vendor")),
        ("system_product", value(Some(system), "product")),
        ("system_version", value(Some(system), "version")),
        ("system_serial", value(Some(system), "serial")),
        ("mainboard_vendor", value(board, "vendor")),
        ("mainboard_product", value(board, "product")),
        ("mainboard_serial", value(board, "serial")),
        ("mainboard_version", value(board, "version")),
        ("mainboard_firmware_vendor", value(firmware, "vendor")),
        ("mainboard_firmware_date", value(firmware, "date")),
        ("mainboard_firmware_version", value(firmware, "version")),
    ])
}
