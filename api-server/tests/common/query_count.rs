//! Counting the SQL statements a test's region runs: diesel's
//! instrumentation, installed for every connection made afterwards in the
//! process, adds one per statement started.

use std::sync::atomic::{AtomicUsize, Ordering};

use diesel::connection::{Instrumentation, InstrumentationEvent};

use super::ui::UiClient;

static QUERIES: AtomicUsize = AtomicUsize::new(0);

struct Counter;

impl Instrumentation for Counter {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        if matches!(event, InstrumentationEvent::StartQuery { .. }) {
            QUERIES.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// Counts every statement of connections made from now on (call before the
/// first server starts; once per test process).
pub fn install() {
    diesel::connection::set_default_instrumentation(|| Some(Box::new(Counter))).unwrap();
}

/// Statements started so far in this process.
pub fn queries() -> usize {
    QUERIES.load(Ordering::SeqCst)
}

/// The fewest statements a UI page took over three loads: a background
/// task of the region (its heartbeat) can only add statements to one load,
/// so the minimum is the page's own cost.
pub async fn page_cost(ui: &mut UiClient, path: &str) -> usize {
    let mut fewest = usize::MAX;
    for _ in 0..3 {
        let before = queries();
        let p = ui.get(path).await;
        assert_eq!(p.status, 200, "{path}: {}", p.body);
        fewest = fewest.min(queries() - before);
    }
    fewest
}
