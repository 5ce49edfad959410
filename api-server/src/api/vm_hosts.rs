//! `vm-hosts/`, `vm-hosts/{id}/` (MAAS's VmHostsHandler, VmHostHandler) and
//! their older names `pods/`, `pods/{id}/` (PodsHandler, PodHandler): the
//! same actions under both URLs, each answering with its own resource_uri.
//! Every user lists and reads; everything else is for administrators
//! (MAAS's `@admin_method`). Rules live in `engine::vmhosts`.

use serde_json::{json, Value};

use crate::api::views::resource_uri;
use crate::api::views::vm_host::vm_host_json;
use crate::db::vm_hosts::VmHost;
use crate::db::DbConn;
use crate::engine::vmhosts::{ComposeInput, ComposeOptions, VmHostInput};
use crate::error::{Error, Result};
use crate::handler_fn;
use crate::http::params::Form;
use crate::http::registry::{optional, required, Access, Action, Handler, Method, ParamDoc};
use crate::http::reply::Reply;
use crate::http::Ctx;
use crate::{db, engine};

const HOST_PARAMS: &[ParamDoc] = &[
    required("type", "String", "The type of VM host: virsh (other MAAS types, lxd, are refused here)."),
    required("power_address", "String", "The libvirt URI of the host, e.g. qemu+ssh://172.16.99.2/system."),
    optional("power_pass", "String", "The SSH password, for hosts without public-key access."),
    optional("name", "String", "The new VM host's name."),
    optional("zone", "String", "The VM host's zone."),
    optional("pool", "String", "The resource pool machines composed on this host join by default."),
    optional("tags", "String", "Tags (comma-separated) for the VM host."),
    optional("cpu_over_commit_ratio", "Float", "CPU over-commit ratio (0-10)."),
    optional("memory_over_commit_ratio", "Float", "Memory over-commit ratio (0-10)."),
    optional("default_storage_pool", "String", "The storage pool disks go to when no tag names one."),
];

const COMPOSE_PARAMS: &[ParamDoc] = &[
    optional("cores", "Int", "The number of CPU cores (default 1)."),
    optional("memory", "Int", "Memory in MiB (default 2048, at least 1024)."),
    optional("architecture", "String", "An architecture the host supports (e.g. amd64/generic)."),
    optional(
        "storage",
        "String",
        "Disks as label:size(tag,…),… with sizes in GB; a tag naming a storage pool places the disk there \
         (default root:8(local)).",
    ),
    optional(
        "interfaces",
        "String",
        "label:name=<bridge>;… attaches the machine's NICs to that bridge on the host; without it they join \
         the libvirt network maas, else default.",
    ),
    optional("hostname", "String", "The composed machine's hostname."),
    optional("domain", "String", "The DNS domain (id or name)."),
    optional("zone", "String", "The zone (id or name)."),
    optional("pool", "String", "The resource pool (id or name; default: the host's)."),
    optional("skip_commissioning", "Boolean", "Do not commission the composed machine."),
];

/// Declares the actions of one URL family; `$collection` is the URL segment
/// its answers name in resource_uri.
macro_rules! host_handlers {
    ($collection:literal, $list:ident, $create:ident, $read:ident, $update:ident,
     $delete:ident, $refresh:ident, $parameters:ident, $compose:ident, $add_tag:ident, $remove_tag:ident) => {
        async fn $list(ctx: Ctx) -> Result<Reply> {
            list(ctx, $collection).await
        }
        async fn $create(ctx: Ctx) -> Result<Reply> {
            create(ctx, $collection).await
        }
        async fn $read(ctx: Ctx) -> Result<Reply> {
            read(ctx, $collection).await
        }
        async fn $update(ctx: Ctx) -> Result<Reply> {
            update(ctx, $collection).await
        }
        async fn $delete(ctx: Ctx) -> Result<Reply> {
            delete(ctx).await
        }
        async fn $refresh(ctx: Ctx) -> Result<Reply> {
            refresh(ctx, $collection).await
        }
        async fn $parameters(ctx: Ctx) -> Result<Reply> {
            parameters(ctx).await
        }
        async fn $compose(ctx: Ctx) -> Result<Reply> {
            compose(ctx).await
        }
        async fn $add_tag(ctx: Ctx) -> Result<Reply> {
            tag(ctx, $collection, true).await
        }
        async fn $remove_tag(ctx: Ctx) -> Result<Reply> {
            tag(ctx, $collection, false).await
        }
    };
}

host_handlers!(
    "vm-hosts",
    vm_list,
    vm_create,
    vm_read,
    vm_update,
    vm_delete,
    vm_refresh,
    vm_parameters,
    vm_compose,
    vm_add_tag,
    vm_remove_tag
);
host_handlers!(
    "pods",
    pod_list,
    pod_create,
    pod_read,
    pod_update,
    pod_delete,
    pod_refresh,
    pod_parameters,
    pod_compose,
    pod_add_tag,
    pod_remove_tag
);

