//! `fabrics/`, `vlans/`, `spaces/`, `subnets/`, `ipranges/`, `ipaddresses/`
//! and `static-routes/`: the network model's handlers.

use serde_json::Value;

use crate::api::views::network::span_json;
use crate::api::views::network::{NetJson, RackNames};
use crate::api::views::user::user_json;
use crate::db;
use crate::db::network::Model;
use crate::db::users::User;
use crate::db::DbConn;
use crate::engine;
use crate::engine::network::{
    FabricInput, RangeInput, ReleaseInput, ReserveInput, RouteInput, SpaceInput, SubnetInput, VlanInput,
};
use crate::error::{Error, Result};
use crate::handler_fn;
use crate::http::params::Form;
use crate::http::registry::{optional, required, Access, Action, Handler, Method, ParamDoc, Returns};
use crate::http::reply::Reply;
use crate::http::Ctx;

pub fn handlers() -> Vec<Handler> {
    let fabric_params = [
        optional("name", "String", "Name of the fabric (default fabric-<id>)."),
        optional("description", "String", "Description."),
        optional("class_type", "String", "Class type of the fabric."),
    ];
    let vlan_params = [
        optional("vid", "Int", "VLAN id (0–4094)."),
        optional("name", "String", "Name."),
        optional("description", "String", "Description."),
        optional("mtu", "Int", "MTU (552–65535, default 1500)."),
        optional("space", "String", "Space id or name; 'undefined' clears it."),
        optional("dhcp_on", "Boolean", "MAAS-managed DHCP (needs a primary rack and a dynamic range)."),
        optional("primary_rack", "String", "Rack controller system_id."),
        optional("secondary_rack", "String", "Rack controller system_id."),
        optional("relay_vlan", "Int", "VLAN id to relay DHCP to."),
    ];
    let space_params = [optional("name", "String", "Name."), optional("description", "String", "Description.")];
    let subnet_params = [
        optional("cidr", "String", "Network/prefix, e.g. 10.0.0.0/24 or 2001:db8::/64."),
        optional("name", "String", "Name (default: the CIDR)."),
        optional("description", "String", "Description."),
        optional("vlan", "Int", "VLAN id."),
        optional("fabric", "String", "Fabric (with vid) when vlan is not given."),
        optional("vid", "Int", "VID within fabric."),
        optional("gateway_ip", "String", "Gateway address inside the subnet."),
        optional("dns_servers", "String", "Addresses, comma- or space-separated or repeated."),
        optional("rdns_mode", "Int", "0 disabled, 1 enabled, 2 RFC2317."),
        optional("allow_dns", "Boolean", "Allow DNS resolution."),
        optional("allow_proxy", "Boolean", "Allow proxy."),
        optional("active_discovery", "Boolean", "Active discovery."),
        optional("managed", "Boolean", "MAAS manages addresses in the subnet."),
        optional("disabled_boot_architectures", "String", "Comma-separated boot architectures."),
    ];
    let range_params = [
        optional("type", "String", "dynamic or reserved."),
        optional("start_ip", "String", "First address."),
        optional("end_ip", "String", "Last address."),
        optional("subnet", "String", "Subnet id or CIDR (default: the one containing start_ip)."),
        optional("comment", "String", "Comment."),
    ];
    let route_params = [
        optional("source", "String", "Source subnet."),
        optional("destination", "String", "Destination subnet."),
        optional("gateway_ip", "String", "Gateway in the source subnet."),
        optional("metric", "Int", "Metric."),
    ];
    let with_required = |ps: &[ParamDoc], req: &[&'static str]| -> Vec<ParamDoc> {
        ps.iter().map(|p| if req.contains(&p.name) { required(p.name, p.ty, p.doc) } else { *p }).collect()
    };
    vec![
        Handler::new("FabricsHandler", "fabrics/", Access::Authenticated, "Manage fabrics")
            .action(
                Action::new(Method::Get, None, "List all fabrics", handler_fn!(fabrics_list)).returns(Returns::List),
            )
            .action(
                Action::new(Method::Post, None, "Create a fabric", handler_fn!(fabric_create)).params(&fabric_params),
            ),
        Handler::new("FabricHandler", "fabrics/{id}/", Access::Authenticated, "Manage a fabric")
            .action(Action::new(Method::Get, None, "Read a fabric", handler_fn!(fabric_read)))
            .action(
                Action::new(Method::Put, None, "Update a fabric", handler_fn!(fabric_update)).params(&fabric_params),
            )
            .action(Action::new(Method::Delete, None, "Delete a fabric", handler_fn!(fabric_delete))),
        Handler::new("VlansHandler", "fabrics/{fabric_id}/vlans/", Access::Authenticated, "Manage VLANs on a fabric")
            .action(
                Action::new(Method::Get, None, "List VLANs of a fabric", handler_fn!(vlans_list))
                    .returns(Returns::List),
            )
            .action(
                Action::new(Method::Post, None, "Create a VLAN", handler_fn!(vlan_create))
                    .params(&with_required(&vlan_params, &["vid"])),
            ),
        Handler::new(
            "VlanHandler",
            "fabrics/{fabric_id}/vlans/{vid}/",
            Access::Authenticated,
            "Manage a VLAN on a fabric",
        )
        .action(Action::new(Method::Get, None, "Read a VLAN", handler_fn!(vlan_read)))
        .action(Action::new(Method::Put, None, "Update a VLAN", handler_fn!(vlan_update)).params(&vlan_params))
        .action(Action::new(Method::Delete, None, "Delete a VLAN", handler_fn!(vlan_delete))),
        Handler::new("VlanByIdHandler", "vlans/{id}/", Access::Authenticated, "Manage a VLAN by its global id")
            .action(Action::new(Method::Get, None, "Read a VLAN", handler_fn!(vlan_read)))
            .action(Action::new(Method::Put, None, "Update a VLAN", handler_fn!(vlan_update)).params(&vlan_params))
            .action(Action::new(Method::Delete, None, "Delete a VLAN", handler_fn!(vlan_delete))),
        Handler::new("SpacesHandler", "spaces/", Access::Authenticated, "Manage spaces")
            .action(Action::new(Method::Get, None, "List all spaces", handler_fn!(spaces_list)).returns(Returns::List))
            .action(
                Action::new(Method::Post, None, "Create a space", handler_fn!(space_create))
                    .params(&with_required(&space_params, &["name"])),
            ),
        Handler::new("SpaceHandler", "spaces/{id}/", Access::Authenticated, "Manage a space")
            .action(Action::new(Method::Get, None, "Read a space", handler_fn!(space_read)))
            .action(Action::new(Method::Put, None, "Update a space", handler_fn!(space_update)).params(&space_params))
            .action(Action::new(Method::Delete, None, "Delete a space", handler_fn!(space_delete))),
        Handler::new("SubnetsHandler", "subnets/", Access::Authenticated, "Manage subnets")
            .action(
                Action::new(Method::Get, None, "List all subnets", handler_fn!(subnets_list)).returns(Returns::List),
            )
            .action(
                Action::new(Method::Post, None, "Create a subnet", handler_fn!(subnet_create))
                    .describe("Overlapping subnets are refused.")
                    .params(&with_required(&subnet_params, &["cidr"])),
            ),
        Handler::new("SubnetHandler", "subnets/{id}/", Access::Authenticated, "Manage a subnet")
            .describe("{id} is the subnet's id, CIDR or name.")
            .action(Action::new(Method::Get, None, "Read a subnet", handler_fn!(subnet_read)))
            .action(
                Action::new(Method::Put, None, "Update a subnet", handler_fn!(subnet_update)).params(&subnet_params),
            )
            .action(Action::new(Method::Delete, None, "Delete a subnet", handler_fn!(subnet_delete)).params(&[
                optional(
                    "force",
                    "Boolean",
                    "Delete even when nodes' interfaces hold addresses in it (they are removed with it).",
                ),
            ]))
            .action(
                Action::new(
                    Method::Get,
                    Some("ip_addresses"),
                    "Addresses in use in the subnet",
                    handler_fn!(subnet_ips),
                )
                .returns(Returns::List)
                .params(&[
                    optional("with_username", "Boolean", "Include usernames (default true)."),
                    optional("with_summary", "Boolean", "Include node summaries (default true)."),
                ]),
            )
            .action(
                Action::new(
                    Method::Get,
                    Some("reserved_ip_ranges"),
                    "Unavailable ranges",
                    handler_fn!(subnet_reserved),
                )
                .returns(Returns::List),
            )
            .action(
                Action::new(Method::Get, Some("unreserved_ip_ranges"), "Free ranges", handler_fn!(subnet_unreserved))
                    .returns(Returns::List),
            )
            .action(
                Action::new(Method::Get, Some("statistics"), "Usage statistics", handler_fn!(subnet_stats)).params(&[
                    optional("include_ranges", "Boolean", "Include the free and used ranges."),
                    optional("include_suggestions", "Boolean", "Include a suggested gateway and dynamic range."),
                ]),
            ),
        Handler::new("IPRangesHandler", "ipranges/", Access::Authenticated, "Manage IP ranges")
            .action(
                Action::new(Method::Get, None, "List all IP ranges", handler_fn!(ranges_list)).returns(Returns::List),
            )
            .action(
                Action::new(Method::Post, None, "Create an IP range", handler_fn!(range_create))
                    .describe("Dynamic ranges are for administrators; any user may reserve a range.")
                    .params(&with_required(&range_params, &["type", "start_ip", "end_ip"])),
            ),
        Handler::new("IPRangeHandler", "ipranges/{id}/", Access::Authenticated, "Manage an IP range")
            .action(Action::new(Method::Get, None, "Read an IP range", handler_fn!(range_read)))
            .action(
                Action::new(Method::Put, None, "Update an IP range", handler_fn!(range_update)).params(&range_params),
            )
            .action(Action::new(Method::Delete, None, "Delete an IP range", handler_fn!(range_delete))),
        Handler::new("IPAddressesHandler", "ipaddresses/", Access::Authenticated, "Manage IP addresses")
            .action(
                Action::new(Method::Get, None, "List reserved IP addresses", handler_fn!(addresses_list))
                    .returns(Returns::List)
                    .params(&[
                        optional("ip", "String", "Only this address."),
                        optional("all", "Boolean", "Admins: every user's reservations."),
                        optional("owner", "String", "Admins: this user's reservations."),
                    ]),
            )
            .action(
                Action::new(Method::Post, Some("reserve"), "Reserve an IP address", handler_fn!(address_reserve))
                    .params(&[
                        optional("subnet", "String", "Subnet id or CIDR."),
                        optional("ip", "String", "The address (default: the first free one)."),
                        optional("ip_address", "String", "Alias of ip."),
                        optional("hostname", "String", "Hostname to record."),
                        optional("mac", "String", "MAC address to record."),
                    ]),
            )
            .action(
                Action::new(
                    Method::Post,
                    Some("release"),
                    "Release a reserved IP address",
                    handler_fn!(address_release),
                )
                .returns(Returns::Nothing(204))
                .params(&[
                    required("ip", "String", "The address."),
                    optional("force", "Boolean", "Admins: release any address."),
                ]),
            ),
        Handler::new("StaticRoutesHandler", "static-routes/", Access::Authenticated, "Manage static routes")
            .action(
                Action::new(Method::Get, None, "List static routes", handler_fn!(routes_list)).returns(Returns::List),
            )
            .action(
                Action::new(Method::Post, None, "Create a static route", handler_fn!(route_create))
                    .params(&with_required(&route_params, &["source", "destination", "gateway_ip"])),
            ),
        Handler::new("StaticRouteHandler", "static-routes/{id}/", Access::Authenticated, "Manage a static route")
            .action(Action::new(Method::Get, None, "Read a static route", handler_fn!(route_read)))
            .action(
                Action::new(Method::Put, None, "Update a static route", handler_fn!(route_update))
                    .params(&route_params),
            )
            .action(Action::new(Method::Delete, None, "Delete a static route", handler_fn!(route_delete))),
    ]
}

