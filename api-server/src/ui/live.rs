//! `GET /MAAS/r/live?ids=a,b,c`: server-sent events for the machines a page
//! shows, fed by the region's change feed (`engine::changes`).
//!
//! The stream starts with the current state of each requested machine (so
//! nothing that changed between the page's render and this connection is
//! missed), then carries `node` events (status, power, owner, lock) and
//! `event` events (new node events, in `events/?op=query`'s shape) for
//! those machines. A non-administrator hears only about machines the API
//! lets them see (`engine::access::can_view_owned`), checked on every
//! change, since owners change. Each stream ends after [`STREAM_LIFETIME`];
//! the browser's EventSource reconnects by itself, which re-checks the
//! session (a logged-out or deactivated user stops hearing). A stopping
//! region ends its streams at once (`Wakeups::closed`) so they do not hold
//! its graceful shutdown; the browser reconnects to whichever region is up.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse};
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;

use crate::db;
use crate::db::nodes::LiveState;
use crate::engine;
use crate::engine::changes::Change;
use crate::error::{Error, Result};
use crate::http::AppState;
use crate::ui::layout::{power_class, status_class};
use crate::ui::viewer::Viewer;

const STREAM_LIFETIME: Duration = Duration::from_secs(60);
/// A comment line this often keeps proxies from closing an idle stream.
const KEEPALIVE: Duration = Duration::from_secs(15);
/// At most this many machines per stream (a page shows at most 500).
const MAX_IDS: usize = 1000;

fn node_message(s: &LiveState) -> String {
    let data = json!({
        "system_id": s.system_id,
        "hostname": s.hostname,
        "status": s.status.label(),
        "status_class": status_class(s.status),
        "power_state": s.power_state,
        "power_class": power_class(&s.power_state),
        "status_message": s.status_message.clone().unwrap_or_default(),
        "locked": s.locked,
    });
    format!("event: node\ndata: {data}\n\n")
}

fn event_message(e: &db::events::Event) -> String {
    let data = crate::api::views::event::event_json(e);
    format!("event: event\ndata: {data}\n\n")
}

struct Stream {
    rx: tokio::sync::broadcast::Receiver<Arc<Change>>,
    ids: HashSet<String>,
    user: crate::db::users::User,
    deadline: tokio::time::Instant,
    wakeups: Arc<db::wake::Wakeups>,
    first: Option<String>,
    done: bool,
}

/// The next chunk of the stream, or `None` at its end.
async fn next_chunk(mut st: Stream) -> Option<(std::result::Result<Bytes, std::convert::Infallible>, Stream)> {
    if let Some(first) = st.first.take() {
        return Some((Ok(Bytes::from(first)), st));
    }
    if st.done {
        return None;
    }
    loop {
        let now = tokio::time::Instant::now();
        if now >= st.deadline {
            return None;
        }
        let wait = KEEPALIVE.min(st.deadline - now);
        let next = tokio::select! {
            next = tokio::time::timeout(wait, st.rx.recv()) => next,
            () = st.wakeups.closed() => return None,
        };
        match next {
            Err(_) => return Some((Ok(Bytes::from_static(b": keepalive\n\n")), st)),
            Ok(Err(RecvError::Closed)) => return None,
            Ok(Err(RecvError::Lagged(_))) => {
                // Changes were lost to this listener: the page reloads.
                st.done = true;
                return Some((Ok(Bytes::from_static(b"event: reload\ndata: {}\n\n")), st));
            }
            Ok(Ok(change)) => {
                let text = match change.as_ref() {
                    Change::Node(s)
                        if st.ids.contains(&s.system_id) && engine::access::can_view_owned(&st.user, s.owner_id) =>
                    {
                        node_message(s)
                    }
                    Change::Event { event, owner_id }
                        if event.system_id.as_ref().is_some_and(|sid| st.ids.contains(sid))
                            && engine::access::can_view_owned(&st.user, *owner_id) =>
                    {
                        event_message(event)
                    }
                    _ => continue,
                };
                return Some((Ok(Bytes::from(text)), st));
            }
        }
    }
}

pub async fn stream(req: &HttpRequest, state: &Arc<AppState>, viewer: &Viewer) -> Result<HttpResponse> {
    let p = crate::ui::respond::query(req);
    let ids: Vec<String> = p
        .get_all("ids")
        .iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(String::from)
        .collect();
    if ids.len() > MAX_IDS {
        return Err(Error::BadRequest(format!("Too many machines to follow: {}, at most {MAX_IDS}.", ids.len())));
    }
    // Subscribe before reading the current state: a change in between is
    // then heard (and at worst sent twice, which is harmless).
    let rx = state.changes.subscribe();
    let user = viewer.user.clone();
    let wanted = ids.clone();
    let current = state
        .db
        .run(move |c| {
            if wanted.is_empty() {
                return Ok(Vec::new());
            }
            let nodes = db::nodes::list(c, &db::nodes::NodeFilter { ids: Some(wanted), ..Default::default() })?;
            Ok(nodes
                .into_iter()
                .filter(|n| engine::access::can_view(&user, n))
                .map(|n| LiveState {
                    id: n.id,
                    system_id: n.system_id,
                    hostname: n.hostname,
                    status: n.status,
                    power_state: n.power_state,
                    owner_id: n.owner_id,
                    locked: n.locked,
                    status_message: n.status_message,
                })
                .collect::<Vec<_>>())
        })
        .await?;
    // `retry`: reconnect after 1 s when the stream ends.
    let mut first = String::from("retry: 1000\n\n");
    for s in &current {
        first.push_str(&node_message(s));
    }
    let st = Stream {
        rx,
        ids: ids.into_iter().collect(),
        user: viewer.user.clone(),
        deadline: tokio::time::Instant::now() + STREAM_LIFETIME,
        wakeups: state.db.wakeups().clone(),
        first: Some(first),
        done: false,
    };
    let body = futures_util::stream::unfold(st, next_chunk);
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/event-stream"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::HeaderName::from_static("x-accel-buffering"), "no"))
        .streaming(body))
}
