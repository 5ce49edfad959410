//! Helpers every handler module shares: loading the machine a URL names under the caller's rights, reading common parameters, rendering and listing nodes.

use crate::api::views::machine::{device_json, machine_json, machines_bytes};
use crate::db;
use crate::db::nodes::{Node, NodeFilter};
use crate::db::users::User;
use crate::db::DbConn;
use crate::engine;
use crate::engine::allocation::Mode;
use crate::engine::lifecycle::NodeType;
use crate::engine::storage::model::Storage;
use crate::error::{Error, Result};
use crate::http;
use crate::http::params::Params;
use crate::http::registry::Handler;
use crate::http::reply::Reply;
use crate::http::Ctx;
use serde_json::Value;

pub(crate) fn render(c: &mut DbConn, n: Node) -> Result<Value> {
    let rel = db::related::load_related(c, std::slice::from_ref(&n))?;
    Ok(machine_json(&n, &rel))
}

/// Loads the URL's machine (visible to the caller), runs `op` in one write
/// transaction, and renders the resulting machine.
pub(crate) async fn with_machine<F>(ctx: Ctx, op: F) -> Result<Reply>
where
    F: FnOnce(&mut DbConn, &User, Node) -> Result<Node> + Send + 'static,
{
    let user = ctx.user()?.clone();
    let sid = ctx.path("system_id").to_string();
    let v = ctx
        .db()
        .write(move |c| {
            let n = engine::access::get_visible(c, &user, &sid, "Machine")?;
            if n.node_type != NodeType::Machine {
                return Err(Error::NotFound("Machine"));
            }
            let n = op(c, &user, n)?;
            render(c, n)
        })
        .await?;
    Ok(Reply::Json(v))
}

pub(crate) fn comment(p: &Params) -> String {
    p.get("comment").unwrap_or("").to_string()
}

pub(crate) fn flag(p: &Params, name: &str) -> Result<bool> {
    Ok(p.bool(name)?.unwrap_or(false))
}

/// The values of a list parameter (repeated, comma- or space-separated),
/// at most `constraints::MAX_VALUES` of them: each becomes a bound SQL
/// variable, and SQLite refuses more than 32,766 in one statement.
pub(crate) fn list_of(p: &Params, name: &str) -> Result<Vec<String>> {
    use ironpool_common::constraints::MAX_VALUES;
    let v: Vec<String> =
        p.get_all(name).iter().flat_map(|v| v.split([',', ' '])).filter(|v| !v.is_empty()).map(String::from).collect();
    if v.len() > MAX_VALUES {
        return Err(Error::BadRequest(format!(
            "Too many values for '{name}': {}, at most {MAX_VALUES} are allowed in one request.",
            v.len()
        )));
    }
    Ok(v)
}

pub(crate) async fn list_nodes_of(ctx: Ctx, types: Vec<NodeType>) -> Result<Reply> {
    let collection = if types == [NodeType::Machine] {
        "machines/"
    } else if types == [NodeType::Device] {
        "devices/"
    } else {
        "nodes/"
    };
    let user = ctx.user()?.clone();
    let pairs = ctx.params.pairs().to_vec();
    let base_query: Vec<(String, String)> = pairs.iter().filter(|(k, _)| k != "cursor").cloned().collect();
    let path = format!("{}{}", ctx.origin, http::registry::API_PREFIX);
    // Syntax and limits first, without a database connection.
    let parsed = engine::allocation::parse(&pairs, Mode::List)?;
    let (list, next) = ctx
        .db()
        .run(move |c| {
            let req = engine::allocation::resolve(c, parsed)?;
            let mut filter: NodeFilter = req.filter.clone();
            filter.node_types = types;
            engine::access::restrict_list(&mut filter, &user);
            let nodes = db::nodes::list(c, &filter)?;
            let next = match (filter.limit, nodes.last()) {
                (Some(l), Some(last)) if nodes.len() as i64 == l => Some(engine::paging::Cursor::After(last.id)),
                _ => None,
            };
            let rel = db::related::load_related(c, &nodes)?;
            let matching = nodes.iter().filter(|n| engine::allocation::list_matches(&req, n, &rel));
            let body = if collection == "devices/" {
                serde_json::to_vec(&matching.map(|n| device_json(n, &rel)).collect::<Vec<Value>>())
                    .map_err(Error::internal)?
            } else {
                machines_bytes(matching, &rel)
            };
            Ok((body, next))
        })
        .await?;
    let link = next.map(|cursor| {
        http::paging::next_link(
            &format!("{path}{collection}"),
            base_query.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            cursor,
        )
    });
    Ok(Reply::JsonBytes(list, link))
}

