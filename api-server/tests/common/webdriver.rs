//! A small W3C WebDriver client over reqwest, driving Debian's `chromium`
//! through `chromedriver` (both real programs; `./test.sh` installs them).
//! The protocol is JSON over HTTP, so the region's own HTTP client is all
//! it takes; only the calls the UI tests use are here.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::Duration;

use serde_json::{json, Value};

use super::peers::{free_tcp_port, need_program, spawn, wait_for, ChildGuard};
use super::{Backend, TestServer};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A headless Chromium session; closed (browser and driver) on drop.
pub struct Browser {
    base: String,
    session: String,
    http: reqwest::Client,
    port: u16,
    _driver: ChildGuard,
    _profile: tempfile::TempDir,
}

/// An element of the current page.
#[derive(Clone)]
pub struct Element(String);

/// Where screenshots of failed browser tests go (CI keeps the directory).
pub fn artifacts_dir() -> PathBuf {
    let dir = std::env::var_os("IRONPOOL_TEST_ARTIFACTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/test-artifacts"));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

impl Browser {
    pub async fn start() -> Browser {
        let driver = need_program("chromedriver");
        let port = free_tcp_port();
        let guard =
            spawn(std::process::Command::new(driver).arg(format!("--port={port}")).stdout(std::process::Stdio::null()));
        let up = wait_for(Duration::from_secs(30), || std::net::TcpStream::connect(("127.0.0.1", port)).ok());
        assert!(up.is_some(), "chromedriver did not start");
        let profile = tempfile::tempdir().unwrap();
        let http = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{port}");
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                // The real binary: /usr/bin/chromium is a launcher script.
                "binary": "/usr/lib/chromium/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--window-size=1400,1000", "--no-first-run", "--disable-extensions",
                         format!("--user-data-dir={}", profile.path().display())]
            }
        }}});
        let r: Value = http.post(format!("{base}/session")).json(&caps).send().await.unwrap().json().await.unwrap();
        let session = r["value"]["sessionId"].as_str().unwrap_or_else(|| panic!("no session: {r}")).to_string();
        Browser { base, session, http, port, _driver: guard, _profile: profile }
    }

    async fn cmd(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let mut req = self.http.request(method, url);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let v: Value = req.send().await.unwrap().json().await.unwrap();
        if v["value"].get("error").is_some() {
            panic!("WebDriver {path}: {}", v["value"]);
        }
        v["value"].clone()
    }

    async fn try_cmd(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Option<Value> {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let mut req = self.http.request(method, url);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let v: Value = req.send().await.ok()?.json().await.ok()?;
        if v["value"].get("error").is_some() {
            None
        } else {
            Some(v["value"].clone())
        }
    }

    pub async fn goto(&self, url: &str) {
        self.cmd(reqwest::Method::POST, "/url", Some(json!({ "url": url }))).await;
    }

    pub async fn url(&self) -> String {
        self.cmd(reqwest::Method::GET, "/url", None).await.as_str().unwrap().to_string()
    }

    pub async fn source(&self) -> String {
        self.cmd(reqwest::Method::GET, "/source", None).await.as_str().unwrap().to_string()
    }

    pub async fn find(&self, css: &str) -> Element {
        match self.try_find(css).await {
            Some(e) => e,
            None => panic!("no element {css} on {}", self.url().await),
        }
    }

    pub async fn try_find(&self, css: &str) -> Option<Element> {
        let v = self
            .try_cmd(reqwest::Method::POST, "/element", Some(json!({"using": "css selector", "value": css})))
            .await?;
        Some(Element(v[ELEMENT].as_str()?.to_string()))
    }

    pub async fn find_all(&self, css: &str) -> Vec<Element> {
        let v =
            self.cmd(reqwest::Method::POST, "/elements", Some(json!({"using": "css selector", "value": css}))).await;
        v.as_array().unwrap().iter().map(|e| Element(e[ELEMENT].as_str().unwrap().to_string())).collect()
    }

    pub async fn click(&self, e: &Element) {
        self.cmd(reqwest::Method::POST, &format!("/element/{}/click", e.0), Some(json!({}))).await;
    }

    pub async fn type_into(&self, e: &Element, text: &str) {
        self.cmd(reqwest::Method::POST, &format!("/element/{}/clear", e.0), Some(json!({}))).await;
        self.cmd(reqwest::Method::POST, &format!("/element/{}/value", e.0), Some(json!({ "text": text }))).await;
    }

    /// Types into `e` without clearing it first (a file input takes a
    /// local path this way: chromedriver runs on this machine).
    pub async fn send_keys(&self, e: &Element, text: &str) {
        self.cmd(reqwest::Method::POST, &format!("/element/{}/value", e.0), Some(json!({ "text": text }))).await;
    }

    pub async fn text(&self, e: &Element) -> String {
        self.cmd(reqwest::Method::GET, &format!("/element/{}/text", e.0), None).await.as_str().unwrap_or("").to_string()
    }

    /// Runs JavaScript in the page and returns its result.
    pub async fn script(&self, js: &str) -> Value {
        self.cmd(reqwest::Method::POST, "/execute/sync", Some(json!({ "script": js, "args": [] }))).await
    }

    /// Selects an option of a `<select>` by value.
    pub async fn select(&self, css: &str, value: &str) {
        let js = format!(
            "var s = document.querySelector({}); s.value = {}; s.dispatchEvent(new Event('change', {{bubbles: true}})); return s.value;",
            serde_json::to_string(css).unwrap(),
            serde_json::to_string(value).unwrap()
        );
        assert_eq!(self.script(&js).await, json!(value));
    }

    /// Waits (up to `timeout`) until `css` exists and its text satisfies `ok`.
    pub async fn wait_text(&self, css: &str, timeout: Duration, ok: impl Fn(&str) -> bool) -> String {
        let end = tokio::time::Instant::now() + timeout;
        let mut last = String::new();
        loop {
            // The page may navigate or redraw between finding the element
            // and reading it (a stale element): that is "not yet", not a failure.
            if let Some(e) = self.try_find(css).await {
                if let Some(t) = self.try_cmd(reqwest::Method::GET, &format!("/element/{}/text", e.0), None).await {
                    last = t.as_str().unwrap_or("").to_string();
                    if ok(&last) {
                        return last;
                    }
                }
            }
            if tokio::time::Instant::now() > end {
                panic!("{css} never matched; last text {last:?} on {}", self.url().await);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// A PNG of the viewport.
    pub async fn screenshot(&self) -> Vec<u8> {
        use base64::Engine as _;
        let b64 = self.cmd(reqwest::Method::GET, "/screenshot", None).await;
        base64::engine::general_purpose::STANDARD.decode(b64.as_str().unwrap()).unwrap()
    }

    pub async fn save_screenshot(&self, path: &std::path::Path) {
        if let Some(b64) = self.try_cmd(reqwest::Method::GET, "/screenshot", None).await {
            use base64::Engine as _;
            if let Ok(png) = base64::engine::general_purpose::STANDARD.decode(b64.as_str().unwrap_or("")) {
                let _ = std::fs::write(path, png);
            }
        }
    }

    /// Presses keys (WebDriver key codes, e.g. `"\u{E004}"` for Tab) on
    /// whatever has the focus, as a keyboard user would.
    pub async fn keys(&self, keys: &str) {
        let mut actions = Vec::new();
        for k in keys.chars() {
            actions.push(json!({"type": "keyDown", "value": k.to_string()}));
            actions.push(json!({"type": "keyUp", "value": k.to_string()}));
        }
        let body = json!({"actions": [{"type": "key", "id": "keyboard", "actions": actions}]});
        self.cmd(reqwest::Method::POST, "/actions", Some(body)).await;
    }

    /// The focused element's tag, id, class and text, for focus-order checks.
    pub async fn focused(&self) -> String {
        let v = self
            .script(
                "var e = document.activeElement; return e ? (e.tagName.toLowerCase() + '#' + (e.id || '') + '.' \
                 + (e.className || '') + ' ' + (e.textContent || '').trim().slice(0, 40)) : '';",
            )
            .await;
        v.as_str().unwrap_or("").to_string()
    }

    /// Accessibility basics of the current page, as a list of problems (empty
    /// when none): every visible form control has a label (`<label for>`, an
    /// enclosing label, `aria-label`/`aria-labelledby`); one `<h1>` and no
    /// heading level skipped; no positive `tabindex` (which reorders the
    /// keyboard's focus away from the reading order); no button or link
    /// without text or a name; the document's language set; images with alt.
    pub async fn accessibility_problems(&self) -> Vec<String> {
        let v = self
            .script(
                r#"var problems = [];
                document.querySelectorAll('input, select, textarea').forEach(function (el) {
                  if (['hidden', 'submit', 'button', 'reset'].indexOf(el.type) >= 0) return;
                  var byFor = el.id && document.querySelector('label[for="' + el.id + '"]');
                  if (!(byFor || el.closest('label') || el.getAttribute('aria-label') || el.getAttribute('aria-labelledby')))
                    problems.push('unlabelled ' + el.tagName.toLowerCase() + ' name=' + el.name);
                });
                var h1 = document.querySelectorAll('h1').length;
                if (h1 !== 1) problems.push(h1 + ' <h1> elements');
                var last = 0;
                document.querySelectorAll('h1, h2, h3, h4, h5, h6').forEach(function (h) {
                  var level = +h.tagName[1];
                  if (last && level > last + 1) problems.push(h.tagName + ' after H' + last + ': ' + h.textContent.trim().slice(0, 40));
                  last = level;
                });
                document.querySelectorAll('[tabindex]').forEach(function (el) {
                  if (+el.getAttribute('tabindex') > 0) problems.push('positive tabindex on ' + el.tagName.toLowerCase());
                });
                document.querySelectorAll('button, a[href]').forEach(function (el) {
                  if (!el.textContent.trim() && !el.getAttribute('aria-label') && !el.getAttribute('title'))
                    problems.push('nameless ' + el.tagName.toLowerCase() + ' ' + (el.getAttribute('href') || ''));
                });
                document.querySelectorAll('img').forEach(function (el) {
                  if (!el.hasAttribute('alt')) problems.push('img without alt ' + el.src);
                });
                if (!document.documentElement.lang) problems.push('no lang on <html>');
                return problems;"#,
            )
            .await;
        v.as_array().unwrap().iter().map(|p| p.as_str().unwrap_or("").to_string()).collect()
    }

    pub async fn delete_cookies(&self) {
        self.cmd(reqwest::Method::DELETE, "/cookie", None).await;
    }
}

/// Saves a documentation screenshot as `docs/ui/{name}.png` when
/// `UPDATE_SCREENSHOTS` is set (from the SQLite runs only, so each picture
/// is taken once).
pub async fn doc_shot(b: &Browser, backend: Backend, name: &str) {
    if backend == Backend::Sqlite && std::env::var_os("UPDATE_SCREENSHOTS").is_some() {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/ui");
        std::fs::create_dir_all(&dir).unwrap();
        b.save_screenshot(&dir.join(format!("{name}.png"))).await;
    }
}

impl Browser {
    /// Logs `user` in through the login form (password `{user}-password`,
    /// as `TestServer::user` makes it), starting from a page that must send
    /// a browser without a session there.
    pub async fn log_in(&self, s: &TestServer, user: &str) {
        self.goto(&format!("{}/MAAS/r/machines", s.origin)).await;
        assert!(self.url().await.contains("/MAAS/r/login"), "not sent to login: {}", self.url().await);
        self.type_into(&self.find("#username").await, user).await;
        self.type_into(&self.find("#password").await, &format!("{user}-password")).await;
        self.click(&self.find("button[type=submit]").await).await;
        self.wait_text("h1", Duration::from_secs(30), |t| t.starts_with("Machines")).await;
    }

    /// Runs a scenario; if it panics, saves a screenshot of where it was as
    /// `{name}.png` in [`artifacts_dir`] and panics on.
    pub async fn screenshot_on_failure(&self, name: &str, scenario: impl std::future::Future<Output = ()>) {
        use futures_util::FutureExt;
        if let Err(panic) = std::panic::AssertUnwindSafe(scenario).catch_unwind().await {
            let path = artifacts_dir().join(format!("{name}.png"));
            self.save_screenshot(&path).await;
            eprintln!("screenshot of the failure: {}", path.display());
            std::panic::resume_unwind(panic);
        }
    }
}

impl Drop for Browser {
    /// Ends the session (which closes Chromium) before the driver is killed:
    /// killing only the driver would leave the browser running. Plain
    /// blocking HTTP, as drop cannot await.
    fn drop(&mut self) {
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", self.port)) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
            let req = format!(
                "DELETE /session/{} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                self.session
            );
            let _ = s.write_all(req.as_bytes());
            let mut sink = Vec::new();
            let _ = s.read_to_end(&mut sink);
        }
    }
}
