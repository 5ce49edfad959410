//! VM hosts (`vm-hosts/`, `pods/`) against a real libvirtd (qemu:///system,
//! TCG): register, refresh (resources, storage pools, existing domains
//! enlisted), compose with constraints (the domain libvirt defines has the
//! vCPUs, memory, disk and network boot asked for, and a virsh machine
//! exists), decompose on delete, and MAAS's refusals. Needs
//! tests/qemu-setup.sh and tests/libvirt-setup.sh.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail by panicking

mod common;

use common::peers::{need_libvirt, virsh, TestDomain};
use common::*;

fn tag(b: Backend) -> &'static str {
    match b {
        Backend::Sqlite => "sq",
        Backend::Postgres => "pg",
    }
}

/// A libvirt dir pool on a private directory, removed on drop.
struct TestPool {
    name: String,
    dir: tempfile::TempDir,
}

impl TestPool {
    fn new(name: &str) -> TestPool {
        use std::os::unix::fs::PermissionsExt;
        need_libvirt();
        let dir = tempfile::tempdir().unwrap();
        // qemu runs as libvirt's own user: it must reach the volumes.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let target = dir.path().display().to_string();
        virsh(&["pool-define-as", name, "dir", "--target", &target]);
        virsh(&["pool-start", name]);
        TestPool { name: name.to_string(), dir }
    }
}

impl Drop for TestPool {
    fn drop(&mut self) {
        let c = |args: &[&str]| std::process::Command::new("virsh").arg("-c").arg("qemu:///system").args(args).output();
        let _ = c(&["pool-destroy", &self.name]);
        let _ = c(&["pool-undefine", &self.name]);
    }
}

fn domains() -> Vec<String> {
    virsh(&["list", "--all", "--name"]).lines().map(|l| l.trim().to_string()).filter(|l| !l.is_empty()).collect()
}

fn emulator() -> String {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/.qemu/qemu-libvirt").display().to_string()
}

