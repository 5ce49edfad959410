//! `nodes/{system_id}/interfaces/` and `nodes/{system_id}/interfaces/{id}/`:
//! a node's interfaces and their links (machines, devices, controllers).

use serde_json::Value;

use crate::api::views::interface::interface_json;
use crate::db;
use crate::db::interfaces::Interface;
use crate::db::nodes::Node;
use crate::db::users::User;
use crate::db::DbConn;
use crate::engine;
use crate::engine::access::get_visible;
use crate::engine::interfaces::{
    BondInput, BondParams, BridgeInput, InterfaceInput, InterfaceUpdate, LinkInput, VlanInterfaceInput,
};
use crate::error;
use crate::error::{Error, Result};
use crate::handler_fn;
use crate::http::params::Form;
use crate::http::params::Params;
use crate::http::registry::{optional, required, Access, Action, Handler, Method};
use crate::http::reply::Reply;
use crate::http::Ctx;

pub fn handlers() -> Vec<Handler> {
    let common = [
        optional("name", "String", "Interface name."),
        optional("mac_address", "String", "MAC address."),
        optional("tags", "String", "Comma-separated tags."),
        optional("vlan", "Int", "VLAN id."),
        optional("mtu", "Int", "MTU."),
        optional("accept_ra", "Boolean", "Accept IPv6 router advertisements."),
    ];
    let mut bond = common.to_vec();
    bond.extend([
        required("parents", "Int", "Parent interface ids (repeat or comma-separate)."),
        optional(
            "bond_mode",
            "String",
            "balance-rr, active-backup, balance-xor, broadcast, 802.3ad, balance-tlb, balance-alb.",
        ),
        optional("bond_miimon", "Int", "Link monitoring frequency (ms)."),
        optional("bond_downdelay", "Int", "Down delay (ms)."),
        optional("bond_updelay", "Int", "Up delay (ms)."),
        optional("bond_lacp_rate", "String", "fast or slow."),
        optional("bond_xmit_hash_policy", "String", "layer2, layer2+3, layer3+4, encap2+3, encap3+4."),
        optional("bond_num_grat_arp", "Int", "Gratuitous ARPs after failover."),
    ]);
    let mut bridge = common.to_vec();
    bridge.extend([
        required("parent", "Int", "Parent interface id."),
        optional("bridge_type", "String", "standard or ovs."),
        optional("bridge_stp", "Boolean", "Spanning tree."),
        optional("bridge_fd", "Int", "Forward delay (s)."),
    ]);
    let mut update_params = common.to_vec();
    update_params.extend([
        optional("parents", "Int", "Bond/bridge parent interface ids."),
        optional("link_connected", "Boolean", "Whether a cable is connected."),
        optional("interface_speed", "Int", "Capability in Mbit/s."),
        optional("link_speed", "Int", "Negotiated speed in Mbit/s."),
    ]);
    vec![
        Handler::new(
            "InterfacesHandler",
            "nodes/{system_id}/interfaces/",
            Access::Authenticated,
            "Manage interfaces on a node",
        )
        .action(Action::new(Method::Get, None, "List interfaces", handler_fn!(list)))
        .action(
            Action::new(
                Method::Post,
                Some("create_physical"),
                "Create a physical interface",
                handler_fn!(create_physical),
            )
            .params(&[
                required("mac_address", "String", "MAC address (unique across all nodes)."),
                optional("name", "String", "Interface name (default ethN)."),
                optional("tags", "String", "Comma-separated tags."),
                optional("vlan", "Int", "VLAN id (default: disconnected)."),
                optional("mtu", "Int", "MTU."),
                optional("accept_ra", "Boolean", "Accept IPv6 router advertisements."),
                optional("autoconf", "Boolean", "IPv6 autoconfiguration."),
            ]),
        )
        .action(Action::new(Method::Post, Some("create_bond"), "Create a bond", handler_fn!(create_bond)).params(&bond))
        .action(
            Action::new(Method::Post, Some("create_bridge"), "Create a bridge", handler_fn!(create_bridge))
                .params(&bridge),
        )
        .action(
            Action::new(Method::Post, Some("create_vlan"), "Create a VLAN interface", handler_fn!(create_vlan)).params(
                &[
                    required("vlan", "Int", "Tagged VLAN id, on the parent's fabric."),
                    required("parent", "Int", "Parent interface id."),
                    optional("tags", "String", "Comma-separated tags."),
                    optional("mtu", "Int", "MTU."),
                    optional("accept_ra", "Boolean", "Accept IPv6 router advertisements."),
                ],
            ),
        ),
        Handler::new(
            "InterfaceHandler",
            "nodes/{system_id}/interfaces/{id}/",
            Access::Authenticated,
            "Manage a node's interface",
        )
        .action(Action::new(Method::Get, None, "Read an interface", handler_fn!(read)))
        .action(Action::new(Method::Put, None, "Update an interface", handler_fn!(update)).params(&update_params))
        .action(Action::new(Method::Delete, None, "Delete an interface", handler_fn!(delete)))
        .action(
            Action::new(Method::Post, Some("link_subnet"), "Link the interface to a subnet", handler_fn!(link_subnet))
                .params(&[
                    required("mode", "String", "AUTO, DHCP, STATIC or LINK_UP (any case)."),
                    optional("subnet", "Int", "Subnet id (required for AUTO and STATIC)."),
                    optional("ip_address", "String", "STATIC only; default: the first free address."),
                    optional("default_gateway", "Boolean", "Make this link the node's default gateway."),
                    optional("force", "Boolean", "Accepted for compatibility."),
                ]),
        )
        .action(
            Action::new(Method::Post, Some("unlink_subnet"), "Remove a link", handler_fn!(unlink_subnet))
                .params(&[required("id", "Int", "Link id.")]),
        )
        .action(
            Action::new(
                Method::Post,
                Some("set_default_gateway"),
                "Set the default gateway",
                handler_fn!(set_default_gateway),
            )
            .params(&[optional("link_id", "Int", "Link to use (default: every link with a gateway).")]),
        )
        .action(Action::new(Method::Post, Some("disconnect"), "Disconnect the interface", handler_fn!(disconnect)))
        .action(
            Action::new(Method::Post, Some("add_tag"), "Add a tag", handler_fn!(add_tag))
                .params(&[required("tag", "String", "Tag.")]),
        )
        .action(
            Action::new(Method::Post, Some("remove_tag"), "Remove a tag", handler_fn!(remove_tag))
                .params(&[required("tag", "String", "Tag.")]),
        ),
    ]
}

