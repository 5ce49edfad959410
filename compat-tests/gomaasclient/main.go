// Command gomaasclientcompat replays what terraform-provider-maas's resources
// do, through Canonical's gomaasclient (Terraform's MAAS client library),
// against a running region: for each resource a create → read → update →
// read → delete round trip with the calls the provider makes, checking the
// fields the provider reads back into its state.
//
// It is built by run.sh from a fetched gomaasclient checkout (never vendored
// into this repository) and prints one line per check and a summary.
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"sort"
	"strconv"
	"time"

	"github.com/canonical/gomaasclient/client"
	"github.com/canonical/gomaasclient/entity"
)

var (
	c       *client.Client
	keyring string
	// A run-unique suffix keeps names apart when the program is rerun against
	// the same region (IRONPOOL_COMPAT_KEEP).
	sfx = strconv.FormatInt(time.Now().Unix()%100000, 10)
)

func main() {
	url := flag.String("url", "", "MAAS URL, e.g. http://127.0.0.1:5240/MAAS/")
	key := flag.String("key", "", "administrator API key consumer:token:secret")
	flag.StringVar(&keyring, "keyring", "", "a keyring file on the region's host, for maas_boot_source")
	flag.Parse()
	if *url == "" || *key == "" {
		fmt.Fprintln(os.Stderr, "usage: gomaasclientcompat -url URL -key KEY")
		os.Exit(2)
	}
	var err error
	c, err = client.GetClient(*url, *key, "2.0")
	if err != nil {
		fmt.Fprintf(os.Stderr, "GetClient: %v\n", err)
		os.Exit(2)
	}
	s := &suite{start: time.Now()}
	s.check("maas_zone", zone)
	s.check("maas_resource_pool", resourcePool)
	s.check("maas_space", space)
	s.check("maas_fabric", fabric)
	s.check("maas_vlan", vlan)
	s.check("maas_subnet", subnet)
	s.check("maas_subnet_ip_range", ipRange)
	s.check("maas_dns_domain", dnsDomain)
	s.check("maas_dns_record A/AAAA", dnsRecordAddress)
	s.check("maas_dns_record TXT", dnsRecordTXT)
	s.check("maas_user", user)
	s.check("maas_device", device)
	s.check("maas_tag", tag)
	s.check("maas_machine", machine)
	s.check("maas_network_interface_physical", nicPhysical)
	s.check("maas_network_interface_bond/bridge/vlan", nicBondBridgeVLAN)
	s.check("maas_network_interface_link", nicLink)
	// Before maas_instance: it needs a Ready machine, which the instance
	// round trip leaves Ready again only at its end.
	s.check("maas_block_device", blockDevice)
	s.check("maas_instance", instance)
	s.check("maas_reserved_ip", reservedIP)
	s.check("maas_boot_source", bootSource)
	s.check("maas_boot_source_selection", bootSourceSelection)
	s.check("maas_configuration", configuration)
	s.check("maas_vm_host", vmHost)
	s.check("maas_node_script", nodeScript)
	cleanup()
	s.finish()
}

var cleanups []func()

func deferCleanup(f func()) { cleanups = append(cleanups, f) }

// cleanup removes what a failed check left behind (last created first), so a
// failure in one check does not cascade into name clashes in the next run.
func cleanup() {
	for i := len(cleanups) - 1; i >= 0; i-- {
		cleanups[i]()
	}
}

func zone() error {
	name := "tf-zone-" + sfx
	z, err := c.Zones.Create(&entity.ZoneParams{Name: name, Description: "first"})
	if err != nil {
		return step("Zones.Create", err)
	}
	if z, err = c.Zone.Get(name); err != nil {
		return step("Zone.Get", err)
	}
	if err := all(eq("name", z.Name, name), eq("description", z.Description, "first")); err != nil {
		return err
	}
	renamed := name + "-b"
	if _, err := c.Zone.Update(name, &entity.ZoneParams{Name: renamed, Description: "second"}); err != nil {
		return step("Zone.Update", err)
	}
	if z, err = c.Zone.Get(renamed); err != nil {
		return step("Zone.Get renamed", err)
	}
	if err := eq("description", z.Description, "second"); err != nil {
		return err
	}
	if err := c.Zone.Delete(renamed); err != nil {
		return step("Zone.Delete", err)
	}
	_, err = c.Zone.Get(renamed)
	return gone("Zone.Get", err)
}

