//! `dhcp-snippets/` and `dhcp-snippets/{id}/` (MAAS's `DHCPSnippetsHandler`,
//! `DHCPSnippetHandler`): every user reads, admins write. What the rack's
//! DHCP server applies of a snippet is in `engine::dhcp_snippets`.

use serde_json::Value;

use crate::api::support::render;
use crate::api::views::dhcp_snippet::dhcp_snippet_json;
use crate::api::views::machine::device_json;
use crate::api::views::network::NetJson;
use crate::db::DbConn;
use crate::engine::dhcp_snippets::{Loaded, SnippetInput};
use crate::engine::lifecycle::NodeType;
use crate::error::{Error, Result};
use crate::handler_fn;
use crate::http::params::Params;
use crate::http::registry::{optional, required, Access, Action, Handler, Method};
use crate::http::reply::Reply;
use crate::http::Ctx;
use crate::{db, engine};

pub fn handlers() -> Vec<Handler> {
    let fields = |create: bool| {
        let req = |n, t, d| if create { required(n, t, d) } else { optional(n, t, d) };
        vec![
            req("name", "String", "The name of the DHCP snippet."),
            req("value", "String", "The snippet of config inserted into dhcpd.conf; previous values are kept."),
            optional("description", "String", "A description of what the snippet does."),
            optional("enabled", "Boolean", "Whether or not the snippet is currently enabled (default true)."),
            optional("node", "String", "The node this snippet applies to (system_id or hostname)."),
            optional("subnet", "String", "The subnet this snippet applies to (id, CIDR or name)."),
            optional("iprange", "String", "The IP range within the subnet this snippet applies to (id)."),
            optional("global_snippet", "Boolean", "Apply the snippet globally; removes node and subnet links."),
        ]
    };
    vec![
        Handler::new("DHCPSnippetsHandler", "dhcp-snippets/", Access::Authenticated, "Manage the DHCP snippets")
            .action(Action::new(Method::Get, None, "List DHCP snippets", handler_fn!(list)))
            .action(
                Action::new(Method::Post, None, "Create a DHCP snippet", handler_fn!(create))
                    .describe(
                        "Administrators only. Ironpool's DHCP server applies 'option <name> <value>;' lines \
                         for the options it knows; the rest is stored and listed in 'unapplied'.",
                    )
                    .params(&fields(true)),
            ),
        Handler::new("DHCPSnippetHandler", "dhcp-snippets/{id}/", Access::Authenticated, "Manage a DHCP snippet")
            .describe("The snippet is named by its id or its name.")
            .action(Action::new(Method::Get, None, "Read a DHCP snippet", handler_fn!(read)))
            .action(
                Action::new(Method::Put, None, "Update a DHCP snippet", handler_fn!(update))
                    .describe("Administrators only. A new value keeps the previous one in the history.")
                    .params(&fields(false)),
            )
            .action(
                Action::new(Method::Delete, None, "Delete a DHCP snippet", handler_fn!(delete))
                    .describe("Administrators only."),
            )
            .action(
                Action::new(
                    Method::Post,
                    Some("revert"),
                    "Revert DHCP snippet to earlier version",
                    handler_fn!(revert),
                )
                .describe("Administrators only. Versions newer than the target are removed.")
                .params(&[required(
                    "to",
                    "Int",
                    "A version id from the history, or a negative number of versions to go back.",
                )]),
            ),
    ]
}

fn input(p: &Params) -> Result<SnippetInput> {
    Ok(SnippetInput {
        name: p.get("name").map(str::to_string),
        value: p.get("value").map(str::to_string),
        description: p.get("description").map(str::to_string),
        enabled: p.bool("enabled")?,
        node: p.get("node").map(str::to_string),
        subnet: p.get("subnet").map(str::to_string),
        iprange: p.get("iprange").map(str::to_string),
        global_snippet: p.bool("global_snippet")?,
    })
}

/// Renders snippets with the network model and their nodes.
fn render_all(c: &mut DbConn, list: &[Loaded]) -> Result<Vec<Value>> {
    let (model, racks) = crate::api::network::load(c)?;
    let net = NetJson::new(&model, &racks);
    let ranges = db::network::ranges(c, None)?;
    list.iter()
        .map(|s| {
            let node = match s.snippet.node_id {
                None => None,
                Some(id) => match db::nodes::by_ids(c, &[id])?.into_iter().next() {
                    Some(n) if n.node_type == NodeType::Device => {
                        let rel = db::related::load_related(c, std::slice::from_ref(&n))?;
                        Some(device_json(&n, &rel))
                    }
                    Some(n) => Some(render(c, n)?),
                    None => None,
                },
            };
            Ok(dhcp_snippet_json(s, &net, &ranges, node))
        })
        .collect()
}

fn render_one(c: &mut DbConn, s: Loaded) -> Result<Value> {
    render_all(c, std::slice::from_ref(&s))?.pop().ok_or_else(|| Error::Internal("snippet not rendered".into()))
}

async fn list(ctx: Ctx) -> Result<Reply> {
    ctx.user()?;
    let v = ctx
        .db()
        .run(|c| {
            let all = engine::dhcp_snippets::all(c)?;
            render_all(c, &all)
        })
        .await?;
    Ok(Reply::json(v))
}

async fn create(ctx: Ctx) -> Result<Reply> {
    ctx.admin()?;
    let i = input(&ctx.params)?;
    let v = ctx
        .db()
        .write(move |c| {
            let s = engine::dhcp_snippets::create(c, &i)?;
            render_one(c, s)
        })
        .await?;
    Ok(Reply::Json(v))
}

async fn read(ctx: Ctx) -> Result<Reply> {
    ctx.user()?;
    let key = ctx.path("id").to_string();
    let v = ctx
        .db()
        .run(move |c| {
            let s = engine::dhcp_snippets::get(c, &key)?;
            render_one(c, s)
        })
        .await?;
    Ok(Reply::Json(v))
}

async fn update(ctx: Ctx) -> Result<Reply> {
    ctx.admin()?;
    let key = ctx.path("id").to_string();
    let i = input(&ctx.params)?;
    let v = ctx
        .db()
        .write(move |c| {
            let s = engine::dhcp_snippets::update(c, &key, &i)?;
            render_one(c, s)
        })
        .await?;
    Ok(Reply::Json(v))
}

async fn delete(ctx: Ctx) -> Result<Reply> {
    ctx.admin()?;
    let key = ctx.path("id").to_string();
    ctx.db().write(move |c| engine::dhcp_snippets::delete(c, &key)).await?;
    Ok(Reply::NoContent)
}

async fn revert(ctx: Ctx) -> Result<Reply> {
    ctx.admin()?;
    // MAAS checks `to` before it looks the snippet up, in these words.
    let to = match ctx.params.get("to") {
        None => return Err(Error::BadRequest("You must specify where to revert to".into())),
        Some(v) => v.trim().parse::<i64>().map_err(|_| Error::BadRequest(format!("{v} is an invalid 'to' value")))?,
    };
    let key = ctx.path("id").to_string();
    let v = ctx
        .db()
        .write(move |c| {
            let s = engine::dhcp_snippets::revert(c, &key, to)?;
            render_one(c, s)
        })
        .await?;
    Ok(Reply::Json(v))
}
