//! Page cursors and limits, shared by the two kinds of paging: keyset paging
//! in SQL (machine and node lists, `engine::allocation`) and offset paging of
//! every other list read (`http::paging`). A cursor is opaque to clients:
//! URL-safe base64 of a kind letter and a number, so one kind is never taken
//! for the other.

use base64::Engine as _;

use crate::error::{Error, Result};

/// Where the next page starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cursor {
    /// After this internal id (keyset).
    After(i64),
    /// After skipping this many items (offset).
    Offset(usize),
}

impl Cursor {
    pub fn encode(&self) -> String {
        let raw = match self {
            Cursor::After(id) => format!("n{id}"),
            Cursor::Offset(n) => format!("o{n}"),
        };
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
    }

    pub fn decode(s: &str) -> Option<Cursor> {
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(s.trim()).ok()?;
        let text = std::str::from_utf8(&raw).ok()?;
        if let Some(id) = text.strip_prefix('n') {
            return id.parse().ok().map(Cursor::After);
        }
        text.strip_prefix('o')?.parse().ok().map(Cursor::Offset)
    }
}

/// A `limit` parameter: a positive whole number.
pub fn parse_limit(v: &str) -> Result<usize> {
    v.trim()
        .parse::<usize>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| Error::field("limit", "limit must be a positive whole number."))
}

/// The error for a cursor that is not one of ours (or not of this list's kind).
pub fn invalid_cursor() -> Error {
    Error::field("cursor", "Invalid cursor; use the one from the Link header.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_kinds_stay_apart() {
        for c in [Cursor::After(42), Cursor::Offset(7)] {
            assert_eq!(Cursor::decode(&c.encode()), Some(c));
        }
        assert_eq!(Cursor::decode("not base64!"), None);
        assert!(parse_limit("0").is_err() && parse_limit("x").is_err());
        assert_eq!(parse_limit(" 5 ").unwrap(), 5);
    }
}
