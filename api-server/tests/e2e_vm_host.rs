//! End to end: a VM composed through the API on a libvirt VM host
//! commissions through the rack, powered through libvirt.
//!
//! - The region imports the ephemeral environment (tools/build-ephemeral.sh)
//!   from its local simplestreams mirror, as e2e_lifecycle.rs does.
//! - The rack daemon serves DHCP, iPXE scripts, boot files and images on a
//!   bridge.
//! - `vm-hosts/` registers the real libvirtd (qemu:///system, TCG) with a
//!   storage pool of this test; `compose` asks for 1 vCPU, 1024 MiB (MAAS's
//!   minimum) and a 2 GB disk, its NIC on the bridge (`interfaces=eth0:name=<bridge>`).
//! - `commission` powers the domain on through the virsh driver (libvirt
//!   starts qemu); it PXE-boots from the rack, the agent reports its
//!   inventory: Ready with the composed cores, memory and disk; the domain
//!   is off again afterwards, and `query_power_state` asks libvirt.
//! - Deleting the host with `decompose=true` removes the domain and the
//!   machine.
//!
//! Needs root, qemu (tests/qemu-setup.sh), libvirtd (tests/libvirt-setup.sh)
//! and the images in tests/.ephemeral; skipped otherwise.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail by panicking

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::peers::{virsh, TestDomain};
use common::*;
use ironpool_rack::link::Rack;

const PHASE: Duration = Duration::from_secs(420);
const DISK_BYTES: u64 = 2_000_000_000;

/// libvirt's log of a domain (what qemu said), for failures.
fn qemu_log(domain: &str) -> String {
    std::fs::read_to_string(format!("/var/log/libvirt/qemu/{domain}.log")).unwrap_or_default()
}

async fn wait<T>(what: &str, timeout: Duration, domain: &str, mut f: impl AsyncFnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}; libvirt's qemu log:\n{}",
            qemu_log(domain)
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// A libvirt dir pool on a private directory, removed on drop.
struct TestPool {
    name: String,
    _dir: tempfile::TempDir,
}

impl TestPool {
    fn new(name: &str) -> TestPool {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        // qemu runs as libvirt's own user: it must reach the volumes.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        virsh(&["pool-define-as", name, "dir", "--target", &dir.path().display().to_string()]);
        virsh(&["pool-start", name]);
        TestPool { name: name.to_string(), _dir: dir }
    }
}

impl Drop for TestPool {
    fn drop(&mut self) {
        let c = |args: &[&str]| std::process::Command::new("virsh").arg("-c").arg("qemu:///system").args(args).output();
        let _ = c(&["pool-destroy", &self.name]);
        let _ = c(&["pool-undefine", &self.name]);
    }
}

