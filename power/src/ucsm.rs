//! `ucsm`: Cisco UCS Manager's XML API, as MAAS's ucsm driver speaks it.
//!
//! Every request is one XML element POSTed to `<power_address>/nuova`
//! (the URL joined with `nuova` the way Python's `urljoin` does); the answer
//! is an element of the same name, carrying `errorCode`/`errorDescr` when
//! the method failed. A session is `aaaLogin` (`inName`, `inPassword`) →
//! `outCookie`, the cookie on every later call, and `aaaLogout` at the end
//! whatever happened: a manager allows only a few live cookies, so leaking
//! one per power action would lock MAAS (and everyone else) out.
//!
//! What MAAS reads and writes:
//! - servers: `configResolveClass classId=computeItem` (blades and rack
//!   units), filtered by `<eq property="uuid">` for one machine; the
//!   machine's key is its `uuid` power parameter;
//! - power: the server's `operPower` (`on`/`off`; anything else is an
//!   error, as in MAAS); a change is `configConfMo` of the `lsPower` child of
//!   the server's service profile (`assignedToDn`) with `state=admin-up` or
//!   `admin-down` (`cycle-immediate` for a cycle of a running server);
//! - MACs: `configResolveChildren` of the server for `adaptorUnit`, then of
//!   each adaptor for `adaptorHostEthIf` (`mac`);
//! - boot order: the service profile (`configResolveDn` → `lsServer`) names
//!   its boot policy (`operBootPolicyName`), whose children carry `order`;
//!   enlistment swaps `lsbootLan` with the first device so servers PXE boot.
//!
//! Where this differs from MAAS, on purpose:
//! - a cookie the manager declares stale (`errorCode` 552) is replaced by
//!   one new login and the call retried, instead of failing the action;
//! - after on/off the state is polled until the server reports it (MAAS's
//!   power service polls the same way), so the answer is the real state;
//! - a power cycle exists (MAAS raises NotImplementedError): a running
//!   server gets `cycle-immediate`, a stopped one `admin-up`. (MAAS meant
//!   power-on of a running server to cycle it, but compares `operPower` with
//!   "up", a value `operPower` never has, so it always sends `admin-up`;
//!   `on` does the same here.)
//!
//! As in the Redfish driver, certificates are not verified (managers ship
//! self-signed ones), redirects are not followed (the password would go
//! with them), and the manager's own text never reaches an error message:
//! errors name the method and the error code; `errorDescr` goes to the log,
//! shortened.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::{Client, Url};

use crate::params::{optional, required};
use crate::redfish::sanitize;
use crate::{PowerAction, PowerDriver, PowerError, PowerParams, PowerState};

/// UCS Manager's error code for a refused login.
pub const ERR_AUTH_FAILED: &str = "551";
/// UCS Manager's error code for a cookie it no longer knows (expired,
/// logged out): "Authorization required".
pub const ERR_AUTH_REQUIRED: &str = "552";

#[derive(Debug, Clone)]
pub struct UcsmDriver {
    /// After a power change, poll the server until it reports the wanted
    /// state or this much time has passed (the manager applies changes
    /// through the service profile, asynchronously).
    pub settle_timeout: Duration,
    pub poll_interval: Duration,
    client: Client,
}

impl Default for UcsmDriver {
    fn default() -> Self {
        Self::new(Duration::from_secs(10), Duration::from_secs(30))
    }
}

impl UcsmDriver {
    // As in RedfishDriver::new: building a rustls client only fails on a
    // broken build, and `Drivers::standard` has no error to return.
    #[allow(clippy::expect_used)]
    pub fn new(request_timeout: Duration, settle_timeout: Duration) -> Self {
        let client = Client::builder()
            .danger_accept_invalid_certs(true)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("Ironpool ", env!("CARGO_PKG_VERSION"), " (MAAS ucsm power driver)"))
            .timeout(request_timeout)
            .connect_timeout(request_timeout)
            .build()
            .expect("reqwest client with rustls");
        UcsmDriver { settle_timeout, poll_interval: Duration::from_millis(500), client }
    }
}

/// A managed object from an answer: its class (the element name) and
/// attributes. Children are not kept: every query here asks for one level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mo {
    pub class: String,
    pub attrs: BTreeMap<String, String>,
}

