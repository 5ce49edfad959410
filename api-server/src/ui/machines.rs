//! `/MAAS/r/machines`: the machines table (search, grouping by status,
//! keyset paging) and bulk actions with a confirmation step.
//!
//! The table reads through the API's list filter: the search box is
//! translated by `engine::search` into `machines/` list parameters, which
//! `engine::allocation` parses and resolves exactly as for `GET machines/`,
//! narrowed by `engine::access::restrict_list` as the API narrows it. Only
//! one page of machines (and their related rows, in a fixed number of
//! queries) is loaded, whatever the number of machines; the group counts
//! are one narrow scan of the status column.
//!
//! Bulk actions post the selected system_ids to `/MAAS/r/machines/action`:
//! the first POST shows what will happen to how many machines, the second
//! (with `confirm`) runs the API action once per machine and reports every
//! failure with the API's words, never skipping one silently.
//! Tagging is one `tags/{name}/?op=update_nodes` call per machine (rather
//! than one for all) so that each machine's outcome is its own.
//!
//! Administrators also get the "Add hardware" links (`ui::machine_add`).

use std::collections::BTreeMap;
use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use base64::Engine as _;
use maud::{html, Markup};

use crate::db;
use crate::db::nodes::Node;
use crate::db::related::Related;
use crate::engine;
use crate::engine::allocation::Mode;
use crate::engine::lifecycle::{NodeType, Status, ALL};
use crate::error::{Error, Result};
use crate::http::registry::Method;
use crate::ui::calls;
use crate::ui::layout::{self, csrf, power_class, status_class};
use crate::ui::respond::{form, html as page_response, query};
use crate::ui::viewer::Viewer;

/// Machines per page unless `limit` says otherwise; at most [`MAX_LIMIT`].
pub const PAGE: usize = 50;
const MAX_LIMIT: usize = 500;

/// One row of the table.
struct Row {
    system_id: String,
    fqdn: String,
    status: Status,
    status_message: String,
    power_state: String,
    owner: String,
    pool: String,
    zone: String,
    cpus: i32,
    memory_gib: f64,
    storage: i64,
    ips: Vec<String>,
    macs: Vec<String>,
    tags: Vec<String>,
    locked: bool,
    os: String,
}

fn row(n: &Node, rel: &Related) -> Row {
    let ifaces = rel.interfaces.get(&n.id).map(Vec::as_slice).unwrap_or(&[]);
    let mut ips = Vec::new();
    for i in ifaces {
        for l in rel.links.get(&i.id).map(Vec::as_slice).unwrap_or(&[]) {
            if let Some(ip) = &l.ip {
                ips.push(ip.clone());
            }
        }
    }
    let storage = rel
        .storage
        .get(&n.id)
        .map(|s| s.devices.iter().filter(|d| d.dev_type == "physical").map(|d| d.size).sum())
        .unwrap_or(0);
    let domain = rel.domains.get(&n.domain_id).map(|d| d.name.as_str()).unwrap_or("maas");
    Row {
        system_id: n.system_id.clone(),
        fqdn: format!("{}.{domain}", n.hostname),
        status: n.status,
        status_message: n.status_message.clone().unwrap_or_default(),
        power_state: n.power_state.clone(),
        owner: n.owner_id.and_then(|o| rel.owners.get(&o)).cloned().unwrap_or_default(),
        pool: n.pool_id.and_then(|p| rel.pools.get(&p)).map(|p| p.name.clone()).unwrap_or_default(),
        zone: rel.zones.get(&n.zone_id).map(|z| z.name.clone()).unwrap_or_default(),
        cpus: n.cpu_count,
        memory_gib: n.memory as f64 / 1024.0,
        storage,
        ips,
        macs: ifaces.iter().filter_map(|i| i.mac_address.clone()).collect(),
        tags: rel.tags.get(&n.id).cloned().unwrap_or_default(),
        locked: n.locked,
        os: if n.osystem.is_empty() { String::new() } else { format!("{}/{}", n.osystem, n.distro_series) },
    }
}

/// What one page of the table holds.
struct Listing {
    rows: Vec<Row>,
    /// Machines per status over the whole search (not just this page).
    counts: Vec<(Status, usize)>,
    total: usize,
    next: Option<String>,
}