impl InterfaceInput {
    /// The fields every interface type shares. MAAS treats a blank value as
    /// absent, except `vlan` (blank disconnects) and `tags` (sent empty
    /// clears them).
    pub fn from_form(f: &dyn Form) -> Result<Self> {
        let mtu = f.text("mtu").map(engine::network::parse_mtu).transpose()?;
        Ok(InterfaceInput {
            name: f.text("name").map(str::to_string),
            mac_address: f.text("mac_address").map(str::to_string),
            // Only a plain `tags` key counts as sending the field, as before.
            tags: f.value("tags").is_some().then(|| f.list("tags")),
            vlan: f.value("vlan").map(|v| (!v.trim().is_empty()).then(|| v.to_string())),
            mtu,
            accept_ra: f.flag("accept_ra")?,
            autoconf: f.flag("autoconf")?,
            link_connected: f.flag("link_connected")?,
            interface_speed: f.int("interface_speed")?,
            link_speed: f.int("link_speed")?,
        })
    }
}

impl BondParams {
    pub fn from_form(f: &dyn Form) -> Result<Self> {
        Ok(BondParams {
            mode: f.text("bond_mode").map(str::to_string),
            lacp_rate: f.text("bond_lacp_rate").map(str::to_string),
            xmit_hash_policy: f.text("bond_xmit_hash_policy").map(str::to_string),
            miimon: f.int("bond_miimon")?,
            downdelay: f.int("bond_downdelay")?,
            updelay: f.int("bond_updelay")?,
            num_grat_arp: f.int("bond_num_grat_arp")?,
        })
    }
}