impl Mo {
    pub fn get(&self, name: &str) -> &str {
        self.attrs.get(name).map(String::as_str).unwrap_or("")
    }
}

/// A server a manager has, as enlistment needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UcsmServer {
    /// `sys/chassis-1/blade-2`, `sys/rack-unit-1`.
    pub dn: String,
    pub uuid: String,
    /// Lower case, in the manager's order.
    pub macs: Vec<String>,
    /// `operPower` as the manager reported it.
    pub power: String,
}

/// What a probe found: servers to enlist and those left out, with why.
#[derive(Debug, Clone, Default)]
pub struct UcsmProbe {
    pub servers: Vec<UcsmServer>,
    pub skipped: Vec<(String, &'static str)>,
}

/// `s` with XML's special characters escaped, for an attribute value.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            _ => out.push(c),
        }
    }
    out
}

/// `<name a="v" …>children</name>` (self-closed when there are none).
pub fn element(name: &str, attrs: &[(&str, &str)], children: &str) -> String {
    let mut s = format!("<{name}");
    for (k, v) in attrs {
        s.push_str(&format!(" {k}=\"{}\"", xml_escape(v)));
    }
    if children.is_empty() {
        s.push_str("/>");
    } else {
        s.push_str(&format!(">{children}</{name}>"));
    }
    s
}

/// An answer: the root's attributes and the objects under its
/// `outConfigs` / `outConfig`.
struct Answer {
    root: BTreeMap<String, String>,
    objects: Vec<Mo>,
}

fn parse_answer(text: &str) -> Option<Answer> {
    let doc = roxmltree::Document::parse(text).ok()?;
    let root = doc.root_element();
    let attrs_of = |n: roxmltree::Node| -> BTreeMap<String, String> {
        n.attributes().map(|a| (a.name().to_string(), a.value().to_string())).collect()
    };
    let objects = root
        .children()
        .filter(|n| n.is_element() && matches!(n.tag_name().name(), "outConfigs" | "outConfig"))
        .flat_map(|out| out.children().filter(|n| n.is_element()))
        .map(|n| Mo { class: n.tag_name().name().to_string(), attrs: attrs_of(n) })
        .collect();
    Some(Answer { root: attrs_of(root), objects })
}

/// `scheme://host[:port]` of a URL, for error messages.
fn host_of(url: &Url) -> String {
    match (url.host_str(), url.port()) {
        (Some(h), Some(p)) => format!("{}://{h}:{p}", url.scheme()),
        (Some(h), None) => format!("{}://{h}", url.scheme()),
        _ => "the UCS Manager".into(),
    }
}

/// The XML API endpoint for `power_address`: MAAS joins the URL with
/// `nuova` (so `https://ucs/` and `https://ucs` both give `https://ucs/nuova`).
pub fn api_url(address: &str) -> Result<Url, PowerError> {
    let base = Url::parse(address.trim())
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
        .ok_or_else(|| {
            PowerError::Config("power_address must be the UCS Manager's URL (http:// or https://)".into())
        })?;
    base.join("nuova").map_err(|_| PowerError::Config("power_address is not a valid URL".into()))
}

/// One logged-in conversation with a manager.
pub struct Session<'a> {
    client: &'a Client,
    url: Url,
    target: String,
    user: String,
    pass: String,
    cookie: String,
}

