//! Optional pagination of list reads (an Ironpool extension; MAAS clients
//! never send `limit`, so they get MAAS's plain arrays).
//!
//! Large collections (machines, nodes) page themselves in SQL with keyset
//! cursors. Every other list read is paged here: the handler's array is cut to
//! `limit` items from an opaque offset cursor, and the next page's URL goes in
//! a `Link: <…>; rel="next"` header.

use serde_json::Value;

use crate::engine::paging::{self, Cursor};
use crate::error::Result;
use crate::http::params::Params;
use crate::http::reply::Reply;

pub struct Request {
    limit: usize,
    offset: usize,
}

/// The `Link` header value for the next page: `url` with the request's
/// query (`cursor` replaced) and the cursor where the next page starts.
/// Both kinds of paging write it here.
pub fn next_link<'a>(url: &str, query: impl IntoIterator<Item = (&'a str, &'a str)>, next: Cursor) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in query.into_iter().filter(|(k, _)| *k != "cursor") {
        q.append_pair(k, v);
    }
    q.append_pair("cursor", &next.encode());
    format!("<{url}?{}>; rel=\"next\"", q.finish())
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
            Some(l) => paging::parse_limit(&l)?,
        };
        let offset = match cursor.map(|c| Cursor::decode(&c)) {
            None => 0,
            Some(Some(Cursor::Offset(n))) => n,
            Some(_) => return Err(paging::invalid_cursor()),
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
        let pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes()).into_owned().collect();
        let link = next_link(url, pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())), Cursor::Offset(end));
        Reply::JsonLinked(Value::Array(page), link)
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
        assert_eq!(Cursor::decode(cursor), Some(Cursor::Offset(2)));
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