/// Reads one page of the search `q`.
async fn listing(
    state: &crate::http::AppState,
    viewer: &Viewer,
    q: &str,
    limit: usize,
    cursor: Option<String>,
) -> Result<Listing> {
    let search = engine::search::parse(q)?;
    let mut pairs = search.params;
    pairs.push(("limit".into(), limit.to_string()));
    if let Some(c) = cursor {
        pairs.push(("cursor".into(), c));
    }
    // Syntax and limits are checked before a connection is taken, as the API does.
    let parsed = engine::allocation::parse(&pairs, Mode::List)?;
    let user = viewer.user.clone();
    let text = search.text;
    state
        .db
        .run(move |c| {
            let req = engine::allocation::resolve(c, parsed)?;
            let mut filter = req.filter.clone();
            filter.node_types = vec![NodeType::Machine];
            filter.text = text;
            engine::access::restrict_list(&mut filter, &user);
            let nodes = db::nodes::list(c, &filter)?;
            let next = match (filter.limit, nodes.last()) {
                (Some(l), Some(last)) if nodes.len() as i64 == l => {
                    Some(engine::paging::Cursor::After(last.id).encode())
                }
                _ => None,
            };
            let mut per_status: BTreeMap<i32, usize> = BTreeMap::new();
            let statuses = db::nodes::statuses(c, &filter)?;
            let total = statuses.len();
            for s in statuses {
                *per_status.entry(s as i32).or_default() += 1;
            }
            let counts = ALL.iter().filter_map(|s| per_status.get(&(*s as i32)).map(|n| (*s, *n))).collect::<Vec<_>>();
            let rel = db::related::load_related(c, &nodes)?;
            let rows = nodes
                .iter()
                .filter(|n| engine::allocation::list_matches(&req, n, &rel))
                .map(|n| row(n, &rel))
                .collect();
            Ok(Listing { rows, counts, total, next })
        })
        .await
}

/// `GET /MAAS/r/machines?q=…&group=status|none&limit=…&cursor=…`
pub async fn list(req: &HttpRequest, state: &Arc<crate::http::AppState>, viewer: &Viewer) -> Result<HttpResponse> {
    let p = query(req);
    let q = p.get("q").unwrap_or("").to_string();
    let grouped = p.get("group") != Some("none");
    let limit = match p.get_nonempty("limit") {
        Some(l) => engine::paging::parse_limit(l)?.min(MAX_LIMIT),
        None => PAGE,
    };
    let cursor = p.get_nonempty("cursor").map(str::to_string);
    let first_page = cursor.is_none();
    let (status, body) = match listing(state, viewer, &q, limit, cursor).await {
        Ok(l) => (StatusCode::OK, table(viewer, &q, grouped, limit, first_page, &l)),
        // A search the API would refuse shows the API's words above an
        // empty table, with the search kept for fixing.
        Err(e @ (Error::Validation(_) | Error::BadRequest(_))) => {
            let empty = Listing { rows: Vec::new(), counts: Vec::new(), total: 0, next: None };
            let msg = crate::ui::respond::message(&e);
            (
                StatusCode::BAD_REQUEST,
                html! { p.error role="alert" { (msg) } (table(viewer, &q, grouped, limit, true, &empty)) },
            )
        }
        Err(e) => return Err(e),
    };
    Ok(page_response(status, body_page(viewer, body, &[])))
}

fn body_page(viewer: &Viewer, body: Markup, live: &[&str]) -> Markup {
    layout::page(viewer, "Machines", "machines", live, body)
}

fn search_url(q: &str, grouped: bool, limit: usize, cursor: Option<&str>) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    if !q.is_empty() {
        s.append_pair("q", q);
    }
    if !grouped {
        s.append_pair("group", "none");
    }
    if limit != PAGE {
        s.append_pair("limit", &limit.to_string());
    }
    if let Some(c) = cursor {
        s.append_pair("cursor", c);
    }
    let qs = s.finish();
    if qs.is_empty() {
        "/MAAS/r/machines".into()
    } else {
        format!("/MAAS/r/machines?{qs}")
    }
}

/// The bulk actions: (form value, label, admin only).
pub const ACTIONS: &[(&str, &str, bool)] = &[
    ("commission", "Commission", true),
    ("test", "Test", true),
    ("allocate", "Allocate", false),
    ("deploy", "Deploy", false),
    ("release", "Release", false),
    ("abort", "Abort", false),
    ("on", "Power on", false),
    ("off", "Power off", false),
    ("mark-broken", "Mark broken", false),
    ("mark-fixed", "Mark fixed", false),
    ("lock", "Lock", false),
    ("unlock", "Unlock", false),
    ("set-zone", "Set zone", true),
    ("set-pool", "Set resource pool", true),
    ("tag", "Tag", true),
    ("delete", "Delete", true),
];

