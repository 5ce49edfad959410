//! A real network boot: a qemu VM (TCG, iPXE NIC ROM) on a bridge where the
//! rack daemon serves DHCP, TFTP and HTTP from the region's state. The VM
//! gets a lease, is pointed by DHCP at its per-MAC iPXE script over HTTP,
//! fetches it and runs it (its echo shows on the serial console), and the
//! region records the lease and a "PXE Request" event.
//!
//! Needs root and qemu from `tests/qemu-setup.sh`; skipped otherwise.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail by panicking

mod common;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use ironpool_rack::link::Rack;

const VM_MAC: &str = "52:54:00:12:34:56";

async fn wait<T>(what: &str, timeout: Duration, mut f: impl AsyncFnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(start.elapsed() < timeout, "timed out after {timeout:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qemu_vm_network_boots_from_the_rack() {
    let qemu_root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/.qemu");
    let qemu = qemu_root.join("root/usr/bin/qemu-system-x86_64");
    if !is_root() || !qemu.exists() {
        eprintln!("SKIP: needs root and qemu (tests/qemu-setup.sh)");
        return;
    }
    let bridge = Bridge::new("q");
    let s = TestServer::start(Backend::Sqlite);
    let admin = s.user("admin", true).await;
    let dir = tempfile::tempdir().unwrap();
    let o = bridge_rack_options(&s, &bridge, dir.path().to_path_buf(), "pxe-rack");
    let rack = Rack::start(o).await.unwrap();
    let rack_sid = wait("rack registration", Duration::from_secs(10), async || rack.state.system_id()).await;

    // The VM is a known machine being commissioned.
    let sid = commissioning_machine(&s, &admin, VM_MAC, "vm-one").await;
    dhcp_on_bridge(&s, &admin, &rack_sid).await;
    wait("DHCP on the rack", Duration::from_secs(10), async || rack.state.dhcp_stats()).await;

    let console = dir.path().join("console.log");
    let started = Instant::now();
    let vm = Vm(Command::new(&qemu)
        .arg("-L")
        .arg(qemu_root.join("data"))
        .args(["-accel", "tcg", "-m", "128", "-boot", "n", "-nographic", "-no-reboot"])
        .args(["-netdev", &format!("tap,id=n0,ifname={},script=no,downscript=no", bridge.tap)])
        .args(["-device", &format!("e1000,netdev=n0,mac={VM_MAC}")])
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&console).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .expect("qemu starts"));

    // The lease reaches the region...
    let db = s.state.db.clone();
    let leased = wait("the VM's lease in the region", Duration::from_secs(120), async || {
        let db = db.clone();
        db.run(|c| {
            use diesel::prelude::*;
            use ironpool_region::db::schema::ip_addresses::dsl::*;
            ip_addresses
                .filter(mac_address.eq(VM_MAC))
                .select(ip)
                .first::<Option<String>>(c)
                .optional()
                .map_err(|e| ironpool_region::Error::Internal(e.to_string()))
        })
        .await
        .unwrap()
        .flatten()
    })
    .await;
    let t_lease = started.elapsed();
    let last: u8 = leased.rsplit('.').next().unwrap().parse().unwrap();
    assert!((50..=99).contains(&last), "{leased}");

    // ...the VM runs the per-MAC script it fetched over HTTP...
    let want = "Ironpool: no boot image for vm-one (commissioning)";
    wait("the per-MAC iPXE script on the console", Duration::from_secs(120), async || {
        std::fs::read_to_string(&console).ok().filter(|t| t.contains(want))
    })
    .await;
    let t_script = started.elapsed();

    // ...and the region has the boot event.
    wait("PXE Request event", Duration::from_secs(20), async || {
        let ev = s.get(Some(&admin), &format!("events/?op=query&id={sid}")).await.json();
        ev["events"].as_array().unwrap().iter().any(|e| e["type"] == "PXE Request").then_some(())
    })
    .await;
    let stats = rack.state.dhcp_stats().unwrap();
    eprintln!(
        "qemu PXE: lease in region after {:.1}s, per-MAC script ran after {:.1}s; DHCP acks {}",
        t_lease.as_secs_f64(),
        t_script.as_secs_f64(),
        stats.acks.load(std::sync::atomic::Ordering::Relaxed)
    );
    drop(vm);
    rack.stop().await;
}