/// The network model and rack names, for rendering.
pub(crate) fn load(c: &mut DbConn) -> Result<(Model, RackNames)> {
    let model = db::network::load_model(c)?;
    let racks = db::network::rack_names(c, &model)?;
    Ok((model, racks))
}

/// Runs `f` (a read) and renders its answer with the fresh model.
async fn read<T: Send + 'static>(
    ctx: &Ctx,
    f: impl FnOnce(&mut DbConn) -> Result<T> + Send + 'static,
    render: impl FnOnce(&NetJson, T) -> Value + Send + 'static,
) -> Result<Reply> {
    ctx.user()?;
    let v = ctx
        .db()
        .run(move |c| {
            let t = f(c)?;
            let (model, racks) = load(c)?;
            Ok(render(&NetJson::new(&model, &racks), t))
        })
        .await?;
    Ok(Reply::Json(v))
}

/// Runs `f` in a write transaction (admin only) and renders its answer.
async fn write<T: Send + 'static>(
    ctx: &Ctx,
    admin: bool,
    f: impl FnOnce(&mut DbConn, &User) -> Result<T> + Send + 'static,
    render: impl FnOnce(&NetJson, T) -> Value + Send + 'static,
) -> Result<Reply> {
    let user = if admin { ctx.admin()?.clone() } else { ctx.user()?.clone() };
    let v = ctx
        .db()
        .write(move |c| {
            let t = f(c, &user)?;
            let (model, racks) = load(c)?;
            Ok(render(&NetJson::new(&model, &racks), t))
        })
        .await?;
    Ok(Reply::Json(v))
}