backend_tests!(register_refresh_compose_decompose_against_libvirt, |b| async move {
    let prefix = format!("ipvmh-{}-{}", tag(b), std::process::id());
    let pool = TestPool::new(&format!("{prefix}-pool"));
    let s = TestServer::start_with(b, |c| {
        c.run_jobs = false;
        c.virsh_emulator = Some(emulator());
    });
    let admin = s.user("admin", true).await;
    let user = s.user("user", false).await;
    let n = if b == Backend::Sqlite { 1 } else { 2 };
    let existing = TestDomain::define(&format!("{prefix}-existing"), &[&format!("52:54:00:5{n}:00:01")]);

    // Register: discovery runs at once.
    let r = s
        .post(
            Some(&admin),
            "vm-hosts/",
            &[
                ("type", "virsh"),
                ("power_address", "qemu:///system"),
                ("name", "kvm1"),
                ("tags", "a,b"),
                // Other tests' domains on this libvirtd count as used too.
                ("cpu_over_commit_ratio", "10"),
                ("memory_over_commit_ratio", "10"),
                ("default_storage_pool", ""),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let h = r.json();
    let id = h["id"].as_i64().unwrap();
    assert_eq!(h["type"], "virsh");
    assert_eq!(h["name"], "kvm1");
    assert_eq!(h["tags"], serde_json::json!(["a", "b"]));
    assert_eq!(h["cpu_over_commit_ratio"], 10.0);
    assert_eq!(h["resource_uri"], format!("/MAAS/api/2.0/vm-hosts/{id}/"));
    assert_eq!(h["architectures"], serde_json::json!(["amd64"]));
    assert!(h["capabilities"].as_array().unwrap().iter().any(|c| c == "composable"), "{h}");
    let host_cores = h["total"]["cores"].as_i64().unwrap();
    let host_memory = h["total"]["memory"].as_i64().unwrap();
    assert!(host_cores >= 1 && host_memory > 1024, "{h}");
    let pools = h["storage_pools"].as_array().unwrap();
    let p = pools.iter().find(|p| p["name"] == pool.name.as_str()).unwrap_or_else(|| panic!("pool in {h}"));
    assert_eq!(p["type"], "dir");
    assert_eq!(p["path"], pool.dir.path().display().to_string());
    assert!(p["total"].as_i64().unwrap() > 0);
    assert_eq!(h["zone"]["name"], "default");
    assert_eq!(h["pool"]["name"], "default");

    // The domain already on the host became a machine of this host.
    let machines = s.get(Some(&admin), "machines/").await.json();
    let m = machines
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["hostname"] == existing.name.as_str())
        .unwrap_or_else(|| panic!("{} enlisted: {machines}", existing.name))
        .clone();
    assert_eq!(m["power_type"], "virsh");
    assert_eq!(m["pod"]["id"], id);
    assert_eq!(m["pod"]["name"], "kvm1");
    assert_eq!(m["pod"]["resource_uri"], format!("/MAAS/api/2.0/vm-hosts/{id}/"));

    // The pods/ alias: same host, its own resource_uri; users read it.
    let r = s.get(Some(&user), &format!("pods/{id}/")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["resource_uri"], format!("/MAAS/api/2.0/pods/{id}/"));
    assert_eq!(s.get(Some(&user), "vm-hosts/").await.json().as_array().unwrap().len(), 1);

    // parameters: admins only.
    let r = s.get(Some(&admin), &format!("vm-hosts/{id}/?op=parameters")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["power_address"], "qemu:///system");
    assert_eq!(s.get(Some(&user), &format!("vm-hosts/{id}/?op=parameters")).await.status, 403);

    // Tags.
    let r = s.post(Some(&admin), &format!("vm-hosts/{id}/?op=add_tag"), &[("tag", "gpu")]).await;
    assert_eq!(r.json()["tags"], serde_json::json!(["a", "b", "gpu"]));
    let r = s.post(Some(&admin), &format!("pods/{id}/?op=remove_tag"), &[("tag", "a")]).await;
    assert_eq!(r.json()["tags"], serde_json::json!(["b", "gpu"]));
    expect(
        &s.post(Some(&admin), &format!("vm-hosts/{id}/?op=add_tag"), &[("tag", "x,y")]).await,
        400,
        "Tag may not contain a \",\".",
    );

    // Compose with constraints: 1 vCPU, 1024 MiB, one 16 MiB disk in our pool.
    let hostname = format!("{prefix}-composed");
    let storage = format!("root:0.016777216({})", pool.name);
    let r = s
        .post(
            Some(&admin),
            &format!("vm-hosts/{id}/?op=compose"),
            &[
                ("cores", "1"),
                ("memory", "1024"),
                ("storage", &storage),
                ("hostname", &hostname),
                ("skip_commissioning", "true"),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let sid = r.json()["system_id"].as_str().unwrap().to_string();
    assert_eq!(r.json()["resource_uri"], format!("/MAAS/api/2.0/machines/{sid}/"));
    let guard = TestDomain { name: hostname.clone(), macs: vec![] };
    let xml = virsh(&["dumpxml", "--inactive", &hostname]);
    assert!(xml.contains(">1</vcpu>"), "{xml}");
    assert!(xml.contains("<memory unit='KiB'>1048576</memory>"), "{xml}");
    assert!(xml.find("<boot dev='network'/>").unwrap() < xml.find("<boot dev='hd'/>").unwrap(), "{xml}");
    let vol = pool.dir.path().join(format!("{hostname}-disk0.img"));
    assert_eq!(std::fs::metadata(&vol).unwrap().len(), 16 * 1024 * 1024);
    let m = s.get(Some(&admin), &format!("machines/{sid}/")).await.json();
    assert_eq!(m["hostname"], hostname.as_str());
    assert_eq!(m["power_type"], "virsh");
    assert_eq!(m["cpu_count"], 1);
    assert_eq!(m["memory"], 1024);
    assert_eq!(m["status_name"], "New");
    assert_eq!(m["pod"]["id"], id);
    let mac = m["interface_set"][0]["mac_address"].as_str().unwrap().to_string();
    assert!(xml.contains(&mac), "the machine's MAC is the domain's: {xml}");
    let p = s.get(Some(&admin), &format!("machines/{sid}/?op=power_parameters")).await.json();
    assert_eq!(p["power_id"], hostname.as_str());
    assert_eq!(p["power_address"], "qemu:///system");
    // The host counts it (and the domain found at registration).
    let h = s.get(Some(&admin), &format!("vm-hosts/{id}/")).await.json();
    assert!(h["used"]["cores"].as_i64().unwrap() >= 2, "{h}");
    assert_eq!(h["available"]["cores"].as_i64().unwrap(), host_cores - h["used"]["cores"].as_i64().unwrap());
    let p = h["storage_pools"].as_array().unwrap().iter().find(|p| p["name"] == pool.name.as_str()).unwrap().clone();
    assert_eq!(p["used"], 16 * 1024 * 1024);

    // Refresh keeps one machine per domain.
    let r = s.post(Some(&admin), &format!("vm-hosts/{id}/?op=refresh"), &[]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let all = s.get(Some(&admin), "machines/").await.json();
    let named = |h: &str| all.as_array().unwrap().iter().filter(|m| m["hostname"] == h).count();
    assert_eq!((named(&hostname), named(&existing.name)), (1, 1), "{all}");

    // Errors, in MAAS's words.
    let compose = |form: Vec<(&'static str, String)>| {
        let s = &s;
        let admin = &admin;
        async move {
            let f: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            s.post(Some(admin), &format!("vm-hosts/{id}/?op=compose"), &f).await
        }
    };
    let r = compose(vec![("storage", "root:abc".into())]).await;
    expect(&r, 400, "Malformed storage constraint, \\\"root:abc\\\".");
    let r = compose(vec![("memory", "512".into())]).await;
    expect(&r, 400, "Ensure this value is greater than or equal to 1024.");
    let r = compose(vec![("cores", (host_cores + 1).to_string())]).await;
    expect(&r, 400, &format!("Ensure this value is less than or equal to {host_cores}."));
    let r = compose(vec![("hostname", hostname.clone())]).await;
    expect(&r, 400, "already exists");
    let r = compose(vec![("architecture", "arm64/generic".into())]).await;
    expect(&r, 400, "Select a valid choice. arm64/generic is not one of the available choices.");
    // Over the storage pool: MAAS's driver words, 503.
    let r =
        compose(vec![("storage", format!("root:100000({})", pool.name)), ("skip_commissioning", "true".into())]).await;
    expect(
        &r,
        503,
        &format!("Unable to compose machine because: Not enough storage space on storage pools: {}", pool.name),
    );
    // Over the over-commit ratio (0.1 of the host's cores): 503, MAAS's words.
    let r = s.call(Some(&admin), "PUT", &format!("vm-hosts/{id}/"), &[("cpu_over_commit_ratio", "0.1")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = compose(vec![("cores", "1".into()), ("skip_commissioning", "true".into())]).await;
    expect(&r, 503, "Unable to compose KVM instance in 'kvm1'. CPU overcommit ratio is 0.1 and there are");
    let r = s.call(Some(&admin), "PUT", &format!("vm-hosts/{id}/"), &[("cpu_over_commit_ratio", "11")]).await;
    expect(&r, 400, "Ensure this value is less than or equal to 10.");
    assert_eq!(compose(vec![]).await.status, 503, "nothing was composed by the failed calls");
    assert_eq!(domains().iter().filter(|d| d.starts_with(&prefix)).count(), 2, "{:?}", domains());
    let r = s.post(Some(&user), &format!("vm-hosts/{id}/?op=compose"), &[]).await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(
        s.post(Some(&user), "vm-hosts/", &[("type", "virsh"), ("power_address", "qemu:///system")]).await.status,
        403
    );
    expect(&s.get(Some(&admin), "vm-hosts/9999/").await, 404, "No Pod matches the given query.");

    // Delete with decompose: the composed domain and machine go; the found
    // domain (not ours) stays, its machine too.
    let r = s.call(Some(&admin), "DELETE", &format!("vm-hosts/{id}/?decompose=true"), &[]).await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert!(!domains().contains(&hostname), "domain undefined");
    assert!(!vol.exists(), "its volume removed");
    assert!(domains().contains(&existing.name), "a domain not composed here is left alone");
    assert_eq!(s.get(Some(&admin), &format!("machines/{sid}/")).await.status, 404);
    assert_eq!(s.get(Some(&admin), "vm-hosts/").await.json().as_array().unwrap().len(), 0);
    drop(guard);
});

backend_tests!(vm_host_refusals, |b| async move {
    let s = TestServer::start_with(b, |c| c.run_jobs = false);
    let admin = s.user("admin", true).await;
    // Other MAAS types are refused by name, with what is supported.
    let r = s.post(Some(&admin), "vm-hosts/", &[("type", "lxd"), ("power_address", "10.0.0.1")]).await;
    expect(&r, 400, "lxd is not one of the available choices. This region supports VM hosts of type: virsh.");
    assert!(r.json()["type"].is_array(), "{}", r.body);
    let r = s.post(Some(&admin), "pods/", &[("power_address", "qemu:///system")]).await;
    expect(&r, 400, "This field is required.");
    let r = s.post(Some(&admin), "vm-hosts/", &[("type", "virsh")]).await;
    expect(&r, 400, "power_address");
    let r = s
        .post(Some(&admin), "vm-hosts/", &[("type", "virsh"), ("power_address", "qemu:///system?command=/bin/sh")])
        .await;
    expect(&r, 400, "Supplying extra parameters to the Virsh address is not supported.");
    let r = s
        .post(Some(&admin), "vm-hosts/", &[("type", "virsh"), ("power_address", "qemu:///system"), ("zone", "nowhere")])
        .await;
    expect(&r, 400, "Select a valid choice. That choice is not one of the available choices.");
    assert_eq!(s.get(Some(&admin), "vm-hosts/").await.json().as_array().unwrap().len(), 0, "nothing stored");

    // A host that does not answer is saved (as MAAS does); refresh says why.
    let closed = format!("qemu+ssh://root@127.0.0.1:{}/system", common::peers::free_tcp_port());
    let r =
        s.post(Some(&admin), "vm-hosts/", &[("type", "virsh"), ("power_address", &closed), ("power_pass", "pw")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let id = r.json()["id"].as_i64().unwrap();
    assert_eq!(r.json()["total"]["cores"], 0);
    assert!(!r.body.contains("\"pw\""), "no password in the host JSON");
    let r = s.post(Some(&admin), &format!("vm-hosts/{id}/?op=refresh"), &[]).await;
    expect(&r, 503, "Failed talking to VM host");
    assert_eq!(s.get(Some(&admin), &format!("vm-hosts/{id}/?op=parameters")).await.json()["power_pass"], "pw");
    let r = s.call(Some(&admin), "PUT", &format!("vm-hosts/{id}/"), &[("type", "lxd")]).await;
    expect(&r, 400, "Cannot change the type of a pod.");
    // The password is sealed at rest.
    let stored: Vec<String> = s
        .state
        .db
        .run(|c| {
            use diesel::prelude::*;
            use ironpool_region::db::schema::vm_hosts;
            vm_hosts::table
                .select(vm_hosts::power_parameters)
                .load::<String>(c)
                .map_err(ironpool_region::db::from_diesel)
        })
        .await
        .unwrap();
    assert!(stored[0].contains("enc1:") && !stored[0].contains("\"pw\""), "{stored:?}");
});
