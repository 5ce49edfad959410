//! SQLite plans without statistics (the region never runs ANALYZE: stats
//! taken while a table is small mislead the planner once it has grown; the
//! boot storm's region p99 went from 197 to 499 ms with them). Without
//! them an index matching one equality is as good as any other, and
//! `machines/?hostname=` read every machine through the (node_type,
//! status) index: 3 ms at 10,000 machines instead of 0.5. The
//! (node_type, hostname) index matches both of the lookup's equalities;
//! this proves the planner takes it on a grown database. Likewise lists,
//! `node_type IN (..) ORDER BY id`, come from (node_type, id) in order
//! instead of sorting every machine, and allocation's candidates come
//! cheapest first from an index on that order.

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

/// The plan of `query`, one line per step.
fn plan(c: &mut DbConn, query: &str) -> String {
    let DbConn::Sqlite(c) = c else { panic!("SQLite only") };
    let lines: Vec<PlanLine> = diesel::sql_query(format!("EXPLAIN QUERY PLAN {query}")).load(c).unwrap();
    lines.into_iter().map(|l| l.detail).collect::<Vec<_>>().join("; ")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn machine_lookups_and_lists_are_planned_on_indexes() {
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
    let (by_hostname, list, cheapest) = s
        .state
        .db
        .run(|c| {
            Ok((
                plan(c, "SELECT id FROM nodes WHERE node_type IN (0) AND hostname IN ('m250') ORDER BY id"),
                plan(c, "SELECT * FROM nodes WHERE node_type IN (0) ORDER BY id LIMIT 100"),
                plan(
                    c,
                    &format!(
                        "SELECT * FROM nodes WHERE node_type IN (0) AND status IN (4) \
                         AND (owner_id IS NULL OR owner_id = 1) ORDER BY {}, id LIMIT 8",
                        db::nodes::CHEAPEST
                    ),
                ),
            ))
        })
        .await
        .unwrap();
    assert!(
        by_hostname.contains("(node_type=? AND hostname=?)"),
        "the lookup does not use both equalities: {by_hostname}"
    );
    // A list (or a page of one) comes in id order from an index, without
    // sorting every machine first.
    assert!(!list.contains("TEMP B-TREE"), "the list sorts every machine: {list}");
    // Allocation's candidates, cheapest first, likewise: it reads a batch
    // of 8, not every Ready machine, while it holds the write lock.
    assert!(
        cheapest.contains("nodes_cheapest_first") && !cheapest.contains("TEMP B-TREE"),
        "allocation sorts every Ready machine: {cheapest}"
    );
    s.stop().await;
}
