//! `ironpool-agent`: runs in the ephemeral environment after a network boot.
//! Reads `cloud-config-url=` from /proc/cmdline (or the first argument),
//! collects this machine's inventory from /proc and /sys, and does what the
//! preseed's phase asks (see the library docs). `--inventory` prints the
//! inventory instead; `--bmc-config [ARGS]` configures the BMC as the
//! built-in script `30-maas-01-bmc-config` does and writes the credentials
//! as YAML to `$BMC_CONFIG_PATH` (MAAS's runner's contract), never to the
//! output.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use ironpool_agent::{client, inventory, lshw, Agent};

fn main() -> ExitCode {
    // `--inventory`: print this machine's inventory (what the built-in
    // script 50-maas-01-commissioning runs outside the agent).
    if std::env::args().nth(1).as_deref() == Some("--inventory") {
        return match serde_json::to_string_pretty(&inventory::collect(Path::new("/"))) {
            Ok(doc) => {
                println!("{doc}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("ironpool-agent: {e}");
                ExitCode::FAILURE
            }
        };
    }
    if std::env::args().nth(1).as_deref() == Some("--bmc-config") {
        let args: Vec<String> = std::env::args().skip(2).collect();
        let out = ironpool_agent::bmc::run(&args);
        use std::io::Write;
        let _ = std::io::stdout().write_all(&out.stdout);
        let _ = std::io::stderr().write_all(&out.stderr);
        if let (Some((ty, params)), Ok(path)) = (&out.power, std::env::var("BMC_CONFIG_PATH")) {
            let mut doc = serde_json::Map::new();
            doc.insert("power_type".into(), serde_json::Value::from(ty.clone()));
            if let Some(p) = params.as_object() {
                doc.extend(p.clone());
            }
            // JSON is YAML: MAAS's runner reads this with yaml.safe_load.
            if let Err(e) = std::fs::write(&path, serde_json::Value::Object(doc).to_string()) {
                eprintln!("ERROR: cannot write {path}: {e}");
                return ExitCode::FAILURE;
            }
        }
        return ExitCode::from(u8::try_from(out.exit_status).unwrap_or(1));
    }
    let url = std::env::args()
        .nth(1)
        .or_else(|| std::fs::read_to_string("/proc/cmdline").ok().and_then(|c| client::cloud_config_url(&c)));
    let Some(url) = url else {
        eprintln!("ironpool-agent: no cloud-config-url= on the kernel command line and none given");
        return ExitCode::from(2);
    };
    let inv = inventory::collect(Path::new("/"));
    let agent = Agent {
        details: lshw::collect(Path::new("/"), &inv),
        inventory: inv,
        // The BMC, if any, is detected by the commissioning that follows
        // enlistment (30-maas-01-bmc-config), which reports its credentials.
        power_type: "manual".into(),
        power_parameters: serde_json::json!({}),
        step_delay: Duration::ZERO,
        writes_disks: true,
        scripts: ironpool_agent::scripts::Mode::Machine,
    };
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ironpool-agent: {e}");
            return ExitCode::FAILURE;
        }
    };
    let http = match client::try_http_client() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ironpool-agent: cannot set up HTTP: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(agent.boot(&http, &url)) {
        Ok(outcome) => {
            println!("ironpool-agent: {outcome:?}");
            // /init powers off after exit code 0; after an install it
            // reboots instead (into the disk, the rack now says local
            // boot), and an ephemeral deployment switches to the image's
            // root in memory.
            let next = match outcome {
                ironpool_agent::Outcome::Installed { .. } => Some("reboot\n"),
                ironpool_agent::Outcome::InMemory { .. } => Some("switch_root\n"),
                _ => None,
            };
            if let Some(next) = next {
                let _ = std::fs::write("/run/ironpool-next", next);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("ironpool-agent: {e}");
            ExitCode::FAILURE
        }
    }
}
