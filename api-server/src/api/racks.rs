//! `rackcontrollers/`, `rackcontrollers/{system_id}/`, `regioncontrollers/`
//! and `regioncontrollers/{system_id}/` (MAAS's RackController(s)Handler and
//! RegionController(s)Handler, which inherit NodeHandler's and
//! NodesHandler's operations): the racks that registered over the rack
//! link and the regions that registered at start, with their interfaces,
//! the services they report and whether they are in contact.

use actix_web::http::StatusCode;
use serde_json::Value;

use crate::api::support::list_of;
use crate::api::views::rack::{rack_json, region_json};
use crate::db;
use crate::db::nodes::{Node, NodeFilter};
use crate::db::DbConn;
use crate::engine;
use crate::engine::lifecycle::NodeType;
use crate::engine::nodes::create::MachineUpdate;
use crate::engine::regions::REGION_TYPES;
use crate::error::{Error, Result};
use crate::handler_fn;
use crate::http::params::{Form, Params};
use crate::http::registry::{optional, required, Access, Action, Handler, Method, Returns};
use crate::http::reply::Reply;
use crate::http::Ctx;

/// What MAAS's `ControllerForm` takes on update, shared by both kinds.
fn update_params() -> [crate::http::registry::ParamDoc; 6] {
    [
        optional("description", "String", "The new description for this controller."),
        optional("zone", "String", "Name of a valid physical zone in which to place this controller."),
        optional("domain", "String", "The domain for this controller."),
        optional("power_type", "String", "The new power type for this controller (admins)."),
        optional("power_parameters_{param}", "String", "One power parameter of the power type (admins)."),
        optional("power_parameters_skip_check", "Boolean", "Skip checking the power parameters."),
    ]
}

/// The collection operations NodesHandler gives every node collection.
fn nodes_ops(h: Handler) -> Handler {
    h.action(
        Action::new(Method::Get, Some("is_registered"), "MAC address registered", handler_fn!(is_registered))
            .params(&[required("mac_address", "String", "The MAC address to be checked.")]),
    )
    .action(Action::new(Method::Post, Some("set_zone"), "Assign nodes to a zone", handler_fn!(set_zone)).params(
        &[
            required("zone", "String", "The zone name."),
            required("nodes", "String", "The system_ids of the nodes (repeat)."),
        ],
    ))
}