fn action_picker(viewer: &Viewer) -> Markup {
    html! {
        label.visually-hidden for="bulk-action" { "Action" }
        select #bulk-action name="action" required {
            option value="" { "Take action…" }
            @for (value, label, admin) in ACTIONS {
                @if !*admin || viewer.is_admin() {
                    option value=(value) { (label) }
                }
            }
        }
    }
}

fn table(viewer: &Viewer, q: &str, grouped: bool, limit: usize, first_page: bool, l: &Listing) -> Markup {
    let live: Vec<&str> = l.rows.iter().map(|r| r.system_id.as_str()).collect();
    // Rows by group, groups in MAAS's status order (the counts' order).
    let groups: Vec<(Option<Status>, usize, Vec<&Row>)> = if grouped {
        l.counts
            .iter()
            .map(|(s, n)| (Some(*s), *n, l.rows.iter().filter(|r| r.status == *s).collect::<Vec<_>>()))
            .filter(|(_, _, rows)| !rows.is_empty())
            .collect()
    } else {
        vec![(None, l.total, l.rows.iter().collect())]
    };
    html! {
        div.page-head {
            h1 { "Machines" span.count data-total=(l.total) { (l.total) } }
            @if viewer.is_admin() {
                nav.add-hardware aria-label="Add hardware" {
                    a.secondary href="/MAAS/r/machines/add" { "Add machine" }
                    " "
                    a.secondary href="/MAAS/r/machines/add-chassis" { "Add chassis" }
                }
            }
        }
        form.search role="search" method="get" action="/MAAS/r/machines" {
            label for="q" { "Search machines" }
            input #q type="search" name="q" value=(q) placeholder="status:ready pool:default tags:gpu, or a hostname, MAC or IP";
            @if !grouped { input type="hidden" name="group" value="none"; }
            button type="submit" { "Search" }
            a.secondary href=(search_url(q, !grouped, limit, None)) { @if grouped { "Don't group" } @else { "Group by status" } }
        }
        @if l.rows.is_empty() {
            section.card.empty {
                @if q.is_empty() {
                    p.big { "No machines yet." }
                    p.muted { "Machines appear here when they network-boot and enlist, or when an administrator adds them (Add machine, Add chassis) or adds them through the API." }
                } @else {
                    p.big { "No machines match this search." }
                    p { a href="/MAAS/r/machines" { "Clear the search" } }
                }
            }
        } @else {
            form #bulk method="post" action="/MAAS/r/machines/action" data-live-ids=(live.join(",")) {
                (csrf(viewer))
                div.bulkbar {
                    (action_picker(viewer))
                    button.primary type="submit" { "Apply to selected" }
                    span.selected-count aria-live="polite" { }
                }
                table.machines {
                    thead {
                        tr {
                            th scope="col" { input type="checkbox" .select-all aria-label="Select all machines on this page"; }
                            th scope="col" { "FQDN" br; span.sub { "MAC / IP" } }
                            th scope="col" { "Power" }
                            th scope="col" { "Status" }
                            th scope="col" { "Owner" }
                            th scope="col" { "Pool" br; span.sub { "Zone" } }
                            th scope="col" .num { "Cores" }
                            th scope="col" .num { "RAM" }
                            th scope="col" .num { "Storage" }
                            th scope="col" { "Tags" }
                        }
                    }
                    @for (status, count, rows) in &groups {
                        tbody {
                            @if let Some(s) = status {
                                tr.group { th colspan="10" scope="rowgroup" { span class={ "badge " (status_class(*s)) } { (s.label()) } " " span.muted { (count) " machine" @if *count != 1 { "s" } } } }
                            }
                            @for r in rows {
                                tr data-sid=(r.system_id) {
                                    td { input type="checkbox" name="system_id" value=(r.system_id) aria-label={ "Select " (r.fqdn) }; }
                                    td {
                                        a href={ "/MAAS/r/machine/" (r.system_id) } { (r.fqdn) }
                                        @if r.locked { " " span.lock title="Locked" data-field="locked" { "🔒" } }
                                        br;
                                        span.sub { (r.macs.first().map(String::as_str).unwrap_or("")) @if let Some(ip) = r.ips.first() { " · " (ip) } }
                                    }
                                    td { span class={ "power " (power_class(&r.power_state)) } data-field="power" { (r.power_state) } }
                                    td {
                                        span class={ "badge " (status_class(r.status)) } data-field="status" { (r.status.label()) }
                                        br;
                                        span.sub data-field="status-message" { (r.status_message) }
                                        @if !r.os.is_empty() { br; span.sub { (r.os) } }
                                    }
                                    td data-field="owner" { (r.owner) }
                                    td { (r.pool) br; span.sub { (r.zone) } }
                                    td.num { (r.cpus) }
                                    td.num { (format!("{:.1} GiB", r.memory_gib)) }
                                    td.num { (if r.storage > 0 { layout::bytes(r.storage) } else { String::new() }) }
                                    td { @for t in &r.tags { span.tag { (t) } " " } }
                                }
                            }
                        }
                    }
                }
            }
            nav.pager aria-label="Pages" {
                @if !first_page { a href=(search_url(q, grouped, limit, None)) { "« First page" } }
                @if let Some(c) = &l.next { a href=(search_url(q, grouped, limit, Some(c))) { "Next page »" } }
            }
        }
    }
}