func resourcePool() error {
	name := "tf-pool-" + sfx
	p, err := c.ResourcePools.Create(&entity.ResourcePoolParams{Name: name, Description: "first"})
	if err != nil {
		return step("ResourcePools.Create", err)
	}
	if p, err = c.ResourcePool.Get(p.ID); err != nil {
		return step("ResourcePool.Get", err)
	}
	if err := all(eq("name", p.Name, name), eq("description", p.Description, "first")); err != nil {
		return err
	}
	if _, err := c.ResourcePool.Update(p.ID, &entity.ResourcePoolParams{Name: name + "-b", Description: "second"}); err != nil {
		return step("ResourcePool.Update", err)
	}
	// The provider's import and data source look pools up by name.
	if p, err = c.ResourcePool.GetByName(name + "-b"); err != nil {
		return step("ResourcePool.GetByName", err)
	}
	if err := eq("description", p.Description, "second"); err != nil {
		return err
	}
	if err := c.ResourcePool.Delete(p.ID); err != nil {
		return step("ResourcePool.Delete", err)
	}
	_, err = c.ResourcePool.Get(p.ID)
	return gone("ResourcePool.Get", err)
}

func space() error {
	name := "tf-space-" + sfx
	sp, err := c.Spaces.Create(name)
	if err != nil {
		return step("Spaces.Create", err)
	}
	if sp, err = c.Space.Get(sp.ID); err != nil {
		return step("Space.Get", err)
	}
	if err := eq("name", sp.Name, name); err != nil {
		return err
	}
	if _, err := c.Space.Update(sp.ID, name+"-b"); err != nil {
		return step("Space.Update", err)
	}
	if sp, err = c.Space.Get(sp.ID); err != nil {
		return step("Space.Get", err)
	}
	if err := eq("name", sp.Name, name+"-b"); err != nil {
		return err
	}
	if err := c.Space.Delete(sp.ID); err != nil {
		return step("Space.Delete", err)
	}
	_, err = c.Space.Get(sp.ID)
	return gone("Space.Get", err)
}

func fabric() error {
	name := "tf-fabric-" + sfx
	f, err := c.Fabrics.Create(&entity.FabricParams{Name: name})
	if err != nil {
		return step("Fabrics.Create", err)
	}
	if f, err = c.Fabric.Get(f.ID); err != nil {
		return step("Fabric.Get", err)
	}
	if err := eq("name", f.Name, name); err != nil {
		return err
	}
	if len(f.VLANs) != 1 || f.VLANs[0].VID != 0 {
		return fmt.Errorf("a new fabric reads back VLANs %+v, want its untagged VLAN only", f.VLANs)
	}
	if _, err := c.Fabric.Update(f.ID, &entity.FabricParams{Name: name + "-b", ClassType: "10g"}); err != nil {
		return step("Fabric.Update", err)
	}
	if f, err = c.Fabric.Get(f.ID); err != nil {
		return step("Fabric.Get", err)
	}
	if err := all(eq("name", f.Name, name+"-b"), eq("class_type", f.ClassType, "10g")); err != nil {
		return err
	}
	if err := c.Fabric.Delete(f.ID); err != nil {
		return step("Fabric.Delete", err)
	}
	_, err = c.Fabric.Get(f.ID)
	return gone("Fabric.Get", err)
}

// newFabric makes a fabric for a check and removes it at the end of the run.
func newFabric(tag string) (*entity.Fabric, error) {
	f, err := c.Fabrics.Create(&entity.FabricParams{Name: "tf-" + tag + "-" + sfx})
	if err != nil {
		return nil, step("Fabrics.Create", err)
	}
	deferCleanup(func() { _ = c.Fabric.Delete(f.ID) })
	return f, nil
}