async fn delete(
    ctx: &Ctx,
    admin: bool,
    f: impl FnOnce(&mut DbConn, &User) -> Result<()> + Send + 'static,
) -> Result<Reply> {
    let user = if admin { ctx.admin()?.clone() } else { ctx.user()?.clone() };
    ctx.db().write(move |c| f(c, &user)).await?;
    Ok(Reply::NoContent)
}

fn path_id(ctx: &Ctx, name: &str, model: &'static str) -> Result<i64> {
    ctx.path(name).parse().map_err(|_| Error::NotFound(model))
}

// ---- fabrics ----

async fn fabrics_list(ctx: Ctx) -> Result<Reply> {
    read(
        &ctx,
        |_| Ok(()),
        |nj, ()| {
            let mut f: Vec<_> = nj.model.fabrics.values().collect();
            f.sort_by_key(|f| f.id);
            Value::Array(f.into_iter().map(|f| nj.fabric(f)).collect())
        },
    )
    .await
}

async fn fabric_create(ctx: Ctx) -> Result<Reply> {
    let p = ctx.params.clone();
    write(&ctx, true, move |c, _| engine::network::create_fabric(c, &FabricInput::from_form(&p)), |nj, f| nj.fabric(&f))
        .await
}

async fn fabric_read(ctx: Ctx) -> Result<Reply> {
    let key = ctx.path("id").to_string();
    read(&ctx, move |c| engine::network::fabric(c, &key), |nj, f| nj.fabric(&f)).await
}