// ---- bulk actions ----------------------------------------------------------

/// The API action one machine gets for a bulk action.
struct ApiCall {
    method: Method,
    /// The API path (`machines/{id}/`).
    rel: String,
    op: Option<&'static str>,
    params: Vec<(String, String)>,
}

/// One API call per machine for each action.
fn api_call(action: &str, sid: &str, p: &crate::http::params::Params) -> Result<ApiCall> {
    let one = format!("machines/{sid}/");
    let opt = |k: &str| p.get_nonempty(k).map(|v| (k.to_string(), v.to_string()));
    let comment = opt("comment").into_iter().collect::<Vec<_>>();
    let (method, rel, op, params) = match action {
        "commission" => (Method::Post, one, Some("commission"), vec![]),
        // MAAS's TestForm: which scripts (names or tags; the defaults when
        // none), and whether to leave SSH open for the administrator.
        "test" => {
            let mut v: Vec<(String, String)> = opt("testing_scripts").into_iter().collect();
            if p.get("enable_ssh").is_some() {
                v.push(("enable_ssh".into(), "true".into()));
            }
            (Method::Post, one, Some("test"), v)
        }
        "allocate" => (Method::Post, "machines/".into(), Some("allocate"), vec![("system_id".into(), sid.into())]),
        "deploy" => {
            let mut v: Vec<(String, String)> = ["distro_series", "hwe_kernel"].iter().filter_map(|k| opt(k)).collect();
            // The form takes user data as text; the API takes it base64-encoded.
            // Browsers submit a textarea's line breaks as CRLF; a script's
            // `#!/bin/sh\r` would not run, so they go back to the LF typed.
            if let Some(ud) = p.get_nonempty("user_data") {
                let ud = ud.replace("\r\n", "\n");
                v.push(("user_data".into(), base64::engine::general_purpose::STANDARD.encode(ud)));
            }
            (Method::Post, one, Some("deploy"), v)
        }
        "release" => {
            let v = ["erase", "secure_erase", "quick_erase"]
                .iter()
                .filter(|k| p.get(k).is_some())
                .map(|k| (k.to_string(), "true".to_string()))
                .chain(comment)
                .collect();
            (Method::Post, one, Some("release"), v)
        }
        "abort" => (Method::Post, one, Some("abort"), comment),
        "on" => (Method::Post, one, Some("power_on"), comment),
        "off" => (Method::Post, one, Some("power_off"), comment),
        "mark-broken" => (Method::Post, one, Some("mark_broken"), comment),
        "mark-fixed" => (Method::Post, one, Some("mark_fixed"), comment),
        "lock" => (Method::Post, one, Some("lock"), comment),
        "unlock" => (Method::Post, one, Some("unlock"), comment),
        "set-zone" => (Method::Put, one, None, vec![("zone".into(), p.required("zone")?.to_string())]),
        "set-pool" => (Method::Put, one, None, vec![("pool".into(), p.required("pool")?.to_string())]),
        "delete" => (Method::Delete, one, None, vec![]),
        // One machine per call, so each one's outcome is its own.
        "tag" => {
            let tag = p.required("tag")?.trim();
            let field = if p.get("tag_mode") == Some("remove") { "remove" } else { "add" };
            let rel = format!("tags/{}/", crate::api::views::enc(tag));
            (Method::Post, rel, Some("update_nodes"), vec![(field.to_string(), sid.to_string())])
        }
        other => return Err(Error::field("action", format!("'{other}' is not a machine action."))),
    };
    Ok(ApiCall { method, rel, op, params })
}

