//! The web UI's list pages are N+1-free: zones, pools, tags, a tag's page,
//! domains, a domain's records, controllers (with their rack and region
//! state), devices, settings, users, images (with their sets, files,
//! sources and selections), networks, a subnet's page (its ranges, used
//! addresses and routes) and a VLAN's page cost the same number of SQL
//! statements with 3 of everything as with 150. Alone in its test binary
//! because it counts queries through diesel's process-wide
//! instrumentation (as `query_count.rs` does for the API's machine list).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail by panicking

mod common;

use common::ui::UiClient;
use common::*;
use ironpool_region::db;
use ironpool_region::engine;
use ironpool_region::engine::network::{
    FabricInput, RangeInput, ReserveInput, RouteInput, SpaceInput, SubnetInput, VlanInput,
};
use ironpool_region::engine::nodes::create::{create_device, create_machine, DeviceInput, MachineInput};

const PAGES: &[&str] = &[
    "/MAAS/r/zones",
    "/MAAS/r/pools",
    "/MAAS/r/tags",
    "/MAAS/r/tag/t0",
    "/MAAS/r/domains",
    "/MAAS/r/controllers",
    "/MAAS/r/devices",
    "/MAAS/r/settings",
    "/MAAS/r/networks",
    // The default VLAN: every seeded subnet is on it.
    "/MAAS/r/vlan/5001",
    "/MAAS/r/images",
    "/MAAS/r/settings/users",
];

/// Zone, pool, tag, domain, machine (in that zone and pool, with that tag)
/// and a device under that machine, for every `i` in `from..to`; and for
/// the networks pages a fabric with a tagged VLAN, a space, a subnet on the
/// default VLAN, and in subnet `s0` (10.0.0.0/16) a reserved range, a user
/// reservation, the machine's static address and a route to the new subnet.
async fn seed(s: &TestServer, from: usize, to: usize) {
    s.state
        .db
        .write(move |c| {
            let admin = db::users::by_username(c, "admin")?.unwrap();
            for i in from..to {
                engine::places::create_zone(c, &format!("z{i}"), "")?;
                engine::places::create_pool(c, &format!("p{i}"), "")?;
                let tag = engine::tags::create_tag(c, &format!("t{i}"), "", "", "")?;
                db::dns::domain_insert(c, &format!("d{i}.example"), true, None, "")?;
                let m = create_machine(
                    c,
                    Some(&admin),
                    MachineInput {
                        architecture: Some("amd64".into()),
                        mac_addresses: vec![format!("02:00:00:00:{:02x}:{:02x}", i / 256, i % 256)],
                        hostname: Some(format!("m{i}")),
                        power_type: "manual".into(),
                        commission: false,
                        zone: Some(format!("z{i}")),
                        pool: Some(format!("p{i}")),
                        ..Default::default()
                    },
                )?;
                db::tags::attach(c, tag.id, &[m.id])?;
                // Every machine carries t0 too, so the tag page grows.
                if i > 0 {
                    let t0 = db::tags::by_name(c, "t0")?.unwrap();
                    db::tags::attach(c, t0.id, &[m.id])?;
                }
                let fabric = engine::network::create_fabric(
                    c,
                    &FabricInput { name: Some(format!("f{i}")), ..Default::default() },
                )?;
                engine::network::create_vlan(c, &fabric, &VlanInput { vid: Some(100), ..Default::default() })?;
                engine::network::create_space(c, &SpaceInput { name: Some(format!("sp{i}")), ..Default::default() })?;
                if i == 0 {
                    let s0 = SubnetInput {
                        cidr: Some("10.0.0.0/16".into()),
                        name: Some("s0".into()),
                        gateway_ip: Some("10.0.0.1".into()),
                        ..Default::default()
                    };
                    engine::network::create_subnet(c, &s0)?;
                }
                let s0 = engine::network::subnet(c, "s0")?;
                let sub = engine::network::create_subnet(
                    c,
                    &SubnetInput {
                        cidr: Some(format!("10.{}.{}.0/24", 1 + i / 256, i % 256)),
                        name: Some(format!("n{i}")),
                        ..Default::default()
                    },
                )?;
                let ip = |last: u8| format!("10.0.{i}.{last}");
                engine::network::create_range(
                    c,
                    &admin,
                    &RangeInput {
                        range_type: Some("reserved".into()),
                        start_ip: Some(ip(10)),
                        end_ip: Some(ip(20)),
                        subnet: Some("s0".into()),
                        comment: Some(format!("r{i}")),
                    },
                )?;
                engine::network::reserve(
                    c,
                    &admin,
                    &ReserveInput { ip: Some(ip(100)), subnet: Some("s0".into()), ..Default::default() },
                )?;
                let iface = db::network::interfaces_of(c, m.id)?.remove(0);
                db::network::address_insert(
                    c,
                    &db::network::NewIpAddress {
                        ip: Some(ip(101)),
                        mode: "static".into(),
                        subnet_id: Some(s0.id),
                        interface_id: Some(iface.id),
                        user_id: None,
                        hostname: String::new(),
                        mac_address: None,
                        created_at: chrono::Utc::now().naive_utc(),
                    },
                )?;
                engine::network::create_route(
                    c,
                    &RouteInput {
                        source: Some("s0".into()),
                        destination: Some(sub.id.to_string()),
                        gateway_ip: Some("10.0.0.254".into()),
                        metric: Some(0),
                    },
                )?;
                create_device(
                    c,
                    &admin,
                    DeviceInput {
                        hostname: Some(format!("dev{i}")),
                        parent: Some(m.system_id.clone()),
                        mac_addresses: vec![format!("02:00:00:01:{:02x}:{:02x}", i / 256, i % 256)],
                        ..Default::default()
                    },
                )?;
                seed_admin_pages(c, i, m.id)?;
            }
            Ok(())
        })
        .await
        .unwrap();
}

