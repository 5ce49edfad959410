package main

// The machine-side resources: maas_tag, maas_machine, maas_instance, the
// network interface family and maas_block_device.

import (
	"fmt"
	"net/http"
	"sort"
	"time"

	"github.com/canonical/gomaasclient/entity"
)

var spareMachine *entity.Machine

// newMachine registers a machine without commissioning (status New), which
// the region lets interfaces and disks be edited on, for the NIC and block
// device resources; it is deleted at the end of the run.
func newMachine() (*entity.Machine, error) {
	if spareMachine != nil {
		return spareMachine, nil
	}
	no := false
	m, err := c.Machines.Create(&entity.MachineCreateParams{
		Hostname: "tf-nics-" + sfx, Architecture: "amd64/generic", PowerType: "manual",
		MACAddresses: []string{"52:54:00:bb:" + sfx[len(sfx)-2:] + ":01"}, Commission: &no,
	}, map[string]interface{}{})
	if err != nil {
		return nil, step("Machines.Create (commission=false)", err)
	}
	deferCleanup(func() { _ = c.Machine.Delete(m.SystemID) })
	spareMachine = m
	return m, nil
}

func tag() error {
	m, err := newMachine()
	if err != nil {
		return err
	}
	name := "tf-tag-" + sfx
	t, err := c.Tags.Create(&entity.TagParams{Name: name, Comment: "first", KernelOpts: "console=ttyS0"})
	if err != nil {
		return step("Tags.Create", err)
	}
	if t, err = c.Tag.Get(name); err != nil {
		return step("Tag.Get", err)
	}
	if err := all(eq("name", t.Name, name), eq("comment", t.Comment, "first"), eq("kernel_opts", t.KernelOpts, "console=ttyS0")); err != nil {
		return err
	}
	// maas_tag's `machines` attribute: add, list, remove.
	if err := c.Tag.AddMachines(name, []string{m.SystemID}); err != nil {
		return step("Tag.AddMachines", err)
	}
	ms, err := c.Tag.GetMachines(name)
	if err != nil {
		return step("Tag.GetMachines", err)
	}
	if len(ms) != 1 || ms[0].SystemID != m.SystemID {
		return fmt.Errorf("Tag.GetMachines read back %d machines, want [%s]", len(ms), m.SystemID)
	}
	if _, err := c.Tag.Update(name, &entity.TagParams{Name: name, Comment: "second", KernelOpts: "quiet"}); err != nil {
		return step("Tag.Update", err)
	}
	if t, err = c.Tag.Get(name); err != nil {
		return step("Tag.Get", err)
	}
	if err := all(eq("comment", t.Comment, "second"), eq("kernel_opts", t.KernelOpts, "quiet")); err != nil {
		return err
	}
	if err := c.Tag.RemoveMachines(name, []string{m.SystemID}); err != nil {
		return step("Tag.RemoveMachines", err)
	}
	if ms, err = c.Tag.GetMachines(name); err != nil || len(ms) != 0 {
		return fmt.Errorf("Tag.GetMachines after RemoveMachines: %d machines, %v", len(ms), err)
	}
	if err := c.Tag.Delete(name); err != nil {
		return step("Tag.Delete", err)
	}
	_, err = c.Tag.Get(name)
	return gone("Tag.Get", err)
}