/// What a machine is called in confirmations and results.
struct Target {
    system_id: String,
    fqdn: String,
}

/// `POST /MAAS/r/machines/action`: confirm, then run.
pub async fn action(
    req: &HttpRequest,
    payload: web::Payload,
    state: &Arc<crate::http::AppState>,
    viewer: &Viewer,
) -> Result<HttpResponse> {
    let p = form(req, payload).await?;
    viewer.check_csrf(&p)?;
    let action = p.get_nonempty("action").ok_or_else(|| Error::field("action", "Choose an action."))?.to_string();
    let (_, label, _) = ACTIONS
        .iter()
        .find(|(a, _, _)| *a == action)
        .ok_or_else(|| Error::field("action", format!("'{action}' is not a machine action.")))?;
    let mut ids: Vec<String> = p.get_all("system_id").iter().map(|s| s.to_string()).collect();
    ids.dedup();
    if ids.is_empty() {
        return Err(Error::field("system_id", "No machines selected."));
    }
    if ids.len() > ironpool_common::constraints::MAX_VALUES {
        return Err(Error::BadRequest(format!(
            "Too many machines selected: {}, at most {}.",
            ids.len(),
            ironpool_common::constraints::MAX_VALUES
        )));
    }
    // Names for the pages; machines the viewer may not see are listed by
    // id only (the API will refuse them, and that is reported).
    let user = viewer.user.clone();
    let wanted = ids.clone();
    let (targets, zones, pools, tags) = state
        .db
        .run(move |c| {
            let nodes = db::nodes::list(
                c,
                &db::nodes::NodeFilter {
                    ids: Some(wanted.clone()),
                    node_types: vec![NodeType::Machine],
                    ..Default::default()
                },
            )?;
            let rel = db::related::load_related(c, &nodes)?;
            let targets: Vec<Target> = wanted
                .iter()
                .map(|sid| {
                    let n = nodes.iter().find(|n| &n.system_id == sid && engine::access::can_view(&user, n));
                    Target { system_id: sid.clone(), fqdn: n.map(|n| row(n, &rel).fqdn).unwrap_or_else(|| sid.clone()) }
                })
                .collect();
            let zones: Vec<String> = db::places::zones(c)?.into_iter().map(|z| z.name).collect();
            let pools: Vec<String> = db::places::pools(c)?.into_iter().map(|p| p.name).collect();
            let tags: Vec<String> = db::tags::list(c)?.into_iter().map(|t| t.name).collect();
            Ok((targets, zones, pools, tags))
        })
        .await?;
    if p.get("confirm").is_none() {
        let body = confirm_page(viewer, &action, label, &targets, &Names { zones, pools, tags });
        return Ok(page_response(StatusCode::OK, body_page(viewer, body, &[])));
    }
    let mut results: Vec<(Target, std::result::Result<(), String>)> = Vec::new();
    for t in targets {
        let outcome = match api_call(&action, &t.system_id, &p) {
            Ok(ApiCall { method, rel, op, params }) => calls::call(state, viewer, method, &rel, op, params)
                .await
                .map(|_| ())
                .map_err(|e| crate::ui::respond::message(&e)),
            Err(e) => Err(crate::ui::respond::message(&e)),
        };
        results.push((t, outcome));
    }
    let live: Vec<String> = results.iter().filter(|(_, r)| r.is_ok()).map(|(t, _)| t.system_id.clone()).collect();
    let live: Vec<&str> = live.iter().map(String::as_str).collect();
    let body = results_page(viewer, label, &results);
    Ok(page_response(StatusCode::OK, body_page(viewer, body, &live)))
}

/// What the confirmation's options offer: every zone, pool and tag name.
struct Names {
    zones: Vec<String>,
    pools: Vec<String>,
    tags: Vec<String>,
}

