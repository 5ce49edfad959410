//! The browser half of `ironpool bench`'s UI figures: headless Chromium
//! (Debian's `chromium`, driven by `chromedriver` over W3C WebDriver) loads
//! a page several times and reports its first contentful paint, as the
//! browser's own Paint Timing API measures it from the start of navigation.
//!
//! The same measurement is taken of the same bytes (the page and its
//! stylesheet and script) served by a bare handler, so the figure says how
//! much of the paint is Ironpool's and how much is the browser's. Without
//! `chromedriver` on the PATH the figures are skipped, not failed: the bench
//! runs on servers that have no browser.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::{json, Value};

/// Where Debian's `chromium` package puts the browser itself
/// (`/usr/bin/chromium` is a launcher script chromedriver cannot use).
const CHROMIUM: &str = "/usr/lib/chromium/chromium";

/// One headless Chromium session; [`Chromium::close`] ends it.
pub struct Chromium {
    base: String,
    session: String,
    http: reqwest::Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

/// A page's timings, medians over the loads (milliseconds from the start
/// of navigation).
pub struct Paint {
    /// First contentful paint.
    pub fcp: f64,
    /// The first byte of the response arrived.
    pub response_start: f64,
}

fn on_path(program: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH")?.to_str()?.split(':').map(|d| std::path::Path::new(d).join(program)).find(|p| p.is_file())
}

impl Chromium {
    /// Starts chromedriver and a browser session; `None` when either program
    /// is missing.
    pub async fn start() -> anyhow::Result<Option<Chromium>> {
        let Some(driver) = on_path("chromedriver") else { return Ok(None) };
        if !std::path::Path::new(CHROMIUM).exists() {
            return Ok(None);
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let mut child = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting chromedriver")?;
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let t = Instant::now();
        while http.get(format!("{base}/status")).send().await.is_err() {
            if t.elapsed() > Duration::from_secs(30) {
                let _ = child.kill();
                bail!("chromedriver did not start");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = tempfile::tempdir()?;
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--window-size=1400,1000", "--no-first-run", "--disable-extensions",
                         format!("--user-data-dir={}", profile.path().display())]
            }
        }}});
        let r: Value = http.post(format!("{base}/session")).json(&caps).send().await?.json().await?;
        let Some(session) = r["value"]["sessionId"].as_str().map(str::to_string) else {
            let _ = child.kill();
            bail!("chromedriver refused a session: {r}");
        };
        Ok(Some(Chromium { base, session, http, driver: child, _profile: profile }))
    }

    async fn call(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        let url = format!("{}/session/{}/{path}", self.base, self.session);
        let r: Value = self.http.post(url).json(&body).send().await?.json().await?;
        if r["value"].get("error").is_some() {
            bail!("WebDriver {path}: {}", r["value"]);
        }
        Ok(r["value"].clone())
    }

    async fn goto(&self, url: &str) -> anyhow::Result<()> {
        self.call("url", json!({ "url": url })).await.map(|_| ())
    }

    /// Logs the browser in with a session cookie of `origin` (set while on
    /// one of its pages, as WebDriver requires).
    pub async fn set_cookie(&self, origin: &str, cookie: &str) -> anyhow::Result<()> {
        let (name, value) = cookie.split_once('=').context("cookie without '='")?;
        self.goto(&format!("{origin}/MAAS/r/login")).await?;
        self.call("cookie", json!({"cookie": {"name": name, "value": value, "path": "/"}})).await.map(|_| ())
    }

    /// Loads `url` once to warm the cache (as an operator's browser is),
    /// then `runs` times, and returns the medians.
    pub async fn paint(&self, url: &str, runs: usize) -> anyhow::Result<Paint> {
        let mut fcp = Vec::new();
        let mut first_byte = Vec::new();
        for i in 0..=runs {
            self.goto(url).await?;
            // Asynchronous: a headless browser may record the paint after
            // the load event WebDriver waits for.
            let v = self
                .call(
                    "execute/async",
                    json!({"script": "var done = arguments[arguments.length - 1]; \
                        var n = performance.getEntriesByType('navigation')[0]; \
                        var sent = false; \
                        function finish(p) { if (!sent) { sent = true; \
                          done([p ? p.startTime : null, n ? n.responseStart : null, document.title]); } } \
                        var now = performance.getEntriesByName('first-contentful-paint')[0]; \
                        if (now) { finish(now); return; } \
                        new PerformanceObserver(function (list) { \
                          var e = list.getEntriesByName('first-contentful-paint')[0]; if (e) finish(e); \
                        }).observe({type: 'paint', buffered: true}); \
                        setTimeout(function () { finish(performance.getEntriesByName('first-contentful-paint')[0]); }, 5000);",
                        "args": []}),
                )
                .await?;
            let (Some(p), Some(n)) = (v[0].as_f64(), v[1].as_f64()) else {
                bail!("{url}: the browser reported no paint ({v})");
            };
            if v[2].as_str().is_some_and(|t| t.contains("Log in")) {
                bail!("{url}: the browser was sent to the login page");
            }
            if i > 0 {
                fcp.push(p);
                first_byte.push(n);
            }
        }
        Ok(Paint { fcp: median(&mut fcp), response_start: median(&mut first_byte) })
    }

    pub async fn close(mut self) {
        let _ = self.http.delete(format!("{}/session/{}", self.base, self.session)).send().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}
