//! `scripts/` and `scripts/{name}` (MAAS's `NodeScriptsHandler`,
//! `NodeScriptHandler`): every user reads and downloads; administrators
//! create, update, delete, revert and tag. Built-in scripts may only have
//! their tags and timeout changed, and are never deleted or reverted. The
//! rules are `engine::scripts`'.

use crate::api::support::alias;
use crate::api::views::script::script_json;
use crate::engine;
use crate::engine::scripts::{ListFilter, ScriptInput};
use crate::error::{Error, Result};
use crate::handler_fn;
use crate::http::params::Params;
use crate::http::registry::{optional, required, Access, Action, Handler, Method};
use crate::http::reply::Reply;
use crate::http::Ctx;

pub fn handlers() -> Vec<Handler> {
    let fields = |create: bool| {
        let name = if create {
            required("name", "String", "The name of the script (or the name of a single uploaded file).")
        } else {
            optional("name", "String", "The name of the script.")
        };
        vec![
            name,
            optional("title", "String", "The title of the script."),
            optional("description", "String", "A description of what the script does."),
            optional("tags", "String", "A comma separated list of tags for this script."),
            optional("type", "String", "commissioning or testing (or release, deployment); default testing."),
            optional("hardware_type", "String", "node, cpu, memory, storage, network or gpu."),
            optional("parallel", "String", "disabled, instance or any (or 0, 1, 2)."),
            optional("timeout", "String", "Seconds or HH:MM:SS the script may run; 0 is no limit."),
            optional("destructive", "Boolean", "Whether the script overwrites data on any drive."),
            optional("script", "String", "The script's content (a file upload or a field)."),
            optional("comment", "String", "A comment about what this change does (with script)."),
            optional("for_hardware", "String", "modalias:, pci:, usb:, system_*: or mainboard_* identifiers."),
            optional("may_reboot", "Boolean", "Whether the script may reboot the system while running."),
            optional("recommission", "Boolean", "Whether built-in commissioning scripts rerun after this one."),
            optional("apply_configured_networking", "Boolean", "Apply the configured networking before it runs."),
        ]
    };
    let tag = [required("tag", "String", "The tag.")];
    let hs = vec![
        Handler::new("NodeScriptsHandler", "scripts/", Access::Authenticated, "Manage custom scripts")
            .action(
                Action::new(Method::Get, None, "List stored scripts", handler_fn!(list)).params(&[
                    optional("type", "String", "Only scripts of this type."),
                    optional("hardware_type", "String", "Only scripts for this hardware type."),
                    optional("include_script", "Boolean", "Include the base64-encoded script content."),
                    optional("filters", "String", "A comma separated list of script names or tags."),
                ]),
            )
            .action(
                Action::new(Method::Post, None, "Create a new script", handler_fn!(create))
                    .describe("Administrators only. Values in the script's embedded MAAS 1.0 metadata fill the fields not sent.")
                    .params(&fields(true)),
            ),
        Handler::new("NodeScriptHandler", "scripts/{name}", Access::Authenticated, "Manage or view a custom script")
            .describe("The script is named by its name or its id.")
            .action(
                Action::new(Method::Get, None, "Return script metadata", handler_fn!(read))
                    .params(&[optional("include_script", "Boolean", "Include the base64-encoded script content.")]),
            )
            .action(
                Action::new(Method::Put, None, "Update a script", handler_fn!(update))
                    .describe("Administrators only. Built-in scripts only take tags and timeout.")
                    .params(&fields(false)),
            )
            .action(
                Action::new(Method::Delete, None, "Delete a script", handler_fn!(delete))
                    .describe("Administrators only; built-in scripts cannot be deleted."),
            )
            .action(
                Action::new(Method::Get, Some("download"), "Download a script", handler_fn!(download)).params(&[
                    optional("revision", "Int", "A version id from the history (latest by default)."),
                    optional("rev", "Int", "Shortcut for revision."),
                ]),
            )
            .action(
                Action::new(Method::Post, Some("revert"), "Revert a script version", handler_fn!(revert))
                    .describe("Administrators only. Versions newer than the target are removed.")
                    .params(&[required("to", "Int", "A version id, or a negative number of versions to go back.")]),
            )
            .action(
                Action::new(Method::Post, Some("add_tag"), "Add a tag", handler_fn!(add_tag))
                    .describe("Administrators only.")
                    .params(&tag),
            )
            .action(
                Action::new(Method::Post, Some("remove_tag"), "Remove a tag", handler_fn!(remove_tag))
                    .describe("Administrators only.")
                    .params(&tag),
            ),
    ];
    // gomaasapi (and so gomaasclient and the terraform provider) always
    // adds a trailing slash to an object's URL.
    let slash = alias(&hs, "NodeScriptHandler", "NodeScriptSlashHandler", "scripts/{name}/");
    let mut hs = hs;
    hs.push(slash);
    hs
}

/// formencode's `Bool` as MAAS's `get_optional_param` uses it.
fn include_script(p: &Params) -> Result<bool> {
    match p.get("include_script").map(|v| v.trim().to_lowercase()) {
        None => Ok(false),
        Some(v) if matches!(v.as_str(), "true" | "yes" | "on" | "1") => Ok(true),
        Some(v) if matches!(v.as_str(), "" | "false" | "no" | "off" | "0") => Ok(false),
        Some(_) => Err(Error::BadRequest("Invalid include_script: Value should be 'true' or 'false'".into())),
    }
}

