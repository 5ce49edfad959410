//! End to end: a real Debian installed by Ironpool's installer onto a qemu
//! VM (TCG) with two disks and two NICs, exactly as the API describes it,
//! and real cloud-init in the installed OS talking to the region through
//! the MAAS datasource. Driven only through the API.
//!
//! - The images: the ephemeral environment (`tools/build-ephemeral.sh`,
//!   with the installer's tools) and a Debian bookworm root built from
//!   Debian packages (`tools/build-os-image.sh`), imported as `debian/bookworm`
//!   from a simplestreams mirror (kernel, initrd, squashfs: how MAAS
//!   publishes Ubuntu) and uploaded as a root tarball (`tgz`).
//! - The VM is created through `machines/` with its BMC (ipmi_sim, which
//!   starts and kills the qemu process) and commissioned.
//!
//! 1. LVM across both disks (the `lvm` layout, the second disk added to
//!    its volume group, the root volume grown over both), a bond of the two
//!    NICs (active-backup) with a STATIC address and a VLAN interface on
//!    it; deploy the squashfs with user_data and the owner's SSH key. The
//!    machine must still be Deploying when the installer hands over, and
//!    becomes Deployed only on cloud-init's final report. From outside,
//!    over SSH to the static address with the owner's key, and from the
//!    user_data's report on the serial console: `/` on the LVM volume over
//!    both disks, the bond with both NICs, the static address, the VLAN,
//!    the hostname, the key in `authorized_keys`. The installation log is
//!    the installation result; the installer's phases are events.
//! 2. Release with a quick erase.
//! 3. A root tarball that is no OS (no bootloader in it) fails the
//!    deployment in the installer with the reason as an event and the
//!    log kept; then the squashfs from a corrupted rack cache fails on its
//!    checksum after partitioning; released again, nothing stands in the
//!    way of:
//! 4. the real Debian root tarball (`tgz`) with the flat layout and DHCP;
//! 5. released without erase, the squashfs deployed ephemerally (MAAS
//!    3.5's `ephemeral_deploy`): the image runs from memory (an overlay on
//!    the squashfs), its own cloud-init reports Deployed, network boot
//!    stays on, and the disk keeps the filesystems step 4 installed.
//!
//! Needs root, qemu (`tests/qemu-setup.sh`), ipmi_sim + freeipmi
//! (`rack-controller/tests/peers-setup.sh`), ssh, and the images in
//! `tests/.ephemeral` and `tests/.os-image`; skipped otherwise.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail by panicking

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::vm::*;
use common::*;
use ironpool_rack::link::Rack;
use serde_json::Value;

const MAC0: &str = "52:54:00:e2:d0:01";
const MAC1: &str = "52:54:00:e2:d0:02";
const SERIALS: [&str; 2] = ["IPOSDISK01", "IPOSDISK02"];
const DISK_SIZE: u64 = 3 << 30;
/// Outside the rack's dynamic range (203.0.113.50-99).
const STATIC_IP: &str = "203.0.113.20";
const VLAN_ID: &str = "42";
/// Installing a real OS and booting it under TCG is slow.
const DEPLOY: Duration = Duration::from_secs(900);
const PHASE: Duration = Duration::from_secs(300);

/// What the user_data script reports on the serial console: the installed
/// system as its own tools see it.
const REPORT: &str = r#"#!/bin/sh
r() { echo "IRONPOOL-OS $1: $(sh -c "$2" 2>&1 | tr '\n' ' ')" > /dev/ttyS0; }
r root 'findmnt -no SOURCE,FSTYPE /'
r pvs 'pvs --noheadings -o pv_name,vg_name'
r lvs 'lvs --noheadings -o lv_name,vg_name,devices'
r bond 'cat /sys/class/net/bond0/bonding/mode /sys/class/net/bond0/bonding/slaves'
r addr 'ip -o -4 addr show'
r vlan 'ip -o -d link show type vlan'
r hostname 'hostname'
r keys 'cat /home/*/.ssh/authorized_keys'
r datasource 'cloud-id'
r disks 'lsblk -rno NAME,FSTYPE,UUID /dev/vda'
echo "IRONPOOL-OS userdata-done" > /dev/ttyS0
"#;

