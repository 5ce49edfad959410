//! The demo's site: what `ironpool demo` builds around its simulated
//! machines so a MAAS client finds a small, believable data centre — the
//! vocabulary Juju derives from a region (boot resources for two Ubuntu
//! releases, zones, spaces, subnets its machines are linked to) and enough
//! variety (pools, tags, a second network) to exercise placement.
//!
//! Everything goes through the same engine functions the API uses, so the
//! demo cannot build a model the API would refuse. It is idempotent: a data
//! directory that already has the site (its `public` space) keeps what the
//! operator changed since, and only what is missing is added.

use std::sync::Arc;

use ironpool_agent::inventory;

use crate::db;
use crate::db::boot_resources::{NewFile, NewResource};
use crate::db::nodes::Node;
use crate::db::users::User;
use crate::db::DbConn;
use crate::engine;
use crate::engine::boot_resources::SYNCED;
use crate::engine::interfaces::LinkInput;
use crate::engine::network::{FabricInput, RangeInput, SpaceInput, SubnetInput, VlanInput};
use crate::error::{Error, Result};
use crate::http::AppState;

/// The space of the network machines boot from; its existence marks a
/// data directory whose site was built.
pub const PUBLIC_SPACE: &str = "public";
/// The space of the second network some machines have.
pub const STORAGE_SPACE: &str = "storage";
/// The fabric of the demo's networks. Not the default fabric: the rack
/// reports the host's own networks there, and the simulated machines must
/// not land on a real LAN's subnet.
pub const FABRIC: &str = "demo";
/// The boot network (the demo fabric's untagged VLAN).
pub const PXE_CIDR: &str = "10.20.0.0/24";
/// The storage network (the demo fabric's VLAN 30).
pub const STORAGE_CIDR: &str = "10.30.0.0/24";
const STORAGE_VID: i32 = 30;
/// Availability zones besides `default` (Juju spreads units over zones).
pub const ZONES: [&str; 2] = ["az1", "az2"];
/// The pool half of the machines go to.
pub const POOL: &str = "production";
/// The Ubuntu releases the demo "has images for" (Juju reads series and
/// architectures from `boot-resources/`).
pub const RELEASES: [(&str, &str); 2] = [("jammy", "22.04 LTS"), ("noble", "24.04 LTS")];

/// What later steps need to know about the site.
#[derive(Debug, Clone)]
pub struct Site {
    pub boot_vlan_id: i64,
    pub storage_subnet_id: i64,
    pub storage_vlan_id: i64,
    /// Whether this call built it (false: it was there already).
    pub created: bool,
}

/// Builds the site if the database does not have it yet, and turns DHCP
/// on for the boot VLAN once a rack (`rack`, a system_id) can serve it.
pub fn ensure_site(c: &mut DbConn, admin: &User, rack: Option<&str>) -> Result<Site> {
    let created = db::network::space_by_name(c, PUBLIC_SPACE)?.is_none();
    if created {
        build_network(c, admin)?;
        build_places(c)?;
    }
    let gone = |what: &str| Error::Conflict(format!("the demo's {what} was deleted; use a new data directory"));
    let fabric = engine::network::fabric(c, FABRIC).map_err(|_| gone("fabric"))?;
    let boot = db::network::vlan_by_vid(c, fabric.id, 0)?.ok_or_else(|| gone("boot VLAN"))?;
    let storage_vlan = db::network::vlan_by_vid(c, fabric.id, STORAGE_VID)?.ok_or_else(|| gone("storage VLAN"))?;
    let storage_subnet = engine::network::subnet(c, STORAGE_CIDR).map_err(|_| gone("storage subnet"))?;
    if let Some(rack) = rack {
        if !boot.dhcp_on && boot.primary_rack_id.is_none() {
            let input = VlanInput { primary_rack: Some(rack.to_string()), dhcp_on: Some(true), ..Default::default() };
            engine::network::update_vlan(c, &boot, &input)?;
        }
    }
    Ok(Site { boot_vlan_id: boot.id, storage_subnet_id: storage_subnet.id, storage_vlan_id: storage_vlan.id, created })
}

fn build_network(c: &mut DbConn, admin: &User) -> Result<()> {
    for (name, description) in
        [(PUBLIC_SPACE, "Where machines boot and serve from"), (STORAGE_SPACE, "Storage replication, jumbo frames")]
    {
        engine::network::create_space(
            c,
            &SpaceInput { name: Some(name.into()), description: Some(description.into()) },
        )?;
    }
    let fabric = engine::network::create_fabric(
        c,
        &FabricInput {
            name: Some(FABRIC.into()),
            description: Some("The demo's simulated data centre".into()),
            class_type: None,
        },
    )?;
    let boot = db::network::vlan_by_vid(c, fabric.id, 0)?.ok_or(Error::NotFound("VLAN"))?;
    let boot =
        engine::network::update_vlan(c, &boot, &VlanInput { space: Some(PUBLIC_SPACE.into()), ..Default::default() })?;
    let pxe = engine::network::create_subnet(
        c,
        &SubnetInput {
            cidr: Some(PXE_CIDR.into()),
            name: Some("pxe".into()),
            description: Some("Boot network".into()),
            vlan: Some(boot.id.to_string()),
            gateway_ip: Some("10.20.0.1".into()),
            dns_servers: Some("10.20.0.2".into()),
            ..Default::default()
        },
    )?;
    for (rtype, start, end, comment) in [
        ("reserved", "10.20.0.1", "10.20.0.9", "Gateway and infrastructure"),
        ("dynamic", "10.20.0.200", "10.20.0.250", "Enlistment and commissioning"),
    ] {
        engine::network::create_range(
            c,
            admin,
            &RangeInput {
                range_type: Some(rtype.into()),
                start_ip: Some(start.into()),
                end_ip: Some(end.into()),
                subnet: Some(pxe.id.to_string()),
                comment: Some(comment.into()),
            },
        )?;
    }
    let storage = engine::network::create_vlan(
        c,
        &fabric,
        &VlanInput {
            vid: Some(STORAGE_VID),
            name: Some(Some("storage".into())),
            mtu: Some(9000),
            space: Some(STORAGE_SPACE.into()),
            ..Default::default()
        },
    )?;
    engine::network::create_subnet(
        c,
        &SubnetInput {
            cidr: Some(STORAGE_CIDR.into()),
            name: Some("storage".into()),
            description: Some("Storage network".into()),
            vlan: Some(storage.id.to_string()),
            ..Default::default()
        },
    )?;
    Ok(())
}

