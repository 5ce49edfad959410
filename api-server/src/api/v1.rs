//! API 1.0 node calls, for Chef integrations (knife-maas 1.x,
//! chef-provisioning-maas). MAAS 2.x/3.x answers 410 here; Ironpool keeps the
//! node operations those clients drive (`maas-api.md` §12), mapped onto the
//! same engine through the 2.0 handlers: each wrapper renames 1.0 parameters,
//! calls the 2.0 action and renders the 1.0 node shape.

use serde_json::Value;

use crate::api;
use crate::api::views::v1::node_v1;
use crate::error::{Error, Result};
use crate::handler_fn;
use crate::http::registry::{optional, required, Access, Action, Handler, Method};
use crate::http::reply::Reply;
use crate::http::Ctx;

pub fn handlers() -> Vec<Handler> {
    vec![
        Handler::new(
            "NodesHandler",
            "nodes/",
            Access::Authenticated,
            "Manage the collection of all the nodes (API 1.0)",
        )
        .action(Action::new(Method::Get, Some("list"), "List nodes", handler_fn!(list)).params(&[optional(
            "id",
            "String",
            "system_ids (repeatable).",
        )]))
        .action(Action::new(Method::Get, Some("list_allocated"), "List allocated nodes", handler_fn!(list_allocated)))
        .action(
            Action::new(Method::Post, Some("acquire"), "Acquire an available node", handler_fn!(acquire))
                .params(&[optional("name", "String", "Hostname."), optional("zone", "String", "Zone.")]),
        )
        .action(
            Action::new(Method::Post, Some("release"), "Release nodes", handler_fn!(release_many)).params(&[required(
                "nodes",
                "String",
                "system_ids (repeatable).",
            )]),
        )
        .action(Action::new(Method::Post, Some("new"), "Create a new node", handler_fn!(new_node)))
        .action(Action::new(Method::Post, Some("accept"), "Accept nodes", handler_fn!(accept)))
        .action(Action::new(Method::Post, Some("accept_all"), "Accept all nodes", handler_fn!(accept_all)))
        .action(Action::new(
            Method::Post,
            Some("set_zone"),
            "Assign nodes to a zone",
            handler_fn!(api::machines::set_zone),
        ))
        .action(Action::new(
            Method::Get,
            Some("power_parameters"),
            "Power parameters",
            handler_fn!(api::machines::power_parameters_many),
        ))
        .action(Action::new(
            Method::Get,
            Some("deployment_status"),
            "Deployment status of nodes",
            handler_fn!(deployment_status),
        ))
        .action(Action::new(
            Method::Get,
            Some("is_registered"),
            "MAC address registered",
            handler_fn!(api::machines::is_registered),
        )),
        Handler::new("AnonNodesHandler", "nodes/", Access::Anonymous, "Anonymous access to nodes (API 1.0)")
            .paired_with("NodesHandler")
            .action(Action::new(
                Method::Get,
                Some("is_registered"),
                "MAC address registered",
                handler_fn!(api::machines::is_registered),
            )),
        Handler::new("NodeHandler", "nodes/{system_id}/", Access::Authenticated, "Manage an individual node (API 1.0)")
            .action(Action::new(Method::Get, None, "Read a node", handler_fn!(read)))
            .action(Action::new(Method::Put, None, "Update a node", handler_fn!(update)))
            .action(Action::new(Method::Delete, None, "Delete a node", handler_fn!(api::machines::delete_node)))
            // knife-maas 1.x sends POST ?op=delete; MAAS 1.x had only DELETE.
            .action(Action::new(
                Method::Post,
                Some("delete"),
                "Delete a node (alias of DELETE)",
                handler_fn!(api::machines::delete_node),
            ))
            .action(Action::new(Method::Post, Some("start"), "Start (deploy) a node", handler_fn!(start)).params(&[
                optional("user_data", "String", "Base64 user data."),
                optional("distro_series", "String", "Series."),
            ]))
            .action(Action::new(Method::Post, Some("stop"), "Stop a node", handler_fn!(stop)))
            .action(Action::new(Method::Post, Some("release"), "Release a node", handler_fn!(release_one)))
            .action(Action::new(Method::Post, Some("commission"), "Commission a node", handler_fn!(commission)))
            .action(Action::new(Method::Post, Some("mark_broken"), "Mark a node broken", handler_fn!(mark_broken)))
            .action(Action::new(Method::Post, Some("mark_fixed"), "Mark a node fixed", handler_fn!(mark_fixed)))
            .action(Action::new(
                Method::Post,
                Some("abort_operation"),
                "Abort the current operation",
                handler_fn!(abort),
            ))
            .action(Action::new(
                Method::Get,
                Some("details"),
                "Node details (BSON)",
                handler_fn!(api::machines::details),
            ))
            .action(Action::new(
                Method::Get,
                Some("query_power_state"),
                "Query the power state",
                handler_fn!(api::machines::query_power_state),
            ))
            .action(Action::new(
                Method::Get,
                Some("power_parameters"),
                "Power parameters",
                handler_fn!(api::machines::power_parameters_one),
            )),
    ]
}

