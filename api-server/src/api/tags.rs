//! `tags/` and `tags/{name}/`.

use serde_json::Value;

use crate::api::views::machine::machines_bytes;
use crate::api::views::tag::tag_json;
use crate::db;
use crate::db::nodes::NodeFilter;
use crate::engine;
use crate::engine::lifecycle::NodeType;
use crate::error::{Error, Result};
use crate::handler_fn;
use crate::http;
use crate::http::registry::{optional, required, Access, Action, Handler, Method, Returns};
use crate::http::reply::Reply;
use crate::http::Ctx;

pub fn handlers() -> Vec<Handler> {
    let fields = [
        optional("comment", "String", "Description of the tag."),
        optional(
            "definition",
            "String",
            "XPath 1.0 over the hardware details (lshw XML; LLDP under the lldp: prefix); empty for a manual tag.",
        ),
        optional("kernel_opts", "String", "Kernel options for nodes with this tag."),
    ];
    let mut create_params = vec![required("name", "String", "Tag name.")];
    create_params.extend(fields);
    let mut update_params = vec![optional("name", "String", "New name.")];
    update_params.extend(fields);
    let mut h = Handler::new(
        "TagHandler",
        "tags/{name}/",
        Access::Authenticated,
        "Tags are properties that can be associated with a Node",
    )
    .action(Action::new(Method::Get, None, "Read a specific tag", handler_fn!(read)))
    .action(Action::new(Method::Put, None, "Update a tag", handler_fn!(update)).params(&update_params))
    .action(Action::new(Method::Delete, None, "Delete a tag", handler_fn!(delete)))
    .action(
        Action::new(
            Method::Post,
            Some("update_nodes"),
            "Add or remove nodes being associated with this tag",
            handler_fn!(update_nodes),
        )
        .returns(Returns::Object)
        .describe("Returns the number of nodes added and removed.")
        .params(&[
            optional("add", "String", "system_ids to tag (repeatable)."),
            optional("remove", "String", "system_ids to untag (repeatable)."),
            optional("definition", "String", "If given, must equal the tag's definition."),
        ]),
    )
    .action(
        Action::new(
            Method::Post,
            Some("rebuild"),
            "Manually trigger a rebuild the tag <=> node mapping",
            handler_fn!(rebuild),
        )
        .returns(Returns::Object),
    );
    for (op, title) in [
        ("nodes", "Get the list of nodes that have this tag"),
        ("machines", "Get the list of machines that have this tag"),
        ("devices", "Get the list of devices that have this tag"),
        ("rack_controllers", "Get the list of rack controllers that have this tag"),
        ("region_controllers", "Get the list of region controllers that have this tag"),
    ] {
        h = h.action(Action::new(Method::Get, Some(op), title, tagged_fn(op)).returns(Returns::List));
    }
    vec![
        Handler::new("TagsHandler", "tags/", Access::Authenticated, "Manage all tags known to MAAS")
            .action(Action::new(Method::Get, None, "List tags", handler_fn!(list)))
            .action(
                Action::new(Method::Post, None, "Create a new tag", handler_fn!(create))
                    .describe("Administrators only.")
                    .params(&create_params),
            ),
        h,
    ]
}

fn tagged_fn(op: &str) -> http::registry::HandlerFn {
    match op {
        "nodes" => handler_fn!(tagged_nodes),
        "machines" => handler_fn!(tagged_machines),
        "devices" => handler_fn!(tagged_devices),
        "rack_controllers" => handler_fn!(tagged_racks),
        _ => handler_fn!(tagged_regions),
    }
}

async fn list(ctx: Ctx) -> Result<Reply> {
    ctx.user()?;
    let t = ctx.db().run(db::tags::list).await?;
    Ok(Reply::json(t.iter().map(tag_json).collect::<Vec<Value>>()))
}

async fn create(ctx: Ctx) -> Result<Reply> {
    ctx.admin()?;
    let p = &ctx.params;
    let name = p.get("name").unwrap_or("").trim().to_string();
    let comment = p.get("comment").unwrap_or("").to_string();
    let definition = p.get("definition").unwrap_or("").to_string();
    let kernel_opts = p.get("kernel_opts").unwrap_or("").to_string();
    let t = ctx.db().write(move |c| engine::tags::create_tag(c, &name, &comment, &definition, &kernel_opts)).await?;
    Ok(Reply::Json(tag_json(&t)))
}

async fn read(ctx: Ctx) -> Result<Reply> {
    ctx.user()?;
    let name = ctx.path("name").to_string();
    let t = ctx.db().run(move |c| db::tags::by_name(c, &name)?.ok_or(Error::NotFound("Tag"))).await?;
    Ok(Reply::Json(tag_json(&t)))
}

