//! The authorization golden table: every action of the API 2.0 and 1.0
//! handler tables, called as an anonymous caller, its user, another user
//! and an administrator, with the status each gets.
//!
//! The rows come from the same handler table the router serves
//! (`api::handlers()`, `api::v1::handlers()`), so an endpoint added there is
//! called here without anyone listing it; a URL placeholder this test cannot
//! fill fails the test by name, so a new kind of id gets a fixture. The
//! expected statuses are in `tests/golden/authz.txt` (one line per action:
//! `METHOD path op anon user other admin`); any difference fails with a
//! diff, and `UPDATE_GOLDEN=1` rewrites the file, to be reviewed like code.
//! A 500 anywhere fails regardless of the file.
//!
//! "user" is alice, who owns the allocated machine, the device, the SSH and
//! SSL keys and the file the paths name; "other" is bob, a second
//! non-administrator. Calls carry no parameters beyond `op`: what matters is
//! who is refused, and a handler that validates before it authorizes shows
//! up as a 400 where a 403 belongs.
//!
//! Reads run first, then writes, then deletes (deepest paths first, so a
//! partition goes before its disk); per row the callers go anonymous, other,
//! user, admin, so a refusal is seen before the owner or an administrator
//! changes anything. After each row machine A is put back into Allocated to
//! alice, so every row sees the same ownership whatever an earlier row did.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail by panicking

mod common;

use std::collections::BTreeMap;
use std::fmt::Write as _;

use common::*;
use ironpool_region::api;
use ironpool_region::http::registry::{Method, Registry};

const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/authz.txt");

/// One routed action: where it lives and how it is called.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Row {
    method: Method,
    /// `/MAAS/api/2.0/machines/{system_id}/`
    template: String,
    op: Option<&'static str>,
}

impl Row {
    fn key(&self) -> String {
        format!("{} {} {}", self.method.as_str(), self.template, self.op.unwrap_or("-"))
    }

    /// Whether the row removes a whole machine (`DELETE machines/{id}/`,
    /// API 1.0's `POST nodes/{id}/?op=delete`): such a row gets a machine of
    /// its own, or the first one to succeed would leave every later row on
    /// machine A with a 404.
    fn deletes_machine(&self) -> bool {
        let whole = self.template.ends_with("/{system_id}/")
            && (self.template.contains("/machines/") || self.template.contains("/nodes/"));
        whole && (self.method == Method::Delete || self.op == Some("delete"))
    }

    /// Reads, then writes, then deletes (deepest first, users last: they
    /// are who the other rows call as).
    fn phase(&self) -> (u8, i64) {
        if self.deletes_machine() {
            return (2, 0);
        }
        match self.method {
            Method::Get => (0, 0),
            Method::Post | Method::Put => (1, 0),
            Method::Delete if self.template.contains("/users/") => (3, 0),
            Method::Delete => {
                // A subnet's delete takes its ranges, reservations and static
                // routes with it (as in MAAS), so it runs after theirs.
                let later = i64::from(self.template.contains("/subnets/"));
                (2, later - self.template.matches('/').count() as i64)
            }
        }
    }
}

/// Every (method, path template, op) the two registries route, once each
/// (an anonymous handler beside an authenticated one on the same URL and op
/// is one row: the router picks between them by the caller).
fn rows() -> Vec<Row> {
    let mut out = Vec::new();
    for (prefix, reg) in
        [("/MAAS/api/2.0/", Registry::new(api::handlers())), ("/MAAS/api/1.0/", Registry::new(api::v1::handlers()))]
    {
        for h in reg.handlers() {
            for a in &h.actions {
                let row = Row { method: a.method, template: format!("{prefix}{}", h.path), op: a.op };
                if !out.contains(&row) {
                    out.push(row);
                }
            }
        }
    }
    out
}

/// The ids the paths name, made through the API before the table runs.
#[derive(Default)]
struct Fixtures {
    ids: BTreeMap<(&'static str, &'static str), String>,
}