/// formencode's `Int` for a mandatory or optional parameter.
fn int_param(p: &Params, key: &str) -> Result<Option<i64>> {
    match p.get(key) {
        None => Ok(None),
        Some(v) => v
            .trim()
            .parse::<i64>()
            .map(Some)
            .map_err(|_| Error::BadRequest(format!("Invalid {key}: Please enter an integer value"))),
    }
}

/// The form data of a create or update: the `script` file (or the only
/// file, whose part name becomes the script's name, as MAAS), else the
/// `script` field; `type` is the API's alias of `script_type`.
fn input(p: &Params) -> Result<ScriptInput> {
    let text = |k: &str| p.get(k).map(str::to_string);
    let files = p.files();
    let (mut name, mut script) = (text("name"), text("script"));
    let file_text = |f: &crate::http::params::FilePart| -> Result<String> {
        String::from_utf8(f.in_memory()?.to_vec()).map_err(|_| Error::field("script", "The script must be UTF-8 text."))
    };
    if let Some(f) = files.iter().find(|f| f.name == "script") {
        script = Some(file_text(f)?);
    } else if let [f] = files {
        name = Some(f.name.clone());
        script = Some(file_text(f)?);
    }
    Ok(ScriptInput {
        name,
        title: text("title"),
        description: text("description"),
        tags: text("tags"),
        script_type: text("script_type").or_else(|| text("type")),
        hardware_type: text("hardware_type"),
        parallel: text("parallel"),
        packages: text("packages"),
        timeout: text("timeout"),
        destructive: text("destructive"),
        script,
        comment: text("comment"),
        for_hardware: text("for_hardware"),
        may_reboot: text("may_reboot"),
        recommission: text("recommission"),
        apply_configured_networking: text("apply_configured_networking"),
    })
}

async fn list(ctx: Ctx) -> Result<Reply> {
    ctx.user()?;
    let p = &ctx.params;
    let bad = |e: String| Error::BadRequest(e);
    let filter = ListFilter {
        script_type: p.get("type").map(engine::scripts::translate_script_type).transpose().map_err(bad)?,
        hardware_type: p.get("hardware_type").map(engine::scripts::translate_hardware_type).transpose().map_err(bad)?,
        filters: p.get("filters").map(|f| f.split(',').map(str::to_string).collect()),
    };
    let include = include_script(p)?;
    let v = ctx
        .db()
        .run(move |c| {
            let all = engine::scripts::list(c, &filter)?;
            Ok(all.iter().map(|s| script_json(s, include)).collect::<Vec<_>>())
        })
        .await?;
    Ok(Reply::json(v))
}

async fn create(ctx: Ctx) -> Result<Reply> {
    ctx.admin()?;
    let i = input(&ctx.params)?;
    let v = ctx.db().write(move |c| Ok(script_json(&engine::scripts::create(c, &i)?, false))).await?;
    Ok(Reply::Json(v))
}

async fn read(ctx: Ctx) -> Result<Reply> {
    ctx.user()?;
    let include = include_script(&ctx.params)?;
    let key = ctx.path("name").to_string();
    let v = ctx.db().run(move |c| Ok(script_json(&engine::scripts::get(c, &key)?, include))).await?;
    Ok(Reply::Json(v))
}

async fn update(ctx: Ctx) -> Result<Reply> {
    ctx.admin()?;
    let key = ctx.path("name").to_string();
    let i = input(&ctx.params)?;
    let v = ctx.db().write(move |c| Ok(script_json(&engine::scripts::update(c, &key, &i)?, false))).await?;
    Ok(Reply::Json(v))
}

async fn delete(ctx: Ctx) -> Result<Reply> {
    ctx.admin()?;
    let key = ctx.path("name").to_string();
    ctx.db().write(move |c| engine::scripts::delete(c, &key)).await?;
    Ok(Reply::NoContent)
}

async fn download(ctx: Ctx) -> Result<Reply> {
    ctx.user()?;
    let revision = match int_param(&ctx.params, "revision")? {
        Some(r) => Some(r),
        None => int_param(&ctx.params, "rev")?,
    };
    let key = ctx.path("name").to_string();
    let text = ctx.db().run(move |c| engine::scripts::download(c, &key, revision)).await?;
    Ok(Reply::Bytes("application/binary", text.into_bytes()))
}

async fn revert(ctx: Ctx) -> Result<Reply> {
    ctx.admin()?;
    // MAAS reads `to` before it looks the script up.
    let to = int_param(&ctx.params, "to")?.ok_or_else(|| Error::BadRequest("No provided to!".into()))?;
    let key = ctx.path("name").to_string();
    let v = ctx.db().write(move |c| Ok(script_json(&engine::scripts::revert(c, &key, to)?, false))).await?;
    Ok(Reply::Json(v))
}

async fn add_tag(ctx: Ctx) -> Result<Reply> {
    set_tag(ctx, true).await
}

async fn remove_tag(ctx: Ctx) -> Result<Reply> {
    set_tag(ctx, false).await
}

async fn set_tag(ctx: Ctx, add: bool) -> Result<Reply> {
    ctx.admin()?;
    let tag = ctx.params.get("tag").ok_or_else(|| Error::BadRequest("No provided tag!".into()))?.to_string();
    if add && tag.contains(',') {
        return Err(Error::BadRequest("Tag may not contain a \",\".".into()));
    }
    let key = ctx.path("name").to_string();
    let v = ctx.db().write(move |c| Ok(script_json(&engine::scripts::set_tag(c, &key, &tag, add)?, false))).await?;
    Ok(Reply::Json(v))
}