func machine() error {
	z, err := c.Zones.Create(&entity.ZoneParams{Name: "tf-mzone-" + sfx})
	if err != nil {
		return step("Zones.Create", err)
	}
	deferCleanup(func() { _ = c.Zone.Delete(z.Name) })
	p, err := c.ResourcePools.Create(&entity.ResourcePoolParams{Name: "tf-mpool-" + sfx})
	if err != nil {
		return step("ResourcePools.Create", err)
	}
	deferCleanup(func() { _ = c.ResourcePool.Delete(p.ID) })
	name := "tf-machine-" + sfx
	mac := "52:54:00:cc:" + sfx[len(sfx)-2:] + ":01"
	m, err := c.Machines.Create(&entity.MachineCreateParams{
		Hostname: name, Architecture: "amd64/generic", PowerType: "manual", MACAddresses: []string{mac},
		Zone: z.Name, Pool: p.Name,
	}, map[string]interface{}{})
	if err != nil {
		return step("Machines.Create", err)
	}
	deferCleanup(func() { _ = c.Machine.Delete(m.SystemID) })
	// The provider then waits for Ready, with Commissioning and Testing as
	// pending states; a manual-power machine never boots, so this checks the
	// machine is in one of the states the provider's waiter accepts.
	if m, err = c.Machine.Get(m.SystemID); err != nil {
		return step("Machine.Get", err)
	}
	switch m.StatusName {
	case "Commissioning", "Testing", "Ready":
	default:
		return fmt.Errorf("status_name %q after create, want one the provider waits through (Commissioning, Testing, Ready)", m.StatusName)
	}
	macs := []string{}
	for _, i := range m.InterfaceSet {
		macs = append(macs, i.MACAddress)
	}
	if err := all(eq("hostname", m.Hostname, name), eq("architecture", m.Architecture, "amd64/generic"),
		eq("power_type", m.PowerType, "manual"), eq("zone.name", m.Zone.Name, z.Name), eq("pool.name", m.Pool.Name, p.Name),
		eq("interface_set[].mac_address", macs, []string{mac})); err != nil {
		return err
	}
	params, err := c.Machine.GetPowerParameters(m.SystemID)
	if err != nil {
		return step("Machine.GetPowerParameters", err)
	}
	_ = params
	if _, err := c.Machine.Update(m.SystemID, &entity.MachineUpdateParams{
		Hostname: name + "-b", Zone: "default", Pool: "default", PowerType: "manual", Description: "updated",
	}, map[string]interface{}{}); err != nil {
		return step("Machine.Update", err)
	}
	if m, err = c.Machine.Get(m.SystemID); err != nil {
		return step("Machine.Get", err)
	}
	if err := all(eq("hostname", m.Hostname, name+"-b"), eq("zone.name", m.Zone.Name, "default"),
		eq("pool.name", m.Pool.Name, "default"), eq("description", m.Description, "updated")); err != nil {
		return err
	}
	if err := c.Machine.Delete(m.SystemID); err != nil {
		return step("Machine.Delete", err)
	}
	_, err = c.Machine.Get(m.SystemID)
	return gone("Machine.Get", err)
}

func findNIC(sys string, id int) (*entity.NetworkInterface, error) {
	n, err := c.NetworkInterface.Get(sys, id)
	if err != nil {
		return nil, step(fmt.Sprintf("NetworkInterface.Get %d", id), err)
	}
	return n, nil
}

func nicPhysical() error {
	m, err := newMachine()
	if err != nil {
		return err
	}
	f, err := newFabric("nicfab")
	if err != nil {
		return err
	}
	untagged := f.VLANs[0].ID
	mac := "52:54:00:dd:" + sfx[len(sfx)-2:] + ":01"
	n, err := c.NetworkInterfaces.CreatePhysical(m.SystemID, &entity.NetworkInterfacePhysicalParams{
		Name: "eth5", MACAddress: mac, VLAN: untagged, MTU: 1500, Tags: "a,b",
	})
	if err != nil {
		return step("NetworkInterfaces.CreatePhysical", err)
	}
	if n, err = findNIC(m.SystemID, n.ID); err != nil {
		return err
	}
	tags := append([]string{}, n.Tags...)
	sort.Strings(tags)
	if err := all(eq("name", n.Name, "eth5"), eq("mac_address", n.MACAddress, mac), eq("type", n.Type, "physical"),
		eq("vlan.id", n.VLAN.ID, untagged), eq("tags", tags, []string{"a", "b"})); err != nil {
		return err
	}
	if _, err := c.NetworkInterface.Update(m.SystemID, n.ID, &entity.NetworkInterfaceUpdateParams{
		Name: "eth6", MTU: 9000, Tags: "c",
	}); err != nil {
		return step("NetworkInterface.Update", err)
	}
	if n, err = findNIC(m.SystemID, n.ID); err != nil {
		return err
	}
	if err := all(eq("name", n.Name, "eth6"), eq("effective_mtu", n.EffectiveMTU, 9000), eq("tags", n.Tags, []string{"c"})); err != nil {
		return err
	}
	if err := c.NetworkInterface.Delete(m.SystemID, n.ID); err != nil {
		return step("NetworkInterface.Delete", err)
	}
	_, err = c.NetworkInterface.Get(m.SystemID, n.ID)
	return gone("NetworkInterface.Get", err)
}

