//! The ucsm driver against a UCS Manager XML API service
//! (`ucsm_service/`): no real manager can run here, so the service speaks
//! the documented protocol over real HTTP and holds state (cookies, power,
//! boot policies). Power changes stick, bad credentials are refused,
//! cookies are freed and renewed when they expire.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail by panicking

mod ucsm_service;

use std::time::Duration;

use ironpool_power::ucsm::UcsmDriver;
use ironpool_power::{Drivers, PowerAction, PowerDriver, PowerError, PowerParams, PowerState};
use ucsm_service::UcsService;

const U1: &str = "1b4e28ba-2fa1-11d2-883f-0016d3cca427";
const U2: &str = "6ba7b810-9dad-11d1-80b4-00c04fd430c8";

fn driver() -> UcsmDriver {
    let mut d = UcsmDriver::new(Duration::from_secs(5), Duration::from_secs(5));
    d.poll_interval = Duration::from_millis(20);
    d
}

fn params(svc: &UcsService, uuid: &str, pass: &str) -> PowerParams {
    [("power_address", svc.url.as_str()), ("power_user", "admin"), ("power_pass", pass), ("uuid", uuid)]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn two_servers() -> UcsService {
    let svc = UcsService::start();
    svc.add_server(
        "computeBlade",
        "sys/chassis-1/blade-1",
        U1,
        &["00:25:B5:00:00:1A", "00:25:b5:00:00:1b"],
        Some("default"),
        false,
    );
    svc.add_server("computeRackUnit", "sys/rack-unit-1", U2, &["00:25:b5:00:00:2a"], Some("default"), true);
    svc
}

#[tokio::test]
async fn power_changes_stick_on_the_manager_and_sessions_are_freed() {
    let svc = two_servers();
    let d = driver();
    let p1 = params(&svc, U1, "password");
    assert_eq!(d.act(PowerAction::Query, &p1).await.unwrap(), Some(PowerState::Off));
    assert_eq!(d.act(PowerAction::Query, &params(&svc, U2, "password")).await.unwrap(), Some(PowerState::On));

    assert_eq!(d.act(PowerAction::On, &p1).await.unwrap(), Some(PowerState::On));
    assert_eq!(svc.lock().server(U1).oper_power, "on");
    assert_eq!(svc.lock().server(U2).oper_power, "on", "only the machine with that uuid");
    assert_eq!(
        svc.lock().power_changes.last().unwrap(),
        &("org-root/ls-blade-1/power".to_string(), "admin-up".to_string())
    );
    // A fresh query (new session) sees what the manager holds.
    assert_eq!(d.act(PowerAction::Query, &p1).await.unwrap(), Some(PowerState::On));

    assert_eq!(d.act(PowerAction::Off, &p1).await.unwrap(), Some(PowerState::Off));
    assert_eq!(svc.lock().server(U1).oper_power, "off");
    assert_eq!(svc.lock().power_changes.last().unwrap().1, "admin-down");

    // A cycle of a running server is cycle-immediate; of a stopped one, admin-up.
    let p2 = params(&svc, U2, "password");
    assert_eq!(d.act(PowerAction::Cycle, &p2).await.unwrap(), Some(PowerState::On));
    assert_eq!(svc.lock().power_changes.last().unwrap().1, "cycle-immediate");
    assert_eq!(d.act(PowerAction::Cycle, &p1).await.unwrap(), Some(PowerState::On));
    assert_eq!(svc.lock().power_changes.last().unwrap().1, "admin-up");

    // Every login was followed by a logout: no cookie left behind.
    let st = svc.lock();
    assert!(st.logins >= 7, "{}", st.logins);
    assert_eq!(st.logouts, st.logins);
    assert!(st.cookies.is_empty(), "{:?}", st.cookies);
    // The calls are MAAS's: the server found by class and uuid filter.
    assert!(st.methods.contains(&"configResolveClass".to_string()));
    assert!(st.methods.contains(&"configConfMo".to_string()));
}

#[tokio::test]
async fn wrong_password_is_an_auth_error_and_not_retried() {
    let svc = two_servers();
    let drivers = Drivers::standard(ironpool_power::virtual_bmc::VirtualBmcs::new());
    let retry = ironpool_power::RetryPolicy { attempts: 3, backoff: Duration::from_millis(1) };
    let e = drivers.act("ucsm", PowerAction::On, &params(&svc, U1, "wrong"), &retry).await.unwrap_err();
    assert!(matches!(e, PowerError::Auth { .. }), "{e:?}");
    assert!(e.to_string().contains("refused the login (error 551)"), "{e}");
    assert!(!e.to_string().contains("wrong"), "no password in the message: {e}");
    assert_eq!(svc.lock().failed_logins, 1, "a refused login is never retried (managers lock accounts)");
    assert_eq!(svc.lock().server(U1).oper_power, "off");
}

#[tokio::test]
async fn an_expired_cookie_is_renewed_once_and_still_freed() {
    let svc = two_servers();
    // Each cookie dies after two calls: a power-on needs more (find the
    // server, its lsPower, the change, the settle query).
    svc.lock().cookie_uses = Some(2);
    let d = driver();
    assert_eq!(d.act(PowerAction::On, &params(&svc, U1, "password")).await.unwrap(), Some(PowerState::On));
    assert_eq!(svc.lock().server(U1).oper_power, "on");
    {
        let st = svc.lock();
        assert!(st.logins >= 2, "the driver logged in again: {}", st.logins);
        assert!(st.cookies.is_empty(), "the last cookie was logged out: {:?}", st.cookies);
    }

    // A manager that expires every cookie at once: one retry, then an error.
    svc.lock().cookie_uses = Some(0);
    let e = d.act(PowerAction::Query, &params(&svc, U1, "password")).await.unwrap_err();
    assert!(matches!(e, PowerError::Auth { .. }), "{e:?}");
    assert!(e.to_string().contains("configResolveClass failed (UCS Manager error 552)"), "{e}");
}

#[tokio::test]
async fn unknown_uuid_and_bad_addresses_are_clear_errors() {
    let svc = two_servers();
    let d = driver();
    let e = d.act(PowerAction::Query, &params(&svc, "no-such-uuid", "password")).await.unwrap_err();
    assert!(matches!(&e, PowerError::Config(m) if m.contains("no server with uuid no-such-uuid")), "{e:?}");
    assert!(svc.lock().cookies.is_empty(), "logged out after the failure too");

    let mut p = params(&svc, U1, "password");
    p.insert("power_address".into(), "ucs.example".into());
    assert!(matches!(d.act(PowerAction::Query, &p).await, Err(PowerError::Config(_))));
    p.insert("power_address".into(), format!("http://127.0.0.1:{}/", free_port()));
    assert!(matches!(d.act(PowerAction::Query, &p).await, Err(PowerError::Unreachable { .. })));
    p.remove("uuid");
    assert!(matches!(d.act(PowerAction::Query, &p).await, Err(PowerError::Config(m)) if m.contains("uuid")));

    // A server in a state MAAS does not know: MAAS's words.
    svc.lock().servers[0].oper_power = "degraded".into();
    let e = d.act(PowerAction::Query, &params(&svc, U1, "password")).await.unwrap_err();
    assert!(e.to_string().contains("Unknown power state: degraded"), "{e}");
}

#[tokio::test]
async fn probe_lists_bootable_servers_with_their_macs_and_puts_lan_boot_first() {
    let svc = two_servers();
    // Left out, as MAAS leaves them out: no NIC, no LAN boot entry, no profile.
    svc.add_server("computeBlade", "sys/chassis-1/blade-3", "uuid-nomac", &[], Some("default"), false);
    svc.add_server("computeBlade", "sys/chassis-1/blade-4", "uuid-nolan", &["00:25:b5:00:00:4a"], None, false);
    svc.add_server("computeBlade", "sys/chassis-1/blade-5", "uuid-noprofile", &["00:25:b5:00:00:5a"], Some("x"), false);
    svc.lock().servers.last_mut().unwrap().profile = String::new();
    assert_eq!(svc.lock().lan_order("org-root/boot-policy-default").as_deref(), Some("2"));

    let probe = driver().probe_and_prepare(&svc.url, "admin", "password").await.unwrap();
    let found: Vec<(&str, Vec<&str>)> =
        probe.servers.iter().map(|s| (s.uuid.as_str(), s.macs.iter().map(String::as_str).collect())).collect();
    assert_eq!(found, vec![(U1, vec!["00:25:b5:00:00:1a", "00:25:b5:00:00:1b"]), (U2, vec!["00:25:b5:00:00:2a"])]);
    let skipped: Vec<&str> = probe.skipped.iter().map(|(dn, _)| dn.as_str()).collect();
    assert_eq!(skipped, vec!["sys/chassis-1/blade-3", "sys/chassis-1/blade-4", "sys/chassis-1/blade-5"]);
    // LAN first now, storage second; the policy without LAN is untouched.
    {
        let st = svc.lock();
        assert_eq!(st.lan_order("org-root/boot-policy-default").as_deref(), Some("1"));
        let storage =
            &st.policies["org-root/boot-policy-default"].iter().find(|(c, _)| c == "lsbootStorage").unwrap().1;
        assert_eq!(storage["order"], "2");
        assert_eq!(st.policies["org-root/boot-policy-nolan-blade-4"][0].1["order"], "1");
        assert!(st.cookies.is_empty());
    }

    // Probing again changes nothing (LAN is first) and still works.
    let before = svc.lock().methods.iter().filter(|m| *m == "configConfMo").count();
    driver().probe_and_prepare(&svc.url, "admin", "password").await.unwrap();
    assert_eq!(svc.lock().methods.iter().filter(|m| *m == "configConfMo").count(), before);

    let e = driver().probe_and_prepare(&svc.url, "admin", "nope").await.unwrap_err();
    assert!(matches!(e, PowerError::Auth { .. }), "{e:?}");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}
