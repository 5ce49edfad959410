//! `ironpool bench`: seeds a region with many machines and measures what
//! matters at scale, each figure beside a baseline measured in the same run
//! (a bare actix handler returning the same bytes), so results compare across
//! machines. Not a test: it reports, it does not assert (except correctness:
//! no machine may be allocated twice).

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use ironpool_region::db::{tags as tags_db, Datastore};
use ironpool_region::engine::accounts::{self, UserInput};
use ironpool_region::engine::lifecycle::Status;
use ironpool_region::engine::nodes::create::{create_machine, MachineInput};
use ironpool_region::engine::nodes::state::transition;

pub struct Options {
    pub machines: usize,
    pub ready: usize,
    pub allocations: usize,
    pub concurrency: usize,
    pub database: Option<String>,
}

pub(crate) struct Key(String, String, String);

static NONCE: AtomicU64 = AtomicU64::new(0);

impl Key {
    pub(crate) fn header(&self) -> String {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        format!(
            "OAuth oauth_version=\"1.0\", oauth_signature_method=\"PLAINTEXT\", oauth_consumer_key=\"{}\", oauth_token=\"{}\", oauth_signature=\"%26{}\", oauth_nonce=\"b{}-{}\", oauth_timestamp=\"{}\"",
            self.0,
            self.1,
            self.2,
            std::process::id(),
            NONCE.fetch_add(1, Ordering::SeqCst),
            now.as_secs()
        )
    }
}

pub(crate) fn key_of(t: &ironpool_region::db::tokens::Token) -> Key {
    Key(t.consumer_key.clone(), t.token_key.clone(), t.token_secret.clone())
}

/// Seeds `n` machines (2 NICs, 3 of 10 tags each); the first `ready` are
/// READY, the rest DEPLOYED to the admin.
fn seed(db: &Datastore, n: usize, ready: usize) -> anyhow::Result<(Key, Key)> {
    let admin = accounts::create_user_blocking(
        db,
        UserInput {
            username: "bench-admin".into(),
            email: "a@bench.invalid".into(),
            password: "x".into(),
            is_superuser: true,
        },
    )?;
    let user = accounts::create_user_blocking(
        db,
        UserInput {
            username: "bench-user".into(),
            email: "u@bench.invalid".into(),
            password: "x".into(),
            is_superuser: false,
        },
    )?;
    let admin_key = key_of(&db.blocking(|c| accounts::token_for_login(c, admin.id, None))?);
    let user_key = key_of(&db.blocking(|c| accounts::token_for_login(c, user.id, None))?);
    let tag_ids: Vec<i64> =
        db.blocking(|c| (0..10).map(|i| tags_db::insert(c, &format!("tag{i}"), "", "", "").map(|t| t.id)).collect())?;
    let started = Instant::now();
    for chunk_start in (0..n).step_by(500) {
        let end = (chunk_start + 500).min(n);
        db.blocking(|c| {
            for i in chunk_start..end {
                let node = create_machine(
                    c,
                    Some(&admin),
                    MachineInput {
                        architecture: Some("amd64/generic".into()),
                        mac_addresses: vec![mac(i, 0), mac(i, 1)],
                        hostname: Some(format!("bench-{i:05}")),
                        power_type: "manual".into(),
                        commission: false,
                        deployed: i >= ready,
                        cpu_count: 4 + (i % 4) as i32 * 4,
                        memory: 8192 * (1 + (i % 4) as i64),
                        ..Default::default()
                    },
                )?;
                let node = if i < ready {
                    transition(c, &node, Status::Ready, "bench", "", Default::default())?
                } else {
                    node
                };
                for t in 0..3 {
                    tags_db::attach(c, tag_ids[(i + t * 3) % tag_ids.len()], &[node.id])?;
                }
            }
            Ok(())
        })?;
    }
    println!("seeded {n} machines ({ready} Ready) in {:.1} s", started.elapsed().as_secs_f64());
    Ok((admin_key, user_key))
}

