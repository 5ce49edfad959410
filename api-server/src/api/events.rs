//! `events/?op=query`: the event log, newest first, paged by id.

use crate::api::views::event::event_json;
use crate::db;
use crate::db::events::EventQuery;
use crate::db::nodes::NodeFilter;
use crate::engine;
use crate::error::{Error, Result};
use crate::handler_fn;
use crate::http;
use crate::http::registry::{optional, Access, Action, Handler, Method};
use crate::http::reply::Reply;
use crate::http::Ctx;

pub fn handlers() -> Vec<Handler> {
    vec![Handler::new("EventsHandler", "events/", Access::Authenticated, "Retrieve filtered node events").action(
        Action::new(Method::Get, Some("query"), "List node events", handler_fn!(query))
            .describe("Newest first, at most limit (default 100, max 1000), with next_uri/prev_uri for paging.")
            .params(&[
                optional("hostname", "String", "Only events of nodes with this hostname (repeatable)."),
                optional("mac_address", "String", "Only events of nodes with this MAC (repeatable)."),
                optional("id", "String", "Only events of nodes with this system_id (repeatable)."),
                optional("zone", "String", "Only nodes in this zone."),
                optional("agent_name", "String", "Only nodes with this agent name."),
                optional("owner", "String", "Only nodes owned by this user."),
                optional("level", "String", "Minimum level: AUDIT, DEBUG, INFO (default), WARNING, ERROR, CRITICAL."),
                optional("limit", "Int", "Events per page (default 100, maximum 1000)."),
                optional("before", "Int", "Only events with a smaller id."),
                optional("after", "Int", "Only events with a larger id."),
            ]),
    )]
}

fn int(ctx: &Ctx, name: &str) -> Result<Option<i64>> {
    match ctx.params.get_nonempty(name) {
        None => Ok(None),
        Some(v) => v.parse().map(Some).map_err(|_| Error::field(name, format!("'{v}' is not a whole number."))),
    }
}

async fn query(ctx: Ctx) -> Result<Reply> {
    let user = ctx.user()?.clone();
    let p = &ctx.params;
    let (min_level, exact_level) = match p.get_nonempty("level").map(|l| l.to_ascii_uppercase()) {
        None => (engine::events::level::INFO, None),
        Some(l) => match l.as_str() {
            "AUDIT" => (engine::events::level::AUDIT, Some(engine::events::level::AUDIT)),
            "DEBUG" => (engine::events::level::DEBUG, None),
            "INFO" => (engine::events::level::INFO, None),
            "WARNING" => (engine::events::level::WARNING, None),
            "ERROR" => (engine::events::level::ERROR, None),
            "CRITICAL" => (engine::events::level::CRITICAL, None),
            other => return Err(Error::field("level", format!("'{other}' is not a valid level."))),
        },
    };
    let limit = int(&ctx, "limit")?.unwrap_or(100).clamp(1, 1000);
    let before = int(&ctx, "before")?;
    let after = int(&ctx, "after")?;
    if before.is_some() && after.is_some() {
        return Err(Error::BadRequest("There is no meaning to passing both before and after.".into()));
    }
    let hostnames: Vec<String> = p.get_all("hostname").iter().map(|s| s.to_string()).collect();
    let ids: Vec<String> = p.get_all("id").iter().map(|s| s.to_string()).collect();
    let mut macs = Vec::new();
    for m in p.get_all("mac_address") {
        macs.push(
            engine::names::normalise_mac(m)
                .ok_or_else(|| Error::field("mac_address", format!("'{m}' is not a valid MAC address.")))?,
        );
    }
    let zone = p.get_nonempty("zone").map(str::to_string);
    let agent = p.get_nonempty("agent_name").map(str::to_string);
    let owner = p.get_nonempty("owner").map(str::to_string);
    let node_filtered = !hostnames.is_empty()
        || !ids.is_empty()
        || !macs.is_empty()
        || zone.is_some()
        || agent.is_some()
        || owner.is_some()
        || !user.is_superuser;
    let query_string: Vec<(String, String)> =
        p.pairs().iter().filter(|(k, _)| k != "before" && k != "after").cloned().collect();
    let events = ctx
        .db()
        .run(move |c| {
            let mut q = EventQuery { min_level, exact_level, before, after, limit, node_ids: None };
            if node_filtered {
                let mut f = NodeFilter {
                    hostnames: (!hostnames.is_empty()).then_some(hostnames),
                    ids: (!ids.is_empty()).then_some(ids),
                    mac_addresses: (!macs.is_empty()).then_some(macs),
                    agent_names: agent.map(|a| vec![a]),
                    visible_to: (!user.is_superuser).then_some(user.id),
                    ..Default::default()
                };
                if let Some(z) = zone {
                    f.zone_ids = Some(db::places::zone_by_name(c, &z)?.map(|z| vec![z.id]).unwrap_or_default());
                }
                if let Some(o) = owner {
                    f.owner_ids = Some(db::users::by_username(c, &o)?.map(|u| vec![u.id]).unwrap_or_default());
                }
                q.node_ids = Some(db::nodes::list_ids(c, &f)?);
            }
            db::events::query(c, &q)
        })
        .await?;
    let uri = |k: &str, v: i64| {
        let mut s = url::form_urlencoded::Serializer::new(String::new());
        s.append_pair("op", "query");
        for (qk, qv) in query_string.iter().filter(|(qk, _)| qk != "limit") {
            s.append_pair(qk, qv);
        }
        s.append_pair("limit", &limit.to_string());
        s.append_pair(k, &v.to_string());
        format!("{}events/?{}", http::registry::API_PREFIX, s.finish())
    };
    let next_uri = events.first().map(|e| uri("after", e.id));
    let prev_uri = events.last().map(|e| uri("before", e.id));
    Ok(Reply::json(crate::api::views::event::EventPage {
        count: events.len(),
        events: events.iter().map(event_json).collect(),
        next_uri,
        prev_uri,
    }))
}
