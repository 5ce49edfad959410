//! A Cisco UCS Manager XML API service for tests: no real manager can run
//! here, so this one speaks the documented protocol (the one MAAS's ucsm
//! driver uses) over real HTTP on a loopback port and holds state.
//!
//! - `POST /nuova` only; every request is one XML element, every answer the
//!   element of the same name with `response="yes"`, `outConfigs` /
//!   `outConfig` holding objects, or `errorCode`/`errorDescr`.
//! - `aaaLogin` checks the credentials (551 "Authentication failed"),
//!   refuses past `max_sessions` live cookies (572), and issues a fresh
//!   cookie; `aaaLogout` frees it. Any other method needs a live cookie
//!   (552 "Authorization required"). With `cookie_uses` set a cookie dies
//!   after that many calls, as an idle one would on a real manager.
//! - servers (`computeBlade`, `computeRackUnit`) answer `configResolveClass
//!   computeItem` with `<eq property=…>` filters; their adaptors and host
//!   interfaces answer `configResolveChildren`; service profiles
//!   (`lsServer`) `configResolveDn`; a profile's `lsPower` and a boot
//!   policy's entries `configResolveChildren`.
//! - `configConfMo` on `<profile>/power` applies `admin-up`, `admin-down`,
//!   `cycle-immediate` to the server's `operPower` at once; on a boot policy
//!   it sets the `order` of the entries it names.
//!
//! Blocking std I/O on a thread per connection: the tests' clients are few.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// One server in the manager.
#[derive(Debug, Clone)]
pub struct Server {
    /// `computeBlade` or `computeRackUnit`.
    pub class: String,
    pub dn: String,
    pub uuid: String,
    pub oper_power: String,
    /// The service profile's dn, "" when unassociated.
    pub profile: String,
    /// The MACs of its one adaptor's host Ethernet interfaces.
    pub macs: Vec<String>,
}

/// A boot policy's entries: (class, attributes), `order` among them.
pub type Policy = Vec<(String, BTreeMap<String, String>)>;

#[derive(Debug, Default)]
pub struct State {
    pub user: String,
    pub pass: String,
    pub servers: Vec<Server>,
    /// Service profile dn → boot policy dn.
    pub profiles: BTreeMap<String, String>,
    pub policies: BTreeMap<String, Policy>,
    /// Live cookies and how many calls each has made.
    pub cookies: HashMap<String, u32>,
    pub max_sessions: usize,
    pub cookie_uses: Option<u32>,
    pub logins: u32,
    pub failed_logins: u32,
    pub logouts: u32,
    /// Every `lsPower` change: (lsPower dn, state).
    pub power_changes: Vec<(String, String)>,
    /// The method of every request, in order.
    pub methods: Vec<String>,
    next_cookie: u64,
}

impl State {
    pub fn server(&self, uuid: &str) -> &Server {
        self.servers.iter().find(|s| s.uuid == uuid).expect("server")
    }

    pub fn lan_order(&self, policy: &str) -> Option<String> {
        self.policies[policy].iter().find(|(c, _)| c == "lsbootLan").map(|(_, a)| a["order"].clone())
    }
}

pub struct UcsService {
    pub url: String,
    pub state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    addr: std::net::SocketAddr,
}

impl Drop for UcsService {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
    }
}