impl BondInput {
    pub fn from_form(f: &dyn Form) -> Result<Self> {
        Ok(BondInput {
            iface: InterfaceInput::from_form(f)?,
            parents: f.list("parents"),
            bond: BondParams::from_form(f)?,
        })
    }
}

/// `parent` and `parents` both name the one parent of a bridge or VLAN
/// interface.
fn single_parent(f: &dyn Form) -> Vec<String> {
    f.list("parent").into_iter().chain(f.list("parents")).collect()
}

impl BridgeInput {
    pub fn from_form(f: &dyn Form) -> Result<Self> {
        Ok(BridgeInput {
            iface: InterfaceInput::from_form(f)?,
            parents: single_parent(f),
            bridge_type: f.text("bridge_type").map(str::to_string),
            stp: f.flag("bridge_stp")?,
            fd: f.int("bridge_fd")?,
        })
    }
}

impl VlanInterfaceInput {
    pub fn from_form(f: &dyn Form) -> Result<Self> {
        let vlan = f.required_text("vlan")?.to_string();
        Ok(VlanInterfaceInput { iface: InterfaceInput::from_form(f)?, vlan, parents: single_parent(f) })
    }
}

impl InterfaceUpdate {
    /// `iftype` is the interface's type: as in MAAS, whose update form
    /// depends on it, only a bond reads the bond parameters, so on any other
    /// interface they are ignored even when malformed.
    pub fn from_form(f: &dyn Form, iftype: &str) -> Result<Self> {
        let iface = InterfaceInput::from_form(f)?;
        let bond = if iftype == "bond" { BondParams::from_form(f)? } else { BondParams::default() };
        let sent_parents = f.value("parents").is_some() || f.value("parents[]").is_some();
        Ok(InterfaceUpdate { iface, bond, parents: sent_parents.then(|| f.list("parents")) })
    }
}

impl LinkInput {
    pub fn from_form(f: &dyn Form) -> Result<Self> {
        // `force` is accepted for compatibility and never read.
        Ok(LinkInput {
            mode: f.required_text("mode")?.to_string(),
            subnet: f.text("subnet").map(str::to_string),
            ip_address: f.text("ip_address").map(str::to_string),
            default_gateway: f.flag("default_gateway")?.unwrap_or(false),
        })
    }
}

fn render_iface(c: &mut DbConn, n: &Node, id: i64) -> Result<Value> {
    let rel = db::related::load_related(c, std::slice::from_ref(n))?;
    let i = db::network::interface_by_id(c, id)?.ok_or(error::Error::NotFound("Interface"))?;
    Ok(interface_json(&n.system_id, &i, &rel))
}

async fn list(ctx: Ctx) -> Result<Reply> {
    let user = ctx.user()?.clone();
    let sid = ctx.path("system_id").to_string();
    let v = ctx
        .db()
        .run(move |c| {
            let n = get_visible(c, &user, &sid, "Node")?;
            let rel = db::related::load_related(c, std::slice::from_ref(&n))?;
            let ifaces = rel.interfaces.get(&n.id).cloned().unwrap_or_default();
            Ok(Value::Array(ifaces.iter().map(|i| interface_json(&n.system_id, i, &rel)).collect()))
        })
        .await?;
    Ok(Reply::Json(v))
}

async fn read(ctx: Ctx) -> Result<Reply> {
    let user = ctx.user()?.clone();
    let sid = ctx.path("system_id").to_string();
    let id = ctx.path("id").to_string();
    let v = ctx
        .db()
        .run(move |c| {
            let n = get_visible(c, &user, &sid, "Node")?;
            let i = engine::interfaces::get(c, &n, &id)?;
            render_iface(c, &n, i.id)
        })
        .await?;
    Ok(Reply::Json(v))
}