async fn fabric_update(ctx: Ctx) -> Result<Reply> {
    let key = ctx.path("id").to_string();
    let p = ctx.params.clone();
    write(
        &ctx,
        true,
        move |c, _| {
            let o = engine::network::fabric(c, &key)?;
            engine::network::update_fabric(c, &o, &FabricInput::from_form(&p))
        },
        |nj, f| nj.fabric(&f),
    )
    .await
}

async fn fabric_delete(ctx: Ctx) -> Result<Reply> {
    let key = ctx.path("id").to_string();
    delete(&ctx, true, move |c, _| {
        let o = engine::network::fabric(c, &key)?;
        engine::network::delete_fabric(c, &o)
    })
    .await
}

// ---- VLANs ----

/// The URL's VLAN: `fabrics/{fabric_id}/vlans/{vid}/` or `vlans/{id}/`.
fn url_vlan(ctx: &Ctx) -> impl FnOnce(&mut DbConn) -> Result<db::network::Vlan> + Send + 'static {
    let fabric = ctx.path("fabric_id").to_string();
    let vid = ctx.path("vid").to_string();
    let id = ctx.path("id").to_string();
    move |c| {
        if fabric.is_empty() {
            engine::network::vlan(c, id.parse().map_err(|_| Error::NotFound("VLAN"))?)
        } else {
            engine::network::vlan_in_fabric(c, &fabric, &vid)
        }
    }
}

async fn vlans_list(ctx: Ctx) -> Result<Reply> {
    let key = ctx.path("fabric_id").to_string();
    read(
        &ctx,
        move |c| engine::network::fabric(c, &key),
        |nj, f| Value::Array(nj.model.vlans_of_fabric(f.id).iter().map(|v| nj.vlan(v.id)).collect()),
    )
    .await
}

