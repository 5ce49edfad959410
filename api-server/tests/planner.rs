//! SQLite plans its queries from statistics the region keeps up to date.
//! Without them every index looks as good as any other, and
//! `machines/?hostname=` read every machine through the (node_type,
//! status) index: 3 ms at 10,000 machines instead of 0.1. A region's pooled
//! connections run `PRAGMA optimize` when they open; this proves that a
//! region opened on a grown database plans the lookup by hostname.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail by panicking

mod common;

use common::*;
use diesel::prelude::*;
use diesel::sql_types::Text;
use ironpool_region::db::{self, DbConn};
use ironpool_region::engine::nodes::create::{create_machine, MachineInput};

#[derive(QueryableByName, Debug)]
struct PlanLine {
    #[diesel(sql_type = Text)]
    detail: String,
}

/// The plan of a machine lookup by hostname, one line per step.
fn hostname_plan(c: &mut DbConn) -> String {
    let DbConn::Sqlite(c) = c else { panic!("SQLite only") };
    let lines: Vec<PlanLine> = diesel::sql_query(
        "EXPLAIN QUERY PLAN SELECT id FROM nodes WHERE node_type IN (0) AND hostname IN ('m250') ORDER BY id",
    )
    .load(c)
    .unwrap();
    lines.into_iter().map(|l| l.detail).collect::<Vec<_>>().join("; ")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_region_on_a_grown_database_looks_machines_up_by_hostname() {
    let s = TestServer::start_with(Backend::Sqlite, |c| c.run_jobs = false);
    s.user("admin", true).await;
    s.state
        .db
        .write(|c| {
            let admin = db::users::by_username(c, "admin")?.unwrap();
            for i in 0..500 {
                create_machine(
                    c,
                    Some(&admin),
                    MachineInput {
                        architecture: Some("amd64".into()),
                        mac_addresses: vec![format!("02:00:00:01:{:02x}:{:02x}", i / 256, i % 256)],
                        hostname: Some(format!("m{i}")),
                        power_type: "manual".into(),
                        commission: false,
                        ..Default::default()
                    },
                )?;
            }
            Ok(())
        })
        .await
        .unwrap();
    // The database grew under the running region; a region opened now (a
    // restart) has statistics, and plans by hostname.
    let key = db::secrets::SecretsKey::load_or_create(&s.db.dir.path().join("planner.key")).unwrap();
    let reopened = db::Datastore::open(&s.db.url, 1, key).unwrap();
    let plan = reopened.run(|c| Ok(hostname_plan(c))).await.unwrap();
    assert!(plan.contains("(hostname=?)"), "the lookup does not use the hostname index: {plan}");
    // The hourly refresh runs too (a no-op now: nothing grew).
    reopened.optimize().await.unwrap();
    s.stop().await;
}
