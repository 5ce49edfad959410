//! `nodes/{system_id}/devices/` and `nodes/{system_id}/devices/{id}/`
//! (MAAS's `NodeDevicesHandler` / `NodeDeviceHandler`): the PCI and USB
//! devices commissioning found on a node the caller may view; deleting one
//! is for administrators (the next commissioning recreates it if it is still
//! there). The rules are in `engine::node_devices`.

use serde_json::Value;

use crate::api::views::node_device::node_device_json;
use crate::engine;
use crate::engine::node_devices::DeviceFilter;
use crate::error::Result;
use crate::handler_fn;
use crate::http::registry::{optional, Access, Action, Handler, Method};
use crate::http::reply::Reply;
use crate::http::Ctx;

pub fn handlers() -> Vec<Handler> {
    let filters = vec![
        optional("bus", "String", "Only devices on this bus: PCIE or USB (or their numbers, 1 and 2)."),
        optional(
            "hardware_type",
            "String",
            "Only devices of this hardware type: node, cpu, memory, storage, network or gpu.",
        ),
        optional("vendor_id", "String", "Only devices with this vendor id (four hex digits)."),
        optional("product_id", "String", "Only devices with this product id."),
        optional("vendor_name", "String", "Only devices with this vendor name."),
        optional("product_name", "String", "Only devices with this product name."),
        optional("commissioning_driver", "String", "Only devices that used this driver when commissioning."),
    ];
    vec![
        Handler::new(
            "NodeDevicesHandler",
            "nodes/{system_id}/devices/",
            Access::Authenticated,
            "View NodeDevices from a Node",
        )
        .describe("The PCI and USB devices the node's last commissioning found; filters match ignoring case.")
        .action(Action::new(Method::Get, None, "Return node devices", handler_fn!(list)).params(&filters)),
        Handler::new(
            "NodeDeviceHandler",
            "nodes/{system_id}/devices/{id}/",
            Access::Authenticated,
            "View a specific NodeDevice from a Node",
        )
        .describe("id is the device's id, bus_number:device_number, or a PCI address (0000:00:03.0).")
        .action(Action::new(Method::Get, None, "Return a specific node device", handler_fn!(read)))
        .action(
            Action::new(Method::Delete, None, "Delete a node device", handler_fn!(delete))
                .describe("Administrators only. Commissioning recreates a device that is still present."),
        ),
    ]
}

async fn list(ctx: Ctx) -> Result<Reply> {
    let user = ctx.user()?.clone();
    let sid = ctx.path("system_id").to_string();
    let f = DeviceFilter::parse(|k| ctx.params.get(k))?;
    let (sid, devices) = ctx
        .db()
        .run(move |c| {
            let n = engine::access::get_visible(c, &user, &sid, "Node")?;
            Ok((n.system_id.clone(), engine::node_devices::list(c, &n, &f)?))
        })
        .await?;
    Ok(Reply::Json(Value::Array(devices.iter().map(|d| node_device_json(&sid, d)).collect())))
}

async fn read(ctx: Ctx) -> Result<Reply> {
    let user = ctx.user()?.clone();
    let (sid, id) = (ctx.path("system_id").to_string(), ctx.path("id").to_string());
    let (sid, device) = ctx
        .db()
        .run(move |c| {
            let n = engine::access::get_visible(c, &user, &sid, "Node")?;
            Ok((n.system_id.clone(), engine::node_devices::get(c, &n, &id)?))
        })
        .await?;
    Ok(Reply::Json(node_device_json(&sid, &device)))
}

async fn delete(ctx: Ctx) -> Result<Reply> {
    let user = ctx.admin()?.clone();
    let (sid, id) = (ctx.path("system_id").to_string(), ctx.path("id").to_string());
    ctx.db()
        .write(move |c| {
            let n = engine::access::get_visible(c, &user, &sid, "Node")?;
            engine::node_devices::delete(c, &n, &id)
        })
        .await?;
    Ok(Reply::NoContent)
}