func vlan() error {
	f, err := newFabric("vlanfab")
	if err != nil {
		return err
	}
	spName := "tf-vlansp-" + sfx
	sp, err := c.Spaces.Create(spName)
	if err != nil {
		return step("Spaces.Create", err)
	}
	deferCleanup(func() { _ = c.Space.Delete(sp.ID) })
	v, err := c.VLANs.Create(f.ID, &entity.VLANParams{VID: 42, Name: "tf-vlan", MTU: 1500, Space: spName})
	if err != nil {
		return step("VLANs.Create", err)
	}
	// The provider reads by fabric and VID.
	if v, err = c.VLAN.Get(f.ID, 42); err != nil {
		return step("VLAN.Get", err)
	}
	if err := all(eq("vid", v.VID, 42), eq("name", v.Name, "tf-vlan"), eq("mtu", v.MTU, 1500),
		eq("space", v.Space, spName), eq("fabric_id", v.FabricID, f.ID)); err != nil {
		return err
	}
	if _, err := c.VLAN.Update(f.ID, 42, &entity.VLANParams{Name: "tf-vlan-b", Description: "jumbo", MTU: 9000, Space: spName}); err != nil {
		return step("VLAN.Update", err)
	}
	if v, err = c.VLAN.Get(f.ID, 42); err != nil {
		return step("VLAN.Get", err)
	}
	// No description check: MAAS's VLAN view does not render it either.
	if err := all(eq("name", v.Name, "tf-vlan-b"), eq("mtu", v.MTU, 9000)); err != nil {
		return err
	}
	if err := c.VLAN.Delete(f.ID, 42); err != nil {
		return step("VLAN.Delete", err)
	}
	_, err = c.VLAN.Get(f.ID, 42)
	return gone("VLAN.Get", err)
}

func ips(l []net.IP) []string {
	out := make([]string, 0, len(l))
	for _, ip := range l {
		out = append(out, ip.String())
	}
	return out
}

// newSubnet makes a subnet on a fresh fabric, the way the provider's
// maas_subnet does (fabric and vid by id), removed at the end of the run.
func newSubnet(tag, cidr, gw string) (*entity.Subnet, error) {
	f, err := newFabric(tag)
	if err != nil {
		return nil, err
	}
	sn, err := c.Subnets.Create(&entity.SubnetParams{
		CIDR: cidr, Name: "tf-" + tag + "-" + sfx, Fabric: strconv.Itoa(f.ID), VID: 0,
		GatewayIP: gw, RDNSMode: 2, AllowDNS: true, Managed: true,
	})
	if err != nil {
		return nil, step("Subnets.Create", err)
	}
	deferCleanup(func() { _ = c.Subnet.Delete(sn.ID) })
	return sn, nil
}