impl<'a> Session<'a> {
    /// Logs in (`aaaLogin`).
    async fn open(client: &'a Client, address: &str, user: &str, pass: &str) -> Result<Session<'a>, PowerError> {
        let url = api_url(address)?;
        let mut s = Session {
            client,
            target: host_of(&url),
            url,
            user: user.to_string(),
            pass: pass.to_string(),
            cookie: String::new(),
        };
        s.login().await?;
        Ok(s)
    }

    async fn login(&mut self) -> Result<(), PowerError> {
        let body = element("aaaLogin", &[("inName", &self.user), ("inPassword", &self.pass)], "");
        let a = self.post("aaaLogin", body).await?;
        if let Some(code) = a.root.get("errorCode") {
            self.log_refusal("aaaLogin", code, &a);
            let detail = format!("the UCS Manager refused the login (error {})", sanitize(code, 10));
            return Err(PowerError::Auth { target: self.target.clone(), detail });
        }
        match a.root.get("outCookie").filter(|c| !c.is_empty()) {
            Some(c) => {
                self.cookie = c.clone();
                Ok(())
            }
            None => Err(PowerError::Other { target: self.target.clone(), detail: "aaaLogin gave no cookie".into() }),
        }
    }

    /// Frees the cookie (`aaaLogout`); failures only logged: the action's
    /// own outcome is what the caller needs.
    async fn close(self) {
        let body = element("aaaLogout", &[("inCookie", &self.cookie)], "");
        if let Err(e) = self.post("aaaLogout", body).await {
            tracing::info!(ucsm = %self.target, error = %e, "aaaLogout failed");
        }
    }

    fn log_refusal(&self, method: &str, code: &str, a: &Answer) {
        let descr = a.root.get("errorDescr").map(|d| sanitize(d, 120)).unwrap_or_default();
        tracing::info!(ucsm = %self.target, method, code = %sanitize(code, 10), said = %descr, "UCS Manager refused a call");
    }

    /// Sends one request document, returns the parsed answer (errors in it
    /// are the caller's to read).
    async fn post(&self, method: &str, body: String) -> Result<Answer, PowerError> {
        let target = self.target.clone();
        let resp = self
            .client
            .post(self.url.clone())
            .header("Content-Type", "application/xml")
            .body(body)
            .send()
            .await
            .map_err(|e| net_error(&target, &e))?;
        let status = resp.status();
        if !status.is_success() {
            let detail = format!("{method}: the UCS Manager answered HTTP {}", status.as_u16());
            return Err(match status.as_u16() {
                401 | 403 => PowerError::Auth { target, detail },
                _ => PowerError::Other { target, detail },
            });
        }
        let text = resp.text().await.map_err(|e| net_error(&target, &e))?;
        parse_answer(&text)
            .ok_or_else(|| PowerError::Other { target, detail: format!("{method}: the answer is not UCS Manager XML") })
    }

    /// A method with the session cookie. A stale cookie (552) gets one new
    /// login and one retry; any other error code fails the call.
    pub async fn call(&mut self, method: &str, attrs: &[(&str, &str)], children: &str) -> Result<Vec<Mo>, PowerError> {
        let mut relogged = false;
        loop {
            let mut all: Vec<(&str, &str)> = vec![("cookie", &self.cookie)];
            all.extend_from_slice(attrs);
            let a = self.post(method, element(method, &all, children)).await?;
            match a.root.get("errorCode") {
                None => return Ok(a.objects),
                Some(code) if code == ERR_AUTH_REQUIRED && !relogged => {
                    tracing::debug!(ucsm = %self.target, method, "UCS Manager cookie expired; logging in again");
                    relogged = true;
                    self.login().await?;
                }
                Some(code) => {
                    self.log_refusal(method, code, &a);
                    let detail = format!("{method} failed (UCS Manager error {})", sanitize(code, 10));
                    return Err(if code == ERR_AUTH_REQUIRED || code == ERR_AUTH_FAILED {
                        PowerError::Auth { target: self.target.clone(), detail }
                    } else {
                        PowerError::Other { target: self.target.clone(), detail }
                    });
                }
            }
        }
    }

    /// Servers (`computeItem`: blades and rack units), one by UUID or all.
    pub async fn servers(&mut self, uuid: Option<&str>) -> Result<Vec<Mo>, PowerError> {
        let filter = match uuid {
            Some(u) => element("eq", &[("class", "computeItem"), ("property", "uuid"), ("value", u)], ""),
            None => String::new(),
        };
        let in_filter = if filter.is_empty() { "<inFilter/>".to_string() } else { element("inFilter", &[], &filter) };
        self.call("configResolveClass", &[("classId", "computeItem")], &in_filter).await
    }

    pub async fn children(&mut self, dn: &str, class: Option<&str>) -> Result<Vec<Mo>, PowerError> {
        let mut attrs = vec![("inDn", dn)];
        if let Some(c) = class {
            attrs.push(("classId", c));
        }
        let found = self.call("configResolveChildren", &attrs, "").await?;
        Ok(found.into_iter().filter(|m| class.is_none_or(|c| m.class == c)).collect())
    }

    pub async fn resolve_dn(&mut self, dn: &str) -> Result<Vec<Mo>, PowerError> {
        self.call("configResolveDn", &[("dn", dn)], "").await
    }

    pub async fn conf_mo(&mut self, dn: &str, config: &str) -> Result<(), PowerError> {
        self.call("configConfMo", &[("dn", dn)], &element("inConfig", &[], config)).await.map(|_| ())
    }

    /// The one server with this UUID.
    async fn server(&mut self, uuid: &str) -> Result<Mo, PowerError> {
        let mut found = self.servers(Some(uuid)).await?;
        // The manager filters; a second check keeps a manager that ignored
        // the filter from having us power the wrong server.
        found.retain(|m| m.get("uuid").eq_ignore_ascii_case(uuid));
        match found.len() {
            1 => Ok(found.remove(0)),
            0 => Err(PowerError::Config(format!("the UCS Manager has no server with uuid {uuid}"))),
            _ => Err(PowerError::Other {
                target: self.target.clone(),
                detail: format!("the UCS Manager lists several servers with uuid {uuid}"),
            }),
        }
    }

    /// The server's MACs: its adaptors' host Ethernet interfaces.
    async fn macs(&mut self, server: &Mo) -> Result<Vec<String>, PowerError> {
        let mut macs = Vec::new();
        for adaptor in self.children(server.get("dn"), Some("adaptorUnit")).await? {
            for eth in self.children(adaptor.get("dn"), Some("adaptorHostEthIf")).await? {
                let mac = eth.get("mac").trim().to_ascii_lowercase();
                if !mac.is_empty() {
                    macs.push(mac);
                }
            }
        }
        Ok(macs)
    }

    /// The boot policy of the server's service profile: its dn and entries.
    async fn boot_policy(&mut self, server: &Mo) -> Result<Option<(String, Vec<Mo>)>, PowerError> {
        let profile = server.get("assignedToDn");
        if profile.is_empty() {
            return Ok(None);
        }
        let Some(ls) = self.resolve_dn(profile).await?.into_iter().find(|m| m.class == "lsServer") else {
            return Ok(None);
        };
        let policy = ls.get("operBootPolicyName").to_string();
        if policy.is_empty() {
            return Ok(None);
        }
        let entries = self.children(&policy, None).await?;
        Ok(Some((policy, entries)))
    }

    /// Sends `state` to the `lsPower` of the server's service profile.
    async fn set_power(&mut self, server: &Mo, state: &str) -> Result<(), PowerError> {
        let profile = server.get("assignedToDn").to_string();
        if profile.is_empty() {
            return Err(PowerError::Config(format!(
                "server {} has no service profile on the UCS Manager",
                server.get("uuid")
            )));
        }
        let power = self.children(&profile, Some("lsPower")).await?.into_iter().next().ok_or_else(|| {
            PowerError::Other { target: self.target.clone(), detail: "the service profile has no lsPower".into() }
        })?;
        let dn = power.get("dn").to_string();
        self.conf_mo(&dn, &element("lsPower", &[("state", state), ("dn", &dn)], "")).await
    }
}

/// The change that puts `lsbootLan` first in a boot policy: it trades
/// `order` with the device currently first (the lowest order). `None` when
/// LAN is first already or the policy has no LAN entry. The two entries are
/// sent back as read, less the read-only `access` and `type`.
pub fn lan_first_change(entries: &[Mo]) -> Option<String> {
    let order = |m: &Mo| m.get("order").trim().parse::<u32>().ok();
    let first = entries.iter().filter(|m| order(m).is_some()).min_by_key(|m| order(m))?;
    let lan = entries.iter().find(|m| m.class == "lsbootLan")?;
    if first == lan {
        return None;
    }
    let swapped = |m: &Mo, new_order: &str| {
        let attrs: Vec<(&str, &str)> = m
            .attrs
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), "access" | "type"))
            .map(|(k, v)| (k.as_str(), if k == "order" { new_order } else { v.as_str() }))
            .collect();
        element(&m.class, &attrs, "")
    };
    let children = swapped(first, lan.get("order")) + &swapped(lan, first.get("order"));
    Some(element("lsbootPolicy", &[], &children))
}