impl Fixtures {
    fn set(&mut self, after: &'static str, name: &'static str, v: impl ToString) {
        self.ids.insert((after, name), v.to_string());
    }

    /// A concrete path for a template: each `{name}` is filled by what the
    /// literal segment before it names.
    fn fill(&self, template: &str) -> String {
        let mut prev = "";
        let mut out = Vec::new();
        for seg in template.split('/') {
            match seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(name) => {
                    let v = self.ids.iter().find(|((a, n), _)| *a == prev && *n == name).map(|(_, v)| v.clone());
                    let v = v.unwrap_or_else(|| {
                        panic!(
                            "no fixture for {{{name}}} after '{prev}/' in {template}: \
                             add one to tests/authz.rs (Fixtures) so the new endpoint is in the table"
                        )
                    });
                    out.push(v);
                }
                None => {
                    prev = seg;
                    out.push(seg.to_string());
                }
            }
        }
        out.join("/")
    }
}

fn id(v: &serde_json::Value) -> String {
    v["id"].as_i64().unwrap_or_else(|| panic!("no id in {v}")).to_string()
}

async fn made(s: &TestServer, who: &ApiKey, rel: &str, form: &[(&str, &str)]) -> serde_json::Value {
    let r = s.post(Some(who), rel, form).await;
    assert!(matches!(r.status, 200 | 201), "fixture POST {rel}: {} {}", r.status, r.body);
    r.json()
}