async fn wait_status(s: &TestServer, admin: &ApiKey, sid: &str, want: &str, bad: &str, t: Duration, console: &Path) {
    wait(&format!("the machine to be {want}"), t, console, async || {
        let m = s.get(Some(admin), &format!("machines/{sid}/")).await.json();
        match m["status_name"].as_str() {
            Some(x) if x == want => Some(()),
            Some(x) if x == bad => {
                let ev = s.get(Some(admin), &format!("events/?op=query&id={sid}&level=DEBUG&limit=30")).await.body;
                let log = std::fs::read_to_string(console).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(60).collect::<Vec<_>>().into_iter().rev().collect();
                panic!("{want} expected, got {bad}: {m}\nevents: {ev}\nconsole:\n{}", tail.join("\n"))
            }
            _ => None,
        }
    })
    .await
}

/// The console lines `IRONPOOL-OS name: …` since `mark`, by name.
fn reports(console: &Path, mark: usize) -> std::collections::HashMap<String, String> {
    let log = std::fs::read_to_string(console).unwrap_or_default();
    log[mark.min(log.len())..]
        .lines()
        .filter_map(|l| {
            let rest = l.split_once("IRONPOOL-OS ")?.1;
            // `name: value`, or a bare `name` (the closing marker).
            Some(rest.split_once(": ").unwrap_or((rest.trim(), "")))
        })
        .map(|(k, v)| (k.to_string(), v.trim().to_string()))
        .collect()
}

/// Waits for the user data's closing marker after `mark`; its reports.
async fn user_data_report(console: &Path, mark: usize) -> std::collections::HashMap<String, String> {
    wait("the user data's report", PHASE, console, async || {
        let r = reports(console, mark);
        r.contains_key("userdata-done").then_some(r)
    })
    .await
}

fn console_len(console: &Path) -> usize {
    std::fs::metadata(console).map(|m| m.len() as usize).unwrap_or(0)
}

