//! `redfish`: a thin Redfish client (rack.md §5.2): find the system (from
//! `node_id` or the first member of `/redfish/v1/Systems`), read
//! `PowerState`, and POST `ComputerSystem.Reset` (`On`, `ForceOff`,
//! `ForceRestart`). Before powering on it sets a one-time PXE boot override, as
//! MAAS does.
//!
//! What a BMC may make us do is bounded, because a BMC address can be
//! wrong, stale or (before an administrator accepts an enlisted machine)
//! chosen by someone else:
//! - credentials go only to the configured host: redirects are never
//!   followed, and an absolute URL in a response (`@odata.id`, an action
//!   `target`) pointing elsewhere is used for its path only, on the
//!   configured host;
//! - nothing a BMC says reaches an error message: errors name the step and
//!   the HTTP status ("BMC answered HTTP 500"), and the BMC's own text goes
//!   to the log only, shortened and stripped of control characters.
//!
//! TLS: BMCs ship self-signed certificates and MAAS does not verify them, so
//! by default neither do we. `power_verify_ssl=y` (the name MAAS's webhook
//! driver uses) verifies the certificate against the public web PKI roots
//! for that machine.

use std::time::Duration;

use async_trait::async_trait;
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

use crate::params::{optional, required};
use crate::{PowerAction, PowerDriver, PowerError, PowerParams, PowerState};

#[derive(Debug, Clone)]
pub struct RedfishDriver {
    /// Per-request timeout (connect + answer).
    pub request_timeout: Duration,
    /// After a reset, poll `PowerState` until it changes or this much time
    /// has passed: BMCs apply resets asynchronously (the emulator takes
    /// 1–11 s).
    pub settle_timeout: Duration,
    pub poll_interval: Duration,
    /// Accepts any certificate (the default: BMCs' are self-signed).
    client: Client,
    /// Verifies certificates, for machines with `power_verify_ssl=y`.
    verifying: Client,
}

impl Default for RedfishDriver {
    fn default() -> Self {
        Self::new(Duration::from_secs(10), Duration::from_secs(20))
    }
}

impl RedfishDriver {
    // Building only fails when the TLS backend cannot initialise (rustls
    // with compiled-in roots reads no files), which is a broken build, not
    // a runtime condition; `Drivers::standard` has no error to return.
    #[allow(clippy::expect_used)]
    pub fn new(request_timeout: Duration, settle_timeout: Duration) -> Self {
        let build = |verify: bool| {
            Client::builder()
                .danger_accept_invalid_certs(!verify)
                // A redirect would carry the Authorization header to wherever
                // the BMC (or whoever answers at its address) points.
                .redirect(reqwest::redirect::Policy::none())
                .timeout(request_timeout)
                .connect_timeout(request_timeout)
                .build()
                .expect("reqwest client with rustls")
        };
        RedfishDriver {
            request_timeout,
            settle_timeout,
            poll_interval: Duration::from_millis(500),
            client: build(false),
            verifying: build(true),
        }
    }
}

/// Whether `power_verify_ssl` asks for certificate verification (MAAS's
/// webhook driver spells it `y`/`n`; `true`/`yes`/`1` are accepted too).
pub fn verify_ssl(params: &PowerParams) -> bool {
    optional(params, "power_verify_ssl")
        .is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "y" | "yes" | "true" | "1"))
}

/// One call's context: base URL and credentials.
struct Session<'a> {
    client: &'a Client,
    /// `scheme://host[:port]` of the BMC, no trailing slash.
    base: String,
    target: String,
    user: &'a str,
    pass: &'a str,
}