async fn vlan_create(ctx: Ctx) -> Result<Reply> {
    let key = ctx.path("fabric_id").to_string();
    let p = ctx.params.clone();
    write(
        &ctx,
        true,
        move |c, _| {
            let o = engine::network::fabric(c, &key)?;
            engine::network::create_vlan(c, &o, &VlanInput::from_form(&p)?)
        },
        |nj, v| nj.vlan(v.id),
    )
    .await
}

async fn vlan_read(ctx: Ctx) -> Result<Reply> {
    read(&ctx, url_vlan(&ctx), |nj, v| nj.vlan(v.id)).await
}

async fn vlan_update(ctx: Ctx) -> Result<Reply> {
    let get = url_vlan(&ctx);
    let p = ctx.params.clone();
    write(
        &ctx,
        true,
        move |c, _| {
            let o = get(c)?;
            engine::network::update_vlan(c, &o, &VlanInput::from_form(&p)?)
        },
        |nj, v| nj.vlan(v.id),
    )
    .await
}

async fn vlan_delete(ctx: Ctx) -> Result<Reply> {
    let get = url_vlan(&ctx);
    delete(&ctx, true, move |c, _| {
        let o = get(c)?;
        engine::network::delete_vlan(c, &o)
    })
    .await
}

// ---- spaces ----

async fn spaces_list(ctx: Ctx) -> Result<Reply> {
    read(
        &ctx,
        |_| Ok(()),
        |nj, ()| {
            let mut s: Vec<_> = nj.model.spaces.values().collect();
            s.sort_by_key(|s| s.id);
            Value::Array(s.into_iter().map(|s| nj.space(s)).collect())
        },
    )
    .await
}

async fn space_create(ctx: Ctx) -> Result<Reply> {
    let p = ctx.params.clone();
    write(&ctx, true, move |c, _| engine::network::create_space(c, &SpaceInput::from_form(&p)), |nj, s| nj.space(&s))
        .await
}

async fn space_read(ctx: Ctx) -> Result<Reply> {
    let key = ctx.path("id").to_string();
    read(&ctx, move |c| engine::network::space(c, &key), |nj, s| nj.space(&s)).await
}

async fn space_update(ctx: Ctx) -> Result<Reply> {
    let key = ctx.path("id").to_string();
    let p = ctx.params.clone();
    write(
        &ctx,
        true,
        move |c, _| {
            let o = engine::network::space(c, &key)?;
            engine::network::update_space(c, &o, &SpaceInput::from_form(&p))
        },
        |nj, s| nj.space(&s),
    )
    .await
}

async fn space_delete(ctx: Ctx) -> Result<Reply> {
    let key = ctx.path("id").to_string();
    delete(&ctx, true, move |c, _| {
        let o = engine::network::space(c, &key)?;
        engine::network::delete_space(c, &o)
    })
    .await
}

// ---- subnets ----

async fn subnets_list(ctx: Ctx) -> Result<Reply> {
    read(&ctx, |_| Ok(()), |nj, ()| Value::Array(nj.model.subnets_sorted().iter().map(|s| nj.subnet(s.id)).collect()))
        .await
}

async fn subnet_create(ctx: Ctx) -> Result<Reply> {
    let p = ctx.params.clone();
    write(
        &ctx,
        true,
        move |c, _| engine::network::create_subnet(c, &SubnetInput::from_form(&p)?),
        |nj, s| nj.subnet(s.id),
    )
    .await
}

async fn subnet_read(ctx: Ctx) -> Result<Reply> {
    let key = ctx.path("id").to_string();
    read(&ctx, move |c| engine::network::subnet(c, &key), |nj, s| nj.subnet(s.id)).await
}

async fn subnet_update(ctx: Ctx) -> Result<Reply> {
    let key = ctx.path("id").to_string();
    let p = ctx.params.clone();
    write(
        &ctx,
        true,
        move |c, _| {
            let o = engine::network::subnet(c, &key)?;
            engine::network::update_subnet(c, &o, &SubnetInput::from_form(&p)?)
        },
        |nj, s| nj.subnet(s.id),
    )
    .await
}

async fn subnet_delete(ctx: Ctx) -> Result<Reply> {
    let key = ctx.path("id").to_string();
    let force = ctx.params.flag("force")?.unwrap_or(false);
    delete(&ctx, true, move |c, _| {
        let o = engine::network::subnet(c, &key)?;
        engine::network::delete_subnet(c, &o, force)
    })
    .await
}