pub fn handlers() -> Vec<Handler> {
    let list_params =
        [optional("id", "String", "system_ids (repeat)."), optional("hostname", "String", "Hostnames (repeat).")];
    vec![
        nodes_ops(
            Handler::new(
                "RackControllersHandler",
                "rackcontrollers/",
                Access::Authenticated,
                "Manage rack controllers",
            )
            .action(Action::new(Method::Get, None, "List rack controllers", handler_fn!(list)).params(&list_params))
            .action(
                Action::new(
                    Method::Get,
                    Some("describe_power_types"),
                    "Get power information from rack controllers",
                    handler_fn!(describe_power_types),
                )
                .describe("The power types this MAAS can drive, with their parameters.")
                .returns(Returns::List),
            )
            .action(
                Action::new(
                    Method::Post,
                    Some("import_boot_images"),
                    "Import boot images on all rack controllers",
                    handler_fn!(import_boot_images_all),
                )
                .returns(Returns::Text(202))
                .describe(
                    "Deprecated in MAAS: answers 202 and does nothing. Racks fetch boot images from the \
                         region as they need them; import images with boot-resources/?op=import.",
                ),
            )
            .action(
                Action::new(
                    Method::Get,
                    Some("power_parameters"),
                    "Get power parameters",
                    handler_fn!(power_parameters_many),
                )
                .describe("Administrators only.")
                .params(&[optional(
                    "id",
                    "String",
                    "system_ids (repeat); all rack controllers if none.",
                )]),
            ),
        ),
        Handler::new(
            "RackControllerHandler",
            "rackcontrollers/{system_id}/",
            Access::Authenticated,
            "Manage an individual rack controller",
        )
        .action(Action::new(Method::Get, None, "Read a rack controller", handler_fn!(read)))
        .action(
            Action::new(Method::Put, None, "Update a rack controller", handler_fn!(update_rack))
                .describe("Administrators only.")
                .params(&update_params()),
        )
        .action(Action::new(
            Method::Post,
            Some("accept"),
            "Accept a rack controller registered with the shared secret (Ironpool)",
            handler_fn!(accept),
        ))
        .action(Action::new(Method::Delete, None, "Delete a rack controller", handler_fn!(delete)).params(&[optional(
            "force",
            "Boolean",
            "Delete even if VLANs still use it for DHCP.",
        )]))
        .action(
            Action::new(
                Method::Get,
                Some("power_parameters"),
                "Get power parameters",
                handler_fn!(rack_power_parameters),
            )
            .describe("Administrators only."),
        )
        .action(Action::new(Method::Get, Some("details"), "Get system details", handler_fn!(rack_details)))
        .action(
            Action::new(
                Method::Get,
                Some("list_boot_images"),
                "List available boot images",
                handler_fn!(list_boot_images),
            )
            .describe("Deprecated in MAAS: the region's boot resources, which racks serve from the region."),
        )
        .action(
            Action::new(
                Method::Post,
                Some("import_boot_images"),
                "Import boot images",
                handler_fn!(import_boot_images),
            )
            .describe("Deprecated in MAAS: answers 202 and does nothing."),
        ),
        nodes_ops(
            Handler::new(
                "RegionControllersHandler",
                "regioncontrollers/",
                Access::Authenticated,
                "Manage the collection of all region controllers in MAAS",
            )
            .describe("Every region registers itself when it starts and heartbeats while it runs.")
            .action(
                Action::new(Method::Get, None, "List region controllers", handler_fn!(list_regions))
                    .params(&list_params),
            ),
        ),
        Handler::new(
            "RegionControllerHandler",
            "regioncontrollers/{system_id}/",
            Access::Authenticated,
            "Manage an individual region controller",
        )
        .action(Action::new(Method::Get, None, "Read a region controller", handler_fn!(read_region)))
        .action(
            Action::new(Method::Put, None, "Update a region controller", handler_fn!(update_region))
                .describe("Administrators only.")
                .params(&update_params()),
        )
        .action(
            Action::new(Method::Delete, None, "Delete a region controller", handler_fn!(delete_region))
                .describe(
                    "Administrators only. A running region (one that heartbeated recently) cannot be deleted; a \
                     region that also runs a rack stays as that rack controller.",
                )
                .params(&[optional(
                    "force",
                    "Boolean",
                    "Accepted as in MAAS (Ironpool hosts no VM hosts on regions).",
                )]),
        )
        .action(
            Action::new(
                Method::Get,
                Some("power_parameters"),
                "Get power parameters",
                handler_fn!(region_power_parameters),
            )
            .describe("Administrators only."),
        )
        .action(Action::new(Method::Get, Some("details"), "Get system details", handler_fn!(region_details))),
    ]
}

const RACK_TYPES: [NodeType; 2] = [NodeType::RackController, NodeType::RegionAndRackController];

/// MAAS's controller object: the machine-like subset plus `version` and
/// `service_set` (from the rack's last heartbeat).
fn render_all(c: &mut DbConn, nodes: &[Node]) -> Result<Vec<Value>> {
    let rel = db::related::load_related(c, nodes)?;
    let ids: Vec<i64> = nodes.iter().map(|n| n.id).collect();
    let rows = db::racks::of_nodes(c, &ids)?;
    Ok(nodes.iter().map(|n| rack_json(n, &rel, rows.iter().find(|r| r.node_id == n.id))).collect())
}

fn render_regions(c: &mut DbConn, nodes: &[Node]) -> Result<Vec<Value>> {
    let rel = db::related::load_related(c, nodes)?;
    let ids: Vec<i64> = nodes.iter().map(|n| n.id).collect();
    let rows = db::regions::of_nodes(c, &ids)?;
    Ok(nodes.iter().map(|n| region_json(n, &rel, rows.iter().find(|r| r.node_id == n.id))).collect())
}

fn first(v: Vec<Value>) -> Reply {
    Reply::Json(v.into_iter().next().unwrap_or(Value::Null))
}

fn filter_of(ctx: &Ctx, types: &[NodeType]) -> NodeFilter {
    let ids: Vec<String> = ctx.params.get_all("id").into_iter().map(str::to_string).collect();
    let hostnames: Vec<String> = ctx.params.get_all("hostname").into_iter().map(str::to_string).collect();
    NodeFilter {
        node_types: types.to_vec(),
        ids: (!ids.is_empty()).then_some(ids),
        hostnames: (!hostnames.is_empty()).then_some(hostnames),
        ..Default::default()
    }
}

