//! `redfish`: a thin Redfish client (rack.md §5.2): find the system (from
//! `node_id` or the first member of `/redfish/v1/Systems`), read
//! `PowerState`, and POST `ComputerSystem.Reset` (`On`, `ForceOff`,
//! `ForceRestart`). Before powering on it sets a one-time PXE boot override, as
//! MAAS does.
//!
//! BMCs ship self-signed certificates and MAAS does not verify them, so
//! neither do we; credentials travel only in the Authorization header.

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
    client: Client,
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
        let client = Client::builder()
            .danger_accept_invalid_certs(true)
            .timeout(request_timeout)
            .connect_timeout(request_timeout)
            .build()
            .expect("reqwest client with rustls");
        RedfishDriver { request_timeout, settle_timeout, poll_interval: Duration::from_millis(500), client }
    }
}

/// One call's context: base URL and credentials.
struct Session<'a> {
    client: &'a Client,
    base: String,
    target: String,
    user: &'a str,
    pass: &'a str,
}

impl Session<'_> {
    fn new<'a>(client: &'a Client, params: &'a PowerParams) -> Result<Session<'a>, PowerError> {
        let address = required(params, "power_address")?;
        // MAAS prepends https:// when no scheme is given.
        let base = if address.starts_with("http://") || address.starts_with("https://") {
            address.trim_end_matches('/').to_string()
        } else {
            format!("https://{}", address.trim_end_matches('/'))
        };
        Ok(Session {
            client,
            target: address.to_string(),
            base,
            user: optional(params, "power_user").unwrap_or(""),
            pass: params.get("power_pass").map(String::as_str).unwrap_or(""),
        })
    }

    fn url(&self, path: &str) -> String {
        if path.starts_with("http://") || path.starts_with("https://") {
            path.to_string()
        } else {
            format!("{}{}", self.base, path)
        }
    }

    fn net_error(&self, e: reqwest::Error) -> PowerError {
        let target = self.target.clone();
        if e.is_timeout() {
            PowerError::Timeout { target, detail: "no answer from the Redfish service".into() }
        } else if e.is_connect() {
            PowerError::Unreachable { target, detail: format!("cannot connect: {}", root_cause(&e)) }
        } else {
            PowerError::Other { target, detail: root_cause(&e) }
        }
    }

    async fn check(&self, what: &str, resp: reqwest::Response) -> Result<reqwest::Response, PowerError> {
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let target = self.target.clone();
        Err(match status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                PowerError::Auth { target, detail: format!("{what} answered {status}") }
            }
            StatusCode::NOT_FOUND => {
                PowerError::Config(format!("{what} on {target} answered 404: check node_id / power_address"))
            }
            _ => {
                let body = resp.text().await.unwrap_or_default();
                let msg = redfish_message(&body).unwrap_or_else(|| body.chars().take(200).collect());
                PowerError::Other { target, detail: format!("{what} answered {status}: {msg}") }
            }
        })
    }

    async fn get(&self, path: &str) -> Result<Value, PowerError> {
        let resp = self
            .client
            .get(self.url(path))
            .basic_auth(self.user, Some(self.pass))
            .header("Accept", "application/json")
            .send()
            .await
            .map_err(|e| self.net_error(e))?;
        let resp = self.check(&format!("GET {path}"), resp).await?;
        resp.json().await.map_err(|e| PowerError::Other {
            target: self.target.clone(),
            detail: format!("GET {path}: not a JSON document: {e}"),
        })
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Value) -> Result<(), PowerError> {
        let resp = self
            .client
            .request(method.clone(), self.url(path))
            .basic_auth(self.user, Some(self.pass))
            .json(&body)
            .send()
            .await
            .map_err(|e| self.net_error(e))?;
        self.check(&format!("{method} {path}"), resp).await.map(|_| ())
    }

    /// The system's path: `/redfish/v1/Systems/<node_id>` or the first member.
    async fn system_path(&self, node_id: Option<&str>) -> Result<String, PowerError> {
        if let Some(id) = node_id {
            return Ok(format!("/redfish/v1/Systems/{id}"));
        }
        let systems = self.get("/redfish/v1/Systems").await?;
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
        let doc = self.get(system).await?;
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
        s.send(reqwest::Method::POST, &target, json!({ "ResetType": kind })).await
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
        let s = Session::new(&self.client, params)?;
        let system = s.system_path(optional(params, "node_id")).await?;
        let (state, doc) = s.power_state(&system).await?;
        tracing::debug!(bmc = %s.target, %system, %action, current = %state, "redfish power action");
        let result = match action {
            PowerAction::Query => state,
            PowerAction::On | PowerAction::Cycle => {
                if action == PowerAction::On {
                    let boot =
                        json!({"Boot": {"BootSourceOverrideTarget": "Pxe", "BootSourceOverrideEnabled": "Once"}});
                    if let Err(e) = s.send(reqwest::Method::PATCH, &system, boot).await {
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
