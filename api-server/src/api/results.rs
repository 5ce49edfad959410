//! `nodes/{system_id}/results/` and `nodes/{system_id}/results/{id}/`
//! (MAAS's `NodeScriptResultsHandler` / `NodeScriptResultHandler`): the
//! script sets of any node — machine, device or controller — to whoever may
//! view it (403 otherwise, 404 for unknown nodes); updating `suppressed` and
//! deleting are for administrators. The rules are in `engine::results`.

use serde_json::Value;

use crate::api::views::script_result::script_set_json;
use crate::engine;
use crate::engine::results::{OutputKind, ResultFilter};
use crate::error::Result;
use crate::handler_fn;
use crate::http::params::Params;
use crate::http::registry::{optional, Access, Action, Handler, Method, Returns};
use crate::http::reply::Reply;
use crate::http::Ctx;

pub fn handlers() -> Vec<Handler> {
    let filters = || {
        vec![
            optional(
                "hardware_type",
                "String",
                "Only results of scripts for this hardware type: node, cpu, memory, storage, network or gpu.",
            ),
            optional("filters", "String", "Comma-separated script names, tags or result ids to show."),
        ]
    };
    let include = optional(
        "include_output",
        "String",
        "Any value includes each result's base64-encoded output, stdout, stderr and result.",
    );
    vec![
        Handler::new(
            "NodeScriptResultsHandler",
            "nodes/{system_id}/results/",
            Access::Authenticated,
            "Manage node script results",
        )
        .describe("The script sets (commissioning, testing, installation runs) of a node the caller may view.")
        .action(
            Action::new(Method::Get, None, "Return script results", handler_fn!(list)).params(
                &[
                    vec![optional(
                        "type",
                        "String",
                        "Only sets of this type: commissioning, testing, installation (or their numbers).",
                    )],
                    filters(),
                    vec![include],
                ]
                .concat(),
            ),
        ),
        Handler::new(
            "NodeScriptResultHandler",
            "nodes/{system_id}/results/{id}/",
            Access::Authenticated,
            "Manage a node's script result set",
        )
        .describe("id is a set's id, current-commissioning, current-testing or current-installation.")
        .action(
            Action::new(Method::Get, None, "Get specific script result", handler_fn!(read))
                .params(&[filters(), vec![include]].concat()),
        )
        .action(
            Action::new(Method::Put, None, "Update specific script result", handler_fn!(update))
                .describe("Administrators only. Sets suppressed on the results the filters select.")
                .params(
                    &[
                        filters(),
                        vec![include, optional("suppressed", "Boolean", "Whether the results are suppressed.")],
                    ]
                    .concat(),
                ),
        )
        .action(
            Action::new(Method::Delete, None, "Delete script results", handler_fn!(delete))
                .describe("Administrators only."),
        )
        .action(
            Action::new(Method::Get, Some("download"), "Download script results", handler_fn!(download))
                .returns(Returns::Bytes("application/binary"))
                .describe(
                    "One output as is; several as text with a title line per file (filetype=txt), or a tar.xz \
                     (application/x-tar) under <hostname>-<type>-<id>/.",
                )
                .params(
                    &[
                        filters(),
                        vec![
                            optional("output", "String", "combined (default), stdout, stderr, result or all."),
                            optional("filetype", "String", "txt (default) or tar.xz."),
                        ],
                    ]
                    .concat(),
                ),
        ),
    ]
}

/// MAAS's `filters` and `hardware_type` query parameters.
fn result_filter(p: &Params) -> Result<ResultFilter> {
    Ok(ResultFilter {
        filters: p.get("filters").map(|f| f.split(',').map(str::to_string).collect()),
        hardware_type: p.get("hardware_type").map(engine::results::parse_hardware_type).transpose()?,
    })
}

/// formencode's `Bool`, as MAAS reads `include_output`: any non-empty value is true.
fn include_output(p: &Params) -> bool {
    p.get("include_output").is_some_and(|v| !v.is_empty())
}

async fn list(ctx: Ctx) -> Result<Reply> {
    let user = ctx.user()?.clone();
    let sid = ctx.path("system_id").to_string();
    let rtype = ctx.params.get("type").map(engine::results::parse_result_type).transpose()?;
    let f = result_filter(&ctx.params)?;
    let with_output = include_output(&ctx.params);
    let sets = ctx
        .db()
        .run(move |c| {
            let n = engine::access::get_visible(c, &user, &sid, "Node")?;
            engine::results::list(c, &n, rtype, &f)
        })
        .await?;
    Ok(Reply::Json(Value::Array(sets.iter().map(|s| script_set_json(s, with_output)).collect())))
}

async fn read(ctx: Ctx) -> Result<Reply> {
    let user = ctx.user()?.clone();
    let (sid, id) = (ctx.path("system_id").to_string(), ctx.path("id").to_string());
    let f = result_filter(&ctx.params)?;
    let with_output = include_output(&ctx.params);
    let set = ctx
        .db()
        .run(move |c| {
            let n = engine::access::get_visible(c, &user, &sid, "Node")?;
            engine::results::read(c, &n, &id, &f)
        })
        .await?;
    Ok(Reply::Json(script_set_json(&set, with_output)))
}

async fn update(ctx: Ctx) -> Result<Reply> {
    let user = ctx.admin()?.clone();
    let (sid, id) = (ctx.path("system_id").to_string(), ctx.path("id").to_string());
    let f = result_filter(&ctx.params)?;
    let with_output = include_output(&ctx.params);
    let suppressed = ctx.params.bool("suppressed")?;
    let set = ctx
        .db()
        .write(move |c| {
            let n = engine::access::get_visible(c, &user, &sid, "Node")?;
            engine::results::set_suppressed(c, &n, &id, &f, suppressed)
        })
        .await?;
    Ok(Reply::Json(script_set_json(&set, with_output)))
}

async fn delete(ctx: Ctx) -> Result<Reply> {
    let user = ctx.admin()?.clone();
    let (sid, id) = (ctx.path("system_id").to_string(), ctx.path("id").to_string());
    ctx.db()
        .write(move |c| {
            let n = engine::access::get_visible(c, &user, &sid, "Node")?;
            engine::results::delete(c, &n, &id)
        })
        .await?;
    Ok(Reply::NoContent)
}

async fn download(ctx: Ctx) -> Result<Reply> {
    let user = ctx.user()?.clone();
    let (sid, id) = (ctx.path("system_id").to_string(), ctx.path("id").to_string());
    let f = result_filter(&ctx.params)?;
    let output = OutputKind::parse(ctx.params.get("output").unwrap_or("combined"));
    let filetype = ctx.params.get("filetype").unwrap_or("txt").to_string();
    let d = ctx
        .db()
        .run(move |c| {
            let n = engine::access::get_visible(c, &user, &sid, "Node")?;
            let set = engine::results::read(c, &n, &id, &f)?;
            engine::results::download(&set, output, &filetype)
        })
        .await?;
    Ok(Reply::Bytes(d.content_type, d.body))
}