async fn subnet_ips(ctx: Ctx) -> Result<Reply> {
    ctx.user()?;
    let key = ctx.path("id").to_string();
    let with_username = ctx.params.bool("with_username")?.unwrap_or(true);
    let with_summary = ctx.params.bool("with_summary")?.unwrap_or(true);
    let v = ctx
        .db()
        .run(move |c| {
            let s = engine::network::subnet(c, &key)?;
            let users = users_by_id(c)?;
            let mut out = Vec::new();
            for a in db::network::addresses_in_subnet(c, s.id)?.into_iter().filter(|a| a.ip.is_some()) {
                let user = with_username.then(|| a.user_id.and_then(|u| users.get(&u)).map(|u| u.username.as_str()));
                let mut summary = None;
                if with_summary {
                    if let Some(i) = a.interface_id.map(|i| db::network::interface_by_id(c, i)).transpose()?.flatten() {
                        if let Some(n) = db::nodes::by_ids(c, &[i.node_id])?.into_iter().next() {
                            summary = Some((n, i.name));
                        }
                    }
                }
                let o = crate::api::views::network::subnet_address_json(
                    &a,
                    user,
                    summary.as_ref().map(|(n, via)| (n, via.as_str())),
                );
                out.push(o);
            }
            Ok(Value::Array(out))
        })
        .await?;
    Ok(Reply::Json(v))
}

async fn subnet_reserved(ctx: Ctx) -> Result<Reply> {
    ctx.user()?;
    let key = ctx.path("id").to_string();
    let v = ctx
        .db()
        .run(move |c| {
            let s = engine::network::subnet(c, &key)?;
            let v4 = engine::network::cidr_of(&s).addr().is_ipv4();
            Ok(Value::Array(engine::network::unavailable(c, &s)?.iter().map(|sp| span_json(sp, v4, true)).collect()))
        })
        .await?;
    Ok(Reply::Json(v))
}

async fn subnet_unreserved(ctx: Ctx) -> Result<Reply> {
    ctx.user()?;
    let key = ctx.path("id").to_string();
    let v = ctx
        .db()
        .run(move |c| {
            let s = engine::network::subnet(c, &key)?;
            let netw = engine::network::cidr_of(&s);
            let v4 = netw.addr().is_ipv4();
            let free = engine::ipam::free_spans(&netw, &engine::network::unavailable(c, &s)?);
            Ok(Value::Array(free.iter().map(|sp| span_json(sp, v4, false)).collect()))
        })
        .await?;
    Ok(Reply::Json(v))
}

async fn subnet_stats(ctx: Ctx) -> Result<Reply> {
    ctx.user()?;
    let key = ctx.path("id").to_string();
    let include_ranges = ctx.params.bool("include_ranges")?.unwrap_or(false);
    let include_suggestions = ctx.params.bool("include_suggestions")?.unwrap_or(false);
    let v = ctx
        .db()
        .run(move |c| {
            let s = engine::network::subnet(c, &key)?;
            let used = engine::network::unavailable(c, &s)?;
            Ok(crate::api::views::network::subnet_statistics_json(&s, &used, include_ranges, include_suggestions))
        })
        .await?;
    Ok(Reply::Json(v))
}

// ---- IP ranges ----

/// Every user by id: lists name the owner of each row from one query,
/// not one per row.
fn users_by_id(c: &mut DbConn) -> Result<std::collections::HashMap<i64, User>> {
    Ok(db::users::list(c)?.into_iter().map(|u| (u.id, u)).collect())
}

fn range_user(c: &mut DbConn, r: &db::network::IpRange) -> Result<Option<Value>> {
    Ok(match r.user_id {
        Some(u) => db::users::by_id(c, u)?.map(|u| user_json(&u)),
        None => None,
    })
}

async fn ranges_list(ctx: Ctx) -> Result<Reply> {
    read(
        &ctx,
        |c| {
            let users = users_by_id(c)?;
            let rs = db::network::ranges(c, None)?;
            Ok(rs
                .into_iter()
                .map(|r| {
                    let u = r.user_id.and_then(|u| users.get(&u)).map(user_json);
                    (r, u)
                })
                .collect::<Vec<_>>())
        },
        |nj, rs| Value::Array(rs.into_iter().map(|(r, u)| nj.range(&r, u)).collect()),
    )
    .await
}

