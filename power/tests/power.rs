//! Power drivers against real peers: OpenIPMI's `ipmi_sim` through freeipmi,
//! and the sushy-tools Redfish emulator with its fake driver.

// Tests fail by panicking: unwrap/expect are how they assert.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use ironpool_power::ipmi::IpmiDriver;
use ironpool_power::redfish::RedfishDriver;
use ironpool_power::{PowerAction, PowerDriver, PowerError, PowerParams, PowerState};

fn params(pairs: &[(&str, &str)]) -> PowerParams {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// ipmi_sim with the tested config from peers.md §1.1 on a free port.
fn start_ipmi_sim(dir: &Path, port: u16) -> ChildGuard {
    let sim = need_program("ipmi_sim");
    need_program("ipmipower");
    let d = dir.display();
    std::fs::write(
        dir.join("lan.conf"),
        format!(
            r#"name "testbmc"
set_working_mc 0x20
  startlan 1
    addr 127.0.0.1 {port}
    priv_limit admin
    allowed_auths_callback none md2 md5 straight
    allowed_auths_user none md2 md5 straight
    allowed_auths_operator none md2 md5 straight
    allowed_auths_admin none md2 md5 straight
    guid a123456789abcdefa123456789abcdef
  endlan
  chassis_control "{d}/chassis.sh 0x20"
  user 1 true  ""      "test"     user  10 none md2 md5 straight
  user 2 true  "admin" "password" admin 10 none md2 md5 straight
"#
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("bmc.emu"),
        "mc_setbmc 0x20\nmc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr\n\
         sel_enable 0x20 1000 0x0a\nmc_enable 0x20\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("chassis.sh"),
        r#"#!/bin/sh
dir=$(dirname "$0"); shift; op=$1; shift
case $op in
  get) for p in "$@"; do case $p in
         power) echo "power:$(cat $dir/power 2>/dev/null || echo 0)";;
         boot)  echo "boot:$(cat $dir/boot 2>/dev/null || echo default)";;
         *) echo "Invalid parameter: $p"; exit 1;; esac; done;;
  set) while [ $# -gt 0 ]; do p=$1; v=$2; shift 2; case $p in
         power) echo "$v" > $dir/power;;  boot) echo "$v" > $dir/boot;;
         shutdown) echo 0 > $dir/power;;  reset) ;;  identify) shift;;
         *) echo "Invalid parameter: $p"; exit 1;; esac
         echo "$(date +%s) set $p $v" >> $dir/chassis.log; done;;
  *) exit 1;;
esac
"#,
    )
    .unwrap();
    Command::new("chmod").arg("755").arg(dir.join("chassis.sh")).status().unwrap();
    std::fs::create_dir_all(dir.join("state")).unwrap();
    let log = std::fs::File::create(dir.join("sim.log")).unwrap();
    let child = spawn(
        Command::new(sim)
            .arg("-c")
            .arg(dir.join("lan.conf"))
            .arg("-f")
            .arg(dir.join("bmc.emu"))
            .arg("-s")
            .arg(dir.join("state"))
            .arg("-n")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log),
    );
    // Ready when freeipmi gets an answer (the limit only bounds a failing
    // start; a loaded machine just takes longer).
    let ready = wait_for(Duration::from_secs(60), || {
        let out = Command::new("ipmipower")
            .args(["--driver-type", "LAN_2_0", "-h", &format!("127.0.0.1:{port}"), "-u", "admin", "-p", "password"])
            .args(["-I", "3", "-l", "OPERATOR", "-W", "opensesspriv", "--session-timeout=500", "--stat"])
            .output()
            .ok()?;
        String::from_utf8_lossy(&out.stdout).contains(": off").then_some(())
    });
    assert!(ready.is_some(), "ipmi_sim did not come up: {}", std::fs::read_to_string(dir.join("sim.log")).unwrap());
    child
}

fn ipmi_params(port: u16, pass: &str) -> PowerParams {
    params(&[
        ("power_driver", "LAN_2_0"),
        ("power_address", &format!("127.0.0.1:{port}")),
        ("power_user", "admin"),
        ("power_pass", pass),
        ("cipher_suite_id", "3"),
        ("privilege_level", "OPERATOR"),
    ])
}

fn fast_ipmi() -> IpmiDriver {
    IpmiDriver {
        session_timeout: Duration::from_secs(2),
        retransmission_timeout: Duration::from_millis(250),
        settle_waits: vec![Duration::ZERO, Duration::from_millis(200)],
        ..IpmiDriver::default()
    }
}

#[tokio::test]
async fn ipmi_power_on_off_query_against_ipmi_sim() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let port = free_udp_port();
    let _sim = start_ipmi_sim(dir.path(), port);
    let d = fast_ipmi();
    let p = ipmi_params(port, "password");

    assert_eq!(d.act(PowerAction::Query, &p).await, Ok(Some(PowerState::Off)));
    assert_eq!(d.act(PowerAction::On, &p).await, Ok(Some(PowerState::On)));
    assert_eq!(std::fs::read_to_string(dir.path().join("power")).unwrap().trim(), "1");
    // Power on sets a one-time PXE boot first, as MAAS does.
    assert_eq!(std::fs::read_to_string(dir.path().join("boot")).unwrap().trim(), "pxe");
    assert_eq!(d.act(PowerAction::Query, &p).await, Ok(Some(PowerState::On)));
    assert_eq!(d.act(PowerAction::Cycle, &p).await, Ok(Some(PowerState::On)));
    assert_eq!(d.act(PowerAction::Off, &p).await, Ok(Some(PowerState::Off)));
    assert_eq!(std::fs::read_to_string(dir.path().join("power")).unwrap().trim(), "0");
    assert_eq!(d.act(PowerAction::Query, &p).await, Ok(Some(PowerState::Off)));
}

