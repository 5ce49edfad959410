//! `ipmi`: IPMI 1.5 / 2.0 (lanplus) through FreeIPMI's `ipmipower` and
//! `ipmi-chassis-config`, with MAAS's arguments (rack.md §5.1), because that
//! is what MAAS runs and it works against real BMCs and `ipmi_sim`; the native
//! Rust IPMI crates were less reliable (rack.md §7.2).
//!
//! Credentials go to the tools in a private 0600 `--config-file`, never on
//! the command line, so they do not show in `ps`. Errors printed by freeipmi
//! are mapped to [`PowerError`] kinds with MAAS's string table.

use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

use async_trait::async_trait;
use tokio::process::Command;

use crate::params::{optional, required};
use crate::{PowerAction, PowerDriver, PowerError, PowerParams, PowerState};

/// Driver settings (tool paths and timeouts), not per-machine parameters.
#[derive(Debug, Clone)]
pub struct IpmiDriver {
    pub ipmipower: String,
    pub chassis_config: String,
    /// freeipmi's `--session-timeout`: how long one session may take before
    /// the BMC counts as unreachable.
    pub session_timeout: Duration,
    /// freeipmi's `--retransmission-timeout` (its own retries within a session).
    pub retransmission_timeout: Duration,
    /// Waits before re-reading the state after a change: BMCs report a new
    /// state with a delay (MAAS waits 4, 8, 16, 32 s).
    pub settle_waits: Vec<Duration>,
}

impl Default for IpmiDriver {
    fn default() -> Self {
        IpmiDriver {
            ipmipower: "ipmipower".into(),
            chassis_config: "ipmi-chassis-config".into(),
            session_timeout: Duration::from_secs(10),
            retransmission_timeout: Duration::from_millis(1000),
            settle_waits: vec![Duration::ZERO, Duration::from_secs(1), Duration::from_secs(2), Duration::from_secs(4)],
        }
    }
}

/// The per-machine connection settings, parsed from MAAS parameters.
struct Target {
    address: String,
    user: Option<String>,
    pass: Option<String>,
    k_g: Option<String>,
    lanplus: bool,
    cipher_suite: Option<String>,
    privilege: String,
    workarounds: String,
    soft_off: bool,
    boot_type: Option<&'static str>,
}

impl Target {
    fn parse(params: &PowerParams) -> Result<Target, PowerError> {
        let address = required(params, "power_address")?.to_string();
        let lanplus = match optional(params, "power_driver").unwrap_or("LAN_2_0") {
            "LAN_2_0" => true,
            "LAN" => false,
            other => return Err(PowerError::Config(format!("power_driver must be LAN or LAN_2_0, not '{other}'"))),
        };
        let privilege = optional(params, "privilege_level").unwrap_or("OPERATOR").to_ascii_uppercase();
        if !matches!(privilege.as_str(), "USER" | "OPERATOR" | "ADMIN") {
            return Err(PowerError::Config(format!(
                "privilege_level must be USER, OPERATOR or ADMIN, not '{privilege}'"
            )));
        }
        let cipher_suite = optional(params, "cipher_suite_id").map(str::to_string);
        if let Some(c) = &cipher_suite {
            if !c.chars().all(|ch| ch.is_ascii_digit()) {
                return Err(PowerError::Config(format!("cipher_suite_id must be a number, not '{c}'")));
            }
        }
        // MAAS stores workaround flags as a list; accept commas or spaces.
        let workarounds = optional(params, "workaround_flags")
            .unwrap_or("opensesspriv")
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(",");
        if workarounds.chars().any(|c| !(c.is_ascii_alphanumeric() || c == ',')) {
            return Err(PowerError::Config("workaround_flags may only contain flag names".into()));
        }
        let boot_type = match optional(params, "power_boot_type").unwrap_or("auto") {
            "efi" => Some("EFI"),
            "legacy" => Some("PC-COMPATIBLE"),
            _ => None,
        };
        Ok(Target {
            address,
            user: optional(params, "power_user").map(str::to_string),
            pass: params.get("power_pass").filter(|p| !p.is_empty()).cloned(),
            k_g: optional(params, "k_g").map(str::to_string),
            lanplus,
            cipher_suite,
            privilege,
            workarounds,
            soft_off: optional(params, "power_off_mode") == Some("soft"),
            boot_type,
        })
    }
}