async fn range_create(ctx: Ctx) -> Result<Reply> {
    let p = ctx.params.clone();
    write(
        &ctx,
        false,
        move |c, user| {
            let r = engine::network::create_range(c, user, &RangeInput::from_form(&p))?;
            Ok((r, Some(user_json(user))))
        },
        |nj, (r, u)| nj.range(&r, u),
    )
    .await
}

async fn range_read(ctx: Ctx) -> Result<Reply> {
    let id = path_id(&ctx, "id", "IPRange")?;
    read(
        &ctx,
        move |c| {
            let r = engine::network::range(c, id)?;
            let u = range_user(c, &r)?;
            Ok((r, u))
        },
        |nj, (r, u)| nj.range(&r, u),
    )
    .await
}

async fn range_update(ctx: Ctx) -> Result<Reply> {
    let id = path_id(&ctx, "id", "IPRange")?;
    let p = ctx.params.clone();
    write(
        &ctx,
        false,
        move |c, user| {
            let r = {
                let o = engine::network::range(c, id)?;
                engine::network::update_range(c, user, &o, &RangeInput::from_form(&p))?
            };
            let u = range_user(c, &r)?;
            Ok((r, u))
        },
        |nj, (r, u)| nj.range(&r, u),
    )
    .await
}

async fn range_delete(ctx: Ctx) -> Result<Reply> {
    let id = path_id(&ctx, "id", "IPRange")?;
    delete(&ctx, false, move |c, user| {
        let o = engine::network::range(c, id)?;
        engine::network::delete_range(c, user, &o)
    })
    .await
}

// ---- IP addresses ----

async fn addresses_list(ctx: Ctx) -> Result<Reply> {
    let user = ctx.user()?.clone();
    let all = ctx.params.bool("all")?.unwrap_or(false);
    let owner = ctx.params.get_nonempty("owner").map(str::to_string);
    let ip = ctx.params.get_nonempty("ip").map(str::to_string);
    if (all || owner.is_some()) && !user.is_superuser {
        return Err(Error::Forbidden("Only administrators can list other users' addresses.".into()));
    }
    read(
        &ctx,
        move |c| {
            let who = match (&owner, all) {
                (Some(o), _) => Some(db::users::by_username(c, o)?.ok_or(Error::NotFound("User"))?.id),
                (None, true) => None,
                (None, false) => Some(user.id),
            };
            let users = users_by_id(c)?;
            let mut out = Vec::new();
            for a in db::network::reservations(c, who)? {
                if ip.as_deref().is_some_and(|ip| a.ip.as_deref() != Some(ip)) {
                    continue;
                }
                let name = a.user_id.and_then(|u| users.get(&u)).map(|u| u.username.clone());
                out.push((a, name));
            }
            Ok(out)
        },
        |nj, v| Value::Array(v.iter().map(|(a, o)| nj.address(a, o.as_deref())).collect()),
    )
    .await
}

async fn address_reserve(ctx: Ctx) -> Result<Reply> {
    let p = ctx.params.clone();
    write(
        &ctx,
        false,
        move |c, user| Ok((engine::network::reserve(c, user, &ReserveInput::from_form(&p))?, user.username.clone())),
        |nj, (a, o)| nj.address(&a, Some(&o)),
    )
    .await
}

async fn address_release(ctx: Ctx) -> Result<Reply> {
    let p = ctx.params.clone();
    delete(&ctx, false, move |c, user| engine::network::release(c, user, &ReleaseInput::from_form(&p)?)).await
}

// ---- static routes ----

async fn routes_list(ctx: Ctx) -> Result<Reply> {
    read(&ctx, db::network::routes, |nj, rs| Value::Array(rs.iter().map(|r| nj.route(r)).collect())).await
}

async fn route_create(ctx: Ctx) -> Result<Reply> {
    let p = ctx.params.clone();
    write(&ctx, true, move |c, _| engine::network::create_route(c, &RouteInput::from_form(&p)?), |nj, r| nj.route(&r))
        .await
}

async fn route_read(ctx: Ctx) -> Result<Reply> {
    let id = path_id(&ctx, "id", "StaticRoute")?;
    read(&ctx, move |c| engine::network::route(c, id), |nj, r| nj.route(&r)).await
}