#[tokio::test]
async fn ipmi_wrong_password_is_an_auth_error_and_password_not_in_argv() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_udp_port();
    let _sim = start_ipmi_sim(dir.path(), port);
    let d = fast_ipmi();
    match d.act(PowerAction::Query, &ipmi_params(port, "not-the-password")).await {
        Err(e @ PowerError::Auth { .. }) => {
            assert!(e.to_string().contains("password invalid"), "{e}");
            assert!(!format!("{e} {e:?}").contains("not-the-password"), "the password leaked into the error: {e:?}");
        }
        other => panic!("expected an auth error, got {other:?}"),
    }
    let mut p = ipmi_params(port, "password");
    p.insert("power_user".into(), "nobody".into());
    let e = d.act(PowerAction::Query, &p).await.unwrap_err();
    assert!(matches!(e, PowerError::Auth { .. }), "{e:?}");
    assert!(e.to_string().contains("power_user"), "message says what to check: {e}");

    // While a query runs, the password must not appear in any process's argv.
    let p = ipmi_params(port, "password");
    let task = tokio::spawn(async move { fast_ipmi().act(PowerAction::Query, &p).await });
    let mut seen_ipmipower = false;
    while !task.is_finished() {
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
                let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
                if args.first().is_some_and(|a| a.ends_with(b"ipmipower")) {
                    seen_ipmipower = true;
                    assert!(!args.iter().any(|a| *a == b"password"), "password on ipmipower's command line");
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert_eq!(task.await.unwrap(), Ok(Some(PowerState::Off)));
    eprintln!("observed ipmipower's argv: {seen_ipmipower}");
}

#[tokio::test]
async fn ipmi_unreachable_bmc_is_a_timeout_error() {
    need_program("ipmipower");
    // Nothing listens on this port; freeipmi waits for its session timeout.
    let port = free_udp_port();
    let d = fast_ipmi();
    let start = std::time::Instant::now();
    let e = d.act(PowerAction::Query, &ipmi_params(port, "password")).await.unwrap_err();
    assert!(matches!(e, PowerError::Timeout { .. }), "{e:?}");
    assert!(e.is_transient());
    // Not a hang: the 2 s session timeout, well under the driver's own
    // limit for a stuck tool (session timeout + 5 s). The bound is loose on
    // purpose; how long freeipmi takes on a loaded machine is not the point.
    assert!(start.elapsed() < Duration::from_secs(20), "took {:?}", start.elapsed());
}

#[tokio::test]
async fn redfish_on_off_query_against_sushy_emulator() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let port = free_tcp_port();
    let _sushy = start_sushy(dir.path(), port, "52:54:00:12:34:56");
    // The fake driver applies a reset after a random delay (1–11 s) and
    // the driver polls until the state shows: a long settle limit costs
    // nothing when the emulator is quick and keeps a loaded machine from
    // reading the old state at the deadline.
    let d = RedfishDriver::new(Duration::from_secs(5), Duration::from_secs(60));
    let addr = format!("http://127.0.0.1:{port}");
    let p = params(&[("power_address", &addr), ("power_user", "admin"), ("power_pass", "password")]);

    assert_eq!(d.act(PowerAction::Query, &p).await, Ok(Some(PowerState::Off)));
    assert_eq!(d.act(PowerAction::On, &p).await, Ok(Some(PowerState::On)));
    // The system found by listing is the same as the one named by node_id.
    let mut by_id = p.clone();
    by_id.insert("node_id".into(), "27946b59-9e44-4fa7-8e91-f3527a1ef094".into());
    assert_eq!(d.act(PowerAction::Query, &by_id).await, Ok(Some(PowerState::On)));
    assert_eq!(d.act(PowerAction::Off, &by_id).await, Ok(Some(PowerState::Off)));

    let mut bad = p.clone();
    bad.insert("power_pass".into(), "wrong".into());
    assert!(matches!(d.act(PowerAction::Query, &bad).await, Err(PowerError::Auth { .. })));
    let mut missing = p.clone();
    missing.insert("node_id".into(), "no-such-node".into());
    assert!(matches!(d.act(PowerAction::Query, &missing).await, Err(PowerError::Config(_))));
}

#[tokio::test]
async fn redfish_unreachable_bmc_is_an_error_not_a_hang() {
    let d = RedfishDriver::new(Duration::from_secs(2), Duration::from_secs(1));
    // A closed port: connection refused.
    let closed = params(&[("power_address", &format!("http://127.0.0.1:{}", free_tcp_port())), ("power_pass", "x")]);
    assert!(matches!(d.act(PowerAction::Query, &closed).await, Err(PowerError::Unreachable { .. })));
    // A listener that never answers: timeout.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = format!("http://{}", silent.local_addr().unwrap());
    let start = std::time::Instant::now();
    let e = d.act(PowerAction::Query, &params(&[("power_address", &addr)])).await.unwrap_err();
    assert!(matches!(e, PowerError::Timeout { .. }), "{e:?}");
    // Not a hang: the 2 s request timeout ended it. Loose on purpose (a
    // loaded machine is slow, the timeout kind is what the test is about).
    assert!(start.elapsed() < Duration::from_secs(20), "took {:?}", start.elapsed());
}
