//! Optional pagination of list reads (an Ironpool extension; MAAS clients
//! never send `limit`, so they get MAAS's plain arrays).
//!
//! Large collections (machines, nodes) page themselves in SQL with keyset
//! cursors. Every other list read is paged here: the handler's array is cut to
//! `limit` items from an opaque offset cursor, and the next page's URL goes in
//! a `Link: <…>; rel="next"` header.

use base64::Engine as _;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::http::params::Params;
use crate::http::reply::Reply;

pub struct Request {
    limit: usize,
    offset: usize,
}

fn encode(offset: usize) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("o{offset}"))
}

fn decode(s: &str) -> Option<usize> {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(s.trim()).ok()?;
    std::str::from_utf8(&raw).ok()?.strip_prefix('o')?.parse().ok()
}

impl Request {
    /// Takes `limit`/`cursor` out of the parameters (handlers never see them).
    pub fn from_params(p: &mut Params) -> Result<Option<Request>> {
        let limit = p.get("limit").map(str::to_string);
        let cursor = p.get("cursor").map(str::to_string);
        p.remove_where(|k| k == "limit" || k == "cursor");
        if limit.is_none() && cursor.is_none() {
            return Ok(None);
        }
        let limit = match limit {
            None => usize::MAX,
            Some(l) => l
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| Error::field("limit", "limit must be a positive whole number."))?,
        };
        let offset = match cursor {
            None => 0,
            Some(c) => {
                decode(&c).ok_or_else(|| Error::field("cursor", "Invalid cursor; use the one from the Link header."))?
            }
        };
        Ok(Some(Request { limit, offset }))
    }

    /// Cuts a JSON array reply to one page; other replies pass through.
    pub fn apply(&self, reply: Reply, url: &str, query: &str) -> Reply {
        let Reply::Json(Value::Array(items)) = reply else { return reply };
        let total = items.len();
        let page: Vec<Value> = items.into_iter().skip(self.offset).take(self.limit).collect();
        let end = self.offset.saturating_add(page.len());
        if end >= total {
            return Reply::Json(Value::Array(page));
        }
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in url::form_urlencoded::parse(query.as_bytes()).filter(|(k, _)| k != "cursor") {
            q.append_pair(&k, &v);
        }
        q.append_pair("cursor", &encode(end));
        Reply::JsonLinked(Value::Array(page), format!("<{url}?{}>; rel=\"next\"", q.finish()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_an_array() {
        let mut p = Params::default();
        p.push("limit", "2");
        let req = Request::from_params(&mut p).unwrap().unwrap();
        assert!(p.get("limit").is_none());
        let r = req.apply(Reply::Json(serde_json::json!([1, 2, 3])), "http://h/x/", "limit=2");
        let Reply::JsonLinked(v, link) = r else { panic!() };
        assert_eq!(v, serde_json::json!([1, 2]));
        let cursor = link.split("cursor=").nth(1).unwrap().split('>').next().unwrap();
        assert_eq!(decode(cursor), Some(2));
        let mut p = Params::default();
        p.push("limit", "2");
        p.push("cursor", cursor);
        let req = Request::from_params(&mut p).unwrap().unwrap();
        let r = req.apply(Reply::Json(serde_json::json!([1, 2, 3])), "http://h/x/", "");
        assert!(matches!(r, Reply::Json(v) if v == serde_json::json!([3])));
        let mut bad = Params::default();
        bad.push("cursor", "zzz");
        assert!(Request::from_params(&mut bad).is_err());
    }
}