impl UcsService {
    /// A manager with user `admin` / `password` and no servers.
    pub fn start() -> UcsService {
        let state = State { user: "admin".into(), pass: "password".into(), max_sessions: 4, ..Default::default() };
        let state = Arc::new(Mutex::new(state));
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let (st, stp) = (state.clone(), stop.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stp.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let st = st.clone();
                std::thread::spawn(move || serve(conn, &st));
            }
        });
        UcsService { url: format!("http://{addr}/"), state, stop, addr }
    }

    pub fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }

    /// Adds a server with its service profile (`org-root/ls-<name>`, power
    /// on `…/power`) using boot policy `policy`, which is created with
    /// storage first and LAN second when new (None: no LAN entry).
    pub fn add_server(&self, class: &str, dn: &str, uuid: &str, macs: &[&str], policy: Option<&str>, on: bool) {
        let mut st = self.lock();
        let name = dn.rsplit('/').next().unwrap();
        let profile = format!("org-root/ls-{name}");
        let policy_dn = policy.map(|p| format!("org-root/boot-policy-{p}"));
        let entries = |lan: bool| -> Policy {
            let e = |class: &str, order: &str, ty: &str| {
                let a: BTreeMap<String, String> = [("order", order), ("access", "read-write"), ("type", ty)]
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect();
                (class.to_string(), a)
            };
            let mut v = vec![e("lsbootStorage", "1", "storage")];
            if lan {
                v.push(e("lsbootLan", "2", "lan"));
            }
            v
        };
        let pdn = policy_dn.clone().unwrap_or_else(|| format!("org-root/boot-policy-nolan-{name}"));
        if !st.policies.contains_key(&pdn) {
            let mut p = entries(policy.is_some());
            for (class, a) in &mut p {
                let rn = if class == "lsbootLan" { "lan" } else { "storage" };
                a.insert("dn".into(), format!("{pdn}/{rn}"));
            }
            st.policies.insert(pdn.clone(), p);
        }
        st.profiles.insert(profile.clone(), pdn);
        st.servers.push(Server {
            class: class.into(),
            dn: dn.into(),
            uuid: uuid.into(),
            oper_power: if on { "on" } else { "off" }.into(),
            profile,
            macs: macs.iter().map(|m| m.to_string()).collect(),
        });
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn el(name: &str, attrs: &[(&str, &str)]) -> String {
    let mut s = format!("<{name}");
    for (k, v) in attrs {
        s.push_str(&format!(" {k}=\"{}\"", esc(v)));
    }
    s + "/>"
}

fn serve(mut conn: TcpStream, state: &Mutex<State>) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() || line.is_empty() {
        return;
    }
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or("").to_string(), parts.next().unwrap_or("").to_string());
    let mut length = 0usize;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.trim().eq_ignore_ascii_case("content-length") {
                length = v.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0u8; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let (status, text) = if method != "POST" || path != "/nuova" {
        ("404 Not Found", "not found".to_string())
    } else {
        ("200 OK", answer(state, &String::from_utf8_lossy(&body)))
    };
    let _ = write!(
        conn,
        "HTTP/1.1 {status}\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
        text.len()
    );
}

fn error(method: &str, code: &str, descr: &str) -> String {
    el(
        method,
        &[
            ("cookie", ""),
            ("response", "yes"),
            ("errorCode", code),
            ("invocationResult", "unidentified-fail"),
            ("errorDescr", descr),
        ],
    )
}

fn out(method: &str, cookie: &str, wrapper: &str, objects: &[String]) -> String {
    format!(
        "<{method} cookie=\"{}\" response=\"yes\"><{wrapper}>{}</{wrapper}></{method}>",
        esc(cookie),
        objects.concat()
    )
}