/// The handler `of` served at another URL as well, under its own name (the
/// handler table keeps names unique, as `describe/` lists each once).
pub(crate) fn alias(hs: &[Handler], of: &str, name: &'static str, path: &'static str) -> Handler {
    // The handler table is static; every test builds it, so a wrong name
    // here fails at once rather than in production.
    #[allow(clippy::expect_used)]
    let h = hs.iter().find(|h| h.name == of).expect("aliased handler exists").clone();
    Handler { name, path, ..h }
}

/// The URL's machine, visible to the caller.
pub(crate) fn machine(c: &mut DbConn, user: &User, sid: &str) -> Result<Node> {
    let n = engine::access::get_visible(c, user, sid, "Machine")?;
    if n.node_type != NodeType::Machine {
        return Err(Error::NotFound("Machine"));
    }
    Ok(n)
}

/// A numeric id from the URL; anything else names no object (404).
pub(crate) fn path_id(ctx: &Ctx, name: &str, model: &'static str) -> Result<i64> {
    ctx.path(name).parse().map_err(|_| Error::NotFound(model))
}

/// Reads the machine and its storage, then renders with `f`.
pub(crate) async fn read_with<F>(ctx: Ctx, f: F) -> Result<Reply>
where
    F: FnOnce(Storage<'_>) -> Result<Value> + Send + 'static,
{
    let user = ctx.user()?.clone();
    let sid = ctx.path("system_id").to_string();
    let v = ctx
        .db()
        .run(move |c| {
            let n = machine(c, &user, &sid)?;
            let st = db::storage::load_node(c, n.id)?;
            f(Storage::new(&n, &st))
        })
        .await?;
    Ok(Reply::Json(v))
}

/// Runs a change in one write transaction, then renders the result with
/// `render` from the storage as it is after the change.
pub(crate) async fn change<F, R>(ctx: Ctx, op: F, render: R) -> Result<Reply>
where
    F: FnOnce(&mut DbConn, &User, &Node) -> Result<i64> + Send + 'static,
    R: FnOnce(Storage<'_>, i64) -> Result<Value> + Send + 'static,
{
    let user = ctx.user()?.clone();
    let sid = ctx.path("system_id").to_string();
    let v = ctx
        .db()
        .write(move |c| {
            let n = machine(c, &user, &sid)?;
            let id = op(c, &user, &n)?;
            let st = db::storage::load_node(c, n.id)?;
            render(Storage::new(&n, &st), id)
        })
        .await?;
    Ok(Reply::Json(v))
}

/// A change with nothing to render (204).
pub(crate) async fn change_empty<F>(ctx: Ctx, op: F) -> Result<Reply>
where
    F: FnOnce(&mut DbConn, &User, &Node) -> Result<()> + Send + 'static,
{
    let user = ctx.user()?.clone();
    let sid = ctx.path("system_id").to_string();
    ctx.db()
        .write(move |c| {
            let n = machine(c, &user, &sid)?;
            op(c, &user, &n)
        })
        .await?;
    Ok(Reply::NoContent)
}

pub(crate) fn size_param(p: &Params, name: &str) -> Result<Option<i64>> {
    p.get_nonempty(name).map(|v| engine::storage::model::parse_size(name, v)).transpose()
}

pub(crate) fn int_param(p: &Params, name: &str) -> Result<Option<i64>> {
    p.get_nonempty(name)
        .map(|v| v.parse::<i64>().map_err(|_| Error::field(name, format!("'{v}' is not a whole number."))))
        .transpose()
}

pub(crate) fn text(p: &Params, name: &str) -> Option<String> {
    p.get_nonempty(name).map(str::to_string)
}

/// Repeatable id lists; clients send `k=1&k=2` or `k=1,2`.
pub(crate) fn ids(p: &Params, name: &str) -> Vec<String> {
    p.get_all(name)
        .iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(String::from)
        .collect()
}