async fn update(ctx: Ctx) -> Result<Reply> {
    ctx.admin()?;
    let key = ctx.path("name").to_string();
    let p = &ctx.params;
    let name = p.get_nonempty("name").map(str::to_string);
    let comment = p.get("comment").map(str::to_string);
    let definition = p.get("definition").map(str::to_string);
    let kernel_opts = p.get("kernel_opts").map(str::to_string);
    let t = ctx
        .db()
        .write(move |c| {
            let t = db::tags::by_name(c, &key)?.ok_or(Error::NotFound("Tag"))?;
            engine::tags::update_tag(
                c,
                &t,
                name.as_deref(),
                comment.as_deref(),
                definition.as_deref(),
                kernel_opts.as_deref(),
            )
        })
        .await?;
    Ok(Reply::Json(tag_json(&t)))
}

async fn delete(ctx: Ctx) -> Result<Reply> {
    ctx.admin()?;
    let key = ctx.path("name").to_string();
    ctx.db()
        .write(move |c| {
            let t = db::tags::by_name(c, &key)?.ok_or(Error::NotFound("Tag"))?;
            db::tags::delete(c, t.id)
        })
        .await?;
    Ok(Reply::NoContent)
}

async fn update_nodes(ctx: Ctx) -> Result<Reply> {
    ctx.admin()?;
    let key = ctx.path("name").to_string();
    let add: Vec<String> = ctx.params.get_all("add").iter().map(|s| s.to_string()).collect();
    let remove: Vec<String> = ctx.params.get_all("remove").iter().map(|s| s.to_string()).collect();
    let definition = ctx.params.get("definition").map(str::to_string);
    let v = ctx
        .db()
        .write(move |c| {
            let t = db::tags::by_name(c, &key)?.ok_or(Error::NotFound("Tag"))?;
            if let Some(d) = definition {
                if d != t.definition {
                    return Err(Error::Conflict(format!(
                        "Definition supplied '{d}' doesn't match current definition '{}'",
                        t.definition
                    )));
                }
            }
            let resolve = |c: &mut db::DbConn, ids: &[String]| -> Result<Vec<i64>> {
                Ok(engine::access::resolve_bulk(c, ids, false)?.iter().map(|n| n.id).collect())
            };
            let add_ids = resolve(c, &add)?;
            let remove_ids = resolve(c, &remove)?;
            db::tags::attach(c, t.id, &add_ids)?;
            db::tags::detach(c, t.id, &remove_ids)?;
            // MAAS counts the nodes named, tagged before or not.
            let (added, removed) = (add_ids.len(), remove_ids.len());
            Ok(crate::api::views::to_value(crate::api::views::tag::TagChanges { added, removed }))
        })
        .await?;
    Ok(Reply::Json(v))
}

async fn rebuild(ctx: Ctx) -> Result<Reply> {
    ctx.admin()?;
    let key = ctx.path("name").to_string();
    let t = ctx
        .db()
        .write(move |c| {
            let t = db::tags::by_name(c, &key)?.ok_or(Error::NotFound("Tag"))?;
            engine::tags::rebuild(c, &t)?;
            Ok(t)
        })
        .await?;
    Ok(Reply::json(crate::api::views::tag::Rebuilding { rebuilding: &t.name }))
}

async fn tagged(ctx: Ctx, types: Vec<NodeType>) -> Result<Reply> {
    let user = ctx.user()?.clone();
    let key = ctx.path("name").to_string();
    let v = ctx
        .db()
        .run(move |c| {
            let t = db::tags::by_name(c, &key)?.ok_or(Error::NotFound("Tag"))?;
            let filter = NodeFilter {
                node_types: types,
                all_tag_ids: vec![t.id],
                visible_to: (!user.is_superuser).then_some(user.id),
                ..Default::default()
            };
            let nodes = db::nodes::list(c, &filter)?;
            let rel = db::related::load_related(c, &nodes)?;
            Ok(machines_bytes(nodes.iter(), &rel))
        })
        .await?;
    Ok(Reply::JsonBytes(v, None))
}

async fn tagged_nodes(ctx: Ctx) -> Result<Reply> {
    tagged(ctx, vec![]).await
}
async fn tagged_machines(ctx: Ctx) -> Result<Reply> {
    tagged(ctx, vec![NodeType::Machine]).await
}
async fn tagged_devices(ctx: Ctx) -> Result<Reply> {
    tagged(ctx, vec![NodeType::Device]).await
}
async fn tagged_racks(ctx: Ctx) -> Result<Reply> {
    tagged(ctx, vec![NodeType::RackController, NodeType::RegionAndRackController]).await
}
async fn tagged_regions(ctx: Ctx) -> Result<Reply> {
    tagged(ctx, vec![NodeType::RegionController, NodeType::RegionAndRackController]).await
}