async fn fixtures(s: &TestServer, admin: &ApiKey, alice: &ApiKey) -> (Fixtures, String) {
    let mut f = Fixtures::default();
    // Machine A: disks for every storage object, then allocated to alice.
    let disks = vec![
        disk("sda", 100, false),
        disk("sdb", 20, true),
        disk("sdc", 20, true),
        disk("sdd", 20, true),
        disk("sde", 20, true),
        disk("sdf", 20, false),
        disk("sdg", 20, true),
    ];
    let sid = ready_machine_with_disks(s, admin, "machine-a", 4, 8192, disks).await;
    let m = machine(s, admin, &sid).await;
    let d = |n: &str| id(device(&m, n));
    let nodes = format!("nodes/{sid}/");
    let part = made(s, admin, &format!("{nodes}blockdevices/{}/partitions/", d("sdb")), &[("size", "4G")]).await;
    let vg = made(s, admin, &format!("{nodes}volume-groups/"), &[("name", "vg0"), ("block_devices", &d("sdc"))]).await;
    let raid = made(
        s,
        admin,
        &format!("{nodes}raids/"),
        &[("level", "raid-1"), ("block_devices", &d("sdd")), ("block_devices", &d("sde"))],
    )
    .await;
    let set = made(s, admin, &format!("{nodes}bcache-cache-sets/"), &[("cache_device", &d("sdf"))]).await;
    let bcache = made(
        s,
        admin,
        &format!("{nodes}bcaches/"),
        &[("cache_set", &id(&set)), ("backing_device", &d("sdg")), ("cache_mode", "writethrough")],
    )
    .await;
    let r = s.post(Some(alice), "machines/?op=allocate", &[("system_id", &sid)]).await;
    assert_eq!(r.status, 200, "allocate: {}", r.body);
    for n in ["machines", "nodes"] {
        f.set(n, "system_id", &sid);
    }
    f.set("interfaces", "id", id(&m["interface_set"][0]));
    f.set("results", "id", "current-commissioning");
    // Node devices come only from a commissioning's inventory, which this
    // machine never reported: each role's row shows its permission check
    // (403, or the 404 a visible node's missing device gets).
    f.set("devices", "id", "999999");
    f.set("blockdevices", "id", d("sdb"));
    f.set("blockdevices", "device_id", d("sdb"));
    f.set("partition", "id", id(&part));
    f.set("partitions", "id", id(&part));
    f.set("volume-groups", "id", id(&vg));
    f.set("volume-group", "id", id(&vg));
    f.set("raid", "id", id(&raid));
    f.set("bcache-cache-set", "id", id(&set));
    f.set("bcache", "id", id(&bcache));

    // Alice's own things.
    let dev = made(s, alice, "devices/", &[("hostname", "cam1"), ("mac_addresses", "00:16:3e:44:00:01")]).await;
    f.set("devices", "system_id", dev["system_id"].as_str().unwrap());
    let key = made(s, alice, "account/prefs/sshkeys/", &[("key", &ed25519_key(7, "alice@laptop"))]).await;
    f.set("sshkeys", "id", id(&key));
    let cert = made(s, alice, "account/prefs/sslkeys/", &[("key", &pem_cert(7))]).await;
    f.set("sslkeys", "id", id(&cert));
    let form = reqwest::multipart::Form::new()
        .text("filename", "alice-file")
        .part("file", reqwest::multipart::Part::bytes(b"data".to_vec()).file_name("file"));
    let r = client().post(s.api("files/")).header("authorization", alice.plaintext()).multipart(form).send().await;
    assert_eq!(r.unwrap().status(), 201);
    f.set("files", "filename", "alice-file");

    // Shared objects, made by the administrator.
    s.user("victim", false).await;
    f.set("users", "username", "victim");
    made(s, admin, "tags/", &[("name", "t1")]).await;
    f.set("tags", "name", "t1");
    made(s, admin, "zones/", &[("name", "z1")]).await;
    f.set("zones", "name", "z1");
    f.set("resourcepool", "id", id(&made(s, admin, "resourcepools/", &[("name", "p1")]).await));
    let fabric = made(s, admin, "fabrics/", &[]).await;
    f.set("fabrics", "id", id(&fabric));
    f.set("fabrics", "fabric_id", id(&fabric));
    let vlan = made(s, admin, &format!("fabrics/{}/vlans/", id(&fabric)), &[("vid", "10")]).await;
    f.set("vlans", "vid", "10");
    f.set("vlans", "id", id(&vlan));
    f.set("spaces", "id", id(&made(s, admin, "spaces/", &[("name", "sp1")]).await));
    let net = made(s, admin, "subnets/", &[("cidr", "10.99.0.0/24")]).await;
    let net2 = made(s, admin, "subnets/", &[("cidr", "10.98.0.0/24")]).await;
    f.set("subnets", "id", id(&net));
    let range =
        made(s, admin, "ipranges/", &[("type", "reserved"), ("start_ip", "10.99.0.10"), ("end_ip", "10.99.0.20")])
            .await;
    f.set("ipranges", "id", id(&range));
    let route = made(
        s,
        admin,
        "static-routes/",
        &[("source", &id(&net)), ("destination", &id(&net2)), ("gateway_ip", "10.99.0.1")],
    )
    .await;
    f.set("static-routes", "id", id(&route));
    f.set("domains", "id", id(&made(s, admin, "domains/", &[("name", "authz.test")]).await));
    let res = made(s, admin, "dnsresources/", &[("fqdn", "www.authz.test"), ("ip_addresses", "10.99.0.30")]).await;
    f.set("dnsresources", "id", id(&res));
    let rec =
        made(s, admin, "dnsresourcerecords/", &[("fqdn", "txt.authz.test"), ("rrtype", "TXT"), ("rrdata", "hello")])
            .await;
    f.set("dnsresourcerecords", "id", id(&rec));
    f.set("notifications", "id", id(&made(s, admin, "notifications/", &[("message", "hello")]).await));
    let src = made(
        s,
        admin,
        "boot-sources/",
        &[("url", "http://mirror.example/images/"), ("skip_keyring_verification", "true")],
    )
    .await;
    f.set("boot-sources", "id", id(&src));
    f.set("boot-sources", "boot_source_id", id(&src));
    let sel = made(
        s,
        admin,
        &format!("boot-sources/{}/selections/", id(&src)),
        &[("os", "ubuntu"), ("release", "jammy"), ("arches", "amd64")],
    )
    .await;
    f.set("selections", "id", id(&sel));
    // A boot resource waiting for its content (so it has an upload URL).
    let sha = "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881"; // SHA-256 of "x"
    let r = upload_boot_resource(
        s,
        admin,
        &[
            ("name", "ubuntu/custom"),
            ("architecture", "amd64/generic"),
            ("filetype", "tgz"),
            ("sha256", sha),
            ("size", "1"),
        ],
        None,
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let br = r.json();
    f.set("boot-resources", "id", id(&br));
    let sets = br["sets"].as_object().unwrap();
    let file = sets.values().next().unwrap()["files"].as_object().unwrap().values().next().unwrap().clone();
    let uri = file["upload_uri"].as_str().unwrap().trim_end_matches('/');
    f.set("upload", "file_id", uri.rsplit('/').next().unwrap());
    // No rack controller is registered in this test: the rack paths name one
    // that does not exist, which still shows who is refused before the lookup.
    f.set("rackcontrollers", "system_id", "norack");
    // Both placeholders follow the literal `license-key`.
    made(
        s,
        admin,
        "license-keys/",
        &[("distro_series", "windows/win2016"), ("license_key", "ABCDE-12345-FGHIJ-67890-KLMNO")],
    )
    .await;
    f.set("license-key", "osystem", "windows");
    f.set("license-key", "distro_series", "win2016");
    // The region itself (it registered at start); deleting it is refused
    // while it runs, whoever asks.
    let region = ironpool_region::engine::regions::load_identity(s.db.dir.path()).expect("region.json");
    f.set("regioncontrollers", "system_id", region);
    let reserved = made(s, admin, "reservedips/", &[("ip", "10.99.0.77"), ("mac_address", "00:11:22:33:44:55")]).await;
    f.set("reservedips", "id", id(&reserved));
    // No rack has reported a sighting: a well-formed id that matches none.
    f.set("discovery", "discovery_id", "MTAuOTkuMC43NywwMDoxMToyMjozMzo0NDo1NQ==");
    let snippet =
        made(s, admin, "dhcp-snippets/", &[("name", "authz"), ("value", "option ntp-servers 10.0.0.1;")]).await;
    f.set("dhcp-snippets", "id", id(&snippet));
    let repo = made(s, admin, "package-repositories/", &[("name", "authz"), ("url", "http://authz.example/")]).await;
    f.set("package-repositories", "id", id(&repo));
    made(s, admin, "scripts/", &[("name", "authz-script"), ("script", "#!/bin/sh\necho authz\n")]).await;
    f.set("scripts", "name", "authz-script");
    // VM hosts on libvirt's built-in test driver (in the virsh process, no
    // daemon): refresh and compose answer without a real host. One per URL
    // family (each deletes its own).
    for family in ["vm-hosts", "pods"] {
        let h = made(
            s,
            admin,
            &format!("{family}/"),
            &[("type", "virsh"), ("power_address", "test:///default"), ("name", family)],
        )
        .await;
        f.set(family, "id", id(&h));
    }
    (f, sid)
}

/// Puts machine A back into Allocated to alice (a row may have released,
/// deployed or given it away).
async fn restore_machine(s: &TestServer, sid: &str) {
    let sid = sid.to_string();
    s.state
        .db
        .write(move |c| {
            use diesel::prelude::*;
            use ironpool_region::db::schema::nodes;
            let alice = ironpool_region::db::users::by_username(c, "alice")?.unwrap();
            diesel::update(nodes::table.filter(nodes::system_id.eq(&sid)))
                .set((
                    nodes::status.eq(ironpool_region::db::types::Status::Allocated as i32),
                    nodes::owner_id.eq(Some(alice.id)),
                    nodes::status_expires_at.eq(None::<chrono::NaiveDateTime>),
                ))
                .execute(c)
                .unwrap();
            Ok(())
        })
        .await
        .unwrap();
}

/// Rows whose answer to an authorized caller is MAAS's 503 with these
/// fixtures: composing on the test driver's host, whose one domain already
/// takes more memory than the host has (MAAS's over-commit PodProblem).
const MAAS_503: &[&str] = &["POST /MAAS/api/2.0/vm-hosts/{id}/ compose", "POST /MAAS/api/2.0/pods/{id}/ compose"];

async fn call(s: &TestServer, who: Option<&ApiKey>, row: &Row, path: &str) -> u16 {
    let mut url = format!("{}{path}", s.origin);
    if let Some(op) = row.op {
        url.push_str(&format!("?op={op}"));
    }
    let m = reqwest::Method::from_bytes(row.method.as_str().as_bytes()).unwrap();
    let mut rb = client().request(m, &url);
    if let Some(k) = who {
        rb = rb.header(reqwest::header::AUTHORIZATION, k.plaintext());
    }
    let r = read(rb.send().await.unwrap()).await;
    let maas_503 = MAAS_503.contains(&row.key().as_str()) && r.status == 503;
    assert!(r.status < 500 || maas_503, "{} as {:?}: {} {}", row.key(), who.map(|k| &k.token), r.status, r.body);
    r.status
}

async fn table(b: Backend) -> String {
    let s = TestServer::start(b);
    let admin = s.user("admin", true).await;
    let alice = s.user("alice", false).await;
    let bob = s.user("bob", false).await;
    let (fx, sid) = fixtures(&s, &admin, &alice).await;

    let mut rows = rows();
    rows.sort_by_key(|r| r.phase()); // stable: table order within a phase
    let mut lines = Vec::new();
    for (n, row) in rows.iter().enumerate() {
        let mut path = fx.fill(&row.template);
        if row.deletes_machine() {
            let own = ready_machine_with_disks(&s, &admin, &format!("doomed-{n}"), 2, 4096, vec![]).await;
            let r = s.post(Some(&alice), "machines/?op=allocate", &[("system_id", &own)]).await;
            assert_eq!(r.status, 200, "allocate: {}", r.body);
            path = path.replace(&sid, &own);
        }
        let anon = call(&s, None, row, &path).await;
        let other = call(&s, Some(&bob), row, &path).await;
        let user = call(&s, Some(&alice), row, &path).await;
        let admin = call(&s, Some(&admin), row, &path).await;
        lines.push(format!("{} {anon} {user} {other} {admin}", row.key()));
        restore_machine(&s, &sid).await;
    }
    lines.sort();
    let mut out = String::from(
        "# Authorization golden table (tests/authz.rs): METHOD path op anon user other admin.\n\
         # user owns the machine, device, keys and file the path names; other is another non-admin.\n\
         # Regenerate with UPDATE_GOLDEN=1 and review every change.\n",
    );
    for l in lines {
        writeln!(out, "{l}").unwrap();
    }
    out
}

fn compare(actual: &str) {
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(std::path::Path::new(GOLDEN).parent().unwrap()).unwrap();
        std::fs::write(GOLDEN, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(GOLDEN).unwrap_or_default();
    if expected == actual {
        return;
    }
    let split = |t: &str| -> BTreeMap<String, String> {
        t.lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| {
                let cut = l.splitn(4, ' ').take(3).map(str::len).sum::<usize>() + 2;
                (l[..cut.min(l.len())].to_string(), l.to_string())
            })
            .collect()
    };
    let (e, a) = (split(&expected), split(actual));
    let mut diff = String::new();
    for (k, l) in &e {
        match a.get(k) {
            None => writeln!(diff, "- {l}").unwrap(),
            Some(al) if al != l => writeln!(diff, "- {l}\n+ {al}").unwrap(),
            _ => {}
        }
    }
    for (k, l) in &a {
        if !e.contains_key(k) {
            writeln!(diff, "+ {l}").unwrap();
        }
    }
    panic!(
        "the authorization table differs from {GOLDEN} (rerun with UPDATE_GOLDEN=1 if the change is intended, \
         and review it):\n{diff}"
    );
}

backend_tests!(golden_table, |b| async move {
    let t = table(b).await;
    compare(&t);
});