fn answer(state: &Mutex<State>, body: &str) -> String {
    let Ok(doc) = roxmltree::Document::parse(body) else {
        return error("error", "101", "malformed request");
    };
    let root = doc.root_element();
    let method = root.tag_name().name().to_string();
    let a = |n: &str| root.attribute(n).unwrap_or("").to_string();
    let mut st = state.lock().unwrap();
    st.methods.push(method.clone());
    match method.as_str() {
        "aaaLogin" => {
            if a("inName") != st.user || a("inPassword") != st.pass {
                st.failed_logins += 1;
                return error(&method, "551", "Authentication failed");
            }
            if st.cookies.len() >= st.max_sessions {
                return error(&method, "572", "Maximum sessions reached");
            }
            st.logins += 1;
            st.next_cookie += 1;
            let cookie = format!("{}/{:08x}-test-cookie", 1_700_000_000 + st.next_cookie, st.next_cookie * 7919);
            st.cookies.insert(cookie.clone(), 0);
            return el(
                &method,
                &[
                    ("cookie", ""),
                    ("response", "yes"),
                    ("outCookie", &cookie),
                    ("outRefreshPeriod", "600"),
                    ("outPriv", "admin"),
                ],
            );
        }
        "aaaLogout" => {
            let c = a("inCookie");
            if st.cookies.remove(&c).is_none() {
                return error(&method, "555", "Session not found");
            }
            st.logouts += 1;
            return el(&method, &[("cookie", ""), ("response", "yes"), ("outStatus", "success")]);
        }
        _ => {}
    }
    let cookie = a("cookie");
    let limit = st.cookie_uses;
    match st.cookies.get_mut(&cookie) {
        None => return error(&method, "552", "Authorization required"),
        Some(uses) => {
            *uses += 1;
            if limit.is_some_and(|l| *uses > l) {
                st.cookies.remove(&cookie);
                return error(&method, "552", "Authorization required");
            }
        }
    }
    match method.as_str() {
        "configResolveClass" => {
            let class = a("classId");
            let filters: Vec<(String, String)> = root
                .descendants()
                .filter(|n| n.has_tag_name("eq"))
                .map(|n| {
                    (n.attribute("property").unwrap_or("").to_string(), n.attribute("value").unwrap_or("").to_string())
                })
                .collect();
            let objs: Vec<String> = st
                .servers
                .iter()
                .filter(|s| class == "computeItem" || class == s.class)
                .filter(|s| {
                    filters.iter().all(|(p, v)| match p.as_str() {
                        "uuid" => s.uuid == *v,
                        "dn" => s.dn == *v,
                        _ => false,
                    })
                })
                .map(|s| {
                    el(
                        &s.class,
                        &[
                            ("dn", &s.dn),
                            ("uuid", &s.uuid),
                            ("operPower", &s.oper_power),
                            ("assignedToDn", &s.profile),
                            ("association", if s.profile.is_empty() { "none" } else { "associated" }),
                        ],
                    )
                })
                .collect();
            out(&method, &cookie, "outConfigs", &objs)
        }
        "configResolveChildren" => {
            let (dn, class) = (a("inDn"), a("classId"));
            let mut objs = Vec::new();
            if let Some(s) = st.servers.iter().find(|s| s.dn == dn) {
                if !s.macs.is_empty() && (class.is_empty() || class == "adaptorUnit") {
                    objs.push(el("adaptorUnit", &[("dn", &format!("{dn}/adaptor-1")), ("id", "1")]));
                }
            } else if let Some(s) = st.servers.iter().find(|s| format!("{}/adaptor-1", s.dn) == dn) {
                if class.is_empty() || class == "adaptorHostEthIf" {
                    for (i, mac) in s.macs.iter().enumerate() {
                        objs.push(el("adaptorHostEthIf", &[("dn", &format!("{dn}/host-eth-{}", i + 1)), ("mac", mac)]));
                    }
                }
            } else if let Some(s) = st.servers.iter().find(|s| !s.profile.is_empty() && s.profile == dn) {
                if class.is_empty() || class == "lsPower" {
                    let state = if s.oper_power == "on" { "up" } else { "down" };
                    objs.push(el("lsPower", &[("dn", &format!("{dn}/power")), ("state", state)]));
                }
            } else if let Some(p) = st.policies.get(&dn) {
                for (c, attrs) in p {
                    if class.is_empty() || class == *c {
                        let pairs: Vec<(&str, &str)> = attrs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                        objs.push(el(c, &pairs));
                    }
                }
            }
            out(&method, &cookie, "outConfigs", &objs)
        }
        "configResolveDn" => {
            let dn = a("dn");
            let objs: Vec<String> = match st.profiles.get(&dn) {
                Some(policy) => vec![el("lsServer", &[("dn", &dn), ("operBootPolicyName", policy)])],
                None => vec![],
            };
            out(&method, &cookie, "outConfig", &objs)
        }
        "configConfMo" => {
            let dn = a("dn");
            let Some(config) = root.children().find(|n| n.has_tag_name("inConfig")) else {
                return error(&method, "101", "no inConfig");
            };
            let items: Vec<roxmltree::Node> = config.children().filter(|n| n.is_element()).collect();
            if let Some(profile) = dn.strip_suffix("/power") {
                let Some(idx) = st.servers.iter().position(|s| !s.profile.is_empty() && s.profile == profile) else {
                    return error(&method, "103", "MO does not exist");
                };
                let Some(want) = items.iter().find(|n| n.has_tag_name("lsPower")).and_then(|n| n.attribute("state"))
                else {
                    return error(&method, "101", "no lsPower state");
                };
                let new = match want {
                    "admin-up" | "cycle-immediate" | "cycle-wait" => "on",
                    "admin-down" | "soft-shut-down" => "off",
                    _ => return error(&method, "103", "invalid power state"),
                };
                st.servers[idx].oper_power = new.into();
                st.power_changes.push((dn.clone(), want.to_string()));
                return out(&method, &cookie, "outConfig", &[el("lsPower", &[("dn", &dn), ("state", want)])]);
            }
            if st.policies.contains_key(&dn) {
                let changes: Vec<(String, String, String)> = items
                    .iter()
                    .filter(|n| n.has_tag_name("lsbootPolicy"))
                    .flat_map(|p| p.children().filter(|n| n.is_element()))
                    .map(|n| {
                        (
                            n.tag_name().name().to_string(),
                            n.attribute("dn").unwrap_or("").to_string(),
                            n.attribute("order").unwrap_or("").to_string(),
                        )
                    })
                    .collect();
                let policy = st.policies.get_mut(&dn).unwrap();
                for (class, edn, order) in changes {
                    if let Some((_, attrs)) = policy.iter_mut().find(|(c, a)| *c == class && a["dn"] == edn) {
                        attrs.insert("order".into(), order);
                    }
                }
                return out(&method, &cookie, "outConfig", &[el("lsbootPolicy", &[("dn", &dn)])]);
            }
            error(&method, "103", "MO does not exist")
        }
        _ => error(&method, "101", "unknown method"),
    }
}