impl Session<'_> {
    fn new<'a>(driver: &'a RedfishDriver, params: &'a PowerParams) -> Result<Session<'a>, PowerError> {
        let address = required(params, "power_address")?;
        // MAAS prepends https:// when no scheme is given.
        let base = if address.starts_with("http://") || address.starts_with("https://") {
            address.trim_end_matches('/').to_string()
        } else {
            format!("https://{}", address.trim_end_matches('/'))
        };
        let client = if verify_ssl(params) { &driver.verifying } else { &driver.client };
        Ok(Session {
            client,
            target: address.to_string(),
            base,
            user: optional(params, "power_user").unwrap_or(""),
            pass: params.get("power_pass").map(String::as_str).unwrap_or(""),
        })
    }

    /// The URL for a path the BMC gave us. Absolute URLs keep only their
    /// path (and query) and go to the configured host, whatever host they
    /// name: the credentials are for this BMC and nobody else.
    fn url(&self, path: &str) -> String {
        let path = match path.strip_prefix("http://").or_else(|| path.strip_prefix("https://")) {
            Some(rest) => {
                let p = rest.find('/').map(|i| &rest[i..]).unwrap_or("/");
                if !path.starts_with(&self.base) {
                    tracing::debug!(bmc = %self.target, "absolute URL to another host in a Redfish answer: used on the configured host");
                }
                p
            }
            None => path,
        };
        if path.starts_with('/') {
            format!("{}{}", self.base, path)
        } else {
            format!("{}/{}", self.base, path)
        }
    }

    fn net_error(&self, e: reqwest::Error) -> PowerError {
        let target = self.target.clone();
        if e.is_timeout() {
            PowerError::Timeout { target, detail: "no answer from the Redfish service".into() }
        } else if e.is_connect() {
            PowerError::Unreachable { target, detail: format!("cannot connect: {}", sanitize(&root_cause(&e), 120)) }
        } else {
            PowerError::Other { target, detail: sanitize(&root_cause(&e), 120) }
        }
    }

    /// Turns a non-success answer into an error that names the step and
    /// the status only; the body is logged (short, sanitized), never
    /// returned: it is the BMC's text (or an impostor's), not ours to show.
    async fn check(&self, what: &str, resp: reqwest::Response) -> Result<reqwest::Response, PowerError> {
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let target = self.target.clone();
        let code = status.as_u16();
        Err(match status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                PowerError::Auth { target, detail: format!("{what}: BMC answered HTTP {code}") }
            }
            StatusCode::NOT_FOUND => PowerError::Config(format!(
                "{what} on {target}: BMC answered HTTP 404; check node_id / power_address"
            )),
            s if s.is_redirection() => PowerError::Other {
                target,
                detail: format!("{what}: BMC answered HTTP {code} (a redirect); redirects are not followed, set power_address to the URL the BMC serves"),
            },
            _ => {
                let body = resp.text().await.unwrap_or_default();
                let said = redfish_message(&body).unwrap_or(body);
                tracing::info!(bmc = %target, status = code, step = what, bmc_said = %sanitize(&said, 120), "Redfish call failed");
                PowerError::Other { target, detail: format!("{what}: BMC answered HTTP {code}") }
            }
        })
    }

    async fn get(&self, what: &str, path: &str) -> Result<Value, PowerError> {
        let resp = self
            .client
            .get(self.url(path))
            .basic_auth(self.user, Some(self.pass))
            .header("Accept", "application/json")
            .send()
            .await
            .map_err(|e| self.net_error(e))?;
        let resp = self.check(what, resp).await?;
        resp.json().await.map_err(|_| PowerError::Other {
            target: self.target.clone(),
            detail: format!("{what}: the BMC's answer is not a JSON document"),
        })
    }

    async fn send(&self, what: &str, method: reqwest::Method, path: &str, body: Value) -> Result<(), PowerError> {
        let resp = self
            .client
            .request(method, self.url(path))
            .basic_auth(self.user, Some(self.pass))
            .json(&body)
            .send()
            .await
            .map_err(|e| self.net_error(e))?;
        self.check(what, resp).await.map(|_| ())
    }

    /// The system's path: `/redfish/v1/Systems/<node_id>` or the first member.
    async fn system_path(&self, node_id: Option<&str>) -> Result<String, PowerError> {
        if let Some(id) = node_id {
            return Ok(format!("/redfish/v1/Systems/{id}"));
        }
        let systems = self.get("GET /redfish/v1/Systems", "/redfish/v1/Systems").await?;
        systems["Members"]
            .as_array()
            .and_then(|m| m.first())
            .and_then(|m| m["@odata.id"].as_str())
            .map(|s| s.trim_end_matches('/').to_string())
            .ok_or_else(|| PowerError::Other {
                target: self.target.clone(),
                detail: "the BMC lists no systems under /redfish/v1/Systems".into(),
            })
    }

    async fn power_state(&self, system: &str) -> Result<(PowerState, Value), PowerError> {
        let doc = self.get("GET system", system).await?;
        let state = match doc["PowerState"].as_str() {
            Some("On") | Some("PoweringOff") => PowerState::On,
            Some("Off") | Some("PoweringOn") => PowerState::Off,
            _ => PowerState::Unknown,
        };
        Ok((state, doc))
    }
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// At most `max` characters of `s` for a log line: control characters
/// (newlines, escapes) become spaces, so a BMC cannot forge log lines.
pub fn sanitize(s: &str, max: usize) -> String {
    let mut out: String = s.chars().take(max).map(|c| if c.is_control() { ' ' } else { c }).collect();
    if s.chars().nth(max).is_some() {
        out.push('…');
    }
    out
}