fn options_for(action: &str, names: &Names) -> Markup {
    let Names { zones, pools, tags } = names;
    html! {
        @match action {
            "deploy" => {
                label for="distro_series" { "OS release" }
                input #distro_series type="text" name="distro_series" placeholder="default (e.g. noble, ubuntu/jammy)";
                label for="hwe_kernel" { "Kernel" }
                input #hwe_kernel type="text" name="hwe_kernel" placeholder="default (e.g. ga-24.04)";
                label for="user_data" { "Cloud-init user data" }
                textarea #user_data name="user_data" rows="4" {}
            }
            "release" => {
                fieldset {
                    legend { "Erase disks" }
                    label.check { input type="checkbox" name="erase"; " Erase disks before releasing" }
                    label.check { input type="checkbox" name="secure_erase"; " Use secure erase" }
                    label.check { input type="checkbox" name="quick_erase"; " Quick erase (start and end of each disk)" }
                }
            }
            "set-zone" => {
                label for="zone" { "Zone" }
                select #zone name="zone" required { @for z in zones { option value=(z) { (z) } } }
            }
            "set-pool" => {
                label for="pool" { "Resource pool" }
                select #pool name="pool" required { @for p in pools { option value=(p) { (p) } } }
            }
            "test" => {
                label for="testing_scripts" { "Testing scripts (optional)" }
                input #testing_scripts type="text" name="testing_scripts" placeholder="names or tags, separated by commas; the default tests when empty";
                label.check { input type="checkbox" name="enable_ssh"; " Allow SSH access and keep the machine on after testing" }
            }
            "tag" => {
                @if tags.is_empty() {
                    p.error role="alert" { "There are no tags yet: " a href="/MAAS/r/tags" { "create one on the Tags page" } " first." }
                } @else {
                    fieldset {
                        legend { "Change" }
                        label.check { input type="radio" name="tag_mode" value="add" checked; " Add the tag" }
                        label.check { input type="radio" name="tag_mode" value="remove"; " Remove the tag" }
                    }
                    label for="tag" { "Tag" }
                    select #tag name="tag" required { @for t in tags { option value=(t) { (t) } } }
                }
            }
            "commission" | "allocate" | "delete" => {}
            _ => {
                label for="comment" { "Comment (optional)" }
                input #comment type="text" name="comment";
            }
        }
    }
}

fn confirm_page(viewer: &Viewer, action: &str, label: &str, targets: &[Target], names: &Names) -> Markup {
    let n = targets.len();
    let what = format!("{label} {n} machine{}", if n == 1 { "" } else { "s" });
    html! {
        h1 { (what) "?" }
        section.card {
            p { "This will affect " strong.affected { (n) } " machine" @if n != 1 { "s" } ":" }
            ul.targets { @for t in targets { li { (t.fqdn) } } }
            form method="post" action="/MAAS/r/machines/action" {
                (csrf(viewer))
                input type="hidden" name="action" value=(action);
                input type="hidden" name="confirm" value="1";
                @for t in targets { input type="hidden" name="system_id" value=(t.system_id); }
                (options_for(action, names))
                div.buttons {
                    button class={ "primary" @if action == "delete" { " danger" } } type="submit" #confirm { (what) }
                    a.secondary href="/MAAS/r/machines" { "Cancel" }
                }
            }
        }
    }
}

fn results_page(viewer: &Viewer, label: &str, results: &[(Target, std::result::Result<(), String>)]) -> Markup {
    let ok = results.iter().filter(|(_, r)| r.is_ok()).count();
    let failed: Vec<&(Target, std::result::Result<(), String>)> = results.iter().filter(|(_, r)| r.is_err()).collect();
    let _ = viewer;
    html! {
        h1 { (label) ": " (ok) " of " (results.len()) " done" }
        @if !failed.is_empty() {
            section.card.failures role="alert" {
                h2 { (failed.len()) " machine" @if failed.len() != 1 { "s" } " failed" }
                table {
                    thead { tr { th scope="col" { "Machine" } th scope="col" { "Why" } } }
                    tbody {
                        @for (t, r) in &failed {
                            tr.failed data-failed-sid=(t.system_id) { td { (t.fqdn) } td { (r.as_ref().err().map(String::as_str).unwrap_or("")) } }
                        }
                    }
                }
            }
        }
        @if ok > 0 {
            section.card {
                h2 { "Done" }
                table.machines {
                    thead { tr { th scope="col" { "Machine" } th scope="col" { "Status" } th scope="col" { "Power" } } }
                    tbody {
                        @for (t, _) in results.iter().filter(|(_, r)| r.is_ok()) {
                            tr data-sid=(t.system_id) {
                                td { a href={ "/MAAS/r/machine/" (t.system_id) } { (t.fqdn) } }
                                td { span.badge.st-other data-field="status" { "…" } br; span.sub data-field="status-message" {} }
                                td { span.power.pw-unknown data-field="power" { "…" } }
                            }
                        }
                    }
                }
            }
        }
        p { a href="/MAAS/r/machines" { "Back to machines" } }
    }
}
