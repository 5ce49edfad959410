//! The region's change feed: what open UI pages hear about without
//! reloading (a node's status, power state, owner or lock; new events).
//!
//! Changes are found in the database, not announced by the code that makes
//! them: a machine's status is changed by API calls, by the metadata API
//! (the machine itself), by the job worker, by a timeout sweep, and by other
//! regions sharing PostgreSQL. Watching the tables catches all of them with
//! one mechanism. While anyone listens, [`ChangeFeed::run`] compares every
//! node's [`LiveState`] with its previous look and reads the events newer
//! than the last one seen, and broadcasts the differences; while nobody
//! listens it reads nothing (after a first look at start, which every
//! later look is compared with). One feed per region process serves every
//! open page, so the cost does not grow with viewers.
//!
//! When to look: the writes that can change what the feed reports mark
//! `db::wake::Wake::Nodes`, fired after their commit (and carried to the
//! other regions by PostgreSQL's NOTIFY), so a change reaches open pages
//! about [`MIN_GAP`] after it commits. Looks are at least [`MIN_GAP`]
//! apart, so a burst of writes (an allocation storm) costs a few looks a
//! second, not one per write. A look every [`INTERVAL`] regardless catches
//! what no wakeup announced (a notification lost while a region's listener
//! reconnected, a write made by hand in the database).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast;

use crate::db;
use crate::db::events::Event;
use crate::db::nodes::LiveState;
use crate::db::Datastore;

/// How often the feed looks while someone listens and no wakeup came.
pub const INTERVAL: Duration = Duration::from_secs(5);
/// The least time between two looks (how long a burst is gathered).
pub const MIN_GAP: Duration = Duration::from_millis(100);
/// At most this many new events are read per look (a burst is spread over
/// the next looks, never dropped).
const EVENTS_PER_LOOK: i64 = 500;

/// One change.
#[derive(Debug, Clone)]
pub enum Change {
    /// A node's live state is now this (new nodes included).
    Node(LiveState),
    /// A new event, with the owner its node had when it was seen (who may
    /// see it: `engine::access` rules, applied by the listener).
    Event { event: Event, owner_id: Option<i64> },
}

/// The broadcast side; listeners [`subscribe`](ChangeFeed::subscribe).
#[derive(Clone)]
pub struct ChangeFeed {
    tx: broadcast::Sender<Arc<Change>>,
}

impl Default for ChangeFeed {
    fn default() -> Self {
        // A listener more than this many changes behind is told it lagged
        // (the UI then reloads the page).
        let (tx, _) = broadcast::channel(16384);
        ChangeFeed { tx }
    }
}

impl ChangeFeed {
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Change>> {
        self.tx.subscribe()
    }

    /// Watches the database for as long as the region runs: looks when
    /// `db`'s node wakeups fire, and every `interval` without one.
    pub async fn run(self, db: Datastore, interval: Duration) {
        let mut seen: Option<(HashMap<i64, LiveState>, i64)> = None;
        let wakeups = db.wakeups().clone();
        let mut last_look: Option<tokio::time::Instant> = None;
        loop {
            if let Some(at) = last_look {
                // Either a wakeup or the fallback interval, whichever comes
                // first; a wakeup fired during the last look is a stored
                // permit, so it ends this wait at once.
                let _ = tokio::time::timeout(interval, wakeups.nodes.notified()).await;
                tokio::time::sleep_until(at + MIN_GAP).await;
            }
            // Nobody listens: nothing is read. The last look is kept, so the
            // first look after a page connects reports everything that
            // changed meanwhile, including between that page's render and
            // its connection (pages ignore nodes they do not show).
            if self.tx.receiver_count() == 0 && seen.is_some() {
                continue;
            }
            last_look = Some(tokio::time::Instant::now());
            let last_event = seen.as_ref().map(|(_, id)| *id);
            let looked = db
                .run(move |c| {
                    let states = db::nodes::live_states(c)?;
                    let events = match last_event {
                        Some(id) => db::events::after(c, id, EVENTS_PER_LOOK)?,
                        None => Vec::new(),
                    };
                    let newest = match last_event {
                        Some(id) => events.last().map_or(id, |e| e.id),
                        None => db::events::max_id(c)?,
                    };
                    Ok((states, events, newest))
                })
                .await;
            let (states, events, newest) = match looked {
                Ok(v) => v,
                Err(e) => {
                    tracing::warn!(error = %e, "change feed");
                    continue;
                }
            };
            if events.len() as i64 == EVENTS_PER_LOOK {
                // More are waiting: the next look comes after MIN_GAP.
                wakeups.nodes.notify_one();
            }
            let now: HashMap<i64, LiveState> = states.into_iter().map(|s| (s.id, s)).collect();
            if let Some((before, _)) = &seen {
                for (id, state) in &now {
                    if before.get(id) != Some(state) {
                        let _ = self.tx.send(Arc::new(Change::Node(state.clone())));
                    }
                }
                for event in events {
                    let owner_id = event.node_id.and_then(|n| now.get(&n)).and_then(|s| s.owner_id);
                    let _ = self.tx.send(Arc::new(Change::Event { event, owner_id }));
                }
            }
            seen = Some((now, newest));
        }
    }
}
