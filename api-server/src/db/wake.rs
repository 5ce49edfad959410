//! Wakeups after commit: work that waits for the database (the job worker,
//! racks' long-polled syncs) is woken when a transaction that concerns it
//! commits, instead of finding out at its next poll.
//!
//! Queries mark what they changed with [`mark`] while they run (a
//! thread-local, like the secrets key: the closure runs on one blocking
//! thread); [`crate::db::Datastore`] fires the marked [`Wakeups`] once the
//! closure has returned `Ok`, that is after its transaction committed, so a
//! woken waiter always sees the change. A closure that fails fires nothing.
//! A mark left by work rolled back to a savepoint inside a transaction
//! that then commits only causes a spurious wakeup, which waiters tolerate
//! (they re-read the database).
//!
//! On PostgreSQL the marks also go to every other region sharing the
//! database: after the commit the region sends `NOTIFY ironpool_wake`
//! with the marks, and each region's [`listen`] thread fires its own
//! waiters when one arrives. So a power job region A's worker hands to a
//! rack long-polling region B reaches it at once too. SQLite has one region.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use diesel::{Connection, PgConnection, RunQueryDsl};

use tokio::sync::Notify;

/// What a committed transaction may have made ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Wake {
    /// A job became due now (the job worker should look).
    Jobs = 1,
    /// A power job was handed to a rack (racks waiting in a long-polled
    /// sync should look).
    Racks = 2,
    /// A node's live state (status, power, owner, lock, status message)
    /// changed, a node was added, or an event was recorded (the UI's change
    /// feed should look).
    Nodes = 4,
    /// An API token or its user changed or went (cached OAuth lookups
    /// are stale).
    Auth = 8,
}

/// Every mark: what a notification that cannot be read stands for.
const ALL: u8 = Wake::Jobs as u8 | Wake::Racks as u8 | Wake::Nodes as u8 | Wake::Auth as u8;

thread_local! {
    static MARKED: Cell<u8> = const { Cell::new(0) };
}

/// Notes that the running transaction made `w` ready (fired on commit).
pub fn mark(w: Wake) {
    MARKED.with(|m| m.set(m.get() | w as u8));
}

/// Takes (and clears) this thread's marks.
pub(crate) fn take() -> u8 {
    MARKED.with(|m| m.replace(0))
}

/// The waiters of one datastore (a region: tests run several in one
/// process, so nothing here is global).
#[derive(Debug, Default)]
pub struct Wakeups {
    /// The job worker: `notify_one`, so a wakeup that arrives while it is
    /// busy is kept for its next wait.
    pub jobs: Notify,
    /// Long-polled rack syncs: `notify_waiters`; a waiter enables its
    /// `Notified` before it reads the database, so no commit between the
    /// read and the wait is missed.
    pub racks: Notify,
    /// The change feed (`engine::changes`): `notify_one`, one feed per
    /// region, and a change during its look is kept for the next one.
    pub nodes: Notify,
    /// The region is stopping: long polls answer now rather than hold up
    /// its graceful shutdown.
    closing: AtomicBool,
    /// Fired once, by [`Wakeups::close`], for [`Wakeups::closed`].
    closed: Notify,
    /// [`listen`] holds a connection that has run `LISTEN` (PostgreSQL).
    listening: AtomicBool,
    /// Counts the commits that changed API tokens or users, here or (when
    /// listening) in another region: a cached OAuth lookup is good only
    /// while this is what it was when the lookup read the database.
    auth_epoch: AtomicU64,
}

impl Wakeups {
    /// Ends every long poll now and makes later ones answer at once.
    pub fn close(&self) {
        self.closing.store(true, Ordering::SeqCst);
        self.racks.notify_waiters();
        self.closed.notify_waiters();
    }

    /// Resolves once the region is stopping: open streams (the UI's live
    /// updates) end then, rather than hold the shutdown for its 30 s.
    pub async fn closed(&self) {
        let notified = self.closed.notified();
        tokio::pin!(notified);
        // Registered before the check, so a close in between is not missed.
        notified.as_mut().enable();
        if self.is_closing() {
            return;
        }
        notified.await;
    }

    pub fn is_closing(&self) -> bool {
        self.closing.load(Ordering::SeqCst)
    }