fn build_places(c: &mut DbConn) -> Result<()> {
    for z in ZONES {
        if db::places::zone_by_name(c, z)?.is_none() {
            engine::places::create_zone(c, z, &format!("Availability zone {z}"))?;
        }
    }
    if db::places::pool_by_name(c, POOL)?.is_none() {
        engine::places::create_pool(c, POOL, "Machines for production workloads")?;
    }
    for (name, comment) in [("demo", "Every simulated machine"), ("ssd", "Has a solid-state disk")] {
        if db::tags::by_name(c, name)?.is_none() {
            engine::tags::create_tag(c, name, comment, "", "")?;
        }
    }
    Ok(())
}

/// Where simulated machine `seed` goes: zones and pools in turn.
pub fn placement(seed: u64) -> (String, String) {
    let zone = match seed % 3 {
        0 => "default",
        n => ZONES[n as usize - 1],
    };
    let pool = if seed % 2 == 0 { "default" } else { POOL };
    (zone.into(), pool.into())
}

/// After a simulated machine is created (still New): its tags, and its
/// boot NIC on the boot VLAN (commissioning links it AUTO to the boot
/// subnet, as MAAS does), and its second NIC (when it has one) on the
/// storage VLAN, linked AUTO to the storage subnet.
pub fn furnish(c: &mut DbConn, admin: &User, site: &Site, n: &Node, seed: u64) -> Result<()> {
    let mut tags = vec!["demo".to_string()];
    if inventory::fake(seed).resources.storage.disks.iter().any(|d| !d.rotational) {
        tags.push("ssd".into());
    }
    for t in db::tags::by_names(c, &tags)? {
        db::tags::attach(c, t.id, &[n.id])?;
    }
    let macs = inventory::fake_macs(seed, inventory::fake_nic_count(seed));
    let ifaces = db::network::interfaces_of(c, n.id)?;
    let on = |mac: &str| ifaces.iter().find(|i| i.mac_address.as_deref() == Some(mac)).cloned();
    if let Some(mut boot) = on(&macs[0]) {
        boot.vlan_id = Some(site.boot_vlan_id);
        db::network::interface_save(c, &boot)?;
    }
    let Some(mut moved) = macs.get(1).and_then(|m| on(m)) else { return Ok(()) };
    moved.vlan_id = Some(site.storage_vlan_id);
    db::network::interface_save(c, &moved)?;
    let link = LinkInput {
        mode: "AUTO".into(),
        subnet: Some(site.storage_subnet_id.to_string()),
        ip_address: None,
        default_gateway: false,
    };
    engine::interfaces::check_editable(admin, n)?;
    engine::interfaces::link_subnet(c, n, &moved, &link)?;
    Ok(())
}

/// Synthetic boot resources for [`RELEASES`] on amd64: what an import from
/// images.maas.io would record (synced `ubuntu/<series>`, a set with
/// kernel, initrd and root filesystem), with small stand-in files the
/// simulated machines "install". Releases already present are left alone.
pub async fn ensure_boot_resources(state: &Arc<AppState>) -> Result<usize> {
    let mut added = 0;
    for (series, version) in RELEASES {
        let name = format!("ubuntu/{series}");
        let n2 = name.clone();
        if state.db.run(move |c| db::boot_resources::by_name_arch(c, &n2, "amd64/generic")).await?.is_some() {
            continue;
        }
        let mut files = Vec::new();
        for ftype in ["boot-kernel", "boot-initrd", "squashfs"] {
            let content = format!("Ironpool demo {ftype} for Ubuntu {version} ({series}) amd64\n").into_bytes();
            let sha = engine::image_store::sha256_hex(&content);
            state.images.put(&sha, &content).await?;
            files.push(NewFile {
                filename: ftype.into(),
                filetype: ftype.into(),
                sha256: sha,
                size: content.len() as i64,
                complete: true,
            });
        }
        let title = format!("Ubuntu {version}");
        state
            .db
            .write(move |c| {
                let now = db::now();
                let id = db::boot_resources::insert(
                    c,
                    &NewResource {
                        rtype: SYNCED,
                        name,
                        architecture: "amd64/generic".into(),
                        title,
                        base_image: String::new(),
                        subarches: "generic,ga-22.04,ga-24.04,hwe-22.04,hwe-24.04".into(),
                        kflavor: "generic".into(),
                        created_at: now,
                        updated_at: now,
                    },
                )?;
                let set = db::boot_resources::insert_set(c, id, &now.format("%Y%m%d").to_string(), "demo", now)?;
                for f in &files {
                    db::boot_resources::insert_file(c, set, f)?;
                }
                Ok(())
            })
            .await?;
        added += 1;
    }
    Ok(added)
}