async fn list(ctx: Ctx) -> Result<Reply> {
    ctx.user()?;
    let filter = filter_of(&ctx, &RACK_TYPES);
    let v = ctx
        .db()
        .run(move |c| {
            let nodes = db::nodes::list(c, &filter)?;
            render_all(c, &nodes)
        })
        .await?;
    Ok(Reply::Json(Value::Array(v)))
}

async fn list_regions(ctx: Ctx) -> Result<Reply> {
    ctx.user()?;
    let filter = filter_of(&ctx, &REGION_TYPES);
    let v = ctx
        .db()
        .run(move |c| {
            let nodes = db::nodes::list(c, &filter)?;
            render_regions(c, &nodes)
        })
        .await?;
    Ok(Reply::Json(Value::Array(v)))
}

fn rack_node(c: &mut DbConn, sid: &str) -> Result<Node> {
    db::nodes::by_system_id(c, sid)?
        .filter(|n| RACK_TYPES.contains(&n.node_type))
        .ok_or(Error::NotFound("RackController"))
}

async fn read(ctx: Ctx) -> Result<Reply> {
    ctx.user()?;
    let sid = ctx.path("system_id").to_string();
    let v = ctx
        .db()
        .run(move |c| {
            let n = rack_node(c, &sid)?;
            render_all(c, &[n])
        })
        .await?;
    Ok(first(v))
}

async fn read_region(ctx: Ctx) -> Result<Reply> {
    ctx.user()?;
    let sid = ctx.path("system_id").to_string();
    let v = ctx
        .db()
        .run(move |c| {
            let n = engine::regions::region(c, &sid)?;
            render_regions(c, &[n])
        })
        .await?;
    Ok(first(v))
}

/// MAAS's `ControllerForm`: description, zone, domain and the power
/// settings; other fields are ignored, as the form has none.
fn controller_update(f: &Params) -> Result<MachineUpdate> {
    let power_parameters = f
        .pairs()
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("power_parameters_")?.to_string(), v.clone())))
        .filter(|(k, _)| k != "skip_check")
        .collect();
    Ok(MachineUpdate {
        description: f.value("description").map(str::to_string),
        domain: f.value("domain").map(str::trim).filter(|d| !d.is_empty()).map(str::to_string),
        zone: f.value("zone").map(str::trim).filter(|z| !z.is_empty()).map(str::to_string),
        power_type: f.value("power_type").map(|s| s.trim().to_string()),
        power_parameters,
        power_skip_check: f.flag("power_parameters_skip_check")?.unwrap_or(false),
        ..Default::default()
    })
}

async fn update_rack(ctx: Ctx) -> Result<Reply> {
    let admin = ctx.admin()?.clone();
    let sid = ctx.path("system_id").to_string();
    let u = controller_update(&ctx.params)?;
    let v = ctx
        .db()
        .write(move |c| {
            let n = rack_node(c, &sid)?;
            let n = engine::nodes::create::update_machine(c, &admin, &n, u)?;
            render_all(c, &[n])
        })
        .await?;
    Ok(first(v))
}

async fn update_region(ctx: Ctx) -> Result<Reply> {
    let admin = ctx.admin()?.clone();
    let sid = ctx.path("system_id").to_string();
    let u = controller_update(&ctx.params)?;
    let v = ctx
        .db()
        .write(move |c| {
            let n = engine::regions::region(c, &sid)?;
            let n = engine::nodes::create::update_machine(c, &admin, &n, u)?;
            render_regions(c, &[n])
        })
        .await?;
    Ok(first(v))
}

async fn delete(ctx: Ctx) -> Result<Reply> {
    ctx.admin()?;
    let sid = ctx.path("system_id").to_string();
    let force = ctx.params.flag("force")?.unwrap_or(false);
    ctx.db()
        .write(move |c| {
            let n = rack_node(c, &sid)?;
            engine::racks::delete_rack(c, &n, force)
        })
        .await?;
    Ok(Reply::NoContent)
}

