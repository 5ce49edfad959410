//! `webhook`: MAAS 3.x's generic webhook power driver. Power on and off are
//! POSTs to `power_on_uri` / `power_off_uri`; a query is a GET of
//! `power_query_uri` whose body is matched against `power_on_regex` (then
//! `power_off_regex`), neither matching meaning `unknown`.
//!
//! Headers follow MAAS: `Accept: application/json`, `System_Id: <system_id>`
//! (when the caller passes the machine's id as the `system_id` parameter),
//! and `Authorization: Bearer <power_token>`, or HTTP Basic from
//! `power_user` + `power_pass` when no token is set (both needed). No
//! Content-Type and no body: some services refuse a request that announces
//! content. A 404 on a URI without a trailing slash is retried once with
//! one, as MAAS does for BMCs that insist on it; any other answer of 400 or
//! more is an error naming the status.
//!
//! TLS is not verified unless `power_verify_ssl=y` (MAAS's default `n`).
//! Redirects are followed (MAAS follows them too); reqwest drops the
//! Authorization header when a redirect leaves the original host, so the
//! credentials stay with the service they were configured for. As in the
//! Redfish driver, the service's own text never reaches an error message.

use std::time::Duration;

use async_trait::async_trait;
use reqwest::{Client, StatusCode};

use crate::params::{optional, required};
use crate::redfish::{sanitize, verify_ssl};
use crate::{PowerAction, PowerDriver, PowerError, PowerParams, PowerState};

/// MAAS's defaults for the query regexes (its form fills them in).
pub const DEFAULT_ON_REGEX: &str = r"status.*\:.*running";
pub const DEFAULT_OFF_REGEX: &str = r"status.*\:.*stopped";

#[derive(Debug, Clone)]
pub struct WebhookDriver {
    /// After a power change, poll the query URI until it shows the wanted
    /// state or this much time has passed (services apply changes
    /// asynchronously; MAAS polls the same way after every change).
    pub settle_timeout: Duration,
    pub poll_interval: Duration,
    /// Accepts any certificate (MAAS's default for webhooks).
    client: Client,
    /// Verifies certificates, for `power_verify_ssl=y`.
    verifying: Client,
}

impl Default for WebhookDriver {
    fn default() -> Self {
        Self::new(Duration::from_secs(10), Duration::from_secs(20))
    }
}

impl WebhookDriver {
    // As in RedfishDriver::new: building a rustls client only fails on a
    // broken build, and `Drivers::standard` has no error to return.
    #[allow(clippy::expect_used)]
    pub fn new(request_timeout: Duration, settle_timeout: Duration) -> Self {
        let build = |verify: bool| {
            Client::builder()
                .danger_accept_invalid_certs(!verify)
                .redirect(reqwest::redirect::Policy::limited(5))
                .user_agent(concat!("Ironpool ", env!("CARGO_PKG_VERSION"), " (MAAS webhook power driver)"))
                .timeout(request_timeout)
                .connect_timeout(request_timeout)
                .build()
                .expect("reqwest client with rustls")
        };
        WebhookDriver {
            settle_timeout,
            poll_interval: Duration::from_millis(500),
            client: build(false),
            verifying: build(true),
        }
    }
}

/// One machine's settings, read once per action.
struct Hook<'a> {
    client: &'a Client,
    params: &'a PowerParams,
}

impl Hook<'_> {
    fn request(&self, method: reqwest::Method, uri: &str) -> reqwest::RequestBuilder {
        let mut rb = self.client.request(method, uri).header("Accept", "application/json");
        if let Some(id) = optional(self.params, "system_id") {
            rb = rb.header("System_Id", id);
        }
        if let Some(token) = optional(self.params, "power_token") {
            rb = rb.bearer_auth(token);
        } else if let (Some(user), Some(pass)) =
            (optional(self.params, "power_user"), non_empty(self.params, "power_pass"))
        {
            rb = rb.basic_auth(user, Some(pass));
        }
        rb
    }

    /// Sends the request (and the trailing-slash retry) and returns the body.
    async fn call(&self, what: &str, method: reqwest::Method, uri: &str) -> Result<String, PowerError> {
        let target = host_of(uri);
        let resp = self.request(method.clone(), uri).send().await.map_err(|e| net_error(&target, &e))?;
        let resp = if resp.status() == StatusCode::NOT_FOUND && !uri.ends_with('/') {
            self.request(method, &format!("{uri}/")).send().await.map_err(|e| net_error(&target, &e))?
        } else {
            resp
        };
        let status = resp.status();
        let code = status.as_u16();
        if status.is_success() {
            return resp.text().await.map_err(|e| net_error(&target, &e));
        }
        // The service's text goes to the log only (short, no control
        // characters); the error names the step and the status, as MAAS's
        // "Request failed with response status code: N." does.
        let body = resp.text().await.unwrap_or_default();
        tracing::info!(webhook = %target, status = code, step = what, said = %sanitize(&body, 120), "webhook call failed");
        let detail = format!("{what}: Request failed with response status code: {code}.");
        Err(match status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => PowerError::Auth { target, detail },
            _ => PowerError::Other { target, detail },
        })
    }

    async fn query(&self) -> Result<PowerState, PowerError> {
        let uri = required(self.params, "power_query_uri")?;
        let body = self.call("GET power_query_uri", reqwest::Method::GET, uri).await?;
        let on = regex(self.params, "power_on_regex", DEFAULT_ON_REGEX)?;
        let off = regex(self.params, "power_off_regex", DEFAULT_OFF_REGEX)?;
        Ok(if on.as_ref().is_some_and(|r| r.is_match(&body)) {
            PowerState::On
        } else if off.as_ref().is_some_and(|r| r.is_match(&body)) {
            PowerState::Off
        } else {
            PowerState::Unknown
        })
    }
}