fn state_of(server: &Mo) -> Result<PowerState, PowerError> {
    match server.get("operPower") {
        "on" => Ok(PowerState::On),
        "off" => Ok(PowerState::Off),
        other => {
            // A state word only (letters and hyphens), never arbitrary text.
            let word: String = other.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').take(30).collect();
            Err(PowerError::Other { target: "the UCS Manager".into(), detail: format!("Unknown power state: {word}") })
        }
    }
}

fn net_error(target: &str, e: &reqwest::Error) -> PowerError {
    let target = target.to_string();
    if e.is_timeout() {
        PowerError::Timeout { target, detail: "no answer from the UCS Manager".into() }
    } else if e.is_connect() {
        PowerError::Unreachable { target, detail: "cannot connect".into() }
    } else {
        PowerError::Other { target, detail: "the request failed".into() }
    }
}

impl UcsmDriver {
    async fn open(&self, address: &str, user: &str, pass: &str) -> Result<Session<'_>, PowerError> {
        Session::open(&self.client, address, user, pass).await
    }

    /// Polls the server until it reports `want` or the settle time is over;
    /// returns what it last reported.
    async fn settle(&self, s: &mut Session<'_>, uuid: &str, want: PowerState) -> Result<PowerState, PowerError> {
        let deadline = tokio::time::Instant::now() + self.settle_timeout;
        loop {
            let state = state_of(&s.server(uuid).await?).unwrap_or(PowerState::Unknown);
            if state == want || tokio::time::Instant::now() >= deadline {
                return Ok(state);
            }
            tokio::time::sleep(self.poll_interval).await;
        }
    }

    async fn act_in(&self, s: &mut Session<'_>, action: PowerAction, uuid: &str) -> Result<PowerState, PowerError> {
        let server = s.server(uuid).await?;
        match action {
            PowerAction::Query => state_of(&server),
            PowerAction::On => {
                s.set_power(&server, "admin-up").await?;
                self.settle(s, uuid, PowerState::On).await
            }
            PowerAction::Off => {
                s.set_power(&server, "admin-down").await?;
                self.settle(s, uuid, PowerState::Off).await
            }
            PowerAction::Cycle => {
                let cmd = if server.get("operPower") == "on" { "cycle-immediate" } else { "admin-up" };
                s.set_power(&server, cmd).await?;
                self.settle(s, uuid, PowerState::On).await
            }
        }
    }

    /// Lists the servers to enlist (MAAS's `probe_servers`): those with at
    /// least one MAC and a boot policy that can boot from LAN; then puts LAN
    /// boot first in each one's policy (MAAS's `set_lan_boot_default`; a
    /// policy shared by several servers is changed once). One session.
    pub async fn probe_and_prepare(&self, address: &str, user: &str, pass: &str) -> Result<UcsmProbe, PowerError> {
        let mut s = self.open(address, user, pass).await?;
        let result = probe_in(&mut s).await;
        s.close().await;
        result
    }
}

