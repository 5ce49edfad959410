//! End to end: one qemu VM (TCG) goes through a machine's whole life for
//! real, driven only through the API.
//!
//! - The region imports the ephemeral environment built by
//!   `tools/build-ephemeral.sh` (Debian kernel, busybox initramfs, static
//!   `ironpool-agent`) from a local simplestreams mirror.
//! - The rack daemon serves DHCP, the per-MAC iPXE scripts, the boot files
//!   and the images on a bridge.
//! - The VM's "BMC" is OpenIPMI's `ipmi_sim` whose chassis control starts
//!   and kills the qemu process (what virtualbmc does for libvirt), so
//!   power goes region → rack → freeipmi → BMC → VM. The VM also has the
//!   BMC's host side: qemu's `isa-ipmi-kcs` + `ipmi-bmc-extern` connected
//!   to the same ipmi_sim (its `serial kcs … codec VM`), so the ephemeral
//!   environment's `/dev/ipmi0` reaches it as a server's KCS interface
//!   reaches its BMC.
//!
//! 1. The unknown VM PXE-boots, enlists and commissions itself: New, with
//!    the BMC it configured (a `maas` user with a random password, made
//!    through KCS) as its power settings, which work over the LAN.
//! 2. With nothing typed but a hostname, `commission` (with a user testing
//!    script and a parameter) powers it on through the detected
//!    credentials: Ready with the VM's CPU count, memory and
//!    disk size, its lshw details, XPath tags that do and do not match it,
//!    every default commissioning script passed and the testing script's
//!    output, read through the API and through python-libmaas.
//! 3. A custom disk image (`tools/build-test-image.sh`: Debian kernel +
//!    busybox, syslinux, an empty `cidata` partition) is uploaded through
//!    `boot-resources/`.
//! 4. `deploy` with the owner's SSH key and a user_data script: the agent
//!    writes the image and the NoCloud seed to the disk and reboots; iPXE
//!    hands over to the disk; the installed system runs the user data,
//!    prints the key and reports `modules-final`: Deployed. The disk image
//!    is then checked from the host (boot partition byte-identical, the
//!    user data's marker file in `cidata`).
//! 5. `release` with a quick erase: the agent zeroes both ends of the disk:
//!    Ready.
//!
//! Needs root, qemu (`tests/qemu-setup.sh`), ipmi_sim + freeipmi
//! (`rack-controller/tests/peers-setup.sh`), mtools, and the images in
//! `tests/.ephemeral` and `tests/.test-image`; skipped otherwise.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail by panicking

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::vm::*;
use common::*;
use ironpool_rack::link::Rack;

const VM_MAC: &str = "52:54:00:e2:e0:01";
const DISK_SERIAL: &str = "IPE2EDISK01";
const DISK_SIZE: u64 = 2 << 30;
const PHASE: Duration = Duration::from_secs(300);

/// Issue 17's BMC detection on the VM: the machine's power is the `maas`
/// user its agent made on the BMC through KCS, at the address the BMC
/// reported, and those credentials work over the LAN. Returns the password.
async fn detected_bmc(s: &TestServer, admin: &ApiKey, bmc: &Bmc, sid: &str) -> String {
    let m = s.get(Some(admin), &format!("machines/{sid}/")).await.json();
    assert_eq!(m["power_type"], "ipmi", "{m}");
    let p = s.get(Some(admin), &format!("machines/{sid}/?op=power_parameters")).await.json();
    assert_eq!(p["power_address"], BMC_ADDR, "{p}");
    assert_eq!(p["power_user"], "maas", "{p}");
    assert_eq!(p["power_driver"], "LAN_2_0", "{p}");
    assert_eq!(p["mac_address"], BMC_MAC, "{p}");
    let pass = p["power_pass"].as_str().unwrap().to_string();
    assert!((10..=20).contains(&pass.len()), "{p}");
    assert!(bmc.ipmitool_as("maas", &pass, &["chassis", "power", "status"]).is_some(), "the BMC refuses {p}");
    let set = s.get(Some(admin), &format!("nodes/{sid}/results/current-commissioning/?include_output=1")).await.json();
    let r = set["results"].as_array().unwrap().iter().find(|r| r["name"] == "30-maas-01-bmc-config").cloned();
    let r = r.unwrap_or_else(|| panic!("no BMC configuration result: {set}"));
    assert_eq!(r["status_name"], "Passed", "{r}");
    let out = base64::engine::general_purpose::STANDARD.decode(r["output"].as_str().unwrap()).unwrap();
    let out = String::from_utf8_lossy(&out);
    assert!(out.contains("INFO: IPMI detected!") && !out.contains(&pass), "{out}");
    pass
}