    /// Whether other regions' commits reach this one now (PostgreSQL; a
    /// region on SQLite has no others and never listens).
    pub fn is_listening(&self) -> bool {
        self.listening.load(Ordering::SeqCst)
    }

    /// The current [`Wakeups::auth_epoch`] count.
    pub fn auth_epoch(&self) -> u64 {
        self.auth_epoch.load(Ordering::SeqCst)
    }

    /// Whether every change to tokens and users reaches
    /// [`Wakeups::auth_epoch`]: always with one region (SQLite), and on
    /// PostgreSQL while [`listen`] hears the other regions.
    pub fn sees_all_auth_changes(&self, single_region: bool) -> bool {
        single_region || self.is_listening()
    }

    /// Fires what `marks` (from [`take`]) name.
    pub(crate) fn fire(&self, marks: u8) {
        if marks & Wake::Auth as u8 != 0 {
            self.auth_epoch.fetch_add(1, Ordering::SeqCst);
        }
        if marks & Wake::Jobs as u8 != 0 {
            self.jobs.notify_one();
        }
        if marks & Wake::Racks as u8 != 0 {
            self.racks.notify_waiters();
        }
        if marks & Wake::Nodes as u8 != 0 {
            self.nodes.notify_one();
        }
    }
}

/// The PostgreSQL channel regions tell each other their marks on.
pub const CHANNEL: &str = "ironpool_wake";

/// Tells the other regions on this PostgreSQL database what a committed
/// transaction marked (a statement of its own, after the commit, only when
/// something was marked). A failure only delays their waiters to their next
/// poll, so it is logged, not returned.
pub(crate) fn notify_others(conn: &mut PgConnection, marks: u8) {
    if let Err(e) = diesel::sql_query(format!("NOTIFY {CHANNEL}, '{marks}'")).execute(conn) {
        tracing::warn!(error = %e, "cannot notify the other regions of a commit");
    }
}

/// How often the listener reads the notifications that have arrived
/// (libpq only reads them when asked; diesel gives no socket to wait on).
const LISTEN_POLL: Duration = Duration::from_millis(50);

/// Listens on [`CHANNEL`] with a connection of its own, in a thread of its
/// own, and fires `wakeups` for each notification, for as long as
/// `wakeups` lives. A lost connection (PostgreSQL restarted) is made
/// again with backoff; meanwhile waiters fall back to their own polls.
pub fn listen(url: String, wakeups: &Arc<Wakeups>) {
    let weak: Weak<Wakeups> = Arc::downgrade(wakeups);
    let spawned = std::thread::Builder::new().name("ironpool-pg-listen".into()).spawn(move || {
        let mut backoff = Duration::from_secs(1);
        while weak.strong_count() > 0 {
            let mut conn = match PgConnection::establish(&url).map_err(|e| e.to_string()).and_then(|mut c| {
                diesel::sql_query(format!("LISTEN {CHANNEL}")).execute(&mut c).map(|_| c).map_err(|e| e.to_string())
            }) {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for other regions' commits; retrying");
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                    continue;
                }
            };
            backoff = Duration::from_secs(1);
            if let Some(w) = weak.upgrade() {
                // Whatever changed while nobody listened is unknown.
                w.auth_epoch.fetch_add(1, Ordering::SeqCst);
                w.listening.store(true, Ordering::SeqCst);
            }
            'listening: loop {
                let Some(w) = weak.upgrade() else { return };
                for n in conn.notifications_iter() {
                    match n {
                        Ok(n) => w.fire(n.payload.parse().unwrap_or(ALL)),
                        Err(e) => {
                            tracing::warn!(error = %e, "lost the connection listening for other regions' commits");
                            w.listening.store(false, Ordering::SeqCst);
                            w.auth_epoch.fetch_add(1, Ordering::SeqCst);
                            break 'listening;
                        }
                    }
                }
                drop(w);
                std::thread::sleep(LISTEN_POLL);
            }
        }
    });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "cannot start the thread listening for other regions' commits");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_accumulate_and_are_taken_once() {
        take();
        mark(Wake::Jobs);
        mark(Wake::Racks);
        mark(Wake::Jobs);
        assert_eq!(take(), Wake::Jobs as u8 | Wake::Racks as u8);
        mark(Wake::Nodes);
        assert_eq!(take(), Wake::Nodes as u8);
        assert_eq!(take(), 0);
    }
}