// nicBondBridgeVLAN: maas_network_interface_bond over two physical NICs,
// maas_network_interface_vlan on the bond and
// maas_network_interface_bridge on the VLAN interface, each read back and
// updated, then deleted top-down as Terraform's dependency order does.
func nicBondBridgeVLAN() error {
	m, err := newMachine()
	if err != nil {
		return err
	}
	f, err := newFabric("bondfab")
	if err != nil {
		return err
	}
	untagged := f.VLANs[0].ID
	tagged, err := c.VLANs.Create(f.ID, &entity.VLANParams{VID: 100})
	if err != nil {
		return step("VLANs.Create", err)
	}
	deferCleanup(func() { _ = c.VLAN.Delete(f.ID, 100) })
	var parents []int
	for i, suffix := range []string{"11", "12"} {
		p, err := c.NetworkInterfaces.CreatePhysical(m.SystemID, &entity.NetworkInterfacePhysicalParams{
			Name: fmt.Sprintf("ens%d", i+10), MACAddress: "52:54:00:ee:" + sfx[len(sfx)-2:] + ":" + suffix, VLAN: untagged,
		})
		if err != nil {
			return step("NetworkInterfaces.CreatePhysical", err)
		}
		parents = append(parents, p.ID)
	}
	bond, err := c.NetworkInterfaces.CreateBond(m.SystemID, &entity.NetworkInterfaceBondParams{
		Name: "bond0", Parents: parents, VLAN: untagged, BondMode: "802.3ad", BondMiimon: 100,
		BondLACPRate: "fast", BondXMitHashPolicy: "layer3+4", MTU: 9000,
	})
	if err != nil {
		return step("NetworkInterfaces.CreateBond (parents repeated)", err)
	}
	if bond, err = findNIC(m.SystemID, bond.ID); err != nil {
		return err
	}
	ps := append([]string{}, bond.Parents...)
	sort.Strings(ps)
	if err := all(eq("type", bond.Type, "bond"), eq("parents", ps, []string{"ens10", "ens11"}), eq("effective_mtu", bond.EffectiveMTU, 9000)); err != nil {
		return err
	}
	bp, _ := bond.Params.(map[string]interface{})
	if err := all(eq("params.bond_mode", bp["bond_mode"], "802.3ad"), eq("params.bond_lacp_rate", bp["bond_lacp_rate"], "fast"),
		eq("params.bond_xmit_hash_policy", bp["bond_xmit_hash_policy"], "layer3+4")); err != nil {
		return err
	}
	if _, err := c.NetworkInterface.Update(m.SystemID, bond.ID, &entity.NetworkInterfaceUpdateParams{BondMode: "active-backup", Name: "bond1"}); err != nil {
		return step("NetworkInterface.Update bond", err)
	}
	if bond, err = findNIC(m.SystemID, bond.ID); err != nil {
		return err
	}
	bp, _ = bond.Params.(map[string]interface{})
	if err := all(eq("name", bond.Name, "bond1"), eq("params.bond_mode", bp["bond_mode"], "active-backup")); err != nil {
		return err
	}

	vl, err := c.NetworkInterfaces.CreateVLAN(m.SystemID, &entity.NetworkInterfaceVLANParams{VLAN: tagged.ID, Parents: []int{bond.ID}})
	if err != nil {
		return step("NetworkInterfaces.CreateVLAN", err)
	}
	if vl, err = findNIC(m.SystemID, vl.ID); err != nil {
		return err
	}
	if err := all(eq("type", vl.Type, "vlan"), eq("name", vl.Name, "bond1.100"), eq("vlan.vid", vl.VLAN.VID, 100),
		eq("parents", vl.Parents, []string{"bond1"})); err != nil {
		return err
	}
	if _, err := c.NetworkInterface.Update(m.SystemID, vl.ID, &entity.NetworkInterfaceUpdateParams{MTU: 1500}); err != nil {
		return step("NetworkInterface.Update vlan", err)
	}

	br, err := c.NetworkInterfaces.CreateBridge(m.SystemID, &entity.NetworkInterfaceBridgeParams{
		Name: "br0", Parents: []int{vl.ID}, VLAN: tagged.ID, BridgeType: "standard", BridgeSTP: true, BridgeFD: 15,
	})
	if err != nil {
		return step("NetworkInterfaces.CreateBridge", err)
	}
	if br, err = findNIC(m.SystemID, br.ID); err != nil {
		return err
	}
	brp, _ := br.Params.(map[string]interface{})
	if err := all(eq("type", br.Type, "bridge"), eq("parents", br.Parents, []string{"bond1.100"}),
		eq("params.bridge_type", brp["bridge_type"], "standard"), eq("params.bridge_stp", brp["bridge_stp"], true)); err != nil {
		return err
	}
	if _, err := c.NetworkInterface.Update(m.SystemID, br.ID, &entity.NetworkInterfaceUpdateParams{Name: "br1", BridgeFD: 5}); err != nil {
		return step("NetworkInterface.Update bridge", err)
	}
	if br, err = findNIC(m.SystemID, br.ID); err != nil {
		return err
	}
	if err := eq("name", br.Name, "br1"); err != nil {
		return err
	}
	for _, id := range append([]int{br.ID, vl.ID, bond.ID}, parents...) {
		if err := c.NetworkInterface.Delete(m.SystemID, id); err != nil {
			return step(fmt.Sprintf("NetworkInterface.Delete %d", id), err)
		}
	}
	_, err = c.NetworkInterface.Get(m.SystemID, bond.ID)
	return gone("NetworkInterface.Get bond", err)
}