/// The two handlers of one URL family.
#[allow(clippy::too_many_arguments)]
fn family(
    many: &'static str,
    one: &'static str,
    many_path: &'static str,
    one_path: &'static str,
    what: &'static str,
    fns: [crate::http::registry::HandlerFn; 10],
) -> Vec<Handler> {
    let [list, create, read, update, delete, refresh, params, compose, add_tag, remove_tag] = fns;
    vec![
        Handler::new(many, many_path, Access::Authenticated, "Manage the collection of all the VM hosts in MAAS")
            .describe(what)
            .action(Action::new(Method::Get, None, "List VM hosts", list))
            .action(
                Action::new(Method::Post, None, "Create a VM host", create)
                    .describe(
                        "Administrators only. Saves the host, then discovers it (cores, memory, storage pools, \
                         its virtual machines, which become machines). A host that cannot be reached is saved \
                         without resources, as MAAS does; refresh it later.",
                    )
                    .params(HOST_PARAMS),
            ),
        Handler::new(one, one_path, Access::Authenticated, "Manage an individual VM host")
            .describe(what)
            .action(Action::new(Method::Get, None, "Read a VM host", read))
            .action(
                Action::new(Method::Put, None, "Update a specific VM host", update)
                    .describe("Administrators only. The type cannot change.")
                    .params(&HOST_PARAMS[1..]),
            )
            .action(
                Action::new(Method::Delete, None, "Deletes a VM host", delete)
                    .describe("Administrators only. With decompose=true its machines and their domains go too.")
                    .params(&[optional("decompose", "Boolean", "Also decompose every machine of the host.")]),
            )
            .action(
                Action::new(Method::Post, Some("refresh"), "Refresh a VM host", refresh)
                    .describe("Administrators only. Discovers the host again; 503 when it cannot be reached."),
            )
            .action(
                Action::new(Method::Get, Some("parameters"), "Obtain VM host parameters", params)
                    .describe("Administrators only: includes the password."),
            )
            .action(
                Action::new(Method::Post, Some("compose"), "Compose a virtual machine on the host.", compose)
                    .describe(
                        "Administrators only. Defines a libvirt domain that boots from the network and a machine \
                         (power type virsh) for it, which commissions unless skip_commissioning. Answers the \
                         machine's system_id and resource_uri. Exceeding the over-commit ratios or the storage \
                         pools is a 503 with MAAS's words.",
                    )
                    .params(COMPOSE_PARAMS),
            )
            .action(
                Action::new(Method::Post, Some("add_tag"), "Add a tag to a VM host", add_tag)
                    .describe("Administrators only.")
                    .params(&[required("tag", "String", "The tag to add (no commas).")]),
            )
            .action(
                Action::new(Method::Post, Some("remove_tag"), "Remove a tag from a VM host", remove_tag)
                    .describe("Administrators only.")
                    .params(&[required("tag", "String", "The tag to remove.")]),
            ),
    ]
}

pub fn handlers() -> Vec<Handler> {
    let mut all = family(
        "VmHostsHandler",
        "VmHostHandler",
        "vm-hosts/",
        "vm-hosts/{id}/",
        "VM hosts are libvirt (virsh) hosts machines are composed on.",
        [
            handler_fn!(vm_list),
            handler_fn!(vm_create),
            handler_fn!(vm_read),
            handler_fn!(vm_update),
            handler_fn!(vm_delete),
            handler_fn!(vm_refresh),
            handler_fn!(vm_parameters),
            handler_fn!(vm_compose),
            handler_fn!(vm_add_tag),
            handler_fn!(vm_remove_tag),
        ],
    );
    all.extend(family(
        "PodsHandler",
        "PodHandler",
        "pods/",
        "pods/{id}/",
        "The older name of vm-hosts/, kept by MAAS (and here) for its clients.",
        [
            handler_fn!(pod_list),
            handler_fn!(pod_create),
            handler_fn!(pod_read),
            handler_fn!(pod_update),
            handler_fn!(pod_delete),
            handler_fn!(pod_refresh),
            handler_fn!(pod_parameters),
            handler_fn!(pod_compose),
            handler_fn!(pod_add_tag),
            handler_fn!(pod_remove_tag),
        ],
    ));
    all
}

fn host_input(f: &dyn Form) -> VmHostInput {
    let tags = f.values("tags");
    VmHostInput {
        host_type: f.value("type").map(str::to_string),
        name: f.value("name").map(str::to_string),
        power_address: f.value("power_address").map(str::to_string),
        power_pass: f.value("power_pass").map(str::to_string),
        zone: f.value("zone").map(str::to_string),
        pool: f.value("pool").map(str::to_string),
        tags: (!tags.is_empty()).then(|| tags.iter().map(|t| t.to_string()).collect()),
        cpu_over_commit_ratio: f.value("cpu_over_commit_ratio").map(str::to_string),
        memory_over_commit_ratio: f.value("memory_over_commit_ratio").map(str::to_string),
        default_storage_pool: f.value("default_storage_pool").map(str::to_string),
    }
}