fn mac(i: usize, nic: usize) -> String {
    format!("0a:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", nic, (i >> 24) & 0xff, (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff)
}

pub(crate) fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// The region under test, as its own process so its RSS is its own.
pub(crate) fn spawn_region(db_url: &str, data_dir: &std::path::Path, port: u16) -> anyhow::Result<Child> {
    let exe = std::env::current_exe()?;
    Ok(Command::new(exe)
        .args(["region", "--listen", &format!("127.0.0.1:{port}")])
        .env("IRONPOOL_DATABASE_URL", db_url)
        .env("IRONPOOL_DATA_DIR", data_dir)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()?)
}

pub(crate) fn peak_rss_mib(pid: u32) -> Option<f64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

pub(crate) async fn wait_up(client: &reqwest::Client, base: &str) -> anyhow::Result<()> {
    for _ in 0..200 {
        if client.get(format!("{base}/MAAS/api/2.0/version/")).send().await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("region did not start")
}

/// Median latency of `runs` sequential GETs, and the last body's size.
async fn timed_get(
    client: &reqwest::Client,
    url: &str,
    auth: Option<&Key>,
    runs: usize,
) -> anyhow::Result<(Duration, usize)> {
    // A fresh OAuth header per request: the region refuses a nonce twice.
    let headers = || -> Vec<(&str, String)> { auth.map(|k| ("authorization", k.header())).into_iter().collect() };
    timed_get_by(client, url, headers, runs).await
}

/// [`timed_get`] with fixed request headers (a UI session cookie).
async fn timed_get_with(
    client: &reqwest::Client,
    url: &str,
    headers: &[(&str, String)],
    runs: usize,
) -> anyhow::Result<(Duration, usize)> {
    timed_get_by(client, url, || headers.to_vec(), runs).await
}

/// The timing loop; `headers` is asked for each request's headers.
async fn timed_get_by<'a>(
    client: &reqwest::Client,
    url: &str,
    headers: impl Fn() -> Vec<(&'a str, String)>,
    runs: usize,
) -> anyhow::Result<(Duration, usize)> {
    let mut times = Vec::new();
    let mut size = 0;
    for _ in 0..runs {
        let mut rb = client.get(url);
        for (k, v) in headers() {
            rb = rb.header(k, v);
        }
        let t = Instant::now();
        let r = rb.send().await?;
        let status = r.status();
        let body = r.bytes().await?;
        times.push(t.elapsed());
        if !status.is_success() {
            bail!("GET {url}: {status}: {}", String::from_utf8_lossy(&body[..body.len().min(200)]));
        }
        size = body.len();
    }
    times.sort();
    Ok((times[times.len() / 2], size))
}

/// Logs in through the web UI's form, as a browser does (CSRF cookie and
/// field, then the password); returns the `Cookie` header of the session.
async fn ui_login(base: &str, username: &str, password: &str) -> anyhow::Result<String> {
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
    let form = client.get(format!("{base}/MAAS/r/login")).send().await?;
    let csrf_cookie = form
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| c.strip_prefix("csrftoken=").and_then(|r| r.split(';').next()).map(str::to_string))
        .context("no csrftoken cookie")?;
    let r = client
        .post(format!("{base}/MAAS/r/login"))
        .header("cookie", format!("csrftoken={csrf_cookie}"))
        .form(&[("username", username), ("password", password), ("csrfmiddlewaretoken", &csrf_cookie)])
        .send()
        .await?;
    let session = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| c.strip_prefix("sessionid=").and_then(|r| r.split(';').next()).map(str::to_string))
        .with_context(|| format!("UI login refused: {}", r.status()))?;
    Ok(format!("sessionid={session}"))
}

/// A bare actix server returning fixed bytes: the floor any handler sits on.
fn spawn_baseline(body: Vec<u8>) -> anyhow::Result<u16> {
    spawn_static(Vec::new(), Some(("application/json; charset=utf-8", body)))
}