func subnet() error {
	f, err := newFabric("subnetfab")
	if err != nil {
		return err
	}
	name := "tf-subnet-" + sfx
	// What the provider sends for `dns_servers = ["10.77.0.2", "10.77.0.3"]`:
	// go-querystring encodes a []string as the field repeated.
	sn, err := c.Subnets.Create(&entity.SubnetParams{
		CIDR: "10.77.0.0/24", Name: name, Fabric: strconv.Itoa(f.ID), VID: 0,
		GatewayIP: "10.77.0.1", DNSServers: []string{"10.77.0.2", "10.77.0.3"},
		RDNSMode: 1, AllowDNS: true, AllowProxy: false, Managed: true,
	})
	if err != nil {
		return step("Subnets.Create", err)
	}
	deferCleanup(func() { _ = c.Subnet.Delete(sn.ID) })
	if sn, err = c.Subnet.Get(sn.ID); err != nil {
		return step("Subnet.Get", err)
	}
	if err := all(eq("cidr", sn.CIDR, "10.77.0.0/24"), eq("name", sn.Name, name),
		eq("gateway_ip", sn.GatewayIP.String(), "10.77.0.1"),
		eq("dns_servers", ips(sn.DNSServers), []string{"10.77.0.2", "10.77.0.3"}),
		eq("rdns_mode", sn.RDNSMode, 1), eq("allow_dns", sn.AllowDNS, true),
		eq("allow_proxy", sn.AllowProxy, false), eq("managed", sn.Managed, true),
		eq("vlan.fabric_id", sn.VLAN.FabricID, f.ID)); err != nil {
		return err
	}
	if _, err := c.Subnet.Update(sn.ID, &entity.SubnetParams{
		CIDR: "10.77.0.0/24", Name: name + "-b", Fabric: strconv.Itoa(f.ID),
		GatewayIP: "10.77.0.254", DNSServers: []string{"10.77.0.4", "10.77.0.5", "10.77.0.6"},
		RDNSMode: 2, AllowDNS: false, AllowProxy: true, Managed: true,
	}); err != nil {
		return step("Subnet.Update", err)
	}
	if sn, err = c.Subnet.Get(sn.ID); err != nil {
		return step("Subnet.Get", err)
	}
	if err := all(eq("name", sn.Name, name+"-b"), eq("gateway_ip", sn.GatewayIP.String(), "10.77.0.254"),
		eq("dns_servers", ips(sn.DNSServers), []string{"10.77.0.4", "10.77.0.5", "10.77.0.6"}),
		eq("rdns_mode", sn.RDNSMode, 2), eq("allow_dns", sn.AllowDNS, false),
		eq("allow_proxy", sn.AllowProxy, true)); err != nil {
		return err
	}
	// The provider's data source and import find subnets in the list.
	list, err := c.Subnets.Get()
	if err != nil {
		return step("Subnets.Get", err)
	}
	found := false
	for _, x := range list {
		found = found || x.ID == sn.ID
	}
	if !found {
		return fmt.Errorf("Subnets.Get does not list subnet %d", sn.ID)
	}
	if err := c.Subnet.Delete(sn.ID); err != nil {
		return step("Subnet.Delete", err)
	}
	_, err = c.Subnet.Get(sn.ID)
	return gone("Subnet.Get", err)
}

func ipRange() error {
	sn, err := newSubnet("rangefab", "10.78.0.0/24", "10.78.0.1")
	if err != nil {
		return err
	}
	r, err := c.IPRanges.Create(&entity.IPRangeParams{
		Type: "reserved", Subnet: strconv.Itoa(sn.ID), StartIP: "10.78.0.10", EndIP: "10.78.0.20", Comment: "first",
	})
	if err != nil {
		return step("IPRanges.Create", err)
	}
	if r, err = c.IPRange.Get(r.ID); err != nil {
		return step("IPRange.Get", err)
	}
	if err := all(eq("type", r.Type, "reserved"), eq("start_ip", r.StartIP.String(), "10.78.0.10"),
		eq("end_ip", r.EndIP.String(), "10.78.0.20"), eq("comment", r.Comment, "first"),
		eq("subnet.id", r.Subnet.ID, sn.ID)); err != nil {
		return err
	}
	if _, err := c.IPRange.Update(r.ID, &entity.IPRangeParams{
		Type: "dynamic", Subnet: strconv.Itoa(sn.ID), StartIP: "10.78.0.100", EndIP: "10.78.0.150", Comment: "second",
	}); err != nil {
		return step("IPRange.Update", err)
	}
	if r, err = c.IPRange.Get(r.ID); err != nil {
		return step("IPRange.Get", err)
	}
	if err := all(eq("type", r.Type, "dynamic"), eq("start_ip", r.StartIP.String(), "10.78.0.100"),
		eq("end_ip", r.EndIP.String(), "10.78.0.150"), eq("comment", r.Comment, "second")); err != nil {
		return err
	}
	if err := c.IPRange.Delete(r.ID); err != nil {
		return step("IPRange.Delete", err)
	}
	_, err = c.IPRange.Get(r.ID)
	return gone("IPRange.Get", err)
}