// nicLink: maas_network_interface_link: link_subnet STATIC with an address
// and default_gateway, read the link back from the interface, unlink.
func nicLink() error {
	m, err := newMachine()
	if err != nil {
		return err
	}
	sn, err := newSubnet("linkfab", "10.80.0.0/24", "10.80.0.1")
	if err != nil {
		return err
	}
	n, err := c.NetworkInterfaces.CreatePhysical(m.SystemID, &entity.NetworkInterfacePhysicalParams{
		Name: "eth9", MACAddress: "52:54:00:ff:" + sfx[len(sfx)-2:] + ":01", VLAN: sn.VLAN.ID,
	})
	if err != nil {
		return step("NetworkInterfaces.CreatePhysical", err)
	}
	deferCleanup(func() { _ = c.NetworkInterface.Delete(m.SystemID, n.ID) })
	n, err = c.NetworkInterface.LinkSubnet(m.SystemID, n.ID, &entity.NetworkInterfaceLinkParams{
		Mode: "STATIC", Subnet: sn.ID, IPAddress: "10.80.0.20", DefaultGateway: true,
	})
	if err != nil {
		return step("NetworkInterface.LinkSubnet", err)
	}
	if n, err = findNIC(m.SystemID, n.ID); err != nil {
		return err
	}
	if len(n.Links) != 1 {
		return fmt.Errorf("links read back %+v, want one", n.Links)
	}
	l := n.Links[0]
	if err := all(eq("links[0].mode", l.Mode, "static"), eq("links[0].ip_address", l.IPAddress, "10.80.0.20"),
		eq("links[0].subnet.id", l.Subnet.ID, sn.ID)); err != nil {
		return err
	}
	// The provider's update re-links: unlink then link AUTO.
	if _, err := c.NetworkInterface.UnlinkSubnet(m.SystemID, n.ID, l.ID); err != nil {
		return step("NetworkInterface.UnlinkSubnet", err)
	}
	if n, err = c.NetworkInterface.LinkSubnet(m.SystemID, n.ID, &entity.NetworkInterfaceLinkParams{Mode: "AUTO", Subnet: sn.ID}); err != nil {
		return step("NetworkInterface.LinkSubnet AUTO", err)
	}
	if n, err = findNIC(m.SystemID, n.ID); err != nil {
		return err
	}
	if len(n.Links) != 1 || n.Links[0].Mode != "auto" {
		return fmt.Errorf("links after relink %+v, want one auto", n.Links)
	}
	if _, err := c.NetworkInterface.UnlinkSubnet(m.SystemID, n.ID, n.Links[0].ID); err != nil {
		return step("NetworkInterface.UnlinkSubnet", err)
	}
	if n, err = findNIC(m.SystemID, n.ID); err != nil {
		return err
	}
	// MAAS leaves a LINK_UP link when the last link goes.
	for _, l := range n.Links {
		if l.Mode != "link_up" {
			return fmt.Errorf("links after unlink %+v", n.Links)
		}
	}
	return nil
}