/// For the administration pages: an uploaded image with a set and a file,
/// a boot source with a selection, a user owning the machine `m{i}`, a
/// record in domain `d0.example`, and a rack controller that reported
/// its services.
fn seed_admin_pages(c: &mut db::DbConn, i: usize, machine: i64) -> ironpool_region::error::Result<()> {
    let now = chrono::Utc::now().naive_utc();
    let id = db::boot_resources::insert(
        c,
        &db::boot_resources::NewResource {
            rtype: engine::boot_resources::UPLOADED,
            name: format!("custom/img{i}"),
            architecture: "amd64/generic".into(),
            title: String::new(),
            base_image: String::new(),
            subarches: "generic".into(),
            kflavor: String::new(),
            created_at: now,
            updated_at: now,
        },
    )?;
    let set = db::boot_resources::insert_set(c, id, "20240501", "uploaded", now)?;
    db::boot_resources::insert_file(
        c,
        set,
        &db::boot_resources::NewFile {
            filename: "root-tgz".into(),
            filetype: "root-tgz".into(),
            sha256: format!("{i:064x}"),
            size: 1000,
            complete: i.is_multiple_of(2),
        },
    )?;
    let src = db::boot_resources::source_insert(
        c,
        &db::boot_resources::BootSource {
            id: 0,
            url: format!("http://mirror{i}.example/"),
            keyring_filename: String::new(),
            keyring_data: Vec::new(),
            created_at: now,
            updated_at: now,
            skip_keyring_verification: true,
        },
        now,
    )?;
    db::boot_resources::selection_insert(
        c,
        &db::boot_resources::Selection {
            id: 0,
            boot_source_id: src,
            os: "ubuntu".into(),
            release: format!("r{i}"),
            arches: "amd64".into(),
            subarches: "*".into(),
            labels: "*".into(),
        },
    )?;
    let user = db::users::insert(
        c,
        &db::users::NewUser {
            username: &format!("u{i}"),
            email: &format!("u{i}@example.com"),
            password_hash: "",
            is_superuser: false,
            is_active: true,
            is_local: true,
            created_at: now,
        },
    )?;
    db::nodes::update(c, machine, &db::nodes::NodeChanges { owner_id: Some(Some(user.id)), ..Default::default() })?;
    engine::dns::create_record(
        c,
        &engine::dns::DnsRecordInput {
            target: engine::dns::TargetInput {
                name: Some(format!("h{i}")),
                domain: Some("d0.example".into()),
                fqdn: None,
            },
            rrtype: Some("TXT".into()),
            rrdata: Some(format!("record {i}")),
            ttl: None,
        },
    )?;
    let req = ironpool_common::rack_link::RegisterRequest {
        system_id: None,
        hostname: format!("rack{i}"),
        version: "test".into(),
        interfaces: vec![ironpool_common::rack_link::RackInterface {
            name: "eth0".into(),
            mac: format!("02:00:00:02:{:02x}:{:02x}", i / 256, i % 256),
            addresses: Vec::new(),
        }],
    };
    let rack = engine::racks::register(c, &req, None)?;
    let node = db::nodes::by_system_id(c, &rack.system_id)?.expect("the rack's node");
    db::racks::touch(c, node.id, r#"[{"name":"rackd","status":"running","status_info":""}]"#, now)?;
    Ok(())
}

async fn check(b: Backend) {
    let s = TestServer::start_with(b, |c| {
        c.run_jobs = false;
        c.db_pool_size = 1;
        c.http_workers = 1;
    });
    s.user("admin", true).await;
    let mut ui = UiClient::new(&s.origin);
    ui.login("admin", "admin-password").await;
    seed(&s, 0, 3).await;
    let s0 = s.state.db.run(|c| engine::network::subnet(c, "s0")).await.unwrap();
    let d0 = s.state.db.run(|c| engine::dns::domain(c, "d0.example")).await.unwrap();
    let mut pages: Vec<String> = PAGES.iter().map(|p| p.to_string()).collect();
    pages.push(format!("/MAAS/r/subnet/{}", s0.id));
    pages.push(format!("/MAAS/r/domain/{}", d0.id));
    for p in &pages {
        common::query_count::page_cost(&mut ui, p).await; // warm-up: connection setup is not counted
    }
    let mut few = Vec::new();
    for p in &pages {
        few.push(common::query_count::page_cost(&mut ui, p).await);
    }
    seed(&s, 3, 150).await;
    for (p, n) in pages.iter().zip(&few) {
        let many = common::query_count::page_cost(&mut ui, p).await;
        println!("{b:?}: {p}: 3 of each = {n} queries, 150 = {many}");
        assert_eq!(*n, many, "{b:?}: {p} must not cost more queries with more objects");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ui_list_pages_query_count_is_fixed() {
    common::query_count::install();
    check(Backend::Sqlite).await;
    check(Backend::Postgres).await;
}
