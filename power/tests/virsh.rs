//! The virsh driver against a real libvirtd with qemu (TCG) domains, over
//! `qemu:///system` and `qemu+ssh://` (a private sshd on a free port, with
//! a key and with a password). Needs tests/qemu-setup.sh and
//! tests/libvirt-setup.sh.

// Tests fail by panicking: unwrap/expect are how they assert.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use ironpool_power::virsh::{VirshDriver, EXTRA_PARAMETERS};
use ironpool_power::{PowerAction, PowerDriver, PowerError, PowerParams, PowerState};

fn params(address: &str, domain: &str, pass: Option<&str>) -> PowerParams {
    let mut p: PowerParams =
        [("power_address", address), ("power_id", domain)].into_iter().map(|(k, v)| (k.into(), v.into())).collect();
    if let Some(pw) = pass {
        p.insert("power_pass".into(), pw.into());
    }
    p
}

/// A name no other test (or helper session) uses.
fn unique(tag: &str) -> String {
    format!("iptest-{tag}-{}", std::process::id())
}

#[tokio::test]
async fn virsh_on_off_cycle_query_over_qemu_system() {
    init_tracing();
    let dom = TestDomain::define(&unique("sys"), &["52:54:00:10:00:01"]);
    let d = VirshDriver::default();
    let p = params("qemu:///system", &dom.name, None);
    assert_eq!(d.act(PowerAction::Query, &p).await, Ok(Some(PowerState::Off)));
    assert_eq!(d.act(PowerAction::On, &p).await, Ok(Some(PowerState::On)));
    assert_eq!(dom.state(), "running", "libvirt itself says the domain runs");
    // On when on changes nothing.
    assert_eq!(d.act(PowerAction::On, &p).await, Ok(Some(PowerState::On)));
    assert_eq!(d.act(PowerAction::Cycle, &p).await, Ok(Some(PowerState::On)));
    assert_eq!(d.act(PowerAction::Off, &p).await, Ok(Some(PowerState::Off)));
    assert_eq!(dom.state(), "shut off");
    // A paused domain counts as off (MAAS's table) and is not started.
    virsh(&["start", &dom.name]);
    virsh(&["suspend", &dom.name]);
    assert_eq!(d.act(PowerAction::Query, &p).await, Ok(Some(PowerState::Off)));
    assert_eq!(d.act(PowerAction::On, &p).await, Ok(Some(PowerState::Off)));
    assert_eq!(dom.state(), "paused");

    let missing = params("qemu:///system", "no-such-domain-here", None);
    match d.act(PowerAction::Query, &missing).await {
        Err(PowerError::Config(m)) => assert!(m.contains("power_id"), "{m}"),
        other => panic!("expected a configuration error, got {other:?}"),
    }
    let extra = params("qemu:///system?command=/bin/true", &dom.name, None);
    assert_eq!(d.act(PowerAction::Query, &extra).await, Err(PowerError::Config(EXTRA_PARAMETERS.into())));
}

#[tokio::test]
async fn virsh_over_ssh_with_a_key_and_with_a_password() {
    init_tracing();
    let dom = TestDomain::define(&unique("ssh"), &["52:54:00:10:00:02"]);
    let dir = tempfile::tempdir().unwrap();
    let (_sshd, port, key) = start_sshd(dir.path());

    // root with the test's key (libvirt's keyfile=), host key never seen
    // before (accepted, as MAAS's unverified-ssh does).
    let with_key = VirshDriver { ssh_keyfile: Some(key.clone()), ..VirshDriver::default() };
    let root = params(&format!("qemu+ssh://root@127.0.0.1:{port}/system"), &dom.name, None);
    assert_eq!(with_key.act(PowerAction::Query, &root).await, Ok(Some(PowerState::Off)));
    assert_eq!(with_key.act(PowerAction::On, &root).await, Ok(Some(PowerState::On)));
    assert_eq!(dom.state(), "running");

    // A user with a password (power_pass), no key: ssh reads it through
    // askpass. The password is set for this test only.
    let pw = TestPassword::set();
    let plain = VirshDriver { timeout: Duration::from_secs(30), ..VirshDriver::default() };
    let user = format!("qemu+ssh://ironpool-virsh@127.0.0.1:{port}/system");
    assert_eq!(plain.act(PowerAction::Off, &params(&user, &dom.name, Some(&pw.0))).await, Ok(Some(PowerState::Off)));
    assert_eq!(dom.state(), "shut off");

    // A wrong password, and no password at all: authentication errors,
    // promptly (no terminal prompt waits for an answer), never retried.
    let e = plain.act(PowerAction::Query, &params(&user, &dom.name, Some("not-the-password"))).await.unwrap_err();
    assert!(matches!(e, PowerError::Auth { .. }), "{e:?}");
    assert!(!e.is_transient());
    assert!(!format!("{e:?}").contains("not-the-password"));
    let e = plain.act(PowerAction::Query, &params(&user, &dom.name, None)).await.unwrap_err();
    assert!(matches!(e, PowerError::Auth { .. }), "{e:?}");
}

#[tokio::test]
async fn virsh_unreachable_host_is_an_error_not_a_hang() {
    let d = VirshDriver { timeout: Duration::from_secs(20), ..VirshDriver::default() };
    let closed = params(&format!("qemu+ssh://root@127.0.0.1:{}/system", free_tcp_port()), "x", None);
    let e = d.act(PowerAction::Query, &closed).await.unwrap_err();
    assert!(matches!(e, PowerError::Unreachable { .. }), "{e:?}");
}