// readyMachine is a Ready machine nobody owns (the demo's simulated one):
// MAAS edits disks only on Ready machines, which is where Terraform's
// maas_block_device runs (after maas_machine waited for Ready).
func readyMachine() (*entity.Machine, error) {
	ms, err := c.Machines.Get(&entity.MachinesParams{})
	if err != nil {
		return nil, step("Machines.Get", err)
	}
	for i := range ms {
		if ms[i].StatusName == "Ready" {
			return &ms[i], nil
		}
	}
	return nil, skipf("no Ready machine (run.sh starts `ironpool demo --machines 1`)")
}

func blockDevice() error {
	m, err := readyMachine()
	if err != nil {
		return err
	}
	b, err := c.BlockDevices.Create(m.SystemID, &entity.BlockDeviceParams{
		Name: "sdz", Size: 10 * 1024 * 1024 * 1024, BlockSize: 512, Model: "QEMU", Serial: "TF" + sfx,
	})
	if err != nil {
		return step("BlockDevices.Create", err)
	}
	if b, err = c.BlockDevice.Get(m.SystemID, b.ID); err != nil {
		return step("BlockDevice.Get", err)
	}
	if err := all(eq("name", b.Name, "sdz"), eq("size", b.Size, int64(10*1024*1024*1024)), eq("block_size", b.BlockSize, 512),
		eq("model", b.Model, "QEMU"), eq("serial", b.Serial, "TF"+sfx)); err != nil {
		return err
	}
	if _, err := c.BlockDevice.AddTag(m.SystemID, b.ID, "ssd"); err != nil {
		return step("BlockDevice.AddTag", err)
	}
	if _, err := c.BlockDevice.Update(m.SystemID, b.ID, &entity.BlockDeviceParams{Name: "sdy", Model: "QEMU2", Serial: "TF2" + sfx}); err != nil {
		return step("BlockDevice.Update", err)
	}
	if b, err = c.BlockDevice.Get(m.SystemID, b.ID); err != nil {
		return step("BlockDevice.Get", err)
	}
	if err := all(eq("name", b.Name, "sdy"), eq("model", b.Model, "QEMU2"), eq("tags", b.Tags, []string{"ssd"})); err != nil {
		return err
	}
	if err := c.BlockDevice.Delete(m.SystemID, b.ID); err != nil {
		return step("BlockDevice.Delete", err)
	}
	_, err = c.BlockDevice.Get(m.SystemID, b.ID)
	return gone("BlockDevice.Get", err)
}

func waitStatus(sys string, want string, timeout time.Duration) (*entity.Machine, error) {
	deadline := time.Now().Add(timeout)
	for {
		m, err := c.Machine.Get(sys)
		if err != nil {
			return nil, step("Machine.Get", err)
		}
		if m.StatusName == want {
			return m, nil
		}
		if time.Now().After(deadline) {
			return m, fmt.Errorf("machine %s is %q after %s, want %q", sys, m.StatusName, timeout, want)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// instance is maas_instance: allocate with constraints, deploy, wait for
// Deployed, read, then release and wait for Ready (its delete).
func instance() error {
	m, err := c.Machines.Allocate(&entity.MachineAllocateParams{CPUCount: 1, Mem: 1024})
	if err != nil {
		if status(err) == http.StatusConflict {
			return skipf("Machines.Allocate: 409, no Ready machine (run.sh starts `ironpool demo --machines 1`)")
		}
		return step("Machines.Allocate", err)
	}
	if m.StatusName != "Allocated" {
		return fmt.Errorf("status_name %q after allocate", m.StatusName)
	}
	if _, err := c.Machine.Deploy(m.SystemID, &entity.MachineDeployParams{
		UserData: "I2Nsb3VkLWNvbmZpZwo=", // base64 of "#cloud-config\n", as the provider sends user_data
	}); err != nil {
		_, _ = c.Machine.Release(m.SystemID, &entity.MachineReleaseParams{})
		return step("Machine.Deploy", err)
	}
	if m, err = waitStatus(m.SystemID, "Deployed", 3*time.Minute); err != nil {
		_, _ = c.Machine.Release(m.SystemID, &entity.MachineReleaseParams{Force: true})
		return err
	}
	if m.OSystem == "" || m.DistroSeries == "" {
		return fmt.Errorf("deployed machine reads back osystem %q distro_series %q", m.OSystem, m.DistroSeries)
	}
	if _, err := c.Machine.Release(m.SystemID, &entity.MachineReleaseParams{Comment: "terraform destroy"}); err != nil {
		return step("Machine.Release", err)
	}
	_, err = waitStatus(m.SystemID, "Ready", 3*time.Minute)
	return err
}