async fn route_update(ctx: Ctx) -> Result<Reply> {
    let id = path_id(&ctx, "id", "StaticRoute")?;
    let p = ctx.params.clone();
    write(
        &ctx,
        true,
        move |c, _| {
            let o = engine::network::route(c, id)?;
            engine::network::update_route(c, &o, &RouteInput::from_form(&p)?)
        },
        |nj, r| nj.route(&r),
    )
    .await
}

async fn route_delete(ctx: Ctx) -> Result<Reply> {
    let id = path_id(&ctx, "id", "StaticRoute")?;
    delete(&ctx, true, move |c, _| {
        engine::network::route(c, id)?;
        db::network::route_delete(c, id)
    })
    .await
}

// ---- typed inputs, parsed from the request's form ----
//
// MAAS's semantics: an absent field leaves the value unchanged; a blank
// optional text field counts as absent, except where blank means "clear"
// (descriptions, comments, a VLAN's name and references, a subnet's
// gateway). Parsed inside the write transaction, after authorization, so a
// non-admin gets 403 before any 400 about the form.

fn owned(v: Option<&str>) -> Option<String> {
    v.map(str::to_string)
}

impl SpaceInput {
    fn from_form(f: &dyn Form) -> Self {
        SpaceInput { name: owned(f.text("name")), description: owned(f.value("description")) }
    }
}

impl FabricInput {
    fn from_form(f: &dyn Form) -> Self {
        FabricInput {
            name: owned(f.text("name")),
            description: owned(f.value("description")),
            class_type: f.value("class_type").map(|_| owned(f.text("class_type"))),
        }
    }
}

impl VlanInput {
    fn from_form(f: &dyn Form) -> Result<Self> {
        Ok(VlanInput {
            vid: f.text("vid").map(engine::network::parse_vid).transpose()?,
            name: f.value("name").map(|n| Some(n.trim().to_string()).filter(|n| !n.is_empty())),
            description: owned(f.value("description")),
            mtu: f.text("mtu").map(engine::network::parse_mtu).transpose()?,
            space: owned(f.value("space")),
            primary_rack: owned(f.value("primary_rack")),
            secondary_rack: owned(f.value("secondary_rack")),
            relay_vlan: owned(f.value("relay_vlan")),
            dhcp_on: f.flag("dhcp_on")?,
        })
    }
}

impl SubnetInput {
    fn from_form(f: &dyn Form) -> Result<Self> {
        Ok(SubnetInput {
            cidr: owned(f.value("cidr")),
            name: owned(f.text("name")),
            description: owned(f.value("description")),
            vlan: owned(f.text("vlan")),
            fabric: owned(f.text("fabric")),
            vid: owned(f.text("vid")),
            space: owned(f.value("space")),
            gateway_ip: owned(f.value("gateway_ip")),
            dns_servers: f.joined("dns_servers"),
            rdns_mode: f.int("rdns_mode")?,
            allow_dns: f.flag("allow_dns")?,
            allow_proxy: f.flag("allow_proxy")?,
            active_discovery: f.flag("active_discovery")?,
            managed: f.flag("managed")?,
            disabled_boot_architectures: f
                .value("disabled_boot_architectures")
                .map(|_| f.list("disabled_boot_architectures")),
        })
    }
}

impl RangeInput {
    fn from_form(f: &dyn Form) -> Self {
        RangeInput {
            range_type: owned(f.text("type")),
            start_ip: owned(f.text("start_ip")),
            end_ip: owned(f.text("end_ip")),
            subnet: owned(f.text("subnet")),
            comment: owned(f.value("comment")),
        }
    }
}

impl ReserveInput {
    fn from_form(f: &dyn Form) -> Self {
        ReserveInput {
            ip: owned(f.text("ip").or_else(|| f.text("ip_address"))),
            subnet: owned(f.text("subnet")),
            mac: owned(f.text("mac")),
            hostname: owned(f.text("hostname")),
        }
    }
}

impl ReleaseInput {
    fn from_form(f: &dyn Form) -> Result<Self> {
        Ok(ReleaseInput { ip: owned(f.text("ip")), force: f.flag("force")?.unwrap_or(false) })
    }
}

impl RouteInput {
    fn from_form(f: &dyn Form) -> Result<Self> {
        Ok(RouteInput {
            source: owned(f.text("source")),
            destination: owned(f.text("destination")),
            gateway_ip: owned(f.text("gateway_ip")),
            metric: f.int("metric")?,
        })
    }
}