async fn probe_in(s: &mut Session<'_>) -> Result<UcsmProbe, PowerError> {
    let mut probe = UcsmProbe::default();
    let mut policies: BTreeMap<String, Vec<Mo>> = BTreeMap::new();
    for server in s.servers(None).await? {
        let dn = server.get("dn").to_string();
        let macs = s.macs(&server).await?;
        if macs.is_empty() {
            probe.skipped.push((dn, "no MAC address"));
            continue;
        }
        let Some((policy, entries)) = s.boot_policy(&server).await? else {
            probe.skipped.push((dn, "no service profile or boot policy"));
            continue;
        };
        if !entries.iter().any(|m| m.class == "lsbootLan") {
            probe.skipped.push((dn, "its boot policy cannot boot from LAN"));
            continue;
        }
        policies.insert(policy, entries);
        probe.servers.push(UcsmServer {
            dn,
            uuid: server.get("uuid").to_string(),
            macs,
            power: server.get("operPower").to_string(),
        });
    }
    for (policy, entries) in &policies {
        if let Some(change) = lan_first_change(entries) {
            s.conf_mo(policy, &change).await?;
        }
    }
    Ok(probe)
}

#[async_trait]
impl PowerDriver for UcsmDriver {
    fn power_type(&self) -> &'static str {
        "ucsm"
    }

    async fn act(&self, action: PowerAction, params: &PowerParams) -> Result<Option<PowerState>, PowerError> {
        let address = required(params, "power_address")?;
        let uuid = required(params, "uuid")?;
        let user = optional(params, "power_user").unwrap_or("");
        // A password is used as given (spaces included).
        let pass = params.get("power_pass").map(String::as_str).unwrap_or("");
        let mut s = self.open(address, user, pass).await?;
        let result = self.act_in(&mut s, action, uuid).await;
        s.close().await;
        result.map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mo(class: &str, attrs: &[(&str, &str)]) -> Mo {
        Mo { class: class.into(), attrs: attrs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect() }
    }

    #[test]
    fn the_api_url_is_joined_as_maas_joins_it() {
        assert_eq!(api_url("https://ucs.example/").unwrap().as_str(), "https://ucs.example/nuova");
        assert_eq!(api_url("https://ucs.example").unwrap().as_str(), "https://ucs.example/nuova");
        assert_eq!(api_url("http://10.0.0.1:8080/ucsm/api").unwrap().as_str(), "http://10.0.0.1:8080/ucsm/nuova");
        assert!(matches!(api_url("10.0.0.1"), Err(PowerError::Config(_))));
        assert!(matches!(api_url("ftp://x/"), Err(PowerError::Config(_))));
    }

    #[test]
    fn requests_escape_what_they_carry() {
        assert_eq!(
            element("aaaLogin", &[("inName", "a\"b"), ("inPassword", "<&>")], ""),
            r#"<aaaLogin inName="a&quot;b" inPassword="&lt;&amp;&gt;"/>"#
        );
    }

    #[test]
    fn answers_yield_their_objects_and_errors() {
        let a = parse_answer(
            r#"<configResolveClass cookie="c" response="yes" classId="computeItem"><outConfigs>
            <computeBlade dn="sys/chassis-1/blade-1" uuid="u1" operPower="on"/>
            <computeRackUnit dn="sys/rack-unit-1" uuid="u2" operPower="off"/></outConfigs></configResolveClass>"#,
        )
        .unwrap();
        assert_eq!(a.objects.len(), 2);
        assert_eq!(a.objects[1].class, "computeRackUnit");
        assert_eq!(a.objects[1].get("uuid"), "u2");
        let e =
            parse_answer(r#"<aaaLogin response="yes" errorCode="551" errorDescr="Authentication failed"/>"#).unwrap();
        assert_eq!(e.root["errorCode"], "551");
        assert!(parse_answer("not xml").is_none());
    }

    #[test]
    fn lan_boot_trades_places_with_the_first_device() {
        let storage =
            mo("lsbootStorage", &[("dn", "p/storage"), ("order", "1"), ("access", "read-write"), ("type", "storage")]);
        let lan = mo(
            "lsbootLan",
            &[("dn", "p/lan"), ("order", "2"), ("access", "read-only"), ("type", "lan"), ("prot", "pxe")],
        );
        let change = lan_first_change(&[storage.clone(), lan.clone()]).unwrap();
        assert_eq!(
            change,
            r#"<lsbootPolicy><lsbootStorage dn="p/storage" order="2"/><lsbootLan dn="p/lan" order="1" prot="pxe"/></lsbootPolicy>"#
        );
        let lan_first = mo("lsbootLan", &[("dn", "p/lan"), ("order", "1")]);
        let storage_second = mo("lsbootStorage", &[("dn", "p/storage"), ("order", "2")]);
        assert_eq!(lan_first_change(&[storage_second, lan_first]), None);
        assert_eq!(lan_first_change(&[storage]), None);
    }

    #[test]
    fn power_states_map_as_in_maas() {
        assert_eq!(state_of(&mo("computeBlade", &[("operPower", "on")])).unwrap(), PowerState::On);
        assert_eq!(state_of(&mo("computeBlade", &[("operPower", "off")])).unwrap(), PowerState::Off);
        let e = state_of(&mo("computeBlade", &[("operPower", "degraded")])).unwrap_err();
        assert!(e.to_string().contains("Unknown power state: degraded"), "{e}");
    }
}