fn compose_input(f: &dyn Form) -> Result<ComposeInput> {
    let s = |k: &str| f.value(k).map(str::to_string);
    Ok(ComposeInput {
        cores: s("cores"),
        memory: s("memory"),
        architecture: s("architecture"),
        storage: s("storage"),
        interfaces: s("interfaces"),
        hostname: s("hostname"),
        domain: s("domain"),
        zone: s("zone"),
        pool: s("pool"),
        skip_commissioning: f.flag("skip_commissioning")?.unwrap_or(false),
    })
}

/// Renders hosts with their machines, zones and pools.
fn render(c: &mut DbConn, hosts: &[VmHost], collection: &str) -> Result<Vec<Value>> {
    let zones = db::places::zones(c)?;
    let pools = db::places::pools(c)?;
    let machines = db::vm_hosts::all_machines(c)?;
    Ok(hosts
        .iter()
        .map(|h| {
            vm_host_json(
                h,
                machines.get(&h.id).map(Vec::as_slice).unwrap_or(&[]),
                zones.iter().find(|z| z.id == h.zone_id),
                pools.iter().find(|p| p.id == h.pool_id),
                collection,
            )
        })
        .collect())
}

async fn render_one(ctx: &Ctx, h: VmHost, collection: &'static str) -> Result<Reply> {
    let v = ctx.db().run(move |c| render(c, &[h], collection)).await?;
    Ok(Reply::Json(v.into_iter().next().unwrap_or(Value::Null)))
}

fn key(ctx: &Ctx) -> String {
    ctx.path("id").to_string()
}

async fn list(ctx: Ctx, collection: &'static str) -> Result<Reply> {
    ctx.user()?;
    let v = ctx
        .db()
        .run(move |c| {
            let hosts = db::vm_hosts::all(c)?;
            render(c, &hosts, collection)
        })
        .await?;
    Ok(Reply::Json(Value::Array(v)))
}

async fn create(ctx: Ctx, collection: &'static str) -> Result<Reply> {
    let user = ctx.admin()?.clone();
    let input = host_input(&ctx.params);
    let h = engine::vmhosts::create(ctx.db(), &ctx.state.power, user, input).await?;
    render_one(&ctx, h, collection).await
}

async fn read(ctx: Ctx, collection: &'static str) -> Result<Reply> {
    ctx.user()?;
    let k = key(&ctx);
    let h = ctx.db().run(move |c| engine::vmhosts::by_key(c, &k)).await?;
    render_one(&ctx, h, collection).await
}

async fn update(ctx: Ctx, collection: &'static str) -> Result<Reply> {
    let user = ctx.admin()?.clone();
    let input = host_input(&ctx.params);
    let h = engine::vmhosts::update(ctx.db(), &ctx.state.power, user, key(&ctx), input).await?;
    render_one(&ctx, h, collection).await
}

async fn delete(ctx: Ctx) -> Result<Reply> {
    let user = ctx.admin()?.clone();
    let decompose = ctx.params.flag("decompose")?.unwrap_or(false);
    engine::vmhosts::delete(ctx.db(), &ctx.state.power, user, key(&ctx), decompose).await?;
    Ok(Reply::NoContent)
}

async fn refresh(ctx: Ctx, collection: &'static str) -> Result<Reply> {
    let user = ctx.admin()?.clone();
    let h = engine::vmhosts::refresh(ctx.db(), &ctx.state.power, user, key(&ctx)).await?;
    render_one(&ctx, h, collection).await
}

async fn parameters(ctx: Ctx) -> Result<Reply> {
    ctx.admin()?;
    let k = key(&ctx);
    let h = ctx.db().run(move |c| engine::vmhosts::by_key(c, &k)).await?;
    Ok(Reply::Json(json!(engine::vmhosts::parameters(&h))))
}

async fn compose(ctx: Ctx) -> Result<Reply> {
    let user = ctx.admin()?.clone();
    let input = compose_input(&ctx.params)?;
    let opts = ComposeOptions { emulator: ctx.state.config.virsh_emulator.clone() };
    let made = engine::vmhosts::compose(ctx.db(), &ctx.state.power, &opts, user, key(&ctx), input).await?;
    Ok(Reply::Json(json!({
        "system_id": made.system_id,
        "resource_uri": resource_uri(&format!("machines/{}/", made.system_id)),
    })))
}

async fn tag(ctx: Ctx, collection: &'static str, add: bool) -> Result<Reply> {
    let user = ctx.admin()?.clone();
    // MAAS's get_mandatory_param: a missing tag is a 400 naming it.
    let tag = ctx.params.value("tag").map(str::to_string).ok_or_else(|| Error::required("tag"))?;
    let k = key(&ctx);
    let h = ctx
        .db()
        .write(move |c| {
            if add {
                engine::vmhosts::add_tag(c, &user, &k, &tag)
            } else {
                engine::vmhosts::remove_tag(c, &user, &k, &tag)
            }
        })
        .await?;
    render_one(&ctx, h, collection).await
}