/// A credentials file for freeipmi's `--config-file`, removed on drop.
struct CredFile {
    file: tempfile::NamedTempFile,
}

impl CredFile {
    fn new(t: &Target, with_kg: bool) -> Result<CredFile, PowerError> {
        let io = |e: std::io::Error| PowerError::Other {
            target: t.address.clone(),
            detail: format!("cannot write the freeipmi credentials file: {e}"),
        };
        // NamedTempFile is created 0600 in the temp directory.
        let mut file = tempfile::Builder::new().prefix("ironpool-ipmi-").tempfile().map_err(io)?;
        let mut text = String::new();
        for (key, value) in
            [("username", &t.user), ("password", &t.pass), ("k_g", if with_kg { &t.k_g } else { &None })]
        {
            if let Some(v) = value {
                // freeipmi's config format is whitespace separated, one key per line.
                if v.chars().any(|c| c.is_whitespace() || c == '#') {
                    return Err(PowerError::Config(format!(
                        "{key} contains whitespace or '#', which freeipmi's credentials file cannot carry"
                    )));
                }
                text.push_str(&format!("{key} {v}\n"));
            }
        }
        file.write_all(text.as_bytes()).map_err(io)?;
        file.flush().map_err(io)?;
        Ok(CredFile { file })
    }
}

/// What one freeipmi run reported.
enum Outcome {
    State(PowerState),
    Ok,
}

impl IpmiDriver {
    fn common_args(&self, t: &Target, creds: &CredFile) -> Vec<String> {
        let mut a = vec![
            "--driver-type".to_string(),
            if t.lanplus { "LAN_2_0" } else { "LAN" }.to_string(),
            "-h".into(),
            t.address.clone(),
            "--config-file".into(),
            creds.file.path().display().to_string(),
            "-l".into(),
            t.privilege.clone(),
        ];
        if t.lanplus {
            if let Some(c) = &t.cipher_suite {
                a.push("-I".into());
                a.push(c.clone());
            }
        }
        if !t.workarounds.is_empty() {
            a.push("-W".into());
            a.push(t.workarounds.clone());
        }
        a.push(format!("--session-timeout={}", self.session_timeout.as_millis()));
        a.push(format!("--retransmission-timeout={}", self.retransmission_timeout.as_millis()));
        a
    }

