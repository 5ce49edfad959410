//! `discovery/` and `discovery/{discovery_id}/` (MAAS's DiscoveriesHandler
//! and DiscoveryHandler): what racks observed on their networks, read by
//! every user, cleared by admins.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use serde_json::Value;

use crate::api::views::discovery::{discovery_json, Observed};
use crate::db;
use crate::db::discoveries::{Discovery, Unknown};
use crate::db::DbConn;
use crate::engine;
use crate::engine::discoveries::Clear;
use crate::error::{Error, Result};
use crate::handler_fn;
use crate::http::params::Form;
use crate::http::registry::{optional, required, Access, Action, Handler, Method, Returns};
use crate::http::reply::Reply;
use crate::http::Ctx;

pub fn handlers() -> Vec<Handler> {
    vec![
        Handler::new("DiscoveriesHandler", "discovery/", Access::Authenticated, "Query observed discoveries")
            .describe(
                "Racks report every lease their DHCP server binds; each is a sighting of a MAC using an address. \
                 Listed most recently seen first.",
            )
            .action(Action::new(Method::Get, None, "List all discovered devices", handler_fn!(list)))
            .action(
                Action::new(
                    Method::Get,
                    Some("by_unknown_mac"),
                    "List all discovered devices with unknown MAC",
                    handler_fn!(by_unknown_mac),
                )
                .returns(Returns::List),
            )
            .action(
                Action::new(
                    Method::Get,
                    Some("by_unknown_ip"),
                    "List all discovered devices with an unknown IP address",
                    handler_fn!(by_unknown_ip),
                )
                .returns(Returns::List),
            )
            .action(
                Action::new(
                    Method::Get,
                    Some("by_unknown_ip_and_mac"),
                    "Lists all discovered devices completely unknown to MAAS",
                    handler_fn!(by_unknown_ip_and_mac),
                )
                .returns(Returns::List),
            )
            .action(
                Action::new(Method::Post, Some("clear"), "Delete all discovered neighbours", handler_fn!(clear))
                    .returns(Returns::Nothing(204))
                    .describe("Administrators only. One of mdns, neighbours or all must be true.")
                    .params(&[
                        optional("mdns", "Boolean", "Delete all mDNS entries (the hostnames observed)."),
                        optional("neighbours", "Boolean", "Delete all neighbour entries."),
                        optional("all", "Boolean", "Delete all discovery data."),
                    ]),
            )
            .action(
                Action::new(
                    Method::Post,
                    Some("clear_by_mac_and_ip"),
                    "Delete discoveries that match a MAC and IP",
                    handler_fn!(clear_by_mac_and_ip),
                )
                .describe("Administrators only.")
                .returns(Returns::Nothing(204))
                .also(410, "Gone: no discovery has that MAC and IP.")
                .params(&[
                    required("ip", "String", "IP address of the discovery."),
                    required("mac", "String", "MAC address of the discovery."),
                ]),
            )
            .action(
                Action::new(Method::Post, Some("scan"), "Run discovery scan on rack networks", handler_fn!(scan))
                    .describe(
                        "Ironpool's racks do not scan networks (no nmap or ping sweeps): this answers 400 after \
                         MAAS's own checks. Discoveries come from what rack DHCP servers observe.",
                    )
                    .params(&[
                        optional("cidr", "String", "The subnet CIDRs to scan (repeat)."),
                        optional("force", "Boolean", "Scan all networks when no cidr is given."),
                        optional("always_use_ping", "Boolean", "Use ping even if nmap is installed."),
                        optional("slow", "Boolean", "Scan slowly."),
                        optional("threads", "Int", "Number of threads."),
                    ]),
            ),
        Handler::new(
            "DiscoveryHandler",
            "discovery/{discovery_id}/",
            Access::Authenticated,
            "Read an observed discovery",
        )
        .action(Action::new(Method::Get, None, "Read a discovery", handler_fn!(read))),
    ]
}