/// Issue 17's "Done when" on the real VM: the hardware details its agent
/// collected (BSON with the lshw document naming the VM's disk), XPath tags
/// evaluated against them, a passed result for every default commissioning
/// script, and the user testing script's output through the API and
/// through python-libmaas.
async fn what_commissioning_found(s: &TestServer, admin: &ApiKey, sid: &str) {
    let r = s.get(Some(admin), &format!("machines/{sid}/?op=details")).await;
    assert_eq!((r.status, r.content_type.as_deref()), (200, Some("application/bson")));
    assert!(r.body.contains("lshw") && r.body.contains("<node"), "no lshw document: {}", r.body);
    assert!(r.body.contains(DISK_SERIAL), "the lshw document does not name the VM's disk: {}", r.body);

    for (name, definition, matches) in [
        ("e2e-big-disk", r#"//node[@class="disk"]/size > 1000000000"#, true),
        ("e2e-huge-disk", r#"//node[@class="disk"]/size > 1000000000000"#, false),
    ] {
        let r = s.post(Some(admin), "tags/", &[("name", name), ("definition", definition)]).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let tagged = s.get(Some(admin), &format!("tags/{name}/?op=machines")).await.json();
        let ids: Vec<&str> = tagged.as_array().unwrap().iter().filter_map(|m| m["system_id"].as_str()).collect();
        assert_eq!(ids.contains(&sid), matches, "{name} ({definition}): {ids:?}");
    }

    // The PCI devices, linked to the NIC and the disk they back; the two
    // NUMA nodes qemu was given.
    let m = s.get(Some(admin), &format!("machines/{sid}/")).await.json();
    let numa = m["numanode_set"].as_array().unwrap();
    assert_eq!(numa.len(), 2, "{m}");
    for (i, n) in numa.iter().enumerate() {
        assert_eq!((n["index"].as_u64(), n["cores"].clone()), (Some(i as u64), serde_json::json!([i])), "{n}");
        assert!((200..=384).contains(&n["memory"].as_i64().unwrap()), "{n}");
    }
    let r = s.get(Some(admin), &format!("nodes/{sid}/devices/")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let devices = r.json();
    let devices = devices.as_array().unwrap();
    let nic = devices
        .iter()
        .find(|d| d["vendor_id"] == "8086" && d["product_id"] == "100e")
        .unwrap_or_else(|| panic!("no e1000: {devices:?}"));
    assert_eq!((&nic["bus_name"], &nic["hardware_type_name"]), (&"PCIE".into(), &"Network".into()), "{nic}");
    assert_eq!(nic["commissioning_driver"], "e1000", "{nic}");
    // Names from the pci.ids the ephemeral environment carries.
    assert_eq!(nic["vendor_name"], "Intel Corporation", "{nic}");
    assert!(nic["product_name"].as_str().unwrap().contains("82540EM"), "{nic}");
    assert_eq!(nic["physical_interface"]["mac_address"], VM_MAC, "{nic}");
    let disk_name = m["blockdevice_set"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["serial"] == DISK_SERIAL)
        .map(|d| d["name"].clone())
        .unwrap();
    let blk = devices
        .iter()
        .find(|d| d["physical_blockdevice"]["name"] == disk_name)
        .unwrap_or_else(|| panic!("no device backs {disk_name}: {devices:?}"));
    assert_eq!((&blk["vendor_id"], &blk["hardware_type_name"]), (&"1af4".into(), &"Storage".into()), "{blk}");
    let pci = blk["pci_address"].as_str().unwrap();
    let one = s.get(Some(admin), &format!("nodes/{sid}/devices/{pci}/")).await.json();
    assert_eq!(one["id"], blk["id"], "{one}");

    let scripts = s.get(Some(admin), "scripts/?type=commissioning").await.json();
    let defaults: Vec<&str> = scripts
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["default"] == true)
        .filter_map(|x| x["name"].as_str())
        .collect();
    assert!(defaults.len() >= 5, "{scripts}");
    let set = s.get(Some(admin), &format!("nodes/{sid}/results/current-commissioning/")).await.json();
    let results = set["results"].as_array().unwrap();
    for name in &defaults {
        let mine: Vec<_> = results.iter().filter(|x| x["name"] == *name).collect();
        assert!(!mine.is_empty(), "no result for {name}: {set}");
        for x in mine {
            assert_eq!(x["status_name"], "Passed", "{name}: {x}");
        }
    }

    let r = s.get(Some(admin), &format!("nodes/{sid}/results/current-testing/?include_output=1")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let set = r.json();
    let results = set["results"].as_array().unwrap();
    let greet = results.iter().find(|x| x["name"] == "e2e-greet").unwrap_or_else(|| panic!("e2e-greet: {set}"));
    assert_eq!(greet["status_name"], "Passed", "{greet}");
    assert_eq!(greet["parameters"]["msg"]["value"], "from-e2e", "{greet}");
    let out = base64::engine::general_purpose::STANDARD.decode(greet["stdout"].as_str().unwrap()).unwrap();
    let out = String::from_utf8_lossy(&out);
    assert!(out.starts_with("greet --msg=from-e2e\n") && out.contains(VM_MAC), "{out}");
    let smart: Vec<_> = results.iter().filter(|x| x["name"] == "smartctl-validate").collect();
    assert!(!smart.is_empty() && smart.iter().all(|x| x["status_name"] == "Passed"), "{set}");

    // The same output through python-libmaas's describe-driven handlers,
    // when test.sh has built its venv (compat-tests/python/run.sh --venv-only).
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let python = std::env::var_os("IRONPOOL_LIBMAAS_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("compat-tests/python/.venv/bin/python"));
    if !python.exists() {
        eprintln!("SKIP (the libmaas part): no python-libmaas venv at {}", python.display());
        return;
    }
    let code = "import base64, sys\n\
                from maas.client import connect\n\
                c = connect(sys.argv[1], apikey=sys.argv[2])\n\
                s = c._origin.session\n\
                one = s.NodeScriptResult.read(system_id=sys.argv[3], id='current-testing', include_output='1')\n\
                for x in one['results']:\n\
                \x20   if x['name'] == 'e2e-greet':\n\
                \x20       print(base64.b64decode(x['stdout']).decode(), end='')\n";
    let key = format!("{}:{}:{}", admin.consumer, admin.token, admin.secret);
    let out =
        Command::new(&python).args(["-c", code, &format!("{}/MAAS/api/2.0/", s.origin), &key, sid]).output().unwrap();
    assert!(out.status.success(), "libmaas: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("greet --msg=from-e2e\n") && text.contains(VM_MAC), "libmaas read: {text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qemu_vm_enlists_commissions_deploys_and_releases() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let qemu_root = root.join("tests/.qemu");
    let mirror = root.join("tests/.ephemeral/mirror");
    let image_gz = root.join("tests/.test-image/test-image.img.gz");
    if !is_root() || !qemu_root.join("root/usr/bin/qemu-system-x86_64").exists() {
        eprintln!("SKIP: needs root and qemu (tests/qemu-setup.sh)");
        return;
    }
    if !mirror.join("streams/v1/index.json").exists() || !image_gz.exists() {
        eprintln!(
            "SKIP: no ephemeral environment or test image (tools/build-ephemeral.sh tests/.ephemeral; \
             tools/build-test-image.sh tests/.test-image)"
        );
        return;
    }
    let bridge = Bridge::new("e");
    let s = TestServer::start(Backend::Sqlite);
    let admin = s.user("admin", true).await;
    let dir = tempfile::tempdir().unwrap();
    let console = dir.path().join("console.log");
    let disk = dir.path().join("disk.img");
    std::fs::File::create(&disk).unwrap().set_len(DISK_SIZE).unwrap();
    // 2 CPUs, 768 MiB in two NUMA nodes of one CPU each, the disk with a
    // serial, an e1000 NIC on the tap.
    let spec = VmSpec {
        nics: vec![(bridge.tap.clone(), VM_MAC.into(), "e1000".into())],
        disks: vec![(disk.clone(), DISK_SERIAL.into())],
        memory_mib: 768,
        numa: true,
    };
    let bmc = Bmc::start(dir.path(), &qemu_root, &spec);

    // The ephemeral environment becomes a boot resource.
    let t_import = Instant::now();
    import_mirror(&s, &admin, &mirror).await;
    let t_import = t_import.elapsed();

    // The rack on the bridge.
    let o = bridge_rack_options(&s, &bridge, dir.path().join("rack"), "e2e-rack");
    let rack = Rack::start(o).await.unwrap();
    let rack_sid = wait("rack registration", Duration::from_secs(10), &console, async || rack.state.system_id()).await;
    dhcp_on_bridge(&s, &admin, &rack_sid).await;
    wait("DHCP on the rack", Duration::from_secs(10), &console, async || rack.state.dhcp_stats()).await;
    wait("the boot kernel in the rack's configuration", Duration::from_secs(20), &console, async || {
        rack.state.config().filter(|c| c.boot.enlist.kernel.is_some()).map(|_| ())
    })
    .await;

    let machine = async |sid: &str| s.get(Some(&admin), &format!("machines/{sid}/")).await.json();
    let status_is = async |sid: &str, want: &str, bad: &str| {
        let m = machine(sid).await;
        match m["status_name"].as_str() {
            Some(x) if x == want => Some(m),
            Some(x) if x == bad => panic!("{want} expected, got {bad}: {m}"),
            _ => None,
        }
    };

    // 1. Enlistment: the BMC powers the unknown VM on by hand.
    let t = Instant::now();
    assert!(bmc.ipmitool(&["chassis", "power", "on"]).is_some());
    let find = async || {
        let all = s.get(Some(&admin), "machines/").await.json();
        all.as_array().unwrap().iter().find(|m| m["boot_interface"]["mac_address"] == VM_MAC).cloned()
    };
    let m = wait("the VM to enlist and be New with its inventory", PHASE, &console, async || {
        find().await.filter(|m| m["status_name"] == "New" && m["cpu_count"] == 2)
    })
    .await;
    let t_enlist = t.elapsed();
    let sid = m["system_id"].as_str().unwrap().to_string();
    bmc.wait_vm_off("the VM to power off after enlisting", &console).await;

    // The BMC it configured through KCS is its power: a `maas` user whose
    // password works over the LAN.
    let enlisted_pass = detected_bmc(&s, &admin, &bmc, &sid).await;

    // 2. Commissioning, powered through the rack and the BMC with the
    // detected credentials: nothing about power is typed.
    let r = s.call(Some(&admin), "PUT", &format!("machines/{sid}/"), &[("hostname", "e2e-vm")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    // A user testing script with a parameter, run after the commissioning
    // scripts; what it prints can only come from inside the VM.
    let greet = "#!/bin/sh\n\
                 # --- Start MAAS 1.0 script metadata ---\n\
                 # name: e2e-greet\n\
                 # script_type: testing\n\
                 # parameters:\n\
                 #   msg: {type: string, default: hello}\n\
                 # --- End MAAS 1.0 script metadata ---\n\
                 echo \"greet $1\"\n\
                 cat /sys/class/net/*/address\n";
    let r = s.post(Some(&admin), "scripts/", &[("script", greet)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let t = Instant::now();
    let r = s
        .post(
            Some(&admin),
            &format!("machines/{sid}/?op=commission"),
            &[("testing_scripts", "smartctl-validate,e2e-greet"), ("e2e-greet_msg", "from-e2e")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let m = wait("the machine to be Ready", PHASE, &console, async || {
        status_is(&sid, "Ready", "Failed commissioning").await
    })
    .await;
    let t_commission = t.elapsed();
    assert_eq!(m["cpu_count"], 2, "{m}");
    let mem = m["memory"].as_i64().unwrap();
    assert!((700..=768).contains(&mem), "memory {mem} MiB: {m}");
    let disks = m["blockdevice_set"].as_array().unwrap();
    let d = disks.iter().find(|d| d["serial"] == DISK_SERIAL).unwrap_or_else(|| panic!("no disk: {m}"));
    assert_eq!(d["size"].as_u64(), Some(DISK_SIZE), "{d}");
    bmc.wait_vm_off("the VM to power off after commissioning", &console).await;
    what_commissioning_found(&s, &admin, &sid).await;
    // Commissioning configured the BMC again (MAAS does): the same user,
    // a new password, which is the one stored.
    let pass = detected_bmc(&s, &admin, &bmc, &sid).await;
    assert_ne!(pass, enlisted_pass, "the password was not renewed");
    assert!(
        bmc.ipmitool_as("maas", &enlisted_pass, &["chassis", "power", "status"]).is_none(),
        "the old password still works"
    );

    // 3. The custom image, uploaded.
    let t = Instant::now();
    let gz = std::fs::read(&image_gz).unwrap();
    let fields = [
        ("name", "custom/e2e"),
        ("title", "Ironpool e2e test image"),
        ("architecture", "amd64/generic"),
        ("filetype", "ddgz"),
    ];
    let r = upload_boot_resource(&s, &admin, &fields, Some(gz)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let t_upload = t.elapsed();

    // 4. Deploy with an SSH key and user data.
    let key = ed25519_key(7, "admin@ironpool-e2e");
    let r = s.post(Some(&admin), "account/prefs/sshkeys/", &[("key", &key)]).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let script =
        "#!/bin/sh\necho \"marker-$(hostname)\" > /cidata/marker\necho \"IRONPOOL-USERDATA-RAN $(hostname)\"\n";
    let ud = base64::engine::general_purpose::STANDARD.encode(script);
    let r = s.post(Some(&admin), "machines/?op=allocate", &[("system_id", &sid)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let mark = std::fs::metadata(&console).map(|m| m.len()).unwrap_or(0) as usize;
    let t = Instant::now();
    let r = s
        .post(
            Some(&admin),
            &format!("machines/{sid}/?op=deploy"),
            &[("osystem", "custom"), ("distro_series", "e2e"), ("user_data", &ud)],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    wait("the machine to be Deployed", PHASE, &console, async || {
        status_is(&sid, "Deployed", "Failed deployment").await
    })
    .await;
    let t_deploy = t.elapsed();
    bmc.wait_vm_off("the deployed test system to power off", &console).await;
    let log = std::fs::read_to_string(&console).unwrap_or_default();
    let boot = &log[mark.min(log.len())..];
    assert!(boot.contains("IRONPOOL: rebooting into the installed system"), "{boot}");
    let line = boot.lines().find(|l| l.contains("IRONPOOL-DEPLOYED ")).unwrap_or_else(|| panic!("no marker: {boot}"));
    assert!(line.contains("hostname=e2e-vm.maas"), "{line}");
    let key_body: String = key.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
    assert!(line.contains(&key_body), "the owner's key is not in the deployed system: {line}");
    assert!(boot.contains("IRONPOOL-USERDATA-RAN e2e-vm.maas"), "{boot}");
    assert!(boot.contains("IRONPOOL-REPORTED ok"), "{boot}");
    // From the host: the boot partition as uploaded, the marker in cidata.
    let image = gunzip(&image_gz);
    assert!(bytes(&disk, 0, 17 << 20) == image[..17 << 20], "the disk does not start with the image");
    let out = Command::new("mtype")
        .env("MTOOLS_SKIP_CHECK", "1")
        .arg("-i")
        .arg(format!("{}@@17M", disk.display()))
        .arg("::marker")
        .output()
        .expect("mtools (mtype) is installed");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "marker-e2e-vm.maas", "{out:?}");
    let events = s.get(Some(&admin), &format!("events/?op=query&id={sid}&level=DEBUG&limit=100")).await.json();
    let descs: Vec<String> =
        events["events"].as_array().unwrap().iter().map(|e| format!("{} {}", e["type"], e["description"])).collect();
    assert!(descs.iter().any(|d| d.contains("curtin")), "no installer event: {descs:#?}");

    // 5. Release with a quick erase.
    let t = Instant::now();
    let r = s.post(Some(&admin), &format!("machines/{sid}/?op=release"), &[("quick_erase", "true")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["status_name"], "Disk erasing", "{}", r.body);
    wait("the machine to be Ready again", PHASE, &console, async || {
        status_is(&sid, "Ready", "Failed disk erasing").await
    })
    .await;
    let t_release = t.elapsed();
    bmc.wait_vm_off("the VM to power off after erasing", &console).await;
    assert!(bytes(&disk, 0, 2 << 20).iter().all(|&b| b == 0), "the start of the disk was not erased");
    assert!(bytes(&disk, DISK_SIZE - (2 << 20), 2 << 20).iter().all(|&b| b == 0), "the end was not erased");
    assert!(bytes(&disk, 4 << 20, 1 << 20) == image[4 << 20..5 << 20], "a quick erase touched the middle");
    let m = machine(&sid).await;
    assert!(m["owner"].is_null(), "{m}");

    eprintln!(
        "e2e lifecycle: import {:.1}s, enlist (power on -> New) {:.1}s, commission -> Ready {:.1}s, \
         upload {:.1}s, deploy -> Deployed {:.1}s, release (quick erase) -> Ready {:.1}s",
        t_import.as_secs_f64(),
        t_enlist.as_secs_f64(),
        t_commission.as_secs_f64(),
        t_upload.as_secs_f64(),
        t_deploy.as_secs_f64(),
        t_release.as_secs_f64()
    );
    rack.stop().await;
    drop(bmc);
}
