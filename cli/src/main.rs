//! The `ironpool` command: runs the region, the rack controller, or both, and
//! performs the administrative tasks MAAS's `maas` command-line does
//! (`createadmin`, `apikey`, `migrate`).

mod bench;
mod bench_browser;
mod images;
mod rack;
mod secrets;
mod settings;
mod storm;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use ironpool_region::db::{self, tokens, users, Datastore};
use ironpool_region::engine::accounts::{self, UserInput};
use ironpool_region::{server, RegionConfig};

use settings::{CommonArgs, Settings};

#[derive(Parser, Debug)]
#[command(name = "ironpool", version, about = "A MAAS-compatible bare-metal cloud")]
struct Cli {
    #[command(flatten)]
    common: CommonArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the region API server.
    Region,
    /// Run a rack controller (DHCP, TFTP, HTTP boot, BMC power).
    Rack {
        /// Region URL(s) to connect to, comma-separated (tried in turn).
        #[arg(long, env = "IRONPOOL_REGION_URL", value_delimiter = ',', required = true)]
        region_url: Vec<String>,
        /// The region's shared rack secret (`ironpool secret` on the region).
        /// Visible to other users in `ps`: prefer --secret-file or the
        /// environment variable.
        #[arg(long, env = "IRONPOOL_SECRET", hide_env_values = true)]
        secret: Option<String>,
        /// A file holding the rack secret (e.g. a copy of the region's
        /// `<data-dir>/secret`, mode 0600).
        #[arg(long, env = "IRONPOOL_SECRET_FILE", conflicts_with = "secret")]
        secret_file: Option<std::path::PathBuf>,
        /// SHA-256 fingerprint(s) of the region's TLS certificate, for
        /// https:// region URLs (`ironpool certificate` on the region prints
        /// it). Without one the rack pins the certificate it sees at its
        /// first registration and refuses any other afterwards.
        #[arg(long, env = "IRONPOOL_REGION_FINGERPRINT", value_delimiter = ',')]
        region_fingerprint: Vec<String>,
        /// Where the rack keeps its identity, cached configuration, leases and boot files.
        #[arg(long, env = "IRONPOOL_RACK_DATA_DIR", default_value = "/var/lib/ironpool-rack")]
        rack_data_dir: std::path::PathBuf,
        /// HTTP boot server address ("off" disables it).
        #[arg(long, env = "IRONPOOL_RACK_HTTP_LISTEN", default_value = "0.0.0.0:5248")]
        http_listen: String,
        /// TFTP server address ("off" disables it).
        #[arg(long, env = "IRONPOOL_RACK_TFTP_LISTEN", default_value = "0.0.0.0:69")]
        tftp_listen: String,
        /// DHCP server address ("off" disables it); it serves only VLANs the region enables.
        #[arg(long, env = "IRONPOOL_RACK_DHCP_LISTEN", default_value = "0.0.0.0:67")]
        dhcp_listen: String,
        /// DHCPv6 server address ("off" disables it); it serves only the
        /// IPv6 subnets of VLANs the region enables DHCP on.
        #[arg(long, env = "IRONPOOL_RACK_DHCP6_LISTEN", default_value = "[::]:547")]
        dhcp6_listen: String,
        /// Bind DHCP (and DHCPv6) to this interface.
        #[arg(long, env = "IRONPOOL_RACK_DHCP_INTERFACE")]
        dhcp_interface: Option<String>,
        /// Prometheus metrics address, `GET /metrics` ("off" disables it;
        /// MAAS's rack port, on loopback: expose it deliberately).
        #[arg(long, env = "IRONPOOL_RACK_METRICS_LISTEN", default_value = "127.0.0.1:5249")]
        metrics_listen: String,
    },
    /// Print the shared secret racks use to join this region (like MAAS's
    /// /var/lib/maas/secret); created on the region's first start.
    Secret,
    /// Print the SHA-256 fingerprint of the region's HTTPS certificate (what
    /// racks pin with --region-fingerprint) and where it is; makes the
    /// self-signed certificate if the region has none yet.
    Certificate {
        /// Print the certificate itself (PEM), for clients' CA bundles.
        #[arg(long)]
        pem: bool,
    },
    /// Run region and rack in one process (the single-machine default).
    Serve,
    /// `serve` with a ready administrator account, for trying Ironpool out.
    Demo {
        /// Username of the demo administrator.
        #[arg(long, default_value = "admin")]
        admin_username: String,
        /// Password of the demo administrator (random when absent).
        #[arg(long, env = "IRONPOOL_DEMO_PASSWORD", hide_env_values = true)]
        admin_password: Option<String>,
        /// Simulated machines (virtual BMC + in-process agent) to create;
        /// they commission to Ready by themselves.
        #[arg(long, default_value_t = 10)]
        machines: usize,
        /// Pause of a simulated machine before each step of a boot, in
        /// milliseconds (a real boot takes minutes; the demo a few seconds).
        #[arg(long, default_value_t = 2000, env = "IRONPOOL_DEMO_STEP_DELAY_MS")]
        step_delay_ms: u64,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Copy the SQLite database into FILE, consistently, while the region
    /// runs. Keep the secrets key with it: the backup is useless without it.
    /// (PostgreSQL: pg_dump, see docs/operations.md.)
    Backup { file: std::path::PathBuf },
    /// Put a backup made by `ironpool backup` in place as the database.
    /// Stop the region first; the secrets key saved with the backup must be
    /// at --secrets-key-file (default <data-dir>/secrets.key).
    Restore {
        file: std::path::PathBuf,
        /// Replace an existing database.
        #[arg(long)]
        force: bool,
    },
    /// Create an administrator account, like `maas createadmin`.
    Createadmin {
        #[arg(long)]
        username: String,
        /// The password. Visible to other users in `ps`: prefer
        /// --password-file or the environment variable.
        #[arg(long, env = "IRONPOOL_ADMIN_PASSWORD", hide_env_values = true)]
        password: Option<String>,
        /// A file holding the password (its trailing newline is ignored).
        #[arg(long, conflicts_with = "password")]
        password_file: Option<std::path::PathBuf>,
        #[arg(long)]
        email: String,
    },
    /// Seed a throwaway region with many machines and measure list latency,
    /// allocation throughput and memory against a bare-handler baseline.
    Bench {
        #[arg(long, default_value_t = 10_000)]
        machines: usize,
        /// How many of them are Ready (allocatable).
        #[arg(long, default_value_t = 400)]
        ready: usize,
        #[arg(long, default_value_t = 500)]
        allocations: usize,
        /// Allocate calls in flight at once.
        #[arg(long, default_value_t = 500)]
        concurrency: usize,
        #[command(subcommand)]
        kind: Option<BenchKind>,
    },
    /// Print the OpenAPI document (YAML, or JSON with --json); the checked-in
    /// copy is regenerated with `ironpool openapi > openapi/openapi.yaml`.
    Openapi {
        #[arg(long)]
        json: bool,
    },
    /// Boot resources on a running region: list, upload, import.
    Images(images::ImagesArgs),
    /// Print a user's API keys (consumer_key:token_key:token_secret), like `maas apikey`.
    Apikey {
        #[arg(long)]
        username: String,
        /// Create and print a new key.
        #[arg(long, conflicts_with = "delete")]
        generate: bool,
        /// Delete this key.
        #[arg(long, value_name = "KEY")]
        delete: Option<String>,
    },
}

/// Benchmarks other than the default API one.
#[derive(Subcommand, Debug)]
enum BenchKind {
    /// A boot storm: N machines power on at once and go through DHCP, TFTP,
    /// HTTP and the metadata API against one rack until all are Ready; then
    /// the boot-file phase against tftpd-hpa.
    Storm {
        #[arg(long, default_value_t = 100)]
        machines: usize,
        /// Size of the commissioning kernel (our ephemeral environment's).
        #[arg(long, default_value_t = 8_247_232)]
        kernel_bytes: u64,
        /// Size of the commissioning initrd (our ephemeral environment's).
        #[arg(long, default_value_t = 16_460_520)]
        initrd_bytes: u64,
        /// The agent's pause before each commissioning step, in ms.
        #[arg(long, default_value_t = 0)]
        step_delay_ms: u64,
        /// Clients in the boot-file comparison with tftpd-hpa (default: as
        /// many as machines; 0 skips it).
        #[arg(long)]
        compare: Option<usize>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::resolve(&cli.common) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("ironpool: {e:#}");
            return ExitCode::from(2);
        }
    };
    init_logging(&settings.log, settings.log_format);
    if let Command::Openapi { json } = cli.command {
        let registry = ironpool_region::http::registry::Registry::new(ironpool_region::api::handlers());
        let doc = if json {
            ironpool_region::http::openapi::json(&registry)
        } else {
            ironpool_region::http::openapi::yaml(&registry)
        };
        let printed =
            doc.map_err(anyhow::Error::from).and_then(|d| print_lines(std::iter::once(d.trim_end().to_string())));
        return match printed {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("ironpool: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    if let Command::Bench {
        kind: Some(BenchKind::Storm { machines, kernel_bytes, initrd_bytes, step_delay_ms, compare }),
        ..
    } = cli.command
    {
        let opts = storm::Options {
            machines,
            database: cli.common.database.clone(),
            kernel_bytes,
            initrd_bytes,
            step_delay: std::time::Duration::from_millis(step_delay_ms),
            compare: compare.unwrap_or(machines),
        };
        return match storm::run(opts) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("ironpool bench storm: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    if let Command::Bench { machines, ready, allocations, concurrency, kind: None } = cli.command {
        let opts = bench::Options { machines, ready, allocations, concurrency, database: cli.common.database.clone() };
        return match bench::run(opts) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("ironpool bench: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    if let Command::Rack {
        region_url,
        secret,
        secret_file,
        region_fingerprint,
        rack_data_dir,
        http_listen,
        tftp_listen,
        dhcp_listen,
        dhcp6_listen,
        dhcp_interface,
        metrics_listen,
    } = cli.command
    {
        let secret = match secrets::resolve("--secret", "IRONPOOL_SECRET", secret, secret_file.as_deref(), true) {
            Ok(Some(s)) => s,
            Ok(None) => {
                eprintln!(
                    "ironpool rack: the rack secret is required: --secret-file FILE or IRONPOOL_SECRET \
                     (`ironpool secret` on the region prints it)"
                );
                return ExitCode::FAILURE;
            }
            Err(e) => {
                eprintln!("ironpool rack: {e:#}");
                return ExitCode::FAILURE;
            }
        };
        let args = rack::RackArgs {
            region_urls: region_url,
            secret,
            region_fingerprints: region_fingerprint,
            data_dir: rack_data_dir,
            http_listen,
            tftp_listen,
            dhcp_listen,
            dhcp6_listen,
            dhcp_interface,
            metrics_listen,
        };
        return match rack::run(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("ironpool rack: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    if let Command::Images(args) = cli.command {
        return match images::run(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("ironpool images: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    match run(cli.command, settings.region) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ironpool: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(filter: &str, format: settings::LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(filter));
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        // One JSON object a line, fields flattened beside `message`, for
        // log collectors; never coloured.
        settings::LogFormat::Json => builder.json().flatten_event(true).with_ansi(false).init(),
        settings::LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).init(),
    }
}

fn run(command: Command, config: RegionConfig) -> anyhow::Result<()> {
    match command {
        Command::Region => serve_region(config, None, false),
        Command::Serve => serve_region(config, None, true),
        Command::Demo { admin_username, admin_password, machines, step_delay_ms } => {
            let db = open(&config)?;
            let admin_password =
                secrets::resolve("--admin-password", "IRONPOOL_DEMO_PASSWORD", admin_password, None, false)?;
            let existing = db.blocking(|c| users::by_username(c, &admin_username))?;
            // An account from an earlier run keeps its password unless one
            // is given: the operator may have changed it, and re-running the
            // demo must not lock them out. Only what is new is printed.
            let (user, password) = match (existing, admin_password) {
                (Some(u), None) => (u, None),
                (Some(u), Some(p)) => {
                    let hash = accounts::hash_password(&p)?;
                    db.blocking(|c| users::set_password_hash(c, u.id, &hash))?;
                    (u, Some(p))
                }
                (None, given) => {
                    let p = match given {
                        Some(p) => p,
                        None => random_password()?,
                    };
                    let u = accounts::create_user_blocking(
                        &db,
                        UserInput {
                            username: admin_username.clone(),
                            email: format!("{admin_username}@ironpool.invalid"),
                            password: p.clone(),
                            is_superuser: true,
                        },
                    )?;
                    (u, Some(p))
                }
            };
            let key = db.blocking(|c| accounts::token_for_login(c, user.id, None))?.api_key();
            drop(db);
            let sim = Simulation { admin: user, machines, step_delay: std::time::Duration::from_millis(step_delay_ms) };
            serve_region(config, Some(DemoBanner { username: admin_username, password, key, sim }), true)
        }
        Command::Rack { .. } => unreachable!("handled before the region is configured"),
        Command::Secret => {
            let db = open(&config)?;
            let secret = db.blocking(ironpool_region::engine::racks::ensure_secret)?;
            print_lines(std::iter::once(secret))
        }
        Command::Certificate { pem } => {
            ironpool_region::data_dir::secure(&config.data_dir, &config.database_url)?;
            let id = ironpool_region::tls::load_or_create(&config)?;
            if pem {
                let text = std::fs::read_to_string(&id.cert_path)?;
                return print_lines(text.lines().map(str::to_string));
            }
            print_lines(
                [format!("SHA256 Fingerprint={}", id.fingerprint), format!("certificate: {}", id.cert_path.display())]
                    .into_iter(),
            )
        }
        Command::Backup { file } => {
            db::backup::sqlite_backup(&config.database_url, &file)?;
            println!("Backed up {} to {}.", redact_url(&config.database_url), file.display());
            println!(
                "Keep a copy of the secrets key {} with it: without that key the backup's BMC passwords \
                 and API keys cannot be read, and a region will not start on it.",
                config.secrets_key_path().display()
            );
            Ok(())
        }
        Command::Restore { file, force } => {
            db::backup::sqlite_restore(&file, &config.database_url, force)?;
            println!("Restored {} as {}.", file.display(), redact_url(&config.database_url));
            let key = config.secrets_key_path();
            if key.exists() {
                println!(
                    "The region will use the secrets key {}: it must be the key saved with this backup.",
                    key.display()
                );
            } else {
                println!(
                    "Put the secrets key saved with this backup at {} (or pass --secrets-key-file) \
                     before starting the region.",
                    key.display()
                );
            }
            Ok(())
        }
        Command::Migrate => {
            ironpool_region::data_dir::secure(&config.data_dir, &config.database_url)?;
            let n = db::migrate(&config.database_url)?;
            println!("Applied {n} migration(s) to {}.", redact_url(&config.database_url));
            Ok(())
        }
        Command::Createadmin { username, password, password_file, email } => {
            let password =
                secrets::resolve("--password", "IRONPOOL_ADMIN_PASSWORD", password, password_file.as_deref(), true)?
                    .ok_or_else(|| {
                        anyhow::anyhow!("a password is required: --password-file FILE or IRONPOOL_ADMIN_PASSWORD")
                    })?;
            let db = open(&config)?;
            if db.blocking(|c| users::by_username(c, &username))?.is_some() {
                anyhow::bail!("a user named '{username}' already exists");
            }
            accounts::create_user_blocking(
                &db,
                UserInput { username: username.clone(), email, password, is_superuser: true },
            )
            .map_err(friendly)?;
            println!("Created administrator '{username}'.");
            Ok(())
        }
        Command::Bench { .. } | Command::Openapi { .. } | Command::Images(_) => {
            unreachable!("handled before the region is configured")
        }
        Command::Apikey { username, generate, delete } => {
            let db = open(&config)?;
            let user = db
                .blocking(|c| users::by_username(c, &username))?
                .ok_or_else(|| anyhow::anyhow!("no user named '{username}'"))?;
            if let Some(key) = delete {
                let parsed: ironpool_common::apikey::ApiKey = key.parse()?;
                db.blocking(|c| {
                    let t = tokens::by_token_key(c, user.id, &parsed.token_key)?
                        .filter(|t| t.consumer_key == parsed.consumer_key)
                        .ok_or(ironpool_region::Error::NotFound("Token"))?;
                    tokens::delete(c, t.id)
                })
                .map_err(|_| anyhow::anyhow!("user '{username}' has no such API key"))?;
                return Ok(());
            }
            let all = if generate {
                vec![db.blocking(|c| accounts::create_token(c, user.id, accounts::DEFAULT_TOKEN_NAME))?]
            } else {
                let mut all = db.blocking(|c| tokens::for_user(c, user.id))?;
                if all.is_empty() {
                    all.push(db.blocking(|c| accounts::create_token(c, user.id, accounts::DEFAULT_TOKEN_NAME))?);
                }
                all
            };
            print_lines(all.iter().map(|t| t.api_key()))
        }
    }
}

/// Prints one line per item; a closed pipe (`| head -1`) ends quietly.
fn print_lines(lines: impl Iterator<Item = String>) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    for l in lines {
        match writeln!(out, "{l}") {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
            other => other?,
        }
    }
    Ok(())
}

struct DemoBanner {
    username: String,
    /// `None`: the account existed and keeps its password.
    password: Option<String>,
    key: String,
    sim: Simulation,
}

/// The demo's simulated machines.
struct Simulation {
    admin: users::User,
    machines: usize,
    step_delay: std::time::Duration,
}

fn serve_region(config: RegionConfig, banner: Option<DemoBanner>, with_rack: bool) -> anyhow::Result<()> {
    actix_web::rt::System::new().block_on(async move {
        let rack_dir = config.data_dir.join("rack");
        let region = server::bind(config)?;
        let url = format!("http://{}/MAAS/", display_addr(region.addr));
        tracing::info!(%url, "region listening");
        let https =
            region.tls.as_ref().map(|t| (format!("https://{}/MAAS/", display_addr(t.addr)), t.fingerprint.clone()));
        // Serving starts when the server future is polled: spawn it now, so
        // the embedded rack can register while the demo builds its site.
        let server = actix_web::rt::spawn(region.server);
        let rack = if with_rack {
            rack::adopt_region_identity(&rack_dir, &region.system_id)?;
            // The demo's rack never answers DHCP on the host's networks.
            Some(rack::start_embedded(region.addr, &region.state.rack_secret, rack_dir, banner.is_none()).await?)
        } else {
            None
        };
        if let Some(b) = &banner {
            // The machines call the region the way it listens (loopback for a wildcard bind).
            let local = if region.addr.ip().is_unspecified() {
                format!("http://127.0.0.1:{}", region.addr.port())
            } else {
                format!("http://{}", region.addr)
            };
            let rack_id = match &rack {
                Some(r) => wait_for_registration(&region.state, r).await,
                None => None,
            };
            let admin = b.sim.admin.clone();
            let site = region
                .state
                .db
                .write(move |c| ironpool_region::sim::site::ensure_site(c, &admin, rack_id.as_deref()))
                .await
                .map_err(friendly)?;
            let images = ironpool_region::sim::site::ensure_boot_resources(&region.state).await.map_err(friendly)?;
            let ids = ironpool_region::sim::ensure_machines(
                &region.state,
                &b.sim.admin,
                &local,
                b.sim.machines,
                b.sim.step_delay,
                Some(&site),
            )
            .await?;
            tracing::info!(machines = ids.len(), site_created = site.created, images, "demo site ready");
        }
        if let Some(b) = banner {
            // Written without println!: a closed stdout (a pipe whose reader
            // went away) must not take the server down.
            let mut lines = vec![
                format!("Ironpool demo is running at {url}"),
                format!("  username: {}", b.username),
                match &b.password {
                    Some(p) => format!("  password: {p}"),
                    None => "  password: unchanged (the existing account's)".to_string(),
                },
                format!("  API key:  {}", b.key),
            ];
            if let Some((https, fp)) = &https {
                lines.push(format!("  HTTPS:    {https}"));
                lines.push(format!("  certificate SHA-256: {fp}"));
            }
            lines.push(format!("Try: curl {url}api/2.0/version/"));
            let _ = print_lines(lines.into_iter());
        }
        server.await.map_err(|e| anyhow::anyhow!("the region's server task failed: {e}"))??;
        if let Some(r) = rack {
            r.stop().await;
        }
        tracing::info!("region stopped");
        Ok(())
    })
}

/// The embedded rack's system_id once the region knows it as a rack (a
/// few hundred milliseconds on loopback). Its `rack.json` may name the
/// region's node before registration, so the region's model decides, not the
/// rack's own state. `None` after 30 s: the demo goes on without DHCP on its
/// boot VLAN.
async fn wait_for_registration(
    state: &ironpool_region::http::AppState,
    rack: &ironpool_rack::link::Rack,
) -> Option<String> {
    for _ in 0..300 {
        if let Some(id) = rack.state.system_id() {
            let sid = id.clone();
            let known = state
                .db
                .run(move |c| db::nodes::by_system_id(c, &sid))
                .await
                .ok()
                .flatten()
                .is_some_and(|n| n.node_type.is_rack());
            if known {
                return Some(id);
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    tracing::warn!("the embedded rack did not register within 30 s; DHCP stays off on the demo's boot VLAN");
    None
}

fn display_addr(addr: std::net::SocketAddr) -> String {
    if addr.ip().is_unspecified() {
        format!("localhost:{}", addr.port())
    } else {
        addr.to_string()
    }
}

fn open(config: &RegionConfig) -> anyhow::Result<Datastore> {
    ironpool_region::data_dir::secure(&config.data_dir, &config.database_url)?;
    Ok(ironpool_region::db::at_rest::open(&config.database_url, 2, config.secrets_key()?)?)
}

/// Turns validation errors into one readable line for the terminal.
fn friendly(e: ironpool_region::Error) -> anyhow::Error {
    match e {
        ironpool_region::Error::Validation(fields) => anyhow::anyhow!(
            "{}",
            fields.iter().map(|(k, v)| format!("{k}: {}", v.join(" "))).collect::<Vec<_>>().join("; ")
        ),
        other => other.into(),
    }
}

fn random_password() -> anyhow::Result<String> {
    use std::io::Read;
    let mut buf = [0u8; 12];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .map_err(|e| anyhow::anyhow!("cannot read /dev/urandom for the demo password: {e}"))?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

/// Hides a password inside a database URL.
fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("****"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}