/// A bare actix server answering each path in `routes` with its fixed
/// (content type, bytes), any other path with `fallback` or 404.
fn spawn_static(
    routes: Vec<(String, &'static str, Vec<u8>)>,
    fallback: Option<(&'static str, Vec<u8>)>,
) -> anyhow::Result<u16> {
    type Reply = (&'static str, Arc<Vec<u8>>);
    let port = free_port()?;
    let routes: Arc<std::collections::HashMap<String, Reply>> =
        Arc::new(routes.into_iter().map(|(path, ct, body)| (path, (ct, Arc::new(body)))).collect());
    let fallback: Option<Reply> = fallback.map(|(ct, body)| (ct, Arc::new(body)));
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let server = actix_web::HttpServer::new(move || {
                let (routes, fallback) = (routes.clone(), fallback.clone());
                actix_web::App::new().default_service(actix_web::web::to(move |req: actix_web::HttpRequest| {
                    let reply = routes.get(req.path()).cloned().or_else(|| fallback.clone());
                    async move {
                        match reply {
                            Some((ct, body)) => {
                                actix_web::HttpResponse::Ok().content_type(ct).body(body.as_ref().clone())
                            }
                            None => actix_web::HttpResponse::NotFound().finish(),
                        }
                    }
                }))
            })
            .workers(2)
            .bind(("127.0.0.1", port));
            let server = match server {
                Ok(s) => s.run(),
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            };
            let _ = tx.send(Ok(()));
            let _ = server.await;
        })
    });
    rx.recv()?.context("binding the baseline server")?;
    Ok(port)
}

/// Fetches `path` of `base` with `cookie`: the bytes a baseline serves.
async fn fetch_bytes(client: &reqwest::Client, base: &str, path: &str, cookie: &str) -> anyhow::Result<Vec<u8>> {
    let r = client.get(format!("{base}{path}")).header("cookie", cookie).send().await?;
    if !r.status().is_success() {
        bail!("GET {path}: {}", r.status());
    }
    Ok(r.bytes().await?.to_vec())
}

/// First contentful paint in headless Chromium of the machines page and a
/// machine page, each beside the same bytes from a bare handler; `None`
/// without a browser.
async fn browser_figures(
    client: &reqwest::Client,
    base: &str,
    cookie: &str,
    machine_path: &str,
) -> anyhow::Result<Option<Vec<(String, crate::bench_browser::Paint, crate::bench_browser::Paint)>>> {
    let Some(browser) = crate::bench_browser::Chromium::start().await? else { return Ok(None) };
    let measured = async {
        browser.set_cookie(base, cookie).await?;
        let mut out = Vec::new();
        for (label, path) in [("/MAAS/r/machines", "/MAAS/r/machines"), ("/MAAS/r/machine/{id}", machine_path)] {
            let ours = browser.paint(&format!("{base}{path}"), 5).await?;
            let routes = vec![
                (path.to_string(), "text/html; charset=utf-8", fetch_bytes(client, base, path, cookie).await?),
                (
                    "/MAAS/r/static/ui.css".into(),
                    "text/css",
                    fetch_bytes(client, base, "/MAAS/r/static/ui.css", cookie).await?,
                ),
                (
                    "/MAAS/r/static/ui.js".into(),
                    "text/javascript",
                    fetch_bytes(client, base, "/MAAS/r/static/ui.js", cookie).await?,
                ),
            ];
            let bport = spawn_static(routes, None)?;
            let floor = browser.paint(&format!("http://127.0.0.1:{bport}{path}"), 5).await?;
            out.push((label.to_string(), ours, floor));
        }
        Ok::<_, anyhow::Error>(out)
    }
    .await;
    browser.close().await;
    measured.map(Some)
}