#[tokio::test]
async fn virsh_probe_lists_domains_and_prepares_them_for_enlistment() {
    let prefix = unique("probe");
    let a = TestDomain::define(&format!("{prefix}-a"), &["52:54:00:10:00:0a", "52:54:00:10:00:0b"]);
    let b = TestDomain::define(&format!("{prefix}-b"), &["52:54:00:10:00:0c"]);
    let _other = TestDomain::define(&unique("other"), &["52:54:00:10:00:0d"]);
    virsh(&["start", &b.name]);
    let d = VirshDriver::default();
    let mut found = d.probe("qemu:///system", None, Some(&prefix)).await.unwrap();
    found.sort_by(|x, y| x.name.cmp(&y.name));
    assert_eq!(found.len(), 2, "only the prefixed domains: {found:?}");
    assert_eq!(found[0].name, a.name);
    assert_eq!(found[0].arch, "amd64");
    assert_eq!(found[0].macs, a.macs);
    assert_eq!(found[0].state, PowerState::Off);
    assert_eq!(found[1].macs, b.macs);
    assert_eq!(found[1].state, PowerState::On);

    // Enlisting forces the domain off and makes it boot from the network first.
    d.prepare_for_enlistment("qemu:///system", None, &b.name).await.unwrap();
    assert_eq!(b.state(), "shut off");
    let xml = virsh(&["dumpxml", "--inactive", &b.name]);
    let net = xml.find("<boot dev='network'/>").expect("network boot");
    let hd = xml.find("<boot dev='hd'/>").expect("disk boot");
    assert!(net < hd, "network first: {xml}");
    assert_eq!(xml.matches("<boot dev=").count(), 2);
    // Twice changes nothing.
    d.prepare_for_enlistment("qemu:///system", None, &b.name).await.unwrap();
    assert_eq!(virsh(&["dumpxml", "--inactive", &b.name]), xml);
}

/// A `dir` storage pool for one test, removed on drop.
struct TestPool(String);

impl Drop for TestPool {
    fn drop(&mut self) {
        let _ = std::process::Command::new("virsh").args(["-c", "qemu:///system", "pool-destroy", &self.0]).output();
        let _ = std::process::Command::new("virsh").args(["-c", "qemu:///system", "pool-undefine", &self.0]).output();
    }
}

#[tokio::test]
async fn virsh_host_info_compose_and_decompose() {
    use std::os::unix::fs::PermissionsExt;
    need_libvirt();
    let dir = tempfile::tempdir().unwrap();
    // qemu runs as libvirt's own user: it must reach the volumes.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let pool = TestPool(unique("pool"));
    let target = dir.path().display().to_string();
    virsh(&["pool-define-as", &pool.0, "dir", "--target", &target]);
    virsh(&["pool-start", &pool.0]);
    let d = VirshDriver::default();

    let info = d.host_info("qemu:///system", None).await.unwrap();
    assert!(info.cpus >= 1 && info.memory > 0, "{info:?}");
    let p = info.pools.iter().find(|p| p.name == pool.0).expect("the test pool is listed");
    assert_eq!((p.pool_type.as_str(), p.path.as_str(), p.active), ("dir", target.as_str(), true));
    assert!(p.capacity > 0 && p.available > 0 && p.available <= p.capacity, "{p:?}");

    let name = unique("composed");
    // Removed on drop even if an assertion fails below.
    let guard = TestDomain { name: name.clone(), macs: vec!["52:54:00:10:00:e1".into()] };
    let emulator = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/.qemu/qemu-libvirt");
    let spec = ironpool_power::virsh::ComposeSpec {
        name: name.clone(),
        cores: 1,
        memory_mib: 64,
        disks: vec![(pool.0.clone(), 16 * 1024 * 1024)],
        macs: guard.macs.clone(),
        network: None,
        bridge: None,
        domain_type: "qemu".into(),
        emulator: Some(emulator.display().to_string()),
    };
    d.compose("qemu:///system", None, &spec).await.unwrap();
    assert_eq!(guard.state(), "shut off");
    let vol = dir.path().join(format!("{name}-disk0.img"));
    assert_eq!(std::fs::metadata(&vol).unwrap().len(), 16 * 1024 * 1024);
    let xml = virsh(&["dumpxml", &name]);
    assert!(xml.contains("52:54:00:10:00:e1"), "{xml}");
    assert!(xml.find("<boot dev='network'/>").unwrap() < xml.find("<boot dev='hd'/>").unwrap());
    // It runs, and powers like any virsh machine.
    let p = params("qemu:///system", &name, None);
    assert_eq!(d.act(PowerAction::On, &p).await, Ok(Some(PowerState::On)));
    assert_eq!(d.probe("qemu:///system", None, Some(&name)).await.unwrap()[0].macs, guard.macs);

    d.decompose("qemu:///system", None, &name).await.unwrap();
    assert!(!virsh(&["list", "--all", "--name"]).lines().any(|l| l.trim() == name), "domain undefined");
    assert!(!vol.exists(), "its volume removed");

    let mut bad = spec.clone();
    bad.name = "two words".into();
    assert!(matches!(d.compose("qemu:///system", None, &bad).await, Err(PowerError::Config(_))));
}