/// A parameter that may be blank-but-present (a password of spaces is a
/// password): empty only when absent or "".
fn non_empty<'a>(params: &'a PowerParams, name: &str) -> Option<&'a str> {
    params.get(name).map(String::as_str).filter(|s| !s.is_empty())
}

/// The regex in `name`: absent means MAAS's default, blank means "never
/// matches" (MAAS skips an empty regex). Python's `re.search` semantics:
/// unanchored.
fn regex(params: &PowerParams, name: &str, default: &str) -> Result<Option<regex_lite::Regex>, PowerError> {
    let src = match params.get(name) {
        None => default,
        Some(s) if s.trim().is_empty() => return Ok(None),
        Some(s) => s.as_str(),
    };
    regex_lite::Regex::new(src).map(Some).map_err(|e| {
        PowerError::Config(format!("{name} is not a valid regular expression: {}", sanitize(&e.to_string(), 200)))
    })
}

/// `scheme://host[:port]` of a URI, for error messages: never the path or
/// query, which may carry a token.
fn host_of(uri: &str) -> String {
    match reqwest::Url::parse(uri) {
        Ok(u) => match (u.host_str(), u.port()) {
            (Some(h), Some(p)) => format!("{}://{h}:{p}", u.scheme()),
            (Some(h), None) => format!("{}://{h}", u.scheme()),
            _ => "the webhook".into(),
        },
        Err(_) => "the webhook".into(),
    }
}

fn net_error(target: &str, e: &reqwest::Error) -> PowerError {
    let target = target.to_string();
    if e.is_builder() {
        return PowerError::Config("the webhook URI is not a valid URL".into());
    }
    if e.is_timeout() {
        PowerError::Timeout { target, detail: "no answer from the webhook".into() }
    } else if e.is_connect() {
        PowerError::Unreachable { target, detail: "cannot connect".into() }
    } else if e.is_redirect() {
        PowerError::Other { target, detail: "too many redirects".into() }
    } else {
        PowerError::Other { target, detail: "the request failed".into() }
    }
}

impl WebhookDriver {
    async fn settle(&self, hook: &Hook<'_>, want: PowerState) -> Result<PowerState, PowerError> {
        let deadline = tokio::time::Instant::now() + self.settle_timeout;
        loop {
            let state = hook.query().await?;
            if state == want || tokio::time::Instant::now() >= deadline {
                return Ok(state);
            }
            tokio::time::sleep(self.poll_interval).await;
        }
    }
}

#[async_trait]
impl PowerDriver for WebhookDriver {
    fn power_type(&self) -> &'static str {
        "webhook"
    }

    async fn act(&self, action: PowerAction, params: &PowerParams) -> Result<Option<PowerState>, PowerError> {
        let client = if verify_ssl(params) { &self.verifying } else { &self.client };
        let hook = &Hook { client, params };
        let post = |name: &'static str| async move {
            let uri = required(params, name)?;
            hook.call(&format!("POST {name}"), reqwest::Method::POST, uri).await.map(|_| ())
        };
        let state = match action {
            PowerAction::Query => hook.query().await?,
            PowerAction::On => {
                post("power_on_uri").await?;
                self.settle(hook, PowerState::On).await?
            }
            PowerAction::Off => {
                post("power_off_uri").await?;
                self.settle(hook, PowerState::Off).await?
            }
            // MAAS has no reset for webhooks; a cycle is off, then on (the
            // machine boots again, which is what a cycle is for).
            PowerAction::Cycle => {
                post("power_off_uri").await?;
                self.settle(hook, PowerState::Off).await?;
                post("power_on_uri").await?;
                self.settle(hook, PowerState::On).await?
            }
        };
        Ok(Some(state))
    }
}
