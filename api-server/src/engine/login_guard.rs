//! Limits failed password logins, per username and per source address.
//!
//! After `max_failures` wrong passwords for one username inside the failure
//! window, that username is locked for the lockout time: every attempt,
//! right password or not, is refused without checking the password (so a
//! lockout cannot be probed and costs no argon2 time). One source address
//! may fail `ADDRESS_FACTOR` times as often, so guessing many usernames from
//! one host is bounded too while other users behind the same address (a
//! NAT, the test suite's 127.0.0.1) keep logging in. A successful login
//! clears its username's record, not its address's: an attacker with one
//! valid account could otherwise reset the address limit at will.
//!
//! The counting is `engine::rate_limit`'s; its state lives in this
//! process's memory: a restart forgets it, and regions sharing a PostgreSQL
//! database count separately (each still bounds guessing to its own limit).

use std::net::IpAddr;
use std::time::Duration;

pub use crate::engine::rate_limit::Locked;
use crate::engine::rate_limit::{Counters, Window};

/// How many more failures a source address may have than one username.
pub const ADDRESS_FACTOR: u32 = 5;

#[derive(Debug, Clone, Copy)]
pub struct LoginLimits {
    /// Wrong passwords per username before it is locked; 0 turns limiting off.
    pub max_failures: u32,
    /// Failures older than this (counted from the first one) are forgotten.
    pub failure_window: Duration,
    /// How long a locked username or address stays locked.
    pub lockout: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    User(String),
    Address(IpAddr),
}

pub struct LoginGuard {
    limits: LoginLimits,
    counters: Counters<Key>,
}

impl LoginGuard {
    pub fn new(limits: LoginLimits) -> Self {
        let window = Window { window: limits.failure_window, lockout: limits.lockout };
        LoginGuard { limits, counters: Counters::new(window) }
    }

    /// Whether `username` from `addr` may try a password now.
    pub fn check(&self, username: &str, addr: Option<IpAddr>) -> Result<(), Locked> {
        if self.limits.max_failures == 0 {
            return Ok(());
        }
        self.counters.check(keys(username, addr))
    }

    /// Counts a wrong password (or unknown username: they are not told apart).
    pub fn failed(&self, username: &str, addr: Option<IpAddr>) {
        let max = self.limits.max_failures;
        if max == 0 {
            return;
        }
        self.counters.count(keys(username, addr).map(|key| {
            let limit = match key {
                Key::User(_) => max,
                Key::Address(_) => max.saturating_mul(ADDRESS_FACTOR),
            };
            (key, limit)
        }));
    }

    /// A right password: the username starts with a clean slate.
    pub fn succeeded(&self, username: &str) {
        self.counters.clear(&Key::User(username.to_string()));
    }
}

fn keys(username: &str, addr: Option<IpAddr>) -> impl Iterator<Item = Key> {
    std::iter::once(Key::User(username.to_string())).chain(addr.map(Key::Address))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard(max: u32) -> LoginGuard {
        LoginGuard::new(LoginLimits {
            max_failures: max,
            failure_window: Duration::from_secs(3600),
            lockout: Duration::from_secs(3600),
        })
    }

    #[test]
    fn locks_user_after_max_failures_and_success_clears() {
        let g = guard(3);
        let a: IpAddr = [10, 0, 0, 1].into();
        for _ in 0..2 {
            assert!(g.check("u", Some(a)).is_ok());
            g.failed("u", Some(a));
        }
        g.succeeded("u");
        for _ in 0..3 {
            assert!(g.check("u", Some(a)).is_ok());
            g.failed("u", Some(a));
        }
        let locked = g.check("u", Some(a)).unwrap_err();
        assert!(locked.retry_after > Duration::from_secs(3000));
        // Another user from the same address is not locked by one user's failures.
        assert!(g.check("v", Some(a)).is_ok());
    }

    #[test]
    fn address_locks_after_factor_times_failures() {
        let g = guard(2);
        let a: IpAddr = [10, 0, 0, 2].into();
        for i in 0..(2 * ADDRESS_FACTOR) {
            g.failed(&format!("user{i}"), Some(a));
        }
        assert!(g.check("fresh", Some(a)).is_err());
        assert!(g.check("fresh", Some([10, 0, 0, 3].into())).is_ok());
    }

    #[test]
    fn zero_disables() {
        let g = guard(0);
        for _ in 0..100 {
            g.failed("u", None);
        }
        assert!(g.check("u", None).is_ok());
    }
}