func dnsDomain() error {
	name := "tf" + sfx + ".example"
	d, err := c.Domains.Create(&entity.DomainParams{Name: name, TTL: 300, Authoritative: true})
	if err != nil {
		return step("Domains.Create", err)
	}
	if d, err = c.Domain.Get(d.ID); err != nil {
		return step("Domain.Get", err)
	}
	if err := all(eq("name", d.Name, name), eq("ttl", d.TTL, 300), eq("authoritative", d.Authoritative, true),
		eq("is_default", d.IsDefault, false)); err != nil {
		return err
	}
	if _, err := c.Domain.Update(d.ID, &entity.DomainParams{Name: name, TTL: 600, Authoritative: false}); err != nil {
		return step("Domain.Update", err)
	}
	if d, err = c.Domain.Get(d.ID); err != nil {
		return step("Domain.Get", err)
	}
	if err := all(eq("ttl", d.TTL, 600), eq("authoritative", d.Authoritative, false)); err != nil {
		return err
	}
	if err := c.Domain.Delete(d.ID); err != nil {
		return step("Domain.Delete", err)
	}
	_, err = c.Domain.Get(d.ID)
	return gone("Domain.Get", err)
}

func newDomain(tag string) (*entity.Domain, error) {
	d, err := c.Domains.Create(&entity.DomainParams{Name: tag + sfx + ".example", Authoritative: true})
	if err != nil {
		return nil, step("Domains.Create", err)
	}
	deferCleanup(func() { _ = c.Domain.Delete(d.ID) })
	return d, nil
}

// dnsRecordAddress is maas_dns_record with type A/AAAA: a DNS resource whose
// ip_addresses the region reserves for the user; on destroy the provider
// deletes the resource, then releases each address it had.
func dnsRecordAddress() error {
	if _, err := newSubnet("dnsfab", "10.79.0.0/24", "10.79.0.1"); err != nil {
		return err
	}
	d, err := newDomain("tfa")
	if err != nil {
		return err
	}
	r, err := c.DNSResources.Create(&entity.DNSResourceParams{Name: "www", Domain: d.Name, IPAddresses: "10.79.0.50", AddressTTL: 120})
	if err != nil {
		return step("DNSResources.Create", err)
	}
	if r, err = c.DNSResource.Get(r.ID); err != nil {
		return step("DNSResource.Get", err)
	}
	if len(r.IPAddresses) != 1 {
		return fmt.Errorf("ip_addresses read back %+v, want one", r.IPAddresses)
	}
	if err := all(eq("fqdn", r.FQDN, "www."+d.Name), eq("address_ttl", r.AddressTTL, 120),
		eq("ip_addresses[0].ip", r.IPAddresses[0].IP.String(), "10.79.0.50")); err != nil {
		return err
	}
	if _, err := c.DNSResource.Update(r.ID, &entity.DNSResourceParams{Name: "www", Domain: d.Name, IPAddresses: "10.79.0.50", AddressTTL: 240}); err != nil {
		return step("DNSResource.Update", err)
	}
	if r, err = c.DNSResource.Get(r.ID); err != nil {
		return step("DNSResource.Get", err)
	}
	if err := eq("address_ttl", r.AddressTTL, 240); err != nil {
		return err
	}
	// The provider's delete: read, delete, release every address read.
	if r, err = c.DNSResource.Get(r.ID); err != nil {
		return step("DNSResource.Get", err)
	}
	if err := c.DNSResource.Delete(r.ID); err != nil {
		return step("DNSResource.Delete", err)
	}
	for _, a := range r.IPAddresses {
		if err := c.IPAddresses.Release(&entity.IPAddressesParams{IP: a.IP.String()}); err != nil {
			return step("IPAddresses.Release "+a.IP.String()+" after DNSResource.Delete", err)
		}
	}
	if _, err = c.DNSResource.Get(r.ID); gone("DNSResource.Get", err) != nil {
		return gone("DNSResource.Get", err)
	}
	left, err := c.IPAddresses.Get(&entity.IPAddressesParams{IP: "10.79.0.50"})
	if err != nil {
		return step("IPAddresses.Get", err)
	}
	if len(left) != 0 {
		return fmt.Errorf("10.79.0.50 still reserved after release: %+v", left)
	}
	return nil
}

