//! Lists are N+1-free: listing 1 and 1,000 machines (with disks, partitions,
//! filesystems and volume groups) costs the same number of SQL statements.
//! Alone in its test binary because it counts queries through diesel's
//! process-wide instrumentation.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail by panicking

mod common;

use common::*;
use ironpool_region::engine::events::event;
use ironpool_region::engine::nodes::create::{create_machine, MachineInput};

/// The fewest statements seen over three listings. The counter is
/// process-wide, so a background task of the region (its heartbeat every
/// 10 s) can add its statements to one listing; it can only add, so the
/// minimum is the list's own cost.
async fn count_list(s: &TestServer, key: &ApiKey) -> (usize, usize) {
    let mut fewest = usize::MAX;
    let mut listed = 0;
    for _ in 0..3 {
        let before = common::query_count::queries();
        let r = s.get(Some(key), "machines/").await;
        assert_eq!(r.status, 200);
        fewest = fewest.min(common::query_count::queries() - before);
        listed = r.json().as_array().unwrap().len();
    }
    (fewest, listed)
}

async fn seed(s: &TestServer, from: usize, to: usize) {
    s.state
        .db
        .write(move |c| {
            let admin = ironpool_region::db::users::by_username(c, "admin")?.unwrap();
            for i in from..to {
                let n = create_machine(
                    c,
                    Some(&admin),
                    MachineInput {
                        architecture: Some("amd64".into()),
                        mac_addresses: vec![format!("02:00:00:00:{:02x}:{:02x}", i / 256, i % 256)],
                        hostname: Some(format!("m{i}")),
                        power_type: "manual".into(),
                        commission: false,
                        ..Default::default()
                    },
                )?;
                // Every machine has disks; half of them a flat layout
                // (partitions and filesystems), a quarter LVM.
                ironpool_region::engine::storage::devices::record_block_devices(
                    c,
                    n.id,
                    &[disk("sda", 100, false), disk("sdb", 200, true)],
                )?;
                if i % 2 == 0 {
                    let layout = if i % 4 == 0 { "lvm" } else { "flat" };
                    ironpool_region::engine::storage::layouts::apply_layout(
                        c,
                        &n,
                        &ironpool_region::engine::storage::layouts::LayoutInput {
                            layout: layout.into(),
                            ..Default::default()
                        },
                    )?;
                }
                if i % 3 == 0 {
                    event(c, &n, "admin", 20, "Seeded", "")?;
                }
                // Every machine has an AUTO link to the seeded subnet, so the
                // list renders links, subnets and VLANs too.
                ironpool_region::engine::interfaces::initial_links(c, &n)?;
            }
            Ok(())
        })
        .await
        .unwrap();
}

async fn check(b: Backend) {
    let s = TestServer::start_with(b, |c| {
        c.run_jobs = false;
        c.db_pool_size = 1;
        c.http_workers = 1;
    });
    let admin = s.user("admin", true).await;
    s.post(Some(&admin), "tags/", &[("name", "t1")]).await;
    let r = s.post(Some(&admin), "subnets/", &[("cidr", "10.0.0.0/16"), ("gateway_ip", "10.0.0.1")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    seed(&s, 0, 1).await;
    count_list(&s, &admin).await; // warm-up: connection setup is not counted
    let (one, n1) = count_list(&s, &admin).await;
    assert_eq!(n1, 1);
    seed(&s, 1, 1000).await;
    let (thousand, n1000) = count_list(&s, &admin).await;
    assert_eq!(n1000, 1000);
    println!("{b:?}: listing 1 machine = {one} queries, 1000 machines = {thousand} queries");
    assert_eq!(one, thousand, "{b:?}: query count must not grow with the number of machines");
    // 12 for nodes and their zones, pools, domains, owners, tags, parents and
    // interfaces; 6 for the network (links, interface relations, spaces,
    // fabrics, VLANs, subnets); 4 for storage (devices, partitions,
    // filesystems, volume groups).
    assert!(one <= 22, "{b:?}: {one} queries for a list is too many");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn machine_list_query_count_is_fixed() {
    common::query_count::install();
    check(Backend::Sqlite).await;
    check(Backend::Postgres).await;
}
