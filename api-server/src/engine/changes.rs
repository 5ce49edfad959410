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
//!
//! New events are read by id, and on PostgreSQL ids are handed out when a
//! row is inserted, not when it commits: a look can see event 12 while 11's
//! transaction is still open. Reading only "after the newest seen" would then
//! lose 11 for good (CI saw exactly that: a mark_broken's event never reached
//! the page while a job's event overtook it). [`EventCursor`] remembers such
//! holes and reads them again on the next looks, for [`HOLE_PATIENCE`]; a
//! hole still empty then was a rolled-back insert.

use std::collections::{BTreeMap, HashMap};
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
/// How long a hole in the event ids is read again before it is taken for a
/// rolled-back insert (no transaction of ours holds an event row this long).
pub const HOLE_PATIENCE: Duration = Duration::from_secs(30);
/// At most this many holes are remembered (a jump in the sequence, as after
/// a PostgreSQL crash, is not a thousand open transactions).
const MAX_HOLES: usize = 1000;

/// Which events have been reported: everything up to `last`, except the
/// ids in `holes`, which may still arrive.
#[derive(Debug, Default)]
pub struct EventCursor {
    last: i64,
    holes: BTreeMap<i64, tokio::time::Instant>,
}

impl EventCursor {
    pub fn starting_after(last: i64) -> Self {
        EventCursor { last, holes: BTreeMap::new() }
    }

    /// The ids to read again this look.
    pub fn holes(&self) -> Vec<i64> {
        self.holes.keys().copied().collect()
    }

    /// Takes in one look: `newer`, read after `last` in id order, and
    /// `filled`, read from the holes. Returns the events not reported
    /// before, in id order.
    pub fn take(&mut self, newer: Vec<Event>, filled: Vec<Event>, now: tokio::time::Instant) -> Vec<Event> {
        let mut out = Vec::with_capacity(newer.len() + filled.len());
        for e in filled {
            if self.holes.remove(&e.id).is_some() {
                out.push(e);
            }
        }
        for e in newer {
            if e.id <= self.last {
                continue;
            }
            for missing in (self.last + 1)..e.id {
                if self.holes.len() >= MAX_HOLES {
                    break;
                }
                self.holes.insert(missing, now);
            }
            self.last = e.id;
            out.push(e);
        }
        self.holes.retain(|_, since| now.duration_since(*since) < HOLE_PATIENCE);
        out.sort_by_key(|e| e.id);
        out
    }
}

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
        let mut seen: Option<(HashMap<i64, LiveState>, EventCursor)> = None;
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
            let cursor = seen.as_ref().map(|(_, cur)| (cur.last, cur.holes()));
            let looked = db
                .run(move |c| {
                    let states = db::nodes::live_states(c)?;
                    let (newer, filled, start) = match cursor {
                        Some((last, holes)) => {
                            let newer = db::events::after(c, last, EVENTS_PER_LOOK)?;
                            let filled = if holes.is_empty() { Vec::new() } else { db::events::with_ids(c, &holes)? };
                            (newer, filled, None)
                        }
                        None => (Vec::new(), Vec::new(), Some(db::events::max_id(c)?)),
                    };
                    Ok((states, newer, filled, start))
                })
                .await;
            let (states, newer, filled, start) = match looked {
                Ok(v) => v,
                Err(e) => {
                    tracing::warn!(error = %e, "change feed");
                    continue;
                }
            };
            if newer.len() as i64 == EVENTS_PER_LOOK {
                // More are waiting: the next look comes after MIN_GAP.
                wakeups.nodes.notify_one();
            }
            let now: HashMap<i64, LiveState> = states.into_iter().map(|s| (s.id, s)).collect();
            let cursor = match seen.take() {
                Some((before, mut cursor)) => {
                    for (id, state) in &now {
                        if before.get(id) != Some(state) {
                            let _ = self.tx.send(Arc::new(Change::Node(state.clone())));
                        }
                    }
                    for event in cursor.take(newer, filled, tokio::time::Instant::now()) {
                        let owner_id = event.node_id.and_then(|n| now.get(&n)).and_then(|s| s.owner_id);
                        let _ = self.tx.send(Arc::new(Change::Event { event, owner_id }));
                    }
                    cursor
                }
                // The first look only notes where the events stand.
                None => EventCursor::starting_after(start.unwrap_or(0)),
            };
            seen = Some((now, cursor));
        }
    }
}