/// Runs `cmd` on the VM over SSH as `user` with `key`; its output.
fn ssh(key: &Path, user: &str, cmd: &str) -> Option<String> {
    let out = Command::new("ssh")
        .args(["-i", key.to_str().unwrap(), "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null"])
        .args(["-o", "BatchMode=yes", "-o", "ConnectTimeout=5", "-o", "LogLevel=ERROR"])
        .arg(format!("{user}@{STATIC_IP}"))
        .arg(cmd)
        .output()
        .ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A tiny gzipped tar that is no OS: a root filesystem without a
/// bootloader.
fn not_an_os() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, body) in [("./etc/os-release", &b"NAME=nothing\n"[..]), ("./README", &b"not an OS\n"[..])] {
        let mut h = tar::Header::new_gnu();
        h.set_size(body.len() as u64);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_700_000_000);
        b.append_data(&mut h, path, body).unwrap();
    }
    let raw = b.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, &raw).unwrap();
    gz.finish().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_os_is_installed_as_the_api_describes_it() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let qemu_root = root.join("tests/.qemu");
    let ephemeral = root.join("tests/.ephemeral/mirror");
    let os_mirror = root.join("tests/.os-image/mirror");
    let os_tgz = root.join("tests/.os-image/bookworm-amd64.tgz");
    if !is_root() || !qemu_root.join("root/usr/bin/qemu-system-x86_64").exists() {
        eprintln!("SKIP: needs root and qemu (tests/qemu-setup.sh)");
        return;
    }
    if !ephemeral.join("streams/v1/index.json").exists() || !os_mirror.join("streams/v1/index.json").exists() {
        eprintln!(
            "SKIP: no ephemeral environment or OS image (tools/build-ephemeral.sh tests/.ephemeral; \
             tools/build-os-image.sh tests/.os-image)"
        );
        return;
    }
    let bridge = Bridge::with_taps("o", 2);
    let s = TestServer::start(Backend::Sqlite);
    let admin = s.user("admin", true).await;
    let dir = tempfile::tempdir().unwrap();
    let console = dir.path().join("console.log");
    let disks: Vec<PathBuf> = (0..2).map(|i| dir.path().join(format!("disk{i}.img"))).collect();
    for d in &disks {
        std::fs::File::create(d).unwrap().set_len(DISK_SIZE).unwrap();
    }
    let spec = VmSpec {
        nics: vec![
            (bridge.taps[0].clone(), MAC0.into(), "virtio-net-pci".into()),
            (bridge.taps[1].clone(), MAC1.into(), "virtio-net-pci".into()),
        ],
        disks: disks.iter().cloned().zip(SERIALS.iter().map(|s| s.to_string())).collect(),
        memory_mib: 1024,
        numa: false,
    };
    let bmc = Bmc::start(dir.path(), &qemu_root, &spec);

    let t = Instant::now();
    import_mirrors(&s, &admin, &[(&ephemeral, "ironpool", "bookworm"), (&os_mirror, "debian", "bookworm")]).await;
    let t_import = t.elapsed();
    let o = bridge_rack_options(&s, &bridge, dir.path().join("rack"), "os-rack");
    let rack = Rack::start(o).await.unwrap();
    let rack_sid = wait("rack registration", Duration::from_secs(10), &console, async || rack.state.system_id()).await;
    dhcp_on_bridge(&s, &admin, &rack_sid).await;
    wait("DHCP on the rack", Duration::from_secs(10), &console, async || rack.state.dhcp_stats()).await;
    wait("the boot kernel in the rack's configuration", Duration::from_secs(20), &console, async || {
        rack.state.config().filter(|c| c.boot.enlist.kernel.is_some()).map(|_| ())
    })
    .await;

    // The machine, created with its BMC and both NICs: commissioning starts.
    let t = Instant::now();
    let r = s
        .post(
            Some(&admin),
            "machines/",
            &[
                ("hostname", "os-vm"),
                ("architecture", "amd64/generic"),
                ("mac_addresses", MAC0),
                ("mac_addresses", MAC1),
                ("power_type", "ipmi"),
                ("power_parameters_power_address", BMC_ADDR),
                ("power_parameters_power_user", "admin"),
                ("power_parameters_power_pass", "password"),
                ("power_parameters_power_driver", "LAN_2_0"),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let sid = r.json()["system_id"].as_str().unwrap().to_string();
    wait_status(&s, &admin, &sid, "Ready", "Failed commissioning", PHASE, &console).await;
    let t_commission = t.elapsed();
    bmc.wait_vm_off("the VM to power off after commissioning", &console).await;
    let m = s.get(Some(&admin), &format!("machines/{sid}/")).await.json();
    let devs = m["blockdevice_set"].as_array().unwrap().clone();
    assert_eq!(devs.len(), 2, "{m}");
    let dev_id = |serial: &str| devs.iter().find(|d| d["serial"] == serial).unwrap()["id"].to_string();
    let ifaces = m["interface_set"].as_array().unwrap().clone();
    let iface = |mac: &str| ifaces.iter().find(|i| i["mac_address"] == mac).unwrap_or_else(|| panic!("{mac}: {m}"));

    // 1. LVM over both disks.
    let post = async |url: &str, form: &[(&str, &str)]| -> Value {
        let r = s.post(Some(&admin), url, form).await;
        assert!(r.status == 200 || r.status == 204, "{url}: {} {}", r.status, r.body);
        // Some operations answer a bare `OK` or nothing, as MAAS's do.
        serde_json::from_str(&r.body).unwrap_or(Value::Null)
    };
    let boot = dev_id(SERIALS[0]);
    post(&format!("nodes/{sid}/blockdevices/{boot}/?op=set_boot_disk"), &[]).await;
    post(&format!("machines/{sid}/?op=set_storage_layout"), &[("storage_layout", "lvm")]).await;
    let second = dev_id(SERIALS[1]);
    let part = s.post(Some(&admin), &format!("nodes/{sid}/blockdevices/{second}/partitions/"), &[]).await;
    assert_eq!(part.status, 200, "{}", part.body);
    let part = part.json()["id"].to_string();
    let vgs = s.get(Some(&admin), &format!("nodes/{sid}/volume-groups/")).await.json();
    let vg = vgs[0].clone();
    let vg_id = vg["id"].to_string();
    let r =
        s.call(Some(&admin), "PUT", &format!("nodes/{sid}/volume-group/{vg_id}/"), &[("add_partitions", &part)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    // The root volume again, over all of the group.
    let lv = vg["logical_volumes"][0].clone();
    let lv_name = lv["name"].as_str().unwrap().to_string();
    post(&format!("nodes/{sid}/volume-group/{vg_id}/?op=delete_logical_volume"), &[("id", &lv["id"].to_string())])
        .await;
    let vg = s.get(Some(&admin), &format!("nodes/{sid}/volume-group/{vg_id}/")).await.json();
    let free = vg["available_size"].as_u64().unwrap();
    assert!(free > DISK_SIZE, "the group does not span both disks: {vg}");
    let lv = post(
        &format!("nodes/{sid}/volume-group/{vg_id}/?op=create_logical_volume"),
        &[("name", "lvroot"), ("size", &free.to_string())],
    )
    .await;
    let lv_id = lv["id"].to_string();
    post(&format!("nodes/{sid}/blockdevices/{lv_id}/?op=format"), &[("fstype", "ext4")]).await;
    post(&format!("nodes/{sid}/blockdevices/{lv_id}/?op=mount"), &[("mount_point", "/")]).await;
    let vg_name = vg["name"].as_str().unwrap().to_string();
    let _ = lv_name;

    // A bond of both NICs with a static address, a VLAN interface on it.
    let base = format!("nodes/{sid}/interfaces/");
    let subnets = s.get(Some(&admin), "subnets/").await.json();
    let subnet = subnets.as_array().unwrap().iter().find(|x| x["cidr"] == "203.0.113.0/24").unwrap().clone();
    let subnet_id = subnet["id"].to_string();
    let bond = post(
        &format!("{base}?op=create_bond"),
        &[
            ("name", "bond0"),
            ("parents", &iface(MAC0)["id"].to_string()),
            ("parents", &iface(MAC1)["id"].to_string()),
            ("bond_mode", "active-backup"),
        ],
    )
    .await;
    let bond_id = bond["id"].to_string();
    post(
        &format!("{base}{bond_id}/?op=link_subnet"),
        &[("mode", "STATIC"), ("subnet", &subnet_id), ("ip_address", STATIC_IP)],
    )
    .await;
    let fabric = subnet["vlan"]["fabric_id"].to_string();
    let vlan = post(&format!("fabrics/{fabric}/vlans/"), &[("vid", VLAN_ID)]).await;
    post(&format!("{base}?op=create_vlan"), &[("vlan", &vlan["id"].to_string()), ("parent", &bond_id)]).await;

    // The owner's key: a real pair, to log in with.
    let key = dir.path().join("id_ed25519");
    let ok = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "admin@ironpool-os", "-f"])
        .arg(&key)
        .status()
        .unwrap();
    assert!(ok.success());
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    let r = s.post(Some(&admin), "account/prefs/sshkeys/", &[("key", public.trim())]).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let key_body: String = public.split_whitespace().nth(1).unwrap().to_string();

    let r = s.post(Some(&admin), "machines/?op=allocate", &[("system_id", &sid)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let mark = console_len(&console);
    let t = Instant::now();
    let ud = base64::engine::general_purpose::STANDARD.encode(REPORT);
    let r = s
        .post(
            Some(&admin),
            &format!("machines/{sid}/?op=deploy"),
            &[("osystem", "debian"), ("distro_series", "bookworm"), ("user_data", &ud)],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // The installer hands over: the machine is still Deploying.
    wait("the installer to hand over to the installed OS", DEPLOY, &console, async || {
        let log = std::fs::read_to_string(&console).unwrap_or_default();
        let m = s.get(Some(&admin), &format!("machines/{sid}/")).await.json();
        assert_ne!(m["status_name"], "Failed deployment", "{m}");
        log[mark.min(log.len())..].contains("IRONPOOL: rebooting into the installed system").then_some(m)
    })
    .await;
    let t_install = t.elapsed();
    let m = s.get(Some(&admin), &format!("machines/{sid}/")).await.json();
    assert_eq!(m["status_name"], "Deploying", "Deployed before the installed OS reported: {m}");
    wait_status(&s, &admin, &sid, "Deployed", "Failed deployment", DEPLOY, &console).await;
    let t_deploy = t.elapsed();

    // From outside: SSH to the static address with the owner's key.
    let over_ssh = wait("SSH to the installed OS", PHASE, &console, async || {
        // MAAS's vendor data names the default user `ubuntu` whatever the OS.
        ssh(&key, "ubuntu", "hostname; findmnt -no SOURCE /; cat /proc/net/bonding/bond0; ip -o -d link show type vlan")
    })
    .await;
    assert!(over_ssh.starts_with("os-vm\n"), "{over_ssh}");
    assert!(over_ssh.contains(&format!("/dev/mapper/{vg_name}-lvroot")), "{over_ssh}");
    assert!(over_ssh.contains("active-backup") && over_ssh.contains("Slave Interface"), "{over_ssh}");
    assert!(over_ssh.contains(&format!("vlan protocol 802.1Q id {VLAN_ID}")), "{over_ssh}");

    // The user data ran; what it saw.
    let rep = user_data_report(&console, mark).await;
    let got = |k: &str| rep.get(k).cloned().unwrap_or_else(|| panic!("no {k} in {rep:#?}"));
    assert!(got("root").contains(&format!("/dev/mapper/{vg_name}-lvroot")) && got("root").contains("ext4"), "{rep:#?}");
    let pvs = got("pvs");
    assert!(pvs.contains("vda") && pvs.contains("vdb"), "the volume group is not on both disks: {pvs}");
    assert!(got("bond").starts_with("active-backup 1") && got("bond").split_whitespace().count() == 4, "{rep:#?}");
    assert!(got("addr").contains("bond0") && got("addr").contains(&format!("inet {STATIC_IP}/24")), "{rep:#?}");
    assert!(got("vlan").contains(&format!("id {VLAN_ID}")), "{rep:#?}");
    assert_eq!(got("hostname").trim(), "os-vm", "{rep:#?}");
    assert!(got("keys").contains(&key_body), "{rep:#?}");
    assert_eq!(got("datasource"), "maas", "not the MAAS datasource: {rep:#?}");

    // The installer's phases as events, its log as the installation result.
    let events = s.get(Some(&admin), &format!("events/?op=query&id={sid}&level=DEBUG&limit=200")).await.json();
    let descs: Vec<String> =
        events["events"].as_array().unwrap().iter().map(|e| format!("{} {}", e["type"], e["description"])).collect();
    for want in ["stage-partitioning", "stage-extract", "stage-curthooks", "modules-final"] {
        assert!(descs.iter().any(|d| d.contains(want)), "no {want} event: {descs:#?}");
    }
    let r = s.get(Some(&admin), &format!("nodes/{sid}/results/current-installation/?include_output=1")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let set = r.json();
    let log = set["results"].as_array().unwrap().iter().find(|x| x["name"] == "/tmp/install.log").cloned();
    let log = log.unwrap_or_else(|| panic!("no installation log: {set}"));
    let text = base64::engine::general_purpose::STANDARD.decode(log["output"].as_str().unwrap()).unwrap();
    let text = String::from_utf8_lossy(&text);
    assert!(text.contains("$ vgcreate") && text.contains("unsquashfs") && text.contains("grub-install"), "{text}");

    // 2. Release with a quick erase.
    let t = Instant::now();
    let r = s.post(Some(&admin), &format!("machines/{sid}/?op=release"), &[("quick_erase", "true")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    wait_status(&s, &admin, &sid, "Ready", "Failed disk erasing", PHASE, &console).await;
    let t_release = t.elapsed();
    bmc.wait_vm_off("the VM to power off after erasing", &console).await;

    // 3. An image that is no OS fails in the installer, with the reason.
    let fields = [("name", "custom/not-an-os"), ("architecture", "amd64/generic"), ("filetype", "tgz")];
    let r = upload_boot_resource(&s, &admin, &fields, Some(not_an_os())).await;
    assert_eq!(r.status, 201, "{}", r.body);
    // A deployment the installer fails: the machine, once Failed deployment.
    let deploy_failing = async |osystem: &str, series: &str| -> Value {
        post("machines/?op=allocate", &[("system_id", &sid)]).await;
        let r = s
            .post(
                Some(&admin),
                &format!("machines/{sid}/?op=deploy"),
                &[("osystem", osystem), ("distro_series", series)],
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        wait_status(&s, &admin, &sid, "Failed deployment", "Deployed", PHASE, &console).await;
        s.get(Some(&admin), &format!("machines/{sid}/")).await.json()
    };
    // ... then the VM powers off and the machine is released to Ready.
    let release_failed = async |what: &str| {
        bmc.wait_vm_off(what, &console).await;
        post(&format!("machines/{sid}/?op=release"), &[]).await;
        wait_status(&s, &admin, &sid, "Ready", "Failed releasing", PHASE, &console).await;
    };
    post(&format!("machines/{sid}/?op=set_storage_layout"), &[("storage_layout", "flat")]).await;
    let m = deploy_failing("custom", "not-an-os").await;
    let why = m["error_description"].as_str().unwrap_or("").to_string();
    assert!(why.contains("grub-install"), "the reason is not given: {m}");
    let r = s.get(Some(&admin), &format!("nodes/{sid}/results/current-installation/?include_output=1")).await;
    assert!(r.body.contains("/tmp/install.log"), "the failed install's log is not kept: {}", r.body);
    release_failed("the VM to power off after the failure").await;

    // 3b. The squashfs again, but the rack's cached copy is corrupted (same
    // size, one byte flipped): the installer has partitioned the disk when
    // the download's checksum fails; the deployment fails saying so, and
    // the next deployment is not hindered.
    let cache = dir.path().join("rack/images");
    let squashfs = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().path())
        .max_by_key(|p| std::fs::metadata(p).unwrap().len())
        .unwrap();
    // One byte flipped in place (the file is a few hundred MB).
    use std::os::unix::fs::FileExt;
    let file = std::fs::OpenOptions::new().read(true).write(true).open(&squashfs).unwrap();
    let middle = file.metadata().unwrap().len() / 2;
    let mut byte = [0u8];
    file.read_exact_at(&mut byte, middle).unwrap();
    file.write_all_at(&[byte[0] ^ 0xff], middle).unwrap();
    let m = deploy_failing("debian", "bookworm").await;
    let why = m["error_description"].as_str().unwrap_or("").to_string();
    assert!(why.contains("does not match"), "the checksum failure is not the reason given: {m}");
    file.write_all_at(&byte, middle).unwrap();
    drop(file);
    release_failed("the VM to power off after the checksum failure").await;

    // 4. The Debian root tarball, the flat layout, DHCP on the first NIC.
    let t = Instant::now();
    let fields = [
        ("name", "custom/bookworm-tgz"),
        ("title", "Debian 12 root tarball"),
        ("architecture", "amd64/generic"),
        ("filetype", "tgz"),
    ];
    let r = upload_boot_resource(&s, &admin, &fields, Some(std::fs::read(&os_tgz).unwrap())).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let t_upload = t.elapsed();
    post(&format!("machines/{sid}/?op=restore_networking_configuration"), &[]).await;
    let m = s.get(Some(&admin), &format!("machines/{sid}/")).await.json();
    let eth = m["interface_set"].as_array().unwrap().iter().find(|i| i["mac_address"] == MAC0).unwrap().clone();
    let eth_id = eth["id"].to_string();
    for link in eth["links"].as_array().unwrap() {
        post(&format!("{base}{eth_id}/?op=unlink_subnet"), &[("id", &link["id"].to_string())]).await;
    }
    post(&format!("{base}{eth_id}/?op=link_subnet"), &[("mode", "DHCP"), ("subnet", &subnet_id)]).await;
    post("machines/?op=allocate", &[("system_id", &sid)]).await;
    let mark = console_len(&console);
    let t = Instant::now();
    let r = s
        .post(
            Some(&admin),
            &format!("machines/{sid}/?op=deploy"),
            &[("osystem", "custom"), ("distro_series", "bookworm-tgz"), ("user_data", &ud)],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    wait_status(&s, &admin, &sid, "Deployed", "Failed deployment", DEPLOY, &console).await;
    let t_deploy_tgz = t.elapsed();
    let rep = user_data_report(&console, mark).await;
    let got = |k: &str| rep.get(k).cloned().unwrap_or_else(|| panic!("no {k} in {rep:#?}"));
    assert!(got("root").starts_with("/dev/vda") && got("root").contains("ext4"), "{rep:#?}");
    assert!(got("pvs").is_empty() || !got("pvs").contains("vd"), "an old volume group survived: {rep:#?}");
    assert!(got("addr").contains("inet 203.0.113.") && got("addr").contains("dynamic"), "not DHCP: {rep:#?}");
    assert!(!got("addr").contains(STATIC_IP), "{rep:#?}");
    assert_eq!(got("hostname").trim(), "os-vm", "{rep:#?}");
    assert!(got("keys").contains(&key_body), "{rep:#?}");

    let disks_after_tgz = got("disks");
    assert!(disks_after_tgz.contains("vda1 ext4 "), "{rep:#?}");

    // 5. Released (no erase), then the squashfs run from memory.
    post(&format!("machines/{sid}/?op=release"), &[]).await;
    wait_status(&s, &admin, &sid, "Ready", "Failed releasing", PHASE, &console).await;
    bmc.wait_vm_off("the VM to power off after releasing", &console).await;
    post("machines/?op=allocate", &[("system_id", &sid)]).await;
    let mark = console_len(&console);
    let t = Instant::now();
    let r = s
        .post(
            Some(&admin),
            &format!("machines/{sid}/?op=deploy"),
            &[("osystem", "debian"), ("distro_series", "bookworm"), ("user_data", &ud), ("ephemeral_deploy", "true")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    wait_status(&s, &admin, &sid, "Deployed", "Failed deployment", DEPLOY, &console).await;
    let t_deploy_ram = t.elapsed();
    let log = std::fs::read_to_string(&console).unwrap_or_default();
    assert!(
        log[mark.min(log.len())..].contains("IRONPOOL: switching to the deployed image in memory"),
        "the ephemeral environment did not hand over to the image"
    );
    let rep = user_data_report(&console, mark).await;
    let got = |k: &str| rep.get(k).cloned().unwrap_or_else(|| panic!("no {k} in {rep:#?}"));
    assert!(got("root").contains("overlay"), "the root is not the in-memory overlay: {rep:#?}");
    assert_eq!(got("disks"), disks_after_tgz, "the ephemeral deployment touched the disk");
    assert!(got("addr").contains("inet 203.0.113."), "{rep:#?}");
    assert_eq!(got("hostname").trim(), "os-vm", "{rep:#?}");
    assert!(got("keys").contains(&key_body), "{rep:#?}");
    assert_eq!(got("datasource"), "maas", "not the MAAS datasource: {rep:#?}");
    let m = s.get(Some(&admin), &format!("machines/{sid}/")).await.json();
    assert_eq!(m["netboot"], true, "an ephemeral deployment keeps booting from the network: {m}");
    assert_eq!(m["ephemeral_deploy"], true, "{m}");

    eprintln!(
        "e2e deploy OS: import {:.1}s, commission -> Ready {:.1}s, squashfs deploy: installer done {:.1}s, \
         Deployed {:.1}s; release (quick erase) {:.1}s; tgz upload {:.1}s, tgz deploy -> Deployed {:.1}s; \
         ephemeral (in memory) deploy -> Deployed {:.1}s",
        t_import.as_secs_f64(),
        t_commission.as_secs_f64(),
        t_install.as_secs_f64(),
        t_deploy.as_secs_f64(),
        t_release.as_secs_f64(),
        t_upload.as_secs_f64(),
        t_deploy_tgz.as_secs_f64(),
        t_deploy_ram.as_secs_f64()
    );
    rack.stop().await;
    drop(bmc);
}