/// The human message of a Redfish error body, if any.
fn redfish_message(body: &str) -> Option<String> {
    let v: Value = serde_json::from_str(body).ok()?;
    v["error"]["@Message.ExtendedInfo"][0]["Message"]
        .as_str()
        .or_else(|| v["error"]["message"].as_str())
        .map(str::to_string)
}

impl RedfishDriver {
    async fn reset(&self, s: &Session<'_>, system: &str, doc: &Value, kind: &str) -> Result<(), PowerError> {
        // Use the action target the BMC advertises; fall back to the standard path.
        let target = doc["Actions"]["#ComputerSystem.Reset"]["target"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| format!("{system}/Actions/ComputerSystem.Reset"));
        s.send(&format!("POST reset ({kind})"), reqwest::Method::POST, &target, json!({ "ResetType": kind })).await
    }

    async fn settle(&self, s: &Session<'_>, system: &str, want: PowerState) -> Result<PowerState, PowerError> {
        let deadline = tokio::time::Instant::now() + self.settle_timeout;
        loop {
            let (state, _) = s.power_state(system).await?;
            if state == want || tokio::time::Instant::now() >= deadline {
                return Ok(state);
            }
            tokio::time::sleep(self.poll_interval).await;
        }
    }
}

#[async_trait]
impl PowerDriver for RedfishDriver {
    fn power_type(&self) -> &'static str {
        "redfish"
    }

    async fn act(&self, action: PowerAction, params: &PowerParams) -> Result<Option<PowerState>, PowerError> {
        let s = Session::new(self, params)?;
        let system = s.system_path(optional(params, "node_id")).await?;
        let (state, doc) = s.power_state(&system).await?;
        tracing::debug!(bmc = %s.target, %system, %action, current = %state, "redfish power action");
        let result = match action {
            PowerAction::Query => state,
            PowerAction::On | PowerAction::Cycle => {
                if action == PowerAction::On {
                    let boot =
                        json!({"Boot": {"BootSourceOverrideTarget": "Pxe", "BootSourceOverrideEnabled": "Once"}});
                    if let Err(e) = s.send("PATCH boot override", reqwest::Method::PATCH, &system, boot).await {
                        if !matches!(e, PowerError::Other { .. }) {
                            return Err(e);
                        }
                        tracing::warn!(bmc = %s.target, error = %e, "could not set PXE boot; powering on anyway");
                    }
                }
                // A running machine is restarted (so it PXE boots), as MAAS does.
                let kind = if state == PowerState::On { "ForceRestart" } else { "On" };
                self.reset(&s, &system, &doc, kind).await?;
                self.settle(&s, &system, PowerState::On).await?
            }
            PowerAction::Off => {
                if state != PowerState::Off {
                    self.reset(&s, &system, &doc, "ForceOff").await?;
                }
                self.settle(&s, &system, PowerState::Off).await?
            }
        };
        Ok(Some(result))
    }
}