async fn delete_region(ctx: Ctx) -> Result<Reply> {
    ctx.admin()?;
    let sid = ctx.path("system_id").to_string();
    // Parsed for its 400 on a malformed value; nothing to force here.
    ctx.params.flag("force")?;
    ctx.db()
        .write(move |c| {
            let n = engine::regions::region(c, &sid)?;
            engine::regions::delete_region(c, &n)
        })
        .await?;
    Ok(Reply::NoContent)
}

async fn accept(ctx: Ctx) -> Result<Reply> {
    let actor = ctx.admin()?.username.clone();
    let sid = ctx.path("system_id").to_string();
    let v = ctx
        .db()
        .write(move |c| {
            let n = rack_node(c, &sid)?;
            engine::racks::accept(c, &n, &actor)?;
            render_all(c, std::slice::from_ref(&n))
        })
        .await?;
    Ok(first(v))
}

async fn rack_power_parameters(ctx: Ctx) -> Result<Reply> {
    ctx.admin()?;
    let sid = ctx.path("system_id").to_string();
    let v = ctx.db().run(move |c| Ok(engine::nodes::power::power_parameters(&rack_node(c, &sid)?))).await?;
    Ok(Reply::Json(v))
}

async fn region_power_parameters(ctx: Ctx) -> Result<Reply> {
    ctx.admin()?;
    let sid = ctx.path("system_id").to_string();
    let v =
        ctx.db().run(move |c| Ok(engine::nodes::power::power_parameters(&engine::regions::region(c, &sid)?))).await?;
    Ok(Reply::Json(v))
}

async fn rack_details(ctx: Ctx) -> Result<Reply> {
    ctx.user()?;
    let sid = ctx.path("system_id").to_string();
    ctx.db().run(move |c| rack_node(c, &sid).map(|_| ())).await?;
    crate::api::machines::details(ctx).await
}

async fn region_details(ctx: Ctx) -> Result<Reply> {
    ctx.user()?;
    let sid = ctx.path("system_id").to_string();
    ctx.db().run(move |c| engine::regions::region(c, &sid).map(|_| ())).await?;
    crate::api::machines::details(ctx).await
}

/// `rackcontrollers/?op=power_parameters`: MAAS's PowersMixin, per rack.
async fn power_parameters_many(ctx: Ctx) -> Result<Reply> {
    ctx.admin()?;
    let ids = list_of(&ctx.params, "id")?;
    let v = ctx
        .db()
        .run(move |c| {
            let filter = NodeFilter {
                node_types: RACK_TYPES.to_vec(),
                ids: (!ids.is_empty()).then_some(ids),
                ..Default::default()
            };
            let mut out = serde_json::Map::new();
            for n in db::nodes::list(c, &filter)? {
                out.insert(n.system_id.clone(), engine::nodes::power::power_parameters(&n));
            }
            Ok(Value::Object(out))
        })
        .await?;
    Ok(Reply::Json(v))
}

async fn is_registered(ctx: Ctx) -> Result<Reply> {
    crate::api::machines::is_registered(ctx).await
}

async fn set_zone(ctx: Ctx) -> Result<Reply> {
    crate::api::machines::set_zone(ctx).await
}

async fn describe_power_types(ctx: Ctx) -> Result<Reply> {
    ctx.user()?;
    Ok(Reply::json(crate::api::views::power::power_types(&engine::power::describe())))
}

/// MAAS answers piston's `rc.ACCEPTED`.
fn accepted() -> Reply {
    Reply::Text(StatusCode::ACCEPTED, "Accepted".into())
}

async fn import_boot_images_all(ctx: Ctx) -> Result<Reply> {
    ctx.admin()?;
    Ok(accepted())
}

async fn import_boot_images(ctx: Ctx) -> Result<Reply> {
    ctx.admin()?;
    let sid = ctx.path("system_id").to_string();
    ctx.db().run(move |c| rack_node(c, &sid).map(|_| ())).await?;
    Ok(accepted())
}

/// MAAS's shape: every boot resource with its architecture and subarches;
/// racks serve the region's images, so they are always `synced`.
async fn list_boot_images(ctx: Ctx) -> Result<Reply> {
    ctx.user()?;
    let sid = ctx.path("system_id").to_string();
    let resources = ctx
        .db()
        .run(move |c| {
            rack_node(c, &sid)?;
            db::boot_resources::list(c, None)
        })
        .await?;
    Ok(Reply::json(crate::api::views::boot_resource::rack_boot_images(&resources)))
}