/// Fires `total` POSTs with at most `concurrency` in flight; returns wall
/// time and each (status, body).
async fn burst(
    client: &reqwest::Client,
    url: &str,
    auth: Option<&Key>,
    total: usize,
    concurrency: usize,
) -> anyhow::Result<(Duration, Vec<(u16, String)>)> {
    use futures_util::stream::{self, StreamExt};
    let t = Instant::now();
    let results: Vec<anyhow::Result<(u16, String)>> = stream::iter(0..total)
        .map(|_| {
            let mut rb = client.post(url);
            if let Some(k) = auth {
                rb = rb.header("authorization", k.header());
            }
            async move {
                let r = rb.send().await?;
                let s = r.status().as_u16();
                Ok((s, r.text().await?))
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let elapsed = t.elapsed();
    Ok((elapsed, results.into_iter().collect::<anyhow::Result<Vec<_>>>()?))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

pub fn run(opts: Options) -> anyhow::Result<()> {
    if opts.ready > opts.machines {
        bail!("--ready must not exceed --machines");
    }
    let dir = tempfile::tempdir()?;
    let db_url = opts.database.clone().unwrap_or_else(|| format!("sqlite://{}", dir.path().join("bench.db").display()));
    println!(
        "ironpool bench: {} machines, {} Ready, {} allocations ({} in flight), database {}",
        opts.machines,
        opts.ready,
        opts.allocations,
        opts.concurrency,
        if db_url.starts_with("postgres") { "PostgreSQL" } else { "SQLite" }
    );
    // The region spawned below finds this key in its data directory.
    let key = ironpool_region::db::secrets::SecretsKey::load_or_create(&dir.path().join("secrets.key"))?;
    let db = ironpool_region::db::at_rest::open(&db_url, 4, key)?;
    let (admin, user) = seed(&db, opts.machines, opts.ready)?;
    drop(db);

    let port = free_port()?;
    let mut region = spawn_region(&db_url, dir.path(), port)?;
    let result = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?.block_on(async {
        let client = reqwest::Client::builder().pool_max_idle_per_host(256).build()?;
        let base = format!("http://127.0.0.1:{port}");
        wait_up(&client, &base).await?;
        let api = format!("{base}/MAAS/api/2.0/");

        let (full, full_size) = timed_get(&client, &format!("{api}machines/"), Some(&admin), 3).await?;
        let full_body = client.get(format!("{api}machines/")).header("authorization", admin.header()).send().await?.bytes().await?;
        let (filtered, _) = timed_get(&client, &format!("{api}machines/?hostname=bench-{:05}", opts.machines / 2), Some(&admin), 20).await?;
        let (filtered_tag, tag_size) = timed_get(&client, &format!("{api}machines/?tags=tag1&status=ready&zone=default"), Some(&admin), 5).await?;
        let (paged, page_size) = timed_get(&client, &format!("{api}machines/?limit=100"), Some(&admin), 20).await?;

        // Baselines: the same bytes from a bare handler.
        let bport = spawn_baseline(full_body.to_vec())?;
        let burl = format!("http://127.0.0.1:{bport}/");
        wait_up(&client, &format!("http://127.0.0.1:{bport}")).await.ok();
        let (base_full, _) = timed_get(&client, &burl, None, 3).await?;
        let one_machine = {
            let v: serde_json::Value = serde_json::from_slice(&full_body)?;
            serde_json::to_vec(&v[0])?
        };
        let bport_one = spawn_baseline(one_machine)?;
        let burl_one = format!("http://127.0.0.1:{bport_one}/");
        let (base_one, _) = timed_get(&client, &burl_one, None, 20).await?;

        // The web UI: first page of the machines table, a filtered page, one
        // machine's page (server time as the client sees it, median of 20).
        let cookie = vec![("cookie", ui_login(&base, "bench-admin", "x").await?)];
        let (ui_first, ui_first_size) = timed_get_with(&client, &format!("{base}/MAAS/r/machines"), &cookie, 20).await?;
        let (ui_filtered, ui_filtered_size) =
            timed_get_with(&client, &format!("{base}/MAAS/r/machines?q=status%3Aready+tags%3Atag1"), &cookie, 20).await?;
        let first_sid = {
            let v: serde_json::Value = serde_json::from_slice(&full_body)?;
            v[opts.machines / 2]["system_id"].as_str().context("system_id")?.to_string()
        };
        let (ui_machine, ui_machine_size) =
            timed_get_with(&client, &format!("{base}/MAAS/r/machine/{first_sid}"), &cookie, 20).await?;
        let paints = browser_figures(&client, &base, &cookie[0].1, &format!("/MAAS/r/machine/{first_sid}")).await?;

        // Allocation burst: more callers than Ready machines.
        let (alloc_time, results) = burst(&client, &format!("{api}machines/?op=allocate"), Some(&user), opts.allocations, opts.concurrency).await?;
        let mut won = std::collections::HashSet::new();
        let mut conflicts = 0;
        for (status, body) in &results {
            match status {
                200 => {
                    let v: serde_json::Value = serde_json::from_str(body)?;
                    let sid = v["system_id"].as_str().context("system_id")?.to_string();
                    if !won.insert(sid.clone()) {
                        bail!("machine {sid} was allocated twice");
                    }
                }
                409 => conflicts += 1,
                other => bail!("allocate answered {other}: {body}"),
            }
        }
        let expected = opts.ready.min(opts.allocations);
        if won.len() != expected {
            bail!("{} allocations succeeded, expected {expected}", won.len());
        }
        let (base_burst, _) = burst(&client, &burl_one, None, opts.allocations, opts.concurrency).await?;
        let rss = peak_rss_mib(region.id());

        println!();
        println!("| measurement | Ironpool | baseline (bare handler, same bytes) | ratio |");
        println!("|---|---|---|---|");
        println!("| GET machines/ ({} machines, {:.1} MB body), median of 3 | {:.0} ms | {:.1} ms | {:.1}x |",
            opts.machines, full_size as f64 / 1e6, ms(full), ms(base_full), ms(full) / ms(base_full));
        println!("| GET machines/?hostname=… (1 result), median of 20 | {:.2} ms | {:.2} ms | {:.1}x |",
            ms(filtered), ms(base_one), ms(filtered) / ms(base_one));
        println!("| GET machines/?tags=tag1&status=ready&zone=default ({:.0} kB), median of 5 | {:.0} ms | — | — |",
            tag_size as f64 / 1e3, ms(filtered_tag));
        println!("| GET machines/?limit=100 ({:.0} kB), median of 20 | {:.1} ms | — | — |", page_size as f64 / 1e3, ms(paged));
        println!("| UI /MAAS/r/machines, first page of 50 grouped by status ({:.0} kB), median of 20 | {:.1} ms | — | — |",
            ui_first_size as f64 / 1e3, ms(ui_first));
        println!("| UI /MAAS/r/machines?q=status:ready tags:tag1 ({:.0} kB), median of 20 | {:.1} ms | — | — |",
            ui_filtered_size as f64 / 1e3, ms(ui_filtered));
        println!("| UI /MAAS/r/machine/{{id}} ({:.0} kB), median of 20 | {:.1} ms | {:.2} ms | {:.1}x |",
            ui_machine_size as f64 / 1e3, ms(ui_machine), ms(base_one), ms(ui_machine) / ms(base_one));
        match &paints {
            Some(paints) => {
                for (label, ours, floor) in paints {
                    println!(
                        "| UI {label} first contentful paint in headless Chromium (first byte at {:.0} ms), median of 5 | {:.0} ms | {:.0} ms | {:.1}x |",
                        ours.response_start,
                        ours.fcp,
                        floor.fcp,
                        ours.fcp / floor.fcp
                    );
                }
            }
            None => println!("| UI first paint in headless Chromium | skipped: no chromedriver | — | — |"),
        }
        let rate = results.len() as f64 / alloc_time.as_secs_f64();
        let base_rate = opts.allocations as f64 / base_burst.as_secs_f64();
        println!("| {} allocate calls over {} Ready ({} in flight) | {:.0} calls/s ({} won, {} got 409, none twice) | {:.0} calls/s | {:.2}x |",
            opts.allocations, opts.ready, opts.concurrency, rate, won.len(), conflicts, base_rate, base_rate / rate);
        match rss {
            Some(r) => println!("| region peak RSS (VmHWM) | {r:.0} MiB | — | — |"),
            None => println!("| region peak RSS | unavailable (no /proc) | — | — |"),
        }
        Ok::<(), anyhow::Error>(())
    });
    let _ = Command::new("kill").args(["-TERM", &region.id().to_string()]).status();
    let _ = region.wait();
    result
}