func dnsRecordTXT() error {
	d, err := newDomain("tft")
	if err != nil {
		return err
	}
	r, err := c.DNSResourceRecords.Create(&entity.DNSResourceRecordParams{RRType: "TXT", RRData: "hello", Name: "note", Domain: d.Name, TTL: 60})
	if err != nil {
		return step("DNSResourceRecords.Create", err)
	}
	if r, err = c.DNSResourceRecord.Get(r.ID); err != nil {
		return step("DNSResourceRecord.Get", err)
	}
	if err := all(eq("rrtype", r.RRType, "TXT"), eq("rrdata", r.RRData, "hello"), eq("fqdn", r.FQDN, "note."+d.Name), eq("ttl", r.TTL, 60)); err != nil {
		return err
	}
	if _, err := c.DNSResourceRecord.Update(r.ID, &entity.DNSResourceRecordParams{RRType: "TXT", RRData: "bye", Name: "note", Domain: d.Name, TTL: 90}); err != nil {
		return step("DNSResourceRecord.Update", err)
	}
	if r, err = c.DNSResourceRecord.Get(r.ID); err != nil {
		return step("DNSResourceRecord.Get", err)
	}
	if err := all(eq("rrdata", r.RRData, "bye"), eq("ttl", r.TTL, 90)); err != nil {
		return err
	}
	if err := c.DNSResourceRecord.Delete(r.ID); err != nil {
		return step("DNSResourceRecord.Delete", err)
	}
	_, err = c.DNSResourceRecord.Get(r.ID)
	return gone("DNSResourceRecord.Get", err)
}

func user() error {
	name := "tfuser" + sfx
	u, err := c.Users.Create(&entity.UserParams{UserName: name, Password: "tf-Pa55word!", Email: name + "@example.com", IsSuperUser: true})
	if err != nil {
		return step("Users.Create", err)
	}
	if u, err = c.User.Get(name); err != nil {
		return step("User.Get", err)
	}
	if err := all(eq("username", u.UserName, name), eq("email", u.Email, name+"@example.com"), eq("is_superuser", u.IsSuperUser, true)); err != nil {
		return err
	}
	// maas_user has no update (every attribute forces a new user).
	if err := c.User.Delete(&entity.UserDeleteParams{UserName: name}); err != nil {
		return step("User.Delete", err)
	}
	_, err = c.User.Get(name)
	return gone("User.Get", err)
}

func device() error {
	z, err := c.Zones.Create(&entity.ZoneParams{Name: "tf-devzone-" + sfx})
	if err != nil {
		return step("Zones.Create", err)
	}
	deferCleanup(func() { _ = c.Zone.Delete(z.Name) })
	name := "tf-device-" + sfx
	d, err := c.Devices.Create(&entity.DeviceCreateParams{
		Hostname: name, Description: "first", MacAddresses: []string{"52:54:00:aa:00:01", "52:54:00:aa:00:02"},
	})
	if err != nil {
		return step("Devices.Create", err)
	}
	if d, err = c.Device.Get(d.SystemID); err != nil {
		return step("Device.Get", err)
	}
	macs := []string{}
	for _, i := range d.InterfaceSet {
		macs = append(macs, i.MACAddress)
	}
	sort.Strings(macs)
	if err := all(eq("hostname", d.Hostname, name), eq("description", d.Description, "first"),
		eq("interface_set[].mac_address", macs, []string{"52:54:00:aa:00:01", "52:54:00:aa:00:02"})); err != nil {
		return err
	}
	if _, err := c.Device.Update(d.SystemID, &entity.DeviceUpdateParams{Hostname: name + "-b", Description: "second", Zone: z.Name}); err != nil {
		return step("Device.Update", err)
	}
	if d, err = c.Device.Get(d.SystemID); err != nil {
		return step("Device.Get", err)
	}
	if err := all(eq("hostname", d.Hostname, name+"-b"), eq("description", d.Description, "second"), eq("zone.name", d.Zone.Name, z.Name)); err != nil {
		return err
	}
	if err := c.Device.Delete(d.SystemID); err != nil {
		return step("Device.Delete", err)
	}
	_, err = c.Device.Get(d.SystemID)
	return gone("Device.Get", err)
}