/// Runs a change on the URL's node (editable by the caller) in one write
/// transaction and renders the interface it returns. Handlers parse their
/// input inside `f`, so a caller who may not edit the node hears that
/// before any complaint about the form.
async fn on_node<F>(ctx: Ctx, f: F) -> Result<Reply>
where
    F: FnOnce(&mut DbConn, &Node, &Params) -> Result<Interface> + Send + 'static,
{
    let user: User = ctx.user()?.clone();
    let sid = ctx.path("system_id").to_string();
    let p = ctx.params.clone();
    let v = ctx
        .db()
        .write(move |c| {
            let n = get_visible(c, &user, &sid, "Node")?;
            engine::interfaces::check_editable(&user, &n)?;
            let i = f(c, &n, &p)?;
            render_iface(c, &n, i.id)
        })
        .await?;
    Ok(Reply::Json(v))
}

/// Like [`on_node`] for the URL's interface.
async fn on_iface<F>(ctx: Ctx, f: F) -> Result<Reply>
where
    F: FnOnce(&mut DbConn, &Node, &Interface, &Params) -> Result<Interface> + Send + 'static,
{
    let id = ctx.path("id").to_string();
    on_node(ctx, move |c, n, p| {
        let i = engine::interfaces::get(c, n, &id)?;
        f(c, n, &i, p)
    })
    .await
}

async fn create_physical(ctx: Ctx) -> Result<Reply> {
    on_node(ctx, |c, n, p| engine::interfaces::create_physical(c, n, &InterfaceInput::from_form(p)?)).await
}

async fn create_bond(ctx: Ctx) -> Result<Reply> {
    on_node(ctx, |c, n, p| engine::interfaces::create_bond(c, n, &BondInput::from_form(p)?)).await
}

async fn create_bridge(ctx: Ctx) -> Result<Reply> {
    on_node(ctx, |c, n, p| engine::interfaces::create_bridge(c, n, &BridgeInput::from_form(p)?)).await
}

async fn create_vlan(ctx: Ctx) -> Result<Reply> {
    on_node(ctx, |c, n, p| engine::interfaces::create_vlan(c, n, &VlanInterfaceInput::from_form(p)?)).await
}

async fn update(ctx: Ctx) -> Result<Reply> {
    on_iface(ctx, |c, n, i, p| engine::interfaces::update(c, n, i, &InterfaceUpdate::from_form(p, &i.iftype)?)).await
}

async fn delete(ctx: Ctx) -> Result<Reply> {
    let user: User = ctx.user()?.clone();
    let sid = ctx.path("system_id").to_string();
    let id = ctx.path("id").to_string();
    ctx.db()
        .write(move |c| {
            let n = get_visible(c, &user, &sid, "Node")?;
            engine::interfaces::check_editable(&user, &n)?;
            let i = engine::interfaces::get(c, &n, &id)?;
            engine::interfaces::delete(c, &i)
        })
        .await?;
    Ok(Reply::NoContent)
}

async fn link_subnet(ctx: Ctx) -> Result<Reply> {
    on_iface(ctx, |c, n, i, p| engine::interfaces::link_subnet(c, n, i, &LinkInput::from_form(p)?)).await
}

async fn unlink_subnet(ctx: Ctx) -> Result<Reply> {
    on_iface(ctx, |c, n, i, p| {
        let id = p.int("id")?.ok_or_else(|| Error::required("id"))?;
        engine::interfaces::unlink_subnet(c, n, i, id)
    })
    .await
}

async fn set_default_gateway(ctx: Ctx) -> Result<Reply> {
    on_iface(ctx, |c, n, i, p| engine::interfaces::set_default_gateway(c, n, i, p.int("link_id")?)).await
}

async fn disconnect(ctx: Ctx) -> Result<Reply> {
    on_iface(ctx, |c, _, i, _| engine::interfaces::disconnect(c, i)).await
}

async fn add_tag(ctx: Ctx) -> Result<Reply> {
    on_iface(ctx, |c, _, i, p| engine::interfaces::add_tag(c, i, p.required_text("tag")?)).await
}

async fn remove_tag(ctx: Ctx) -> Result<Reply> {
    on_iface(ctx, |c, _, i, p| engine::interfaces::remove_tag(c, i, p.required_text("tag")?)).await
}
