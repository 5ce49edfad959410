//! `package-repositories/` and `package-repositories/{id}/` (MAAS's
//! `PackageRepositoriesHandler`, `PackageRepositoryHandler`): every user
//! reads, administrators write; the enabled ones are written into each
//! deployment's `apt` configuration (engine::package_repositories).

use serde_json::Value;

use crate::api::views::package_repository::package_repository_json;
use crate::engine::package_repositories::RepositoryInput;
use crate::error::Result;
use crate::handler_fn;
use crate::http::params::Form;
use crate::http::registry::{optional, required, Access, Action, Handler, Method, ParamDoc};
use crate::http::reply::Reply;
use crate::http::Ctx;
use crate::{db, engine};

fn fields(create: bool) -> Vec<ParamDoc> {
    let name = "The name of the package repository.";
    let url = "The url of the package repository.";
    let mut v = if create {
        vec![required("name", "String", name), required("url", "String", url)]
    } else {
        vec![optional("name", "String", name), optional("url", "String", url)]
    };
    v.extend([
        optional("distributions", "String", "Which package distributions to include (comma-separated)."),
        optional("disabled_pockets", "String", "Pockets to disable: updates, security, backports."),
        optional(
            "disabled_components",
            "String",
            "Components to disable: restricted, universe, multiverse. Only applicable to the default Ubuntu repositories.",
        ),
        optional("components", "String", "Components to enable. Only applicable to custom repositories."),
        optional("arches", "String", "Supported architectures (default amd64, i386)."),
        optional("key", "String", "The authentication key to use with the repository."),
        optional("disable_sources", "Boolean", "Disable deb-src lines (default true)."),
        optional("enabled", "Boolean", "Whether the repository is enabled (default true)."),
    ]);
    v
}

pub fn handlers() -> Vec<Handler> {
    vec![
        Handler::new(
            "PackageRepositoriesHandler",
            "package-repositories/",
            Access::Authenticated,
            "Manage the collection of all Package Repositories in MAAS",
        )
        .action(Action::new(Method::Get, None, "List package repositories", handler_fn!(list)))
        .action(
            Action::new(Method::Post, None, "Create a package repository", handler_fn!(create))
                .describe("Administrators only.")
                .params(&fields(true)),
        ),
        Handler::new(
            "PackageRepositoryHandler",
            "package-repositories/{id}/",
            Access::Authenticated,
            "Manage an individual package repository",
        )
        .describe("A package repository is identified by its id.")
        .action(Action::new(Method::Get, None, "Read a package repository", handler_fn!(read)))
        .action(
            Action::new(Method::Put, None, "Update a package repository", handler_fn!(update))
                .describe("Administrators only. Fields left out keep their values.")
                .params(&fields(false)),
        )
        .action(
            Action::new(Method::Delete, None, "Delete a package repository", handler_fn!(delete))
                .describe("Administrators only. The default Ubuntu archives cannot be deleted."),
        ),
    ]
}

/// The fields as sent; list fields take repeated values and `name[]`.
fn input(f: &dyn Form) -> Result<RepositoryInput> {
    let list = |name: &str| {
        let bracket = format!("{name}[]");
        let mut v: Vec<String> = f.values(name).into_iter().map(str::to_string).collect();
        v.extend(f.values(&bracket).into_iter().map(str::to_string));
        (!v.is_empty() || f.value(name).is_some()).then_some(v)
    };
    Ok(RepositoryInput {
        name: f.value("name").map(str::to_string),
        url: f.value("url").map(str::to_string),
        distributions: list("distributions"),
        disabled_pockets: list("disabled_pockets"),
        disabled_components: list("disabled_components"),
        components: list("components"),
        arches: list("arches"),
        key: f.value("key").map(str::to_string),
        disable_sources: f.flag("disable_sources")?,
        enabled: f.flag("enabled")?,
    })
}

async fn list(ctx: Ctx) -> Result<Reply> {
    ctx.user()?;
    let repos = ctx.db().run(db::package_repositories::all).await?;
    Ok(Reply::json(repos.iter().map(package_repository_json).collect::<Vec<Value>>()))
}

async fn create(ctx: Ctx) -> Result<Reply> {
    ctx.admin()?;
    let i = input(&ctx.params)?;
    let r = ctx.db().write(move |c| engine::package_repositories::create(c, &i)).await?;
    Ok(Reply::Json(package_repository_json(&r)))
}

async fn read(ctx: Ctx) -> Result<Reply> {
    ctx.user()?;
    let id = ctx.path("id").to_string();
    let r = ctx.db().run(move |c| engine::package_repositories::get(c, &id)).await?;
    Ok(Reply::Json(package_repository_json(&r)))
}

async fn update(ctx: Ctx) -> Result<Reply> {
    ctx.admin()?;
    let id = ctx.path("id").to_string();
    let i = input(&ctx.params)?;
    let r = ctx.db().write(move |c| engine::package_repositories::update(c, &id, &i)).await?;
    Ok(Reply::Json(package_repository_json(&r)))
}

async fn delete(ctx: Ctx) -> Result<Reply> {
    ctx.admin()?;
    let id = ctx.path("id").to_string();
    ctx.db().write(move |c| engine::package_repositories::delete(c, &id)).await?;
    Ok(Reply::NoContent)
}