fn libvirt_up() -> bool {
    std::process::Command::new("virsh")
        .args(["-c", "qemu:///system", "list", "--all"])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn composed_vm_commissions_through_the_rack_powered_by_libvirt() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let emulator = root.join("tests/.qemu/qemu-libvirt");
    let mirror = root.join("tests/.ephemeral/mirror");
    if !is_root() || !emulator.exists() || !libvirt_up() {
        eprintln!("SKIP: needs root, qemu and libvirtd (tests/qemu-setup.sh, tests/libvirt-setup.sh)");
        return;
    }
    if !mirror.join("streams/v1/index.json").exists() {
        eprintln!("SKIP: no ephemeral environment (tools/build-ephemeral.sh tests/.ephemeral)");
        return;
    }
    let prefix = format!("ipe2evm-{}", std::process::id());
    let pool = TestPool::new(&format!("{prefix}-pool"));
    let bridge = Bridge::new("v");
    let s = TestServer::start_with(Backend::Sqlite, |c| c.virsh_emulator = Some(emulator.display().to_string()));
    let admin = s.user("admin", true).await;
    let dir = tempfile::tempdir().unwrap();

    import_mirror(&s, &admin, &mirror).await;
    let o = bridge_rack_options(&s, &bridge, dir.path().join("rack"), "e2e-vm-rack");
    let rack = Rack::start(o).await.unwrap();
    let rack_sid = wait("rack registration", Duration::from_secs(10), "", async || rack.state.system_id()).await;
    dhcp_on_bridge(&s, &admin, &rack_sid).await;
    wait("DHCP on the rack", Duration::from_secs(10), "", async || rack.state.dhcp_stats()).await;
    wait("the boot kernel in the rack's configuration", Duration::from_secs(20), "", async || {
        rack.state.config().filter(|c| c.boot.enlist.kernel.is_some()).map(|_| ())
    })
    .await;

    // The VM host, and a machine composed on it with its NIC on the bridge.
    let r = s
        .post(
            Some(&admin),
            "vm-hosts/",
            &[
                ("type", "virsh"),
                ("power_address", "qemu:///system"),
                ("name", "e2e-kvm"),
                // Domains of other tests on this libvirtd count as used.
                ("cpu_over_commit_ratio", "10"),
                ("memory_over_commit_ratio", "10"),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let host = r.json()["id"].as_i64().unwrap();
    let hostname = format!("{prefix}-vm");
    let storage = format!("root:2({})", pool.name);
    let interfaces = format!("eth0:name={}", bridge.br);
    let r = s
        .post(
            Some(&admin),
            &format!("vm-hosts/{host}/?op=compose"),
            &[
                ("cores", "1"),
                ("memory", "1024"),
                ("storage", &storage),
                ("interfaces", &interfaces),
                ("hostname", &hostname),
                ("skip_commissioning", "true"),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let sid = r.json()["system_id"].as_str().unwrap().to_string();
    // Destroyed and undefined on drop, whatever happens below.
    let domain = TestDomain { name: hostname.clone(), macs: vec![] };
    let xml = virsh(&["dumpxml", "--inactive", &hostname]);
    assert!(xml.contains(&format!("<source bridge='{}'/>", bridge.br)), "{xml}");
    assert_eq!(domain.state(), "shut off");

    // Commissioning: the virsh driver starts the domain, which PXE-boots
    // from the rack and reports its inventory.
    let r = s.post(Some(&admin), &format!("machines/{sid}/?op=commission"), &[]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    wait("libvirt to run the domain", Duration::from_secs(60), &hostname, async || {
        (domain.state() == "running").then_some(())
    })
    .await;
    let m = wait("the machine to be Ready", PHASE, &hostname, async || {
        let m = s.get(Some(&admin), &format!("machines/{sid}/")).await.json();
        match m["status_name"].as_str() {
            Some("Ready") => Some(m),
            Some("Failed commissioning") => panic!("commissioning failed: {m}\n{}", qemu_log(&hostname)),
            _ => None,
        }
    })
    .await;
    assert_eq!(m["cpu_count"], 1, "{m}");
    let mem = m["memory"].as_i64().unwrap();
    assert!((900..=1024).contains(&mem), "memory {mem} MiB: {m}");
    let disks = m["blockdevice_set"].as_array().unwrap();
    assert!(disks.iter().any(|d| d["size"].as_u64() == Some(DISK_BYTES)), "a {DISK_BYTES}-byte disk: {m}");
    assert_eq!(m["pod"]["id"], host);
    assert_eq!(m["power_type"], "virsh");
    // Off again once commissioned, and the power query asks libvirt.
    wait("the domain to be off after commissioning", Duration::from_secs(120), &hostname, async || {
        (domain.state() == "shut off").then_some(())
    })
    .await;
    let r = s.get(Some(&admin), &format!("machines/{sid}/?op=query_power_state")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["state"], "off", "{}", r.body);

    // Decompose: domain and machine gone.
    let r = s.call(Some(&admin), "DELETE", &format!("vm-hosts/{host}/?decompose=true"), &[]).await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert!(!virsh(&["list", "--all", "--name"]).lines().any(|l| l.trim() == hostname));
    assert_eq!(s.get(Some(&admin), &format!("machines/{sid}/")).await.status, 404);
    drop(rack);
}