/// Re-renders a 2.0 reply (one machine or a list) in the 1.0 node shape, and
/// MAAS 1.0's "node" wording in conflict messages.
fn to_v1(r: Result<Reply>) -> Result<Reply> {
    let r = match r {
        Ok(Reply::JsonBytes(b, _)) => Ok(Reply::Json(serde_json::from_slice(&b).map_err(Error::internal)?)),
        other => other,
    };
    match r {
        Ok(Reply::Json(Value::Array(items))) => Ok(Reply::Json(Value::Array(items.iter().map(node_v1).collect()))),
        Ok(Reply::Json(v)) if v.get("system_id").is_some() => {
            let mut out = node_v1(&v);
            if let Some(c) = v.get("constraints_by_type") {
                out["constraint_map"] = c.clone();
            }
            Ok(Reply::Json(out))
        }
        Ok(other) => Ok(other),
        Err(Error::Conflict(m)) => Err(Error::Conflict(
            m.replace("No machine available", "No node available")
                .replace("No available machine", "No available node")
                .replace("Machine(s) cannot", "Node(s) cannot")
                .replace("Machine cannot", "Node cannot"),
        )),
        Err(Error::BadRequest(m)) => Err(Error::BadRequest(m.replace("Unknown machine(s)", "Unknown node(s)"))),
        Err(e) => Err(e),
    }
}

async fn list(ctx: Ctx) -> Result<Reply> {
    to_v1(api::machines::list_machines(ctx).await)
}

async fn list_allocated(ctx: Ctx) -> Result<Reply> {
    to_v1(api::machines::list_allocated(ctx).await)
}

async fn acquire(mut ctx: Ctx) -> Result<Reply> {
    // 1.x names for subnet constraints.
    ctx.params.rename("networks", "subnets");
    ctx.params.rename("not_networks", "not_subnets");
    ctx.params.rename("connected_to", "fabrics");
    ctx.params.rename("not_connected_to", "not_fabrics");
    to_v1(api::machines::allocate(ctx).await)
}

async fn release_many(mut ctx: Ctx) -> Result<Reply> {
    ctx.params.rename("nodes", "machines");
    to_v1(api::machines::release_many(ctx).await)
}

async fn new_node(mut ctx: Ctx) -> Result<Reply> {
    ctx.params.remove_where(|k| k == "autodetect_nodegroup" || k == "nodegroup");
    to_v1(api::machines::create_machine(ctx).await)
}

async fn accept(mut ctx: Ctx) -> Result<Reply> {
    ctx.params.rename("nodes", "machines");
    to_v1(api::machines::accept(ctx).await)
}

async fn accept_all(ctx: Ctx) -> Result<Reply> {
    to_v1(api::machines::accept_all(ctx).await)
}

async fn deployment_status(mut ctx: Ctx) -> Result<Reply> {
    ctx.params.rename("nodes", "id");
    let listed = api::machines::list_machines(ctx).await?.into_json();
    let Some(Value::Array(items)) = listed else { return Err(Error::Internal("list is not an array".into())) };
    let mut out = serde_json::Map::new();
    for m in items {
        out.insert(m["system_id"].as_str().unwrap_or("").to_string(), m["status_name"].clone());
    }
    Ok(Reply::Json(Value::Object(out)))
}

async fn read(ctx: Ctx) -> Result<Reply> {
    to_v1(api::machines::read_machine(ctx).await)
}

async fn update(ctx: Ctx) -> Result<Reply> {
    to_v1(api::machines::update_machine(ctx).await)
}

/// `start` on an allocated node is the deployment (Chef relies on it).
async fn start(ctx: Ctx) -> Result<Reply> {
    to_v1(api::machines::power_on(ctx).await)
}

async fn stop(ctx: Ctx) -> Result<Reply> {
    to_v1(api::machines::power_off(ctx).await)
}

async fn release_one(ctx: Ctx) -> Result<Reply> {
    to_v1(api::machines::release_one(ctx).await)
}

async fn commission(mut ctx: Ctx) -> Result<Reply> {
    ctx.params.remove_where(|k| k == "block_poweroff");
    to_v1(api::machines::commission(ctx).await)
}

async fn mark_broken(ctx: Ctx) -> Result<Reply> {
    to_v1(api::machines::mark_broken(ctx).await)
}

async fn mark_fixed(ctx: Ctx) -> Result<Reply> {
    to_v1(api::machines::mark_fixed(ctx).await)
}

async fn abort(ctx: Ctx) -> Result<Reply> {
    to_v1(api::machines::abort(ctx).await)
}