/// Renders discoveries with their observers, interfaces and VLANs (three
/// queries however many rows).
fn render(c: &mut DbConn, rows: &[Discovery]) -> Result<Vec<Value>> {
    let mut node_ids: Vec<i64> = rows.iter().map(|d| d.observer_id).collect();
    node_ids.sort_unstable();
    node_ids.dedup();
    let nodes: HashMap<i64, (String, String)> =
        db::nodes::by_ids(c, &node_ids)?.into_iter().map(|n| (n.id, (n.system_id, n.hostname))).collect();
    let iface_ids: Vec<i64> = rows.iter().filter_map(|d| d.observer_interface_id).collect();
    let ifaces: HashMap<i64, String> = db::discoveries::interface_names(c, &iface_ids)?.into_iter().collect();
    let model = db::network::load_model(c)?;
    Ok(rows
        .iter()
        .map(|d| {
            let (sid, host) = nodes.get(&d.observer_id).map(|(s, h)| (s.as_str(), h.as_str())).unwrap_or(("", ""));
            let vlan = d.vlan_id.and_then(|v| model.vlans.get(&v));
            let o = Observed {
                observer_system_id: sid,
                observer_hostname: host,
                interface_name: d.observer_interface_id.and_then(|i| ifaces.get(&i)).map(String::as_str),
                fabric_name: vlan.and_then(|v| model.fabrics.get(&v.fabric_id)).map(|f| f.name.as_str()),
                vid: vlan.map(|v| v.vid),
            };
            discovery_json(d, &engine::discoveries::discovery_id(&d.ip, &d.mac_address), &o)
        })
        .collect())
}

async fn list_of(ctx: Ctx, unknown: Unknown) -> Result<Reply> {
    ctx.user()?;
    let v = ctx
        .db()
        .run(move |c| {
            let rows = engine::discoveries::list(c, unknown)?;
            render(c, &rows)
        })
        .await?;
    Ok(Reply::Json(Value::Array(v)))
}

async fn list(ctx: Ctx) -> Result<Reply> {
    list_of(ctx, Unknown::default()).await
}

async fn by_unknown_mac(ctx: Ctx) -> Result<Reply> {
    list_of(ctx, Unknown { mac: true, ip: false }).await
}

async fn by_unknown_ip(ctx: Ctx) -> Result<Reply> {
    list_of(ctx, Unknown { mac: false, ip: true }).await
}

async fn by_unknown_ip_and_mac(ctx: Ctx) -> Result<Reply> {
    list_of(ctx, Unknown { mac: true, ip: true }).await
}

async fn read(ctx: Ctx) -> Result<Reply> {
    ctx.user()?;
    let id = ctx.path("discovery_id").to_string();
    let v = ctx
        .db()
        .run(move |c| {
            let d = engine::discoveries::by_id(c, &id)?;
            render(c, &[d])
        })
        .await?;
    Ok(Reply::Json(v.into_iter().next().unwrap_or(Value::Null)))
}

/// MAAS answers non-admins with a plain-text 403 of its own words here.
fn require_admin(ctx: &Ctx) -> Result<()> {
    if ctx.user()?.is_superuser {
        Ok(())
    } else {
        Err(Error::Forbidden("Must be an administrator to clear discovery entries.".into()))
    }
}

async fn clear(ctx: Ctx) -> Result<Reply> {
    let p = &ctx.params;
    let what = Clear {
        all: p.flag("all")?.unwrap_or(false),
        mdns: p.flag("mdns")?.unwrap_or(false),
        neighbours: p.flag("neighbours")?.unwrap_or(false),
    };
    require_admin(&ctx)?;
    ctx.db().write(move |c| engine::discoveries::clear(c, what)).await?;
    Ok(Reply::NoContent)
}

async fn clear_by_mac_and_ip(ctx: Ctx) -> Result<Reply> {
    let mandatory = |k: &str| {
        ctx.params
            .value(k)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
            .ok_or_else(|| Error::BadRequest(format!("No provided {k}!")))
    };
    let (ip, mac) = (mandatory("ip")?, mandatory("mac")?);
    require_admin(&ctx)?;
    let found = ctx.db().write(move |c| engine::discoveries::clear_by_mac_and_ip(c, &ip, &mac)).await?;
    Ok(if found { Reply::NoContent } else { Reply::Text(StatusCode::GONE, "Gone".into()) })
}

async fn scan(ctx: Ctx) -> Result<Reply> {
    ctx.user()?;
    let p = &ctx.params;
    let cidrs = p.values("cidr");
    for c in &cidrs {
        if c.parse::<ipnet::IpNet>().is_err() {
            return Err(Error::BadRequest(format!("Invalid cidr: '{c}' is not a valid CIDR.")));
        }
    }
    let force = p.flag("force")?.unwrap_or(false);
    p.flag("always_use_ping")?;
    p.flag("slow")?;
    if cidrs.is_empty() && !force {
        return Err(Error::BadRequest(
            "Bad request: scanning all subnets is not allowed unless force=True is specified.\n\n**WARNING: This will \
             scan ALL networks attached to MAAS rack controllers.\nCheck with your internet service provider or IT \
             department to be sure this is\nallowed before proceeding.**\n"
                .into(),
        ));
    }
    Err(Error::BadRequest(
        "Ironpool's rack controllers do not scan networks. Discoveries come from what rack DHCP servers observe."
            .into(),
    ))
}