    /// Runs a freeipmi tool; returns its stdout, or the mapped error.
    async fn run(&self, program: &str, args: Vec<String>, t: &Target) -> Result<String, PowerError> {
        let mut cmd = Command::new(program);
        cmd.args(&args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
        let child = cmd.spawn().map_err(|e| PowerError::Other {
            target: t.address.clone(),
            detail: format!("cannot run {program}: {e} (is freeipmi-tools installed?)"),
        })?;
        // freeipmi enforces its session timeout; ours only catches a hung tool.
        let limit = self.session_timeout + Duration::from_secs(5);
        let out = match tokio::time::timeout(limit, child.wait_with_output()).await {
            Ok(Ok(out)) => out,
            Ok(Err(e)) => {
                return Err(PowerError::Other { target: t.address.clone(), detail: format!("{program} failed: {e}") })
            }
            Err(_) => {
                return Err(PowerError::Timeout {
                    target: t.address.clone(),
                    detail: format!("{program} did not finish within {limit:?}"),
                })
            }
        };
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        // ipmipower prints errors on stdout ("host: password invalid"), other
        // tools on stderr; look at both.
        if let Some(err) = classify(&t.address, &format!("{stdout}\n{stderr}")) {
            return Err(err);
        }
        if !out.status.success() {
            let detail = first_line(&stderr).or_else(|| first_line(&stdout)).unwrap_or("no output");
            return Err(PowerError::Other {
                target: t.address.clone(),
                detail: format!("{program} exited with {}: {detail}", out.status),
            });
        }
        Ok(stdout)
    }

    async fn ipmipower(&self, t: &Target, op: &[&str]) -> Result<Outcome, PowerError> {
        let mut k_g = t.k_g.is_some();
        loop {
            let creds = CredFile::new(t, k_g)?;
            let mut args = self.common_args(t, &creds);
            args.extend(op.iter().map(|s| s.to_string()));
            match self.run(&self.ipmipower, args, t).await {
                // MAAS retries without K_g when the BMC rejects it: many BMCs
                // have none set even when the operator entered one.
                Err(PowerError::Auth { detail, .. }) if k_g && detail.contains("k_g") => {
                    tracing::info!(bmc = %t.address, "BMC rejected k_g; retrying without it");
                    k_g = false;
                }
                Err(e) => return Err(e),
                Ok(stdout) => return parse_ipmipower(&t.address, &stdout),
            }
        }
    }

    async fn query(&self, t: &Target) -> Result<PowerState, PowerError> {
        match self.ipmipower(t, &["--stat"]).await? {
            Outcome::State(s) => Ok(s),
            Outcome::Ok => Ok(PowerState::Unknown),
        }
    }

    /// Sets a one-time PXE boot, as MAAS does before every power on.
    async fn set_pxe_boot(&self, t: &Target) -> Result<(), PowerError> {
        let mut section = String::from("Section Chassis_Boot_Flags\n\tBoot_Flags_Persistent No\n");
        if let Some(bt) = t.boot_type {
            section.push_str(&format!("\tBIOS_Boot_Type {bt}\n"));
        }
        section.push_str("\tBoot_Device PXE\nEndSection\n");
        let mut file = tempfile::Builder::new().prefix("ironpool-bootcfg-").tempfile().map_err(|e| {
            PowerError::Other { target: t.address.clone(), detail: format!("cannot write the boot config file: {e}") }
        })?;
        file.write_all(section.as_bytes()).map_err(|e| PowerError::Other {
            target: t.address.clone(),
            detail: format!("cannot write the boot config file: {e}"),
        })?;
        let creds = CredFile::new(t, t.k_g.is_some())?;
        let mut args = self.common_args(t, &creds);
        args.extend(["--commit".to_string(), "--filename".into(), file.path().display().to_string()]);
        self.run(&self.chassis_config, args, t).await.map(|_| ())
    }

    /// Re-reads the state until it is `want` or the settle waits run out.
    async fn settle(&self, t: &Target, want: PowerState) -> Result<PowerState, PowerError> {
        let mut last = PowerState::Unknown;
        for wait in &self.settle_waits {
            tokio::time::sleep(*wait).await;
            last = self.query(t).await?;
            if last == want {
                break;
            }
        }
        Ok(last)
    }

    async fn ensure_on(&self, t: &Target) -> Result<PowerState, PowerError> {
        // MAAS: "cycle, or on if off" so a running machine reboots into PXE.
        self.ipmipower(t, &["--cycle", "--on-if-off"]).await?;
        let state = self.query(t).await?;
        if state == PowerState::Off {
            // Some BMCs (ipmi_sim among them) leave the chassis off after a
            // cycle; the caller asked for "on".
            self.ipmipower(t, &["--on"]).await?;
        }
        self.settle(t, PowerState::On).await
    }
}

#[async_trait]
impl PowerDriver for IpmiDriver {
    fn power_type(&self) -> &'static str {
        "ipmi"
    }

    async fn act(&self, action: PowerAction, params: &PowerParams) -> Result<Option<PowerState>, PowerError> {
        let t = Target::parse(params)?;
        tracing::debug!(bmc = %t.address, %action, "ipmi power action");
        let state = match action {
            PowerAction::Query => self.query(&t).await?,
            PowerAction::On => {
                if let Err(e) = self.set_pxe_boot(&t).await {
                    // Credentials or reachability problems will show in the
                    // power command too; a BMC that refuses boot flags should
                    // still be powered on, as MAAS does.
                    if !matches!(e, PowerError::Other { .. }) {
                        return Err(e);
                    }
                    tracing::warn!(bmc = %t.address, error = %e, "could not set PXE boot; powering on anyway");
                }
                self.ensure_on(&t).await?
            }
            PowerAction::Cycle => self.ensure_on(&t).await?,
            PowerAction::Off => {
                self.ipmipower(&t, &[if t.soft_off { "--soft" } else { "--off" }]).await?;
                self.settle(&t, PowerState::Off).await?
            }
        };
        Ok(Some(state))
    }
}

fn first_line(s: &str) -> Option<&str> {
    s.lines().map(str::trim).find(|l| !l.is_empty())
}

/// MAAS's table of freeipmi error strings, by kind.
fn classify(target: &str, output: &str) -> Option<PowerError> {
    const AUTH: &[&str] = &[
        "username invalid",
        "password invalid",
        "k_g invalid",
        "privilege level insufficient",
        "privilege level cannot be obtained for this user",
        "password verification timeout",
    ];
    const TIMEOUT: &[&str] = &["connection timeout", "session timeout", "driver timeout", "message timeout"];
    const SETTINGS: &[&str] = &[
        "cipher suite id unavailable",
        "ipmi 2.0 unavailable",
        "authentication type unavailable for attempted privilege level",
        "device not found",
    ];
    const UNREACHABLE: &[&str] = &["hostname invalid", "host not found", "connection refused", "network unreachable"];
    let lower = output.to_ascii_lowercase();
    let detail = |needle: &str| {
        // Report freeipmi's own line; it names the host and the problem.
        output
            .lines()
            .find(|l| l.to_ascii_lowercase().contains(needle))
            .map(|l| l.trim().to_string())
            .unwrap_or_else(|| needle.to_string())
    };
    let hit = |list: &[&str]| list.iter().find(|n| lower.contains(*n)).map(|n| detail(n));
    let target = target.to_string();
    if let Some(d) = hit(AUTH) {
        return Some(PowerError::Auth { target, detail: d });
    }
    if let Some(d) = hit(TIMEOUT) {
        return Some(PowerError::Timeout { target, detail: d });
    }
    if let Some(d) = hit(UNREACHABLE) {
        return Some(PowerError::Unreachable { target, detail: d });
    }
    if let Some(d) = hit(SETTINGS) {
        return Some(PowerError::Other {
            target,
            detail: format!("{d} (check power_driver, cipher_suite_id and privilege_level)"),
        });
    }
    if lower.contains("internal ipmi error") {
        return Some(PowerError::Other { target, detail: detail("internal ipmi error") });
    }
    None
}

/// Reads ipmipower's "<host>: <status>" line.
fn parse_ipmipower(target: &str, stdout: &str) -> Result<Outcome, PowerError> {
    for line in stdout.lines() {
        let Some((_, status)) = line.rsplit_once(": ") else { continue };
        match status.trim() {
            "on" => return Ok(Outcome::State(PowerState::On)),
            "off" => return Ok(Outcome::State(PowerState::Off)),
            "ok" => return Ok(Outcome::Ok),
            _ => {}
        }
    }
    Err(PowerError::Other {
        target: target.to_string(),
        detail: format!("unexpected ipmipower output: {}", first_line(stdout).unwrap_or("(none)")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn freeipmi_errors_map_to_kinds() {
        assert!(matches!(classify("h", "127.0.0.1: password invalid\n"), Some(PowerError::Auth { .. })));
        assert!(matches!(classify("h", "127.0.0.1: connection timeout\n"), Some(PowerError::Timeout { .. })));
        assert!(matches!(classify("h", "x: hostname invalid"), Some(PowerError::Unreachable { .. })));
        assert!(classify("h", "127.0.0.1: on\n").is_none());
        assert!(matches!(parse_ipmipower("h", "127.0.0.1: on\n"), Ok(Outcome::State(PowerState::On))));
        assert!(matches!(parse_ipmipower("h", "127.0.0.1: ok\n"), Ok(Outcome::Ok)));
        assert!(parse_ipmipower("h", "garbage").is_err());
    }

    #[test]
    fn parameters_are_checked() {
        let p = |pairs: &[(&str, &str)]| -> PowerParams {
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
        };
        assert!(Target::parse(&p(&[])).is_err());
        assert!(Target::parse(&p(&[("power_address", "h"), ("power_driver", "SSH")])).is_err());
        assert!(Target::parse(&p(&[("power_address", "h"), ("workaround_flags", "a;rm -rf")])).is_err());
        let t = Target::parse(&p(&[("power_address", "h"), ("workaround_flags", "opensesspriv, authcap")])).unwrap();
        assert_eq!(t.workarounds, "opensesspriv,authcap");
        assert!(t.lanplus);
        assert_eq!(t.privilege, "OPERATOR");
    }
}
