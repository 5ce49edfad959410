// Command gomaascompat drives an Ironpool region with Juju's MAAS client
// library, gomaasapi 2.0.0 (Debian golang-github-juju-gomaasapi-dev), doing
// what Juju's MAAS provider does. See compat-tests/go/README.md.
//
//	gomaascompat -url http://127.0.0.1:PORT/MAAS/ -key ADMIN_KEY -user-key USER_KEY
package main

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/juju/gomaasapi"
)

const (
	modelUUID = "6b5f1a0e-0c9d-4d1e-9d6e-0123456789ab"
	// The model that deploys the simulated machine.
	simUUID   = "0d7a9c3e-5b21-4f6a-8e0b-abcdef012345"
	otherUUID = "0f0e0d0c-0b0a-4909-8807-060504030201"
	spaceName = "go-space"
	zoneName  = "go-zone"
	tagName   = "go-tag"
)

type env struct {
	url, key, userKey string
	admin             *raw
	ctrl              gomaasapi.Controller

	spaceID, vlanID     int
	subnetID, subnet2ID int
	machines            []string // system ids, Ready after setup
	macs                []string
	allocated           gomaasapi.Machine
	deployed            string
}

func main() {
	e := &env{}
	flag.StringVar(&e.url, "url", "", "MAAS root URL, e.g. http://127.0.0.1:5240/MAAS/")
	flag.StringVar(&e.key, "key", "", "administrator API key consumer:token:secret")
	flag.StringVar(&e.userKey, "user-key", "", "non-administrator API key (permission checks)")
	flag.Parse()
	if e.url == "" || e.key == "" {
		fmt.Fprintln(os.Stderr, "usage: gomaascompat -url URL -key KEY [-user-key KEY]")
		os.Exit(2)
	}
	s := newSuite()
	defer s.finish()

	apiURL := strings.TrimSuffix(e.url, "/") + "/api/2.0/"
	var err error
	if e.admin, err = newRaw(apiURL, e.key); err != nil {
		fmt.Println("FAIL setup: ", err)
		s.failed++
		return
	}

	connected := checkController(s, e)
	if !connected {
		return
	}
	netOK := s.check("setup: zone, space, fabric, VLAN, subnets, static route, tag via raw API", func() error { return setupNetwork(e) })
	machOK := s.check("setup: three machines registered deployed, released to Ready, with hardware, disks, NIC links", func() error { return setupMachines(e, netOK) })

	checkListings(s, e, netOK)
	checkMachines(s, e, machOK)
	checkAllocation(s, e, machOK && netOK)
	checkDemoSite(s, e)
	checkDeploy(s, e)
	checkOwnerData(s, e)
	checkDevices(s, e, netOK)
	checkFiles(s, e)
	checkPermissions(s, e)
	checkRelease(s, e)
}

// ---------------------------------------------------------------- connecting

func checkController(s *suite, e *env) bool {
	ok := s.check("NewController (GET version/, GET users/?op=whoami)", func() error {
		var err error
		e.ctrl, err = gomaasapi.NewController(gomaasapi.ControllerArgs{BaseURL: e.url, APIKey: e.key})
		return err
	})
	if !ok {
		return false
	}
	s.check("NewController with a versioned URL .../api/2.0/", func() error {
		_, err := gomaasapi.NewController(gomaasapi.ControllerArgs{BaseURL: strings.TrimSuffix(e.url, "/") + "/api/2.0/", APIKey: e.key})
		return err
	})
	s.check("APIVersionInfo: version and subversion strings", func() error {
		v, sub, err := e.ctrl.APIVersionInfo()
		if err != nil {
			return err
		}
		return expect(v != "", "empty version (subversion %q)", sub)
	})
	s.check("Capabilities include what Juju relies on", func() error {
		caps := e.ctrl.Capabilities()
		for _, c := range []string{gomaasapi.NetworkDeploymentUbuntu, gomaasapi.NetworksManagement,
			gomaasapi.StaticIPAddresses, gomaasapi.DevicesManagement, gomaasapi.StorageDeploymentUbuntu} {
			if !caps.Contains(c) {
				return errorf("missing capability %q in %v", c, caps.SortedValues())
			}
		}
		return nil
	})
	s.check("NewController with a wrong key -> IsPermissionError (401 on whoami)", func() error {
		parts := strings.Split(e.key, ":")
		bad := parts[0] + ":" + parts[1] + ":wrongsecret"
		_, err := gomaasapi.NewController(gomaasapi.ControllerArgs{BaseURL: e.url, APIKey: bad})
		return expect(gomaasapi.IsPermissionError(err), "want PermissionError, got %v", err)
	})
	s.check("NewController with API version 1.0 in the URL -> IsUnsupportedVersionError", func() error {
		_, err := gomaasapi.NewController(gomaasapi.ControllerArgs{BaseURL: strings.TrimSuffix(e.url, "/") + "/api/1.0/", APIKey: e.key})
		return expect(gomaasapi.IsUnsupportedVersionError(err), "want UnsupportedVersionError, got %v", err)
	})
	s.check("whoami via raw client is the admin", func() error {
		m, err := decode(e.admin.get("users/", "whoami"))
		if err != nil {
			return err
		}
		return expect(m["is_superuser"] == true && str(m, "username") != "", "whoami: %v", m)
	})
	return true
}

// --------------------------------------------------------------------- setup

func setupNetwork(e *env) error {
	if _, err := e.admin.post("zones/", "", "name", zoneName, "description", "gomaasapi zone"); err != nil {
		return errorf("POST zones/: %v", err)
	}
	sp, err := e.admin.post("spaces/", "", "name", spaceName)
	if err != nil {
		return errorf("POST spaces/: %v", err)
	}
	e.spaceID = num(sp, "id")
	fab, err := e.admin.post("fabrics/", "", "name", "go-fabric")
	if err != nil {
		return errorf("POST fabrics/: %v", err)
	}
	fid := num(fab, "id")
	vlan, err := e.admin.put(fmt.Sprintf("fabrics/%d/vlans/0/", fid), "space", spaceName)
	if err != nil {
		return errorf("PUT fabrics/%d/vlans/0/ space=%s: %v", fid, spaceName, err)
	}
	e.vlanID = num(vlan, "id")
	sn, err := e.admin.post("subnets/", "", "cidr", "10.77.0.0/24", "vlan", fmt.Sprint(e.vlanID),
		"gateway_ip", "10.77.0.1", "dns_servers", "10.77.0.2")
	if err != nil {
		return errorf("POST subnets/ 10.77.0.0/24: %v", err)
	}
	e.subnetID = num(sn, "id")
	sn2, err := e.admin.post("subnets/", "", "cidr", "10.78.0.0/24", "vlan", fmt.Sprint(e.vlanID))
	if err != nil {
		return errorf("POST subnets/ 10.78.0.0/24: %v", err)
	}
	e.subnet2ID = num(sn2, "id")
	if _, err := e.admin.post("static-routes/", "", "source", fmt.Sprint(e.subnetID),
		"destination", fmt.Sprint(e.subnet2ID), "gateway_ip", "10.77.0.254", "metric", "7"); err != nil {
		return errorf("POST static-routes/: %v", err)
	}
	if _, err := e.admin.post("tags/", "", "name", tagName, "comment", "gomaasapi"); err != nil {
		return errorf("POST tags/: %v", err)
	}
	return nil
}

// setupMachines registers machines as already deployed (the only HTTP way to
// a machine that does not wait for commissioning) and releases them: manual
// power releases straight to Ready. Then hardware facts, disks and NIC links.
func setupMachines(e *env, netOK bool) error {
	for i := 1; i <= 3; i++ {
		mac := fmt.Sprintf("52:54:00:77:00:%02x", i)
		m, err := e.admin.post("machines/", "", "architecture", "amd64/generic", "mac_addresses", mac,
			"hostname", fmt.Sprintf("go-node-%d", i), "power_type", "manual", "deployed", "true", "zone", zoneName)
		if err != nil {
			return errorf("POST machines/ deployed=true: %v", err)
		}
		sid := str(m, "system_id")
		if str(m, "status_name") != "Deployed" {
			return errorf("registered machine is %q, want Deployed", str(m, "status_name"))
		}
		if _, err := e.admin.post("machines/"+sid+"/", "release"); err != nil {
			return errorf("POST machines/%s/?op=release: %v", sid, err)
		}
		cpu, mem := "4", "8192"
		if i == 3 {
			cpu, mem = "1", "1024"
		}
		if _, err := e.admin.put("machines/"+sid+"/", "cpu_count", cpu, "memory", mem); err != nil {
			return errorf("PUT machines/%s/ cpu_count memory: %v", sid, err)
		}
		if _, err := e.admin.post("nodes/"+sid+"/blockdevices/", "", "name", "sda", "size", "100G",
			"block_size", "512", "model", "QEMU HARDDISK", "serial", "go-sda-"+sid); err != nil {
			return errorf("POST nodes/%s/blockdevices/ sda: %v", sid, err)
		}
		sdb, err := e.admin.post("nodes/"+sid+"/blockdevices/", "", "name", "sdb", "size", "50G",
			"block_size", "512", "model", "QEMU SSD", "serial", "go-sdb-"+sid)
		if err != nil {
			return errorf("POST nodes/%s/blockdevices/ sdb: %v", sid, err)
		}
		if _, err := e.admin.post(fmt.Sprintf("nodes/%s/blockdevices/%d/", sid, num(sdb, "id")), "add_tag", "tag", "ssd"); err != nil {
			return errorf("add_tag ssd: %v", err)
		}
		if i != 3 {
			if _, err := e.admin.post("tags/"+tagName+"/", "update_nodes", "add", sid); err != nil {
				return errorf("POST tags/%s/?op=update_nodes: %v", tagName, err)
			}
		}
		if netOK {
			ifaces, err := e.admin.getList("nodes/" + sid + "/interfaces/")
			if err != nil || len(ifaces) != 1 {
				return errorf("GET nodes/%s/interfaces/: %v %v", sid, len(ifaces), err)
			}
			iid := num(ifaces[0].(map[string]interface{}), "id")
			ipath := fmt.Sprintf("nodes/%s/interfaces/%d/", sid, iid)
			if _, err := e.admin.put(ipath, "vlan", fmt.Sprint(e.vlanID)); err != nil {
				return errorf("PUT %s vlan: %v", ipath, err)
			}
			if _, err := e.admin.post(ipath, "link_subnet", "mode", "AUTO", "subnet", fmt.Sprint(e.subnetID)); err != nil {
				return errorf("POST %s?op=link_subnet AUTO: %v", ipath, err)
			}
		}
		e.machines = append(e.machines, sid)
		e.macs = append(e.macs, mac)
	}
	return nil
}

// ------------------------------------------------------------------ listings

func checkListings(s *suite, e *env, netOK bool) {
	s.check("Zones(): default and the created zone with description", func() error {
		zones, err := e.ctrl.Zones()
		if err != nil {
			return err
		}
		got := map[string]string{}
		for _, z := range zones {
			got[z.Name()] = z.Description()
		}
		if _, ok := got["default"]; !ok {
			return errorf("no default zone in %v", got)
		}
		return expect(got[zoneName] == "gomaasapi zone", "zones %v", got)
	})
	s.check("Pools(): GET pools/ lists pools or 404s like MAAS", func() error {
		pools, err := e.ctrl.Pools()
		if err != nil {
			return expect(statusOf(err) == 404, "want a list or a 404, got %v", err)
		}
		for _, p := range pools {
			if p.Name() == "default" {
				return nil
			}
		}
		return errorf("no default pool in %d pools", len(pools))
	})
	s.check("Domains(): the default domain", func() error {
		ds, err := e.ctrl.Domains()
		if err != nil {
			return err
		}
		return expect(len(ds) > 0, "no domains")
	})
	s.check("BootResources(): decodes", func() error {
		br, err := e.ctrl.BootResources()
		if err != nil {
			return err
		}
		for _, b := range br {
			if b.Name() == "" || b.Architecture() == "" {
				return errorf("boot resource without name/architecture: %#v", b)
			}
		}
		return nil
	})
	s.need("Tags(): the created tag", netOK, "network setup", func() error {
		tags, err := e.ctrl.Tags()
		if err != nil {
			return err
		}
		for _, t := range tags {
			if t.Name() == tagName {
				return expect(t.Comment() == "gomaasapi", "tag comment %q", t.Comment())
			}
		}
		return errorf("tag %s not listed", tagName)
	})
	s.need("Spaces(): space with its subnet, subnet.Space() is the name, VLAN inline", netOK, "network setup", func() error {
		spaces, err := e.ctrl.Spaces()
		if err != nil {
			return err
		}
		for _, sp := range spaces {
			if sp.Name() != spaceName {
				continue
			}
			if sp.ID() != e.spaceID {
				return errorf("space id %d, want %d", sp.ID(), e.spaceID)
			}
			cidrs := []string{}
			for _, sn := range sp.Subnets() {
				cidrs = append(cidrs, sn.CIDR())
				if sn.CIDR() == "10.77.0.0/24" {
					if sn.Space() != spaceName || sn.ID() != e.subnetID || sn.Gateway() != "10.77.0.1" {
						return errorf("subnet: space %q id %d gateway %q", sn.Space(), sn.ID(), sn.Gateway())
					}
					if sn.VLAN() == nil || sn.VLAN().ID() != e.vlanID || sn.VLAN().Fabric() != "go-fabric" {
						return errorf("subnet VLAN %#v", sn.VLAN())
					}
					if d := sn.DNSServers(); len(d) != 1 || d[0] != "10.77.0.2" {
						return errorf("dns_servers %v", d)
					}
				}
			}
			sort.Strings(cidrs)
			return expect(strings.Join(cidrs, ",") == "10.77.0.0/24,10.78.0.0/24", "space subnets %v", cidrs)
		}
		return errorf("space %s not listed", spaceName)
	})
	s.need("Fabrics(): fabric with its untagged VLAN", netOK, "network setup", func() error {
		fabs, err := e.ctrl.Fabrics()
		if err != nil {
			return err
		}
		for _, f := range fabs {
			if f.Name() != "go-fabric" {
				continue
			}
			for _, v := range f.VLANs() {
				if v.ID() == e.vlanID {
					return expect(v.VID() == 0 && v.MTU() == 1500 && v.Fabric() == "go-fabric" && !v.DHCP(),
						"VLAN vid %d mtu %d fabric %q dhcp %v", v.VID(), v.MTU(), v.Fabric(), v.DHCP())
				}
			}
			return errorf("VLAN %d not in fabric", e.vlanID)
		}
		return errorf("fabric not listed")
	})
	s.need("StaticRoutes(): source/destination subnets, gateway, metric", netOK, "network setup", func() error {
		routes, err := e.ctrl.StaticRoutes()
		if err != nil {
			return err
		}
		for _, r := range routes {
			if r.Source().CIDR() == "10.77.0.0/24" && r.Destination().CIDR() == "10.78.0.0/24" {
				return expect(r.GatewayIP() == "10.77.0.254" && r.Metric() == 7, "route gateway %q metric %d", r.GatewayIP(), r.Metric())
			}
		}
		return errorf("route not listed among %d", len(routes))
	})
}

// ------------------------------------------------------------------ machines

func checkMachines(s *suite, e *env, ok bool) {
	s.need("Machines(SystemIDs): exactly the asked ones, with Juju's fields", ok, "machine setup", func() error {
		ms, err := e.ctrl.Machines(gomaasapi.MachinesArgs{SystemIDs: e.machines[:2]})
		if err != nil {
			return err
		}
		if len(ms) != 2 {
			return errorf("got %d machines", len(ms))
		}
		for _, m := range ms {
			if m.StatusName() != "Ready" || m.CPUCount() != 4 || m.Memory() != 8192 {
				return errorf("%s: status %q cpu %d mem %d", m.SystemID(), m.StatusName(), m.CPUCount(), m.Memory())
			}
			if !strings.HasPrefix(m.Architecture(), "amd64") || m.Zone() == nil || m.Zone().Name() != zoneName {
				return errorf("arch %q zone %v", m.Architecture(), m.Zone())
			}
			if m.FQDN() == "" || m.Hostname() == "" || m.OwnerData() == nil || m.PowerState() == "" {
				return errorf("fqdn %q hostname %q power %q", m.FQDN(), m.Hostname(), m.PowerState())
			}
			if len(m.Tags()) != 1 || m.Tags()[0] != tagName {
				return errorf("tags %v", m.Tags())
			}
			if len(m.BlockDevices()) != 2 || len(m.PhysicalBlockDevices()) != 2 {
				return errorf("block devices %d physical %d", len(m.BlockDevices()), len(m.PhysicalBlockDevices()))
			}
			if len(m.InterfaceSet()) != 1 || m.InterfaceSet()[0].VLAN() == nil {
				return errorf("interfaces %d / no VLAN", len(m.InterfaceSet()))
			}
			if m.BootInterface() == nil {
				return errorf("no boot_interface")
			}
		}
		return nil
	})
	s.need("Machines(Hostnames)", ok, "machine setup", func() error {
		ms, err := e.ctrl.Machines(gomaasapi.MachinesArgs{Hostnames: []string{"go-node-2"}})
		if err != nil {
			return err
		}
		return expect(len(ms) == 1 && ms[0].SystemID() == e.machines[1], "got %d", len(ms))
	})
	s.need("Machines(MACAddresses)", ok, "machine setup", func() error {
		ms, err := e.ctrl.Machines(gomaasapi.MachinesArgs{MACAddresses: []string{strings.ToUpper(e.macs[2])}})
		if err != nil {
			return err
		}
		return expect(len(ms) == 1 && ms[0].SystemID() == e.machines[2], "got %d", len(ms))
	})
	s.need("Machines(Zone, Tags)", ok, "machine setup", func() error {
		ms, err := e.ctrl.Machines(gomaasapi.MachinesArgs{Zone: zoneName, Tags: []string{tagName}})
		if err != nil {
			return err
		}
		return expect(len(ms) == 2, "got %d, want 2", len(ms))
	})
	s.need("Machines(AgentName) of an unused model is empty", ok, "machine setup", func() error {
		ms, err := e.ctrl.Machines(gomaasapi.MachinesArgs{AgentName: otherUUID})
		if err != nil {
			return err
		}
		return expect(len(ms) == 0, "got %d", len(ms))
	})
	s.need("Machine.BlockDevice/PhysicalBlockDevice(id) and tags", ok, "machine setup", func() error {
		ms, err := e.ctrl.Machines(gomaasapi.MachinesArgs{SystemIDs: e.machines[:1]})
		if err != nil || len(ms) != 1 {
			return errorf("%d %v", len(ms), err)
		}
		for _, d := range ms[0].BlockDevices() {
			if ms[0].BlockDevice(d.ID()) == nil || d.Size() == 0 || d.Path() == "" {
				return errorf("device %d: lookup/size/path", d.ID())
			}
			if d.Name() == "sdb" && (len(d.Tags()) == 0 || d.Tags()[len(d.Tags())-1] != "ssd") {
				return errorf("sdb tags %v", d.Tags())
			}
		}
		return nil
	})
}

// ---------------------------------------------------------------- allocation

func findMachine(e *env, sid string) (gomaasapi.Machine, error) {
	ms, err := e.ctrl.Machines(gomaasapi.MachinesArgs{SystemIDs: []string{sid}})
	if err != nil {
		return nil, err
	}
	if len(ms) != 1 {
		return nil, errorf("Machines(id=%s) returned %d", sid, len(ms))
	}
	return ms[0], nil
}

func jujuArgs(e *env) gomaasapi.AllocateMachineArgs {
	sid := fmt.Sprint(e.spaceID)
	return gomaasapi.AllocateMachineArgs{
		Architecture: "amd64",
		MinCPUCount:  2,
		MinMemory:    4096,
		Tags:         []string{tagName},
		Zone:         zoneName,
		Interfaces:   []gomaasapi.InterfaceSpec{{Label: sid, Space: sid}},
		Storage: []gomaasapi.StorageSpec{
			{Label: "root", Size: 50},
			{Label: "vol-1", Size: 20, Tags: []string{"ssd"}},
		},
		AgentName: modelUUID,
		Comment:   "gomaasapi compat",
	}
}

func checkMatches(e *env, m gomaasapi.Machine, cm gomaasapi.ConstraintMatches) error {
	sid := fmt.Sprint(e.spaceID)
	ifs := cm.Interfaces[sid]
	if len(ifs) != 1 || ifs[0] == nil || m.Interface(ifs[0].ID()) == nil {
		return errorf("constraints_by_type.interfaces[%s] = %v", sid, ifs)
	}
	if ifs[0].VLAN() == nil || ifs[0].VLAN().ID() != e.vlanID {
		return errorf("matched interface not on the space's VLAN")
	}
	vol := cm.Storage["vol-1"]
	if len(vol) != 1 || vol[0] == nil {
		return errorf("constraints_by_type.storage[vol-1] = %v", vol)
	}
	bd := m.BlockDevice(vol[0].ID())
	if bd == nil || bd.Name() != "sdb" {
		return errorf("vol-1 matched %v, want sdb", bd)
	}
	if bd.IDPath() == "" && bd.Path() == "" {
		return errorf("vol-1 device has neither id_path nor path")
	}
	root := cm.Storage["root"]
	return expect(len(root) == 1 && root[0] != nil, "constraints_by_type.storage[root] = %v", root)
}

func checkAllocation(s *suite, e *env, ok bool) {
	var dryID string
	s.need("AllocateMachine dry_run with cpu/mem/tags/zone/interfaces(space)/storage: ConstraintMatches, machine stays Ready", ok, "setup", func() error {
		args := jujuArgs(e)
		args.DryRun = true
		m, cm, err := e.ctrl.AllocateMachine(args)
		if err != nil {
			return err
		}
		dryID = m.SystemID()
		if err := checkMatches(e, m, cm); err != nil {
			return err
		}
		again, err := findMachine(e, dryID)
		if err != nil {
			return err
		}
		return expect(again.StatusName() == "Ready", "after dry_run %s is %q", dryID, again.StatusName())
	})
	s.need("AllocateMachine with Juju's constraints: Allocated, ConstraintMatches, hardware characteristics", ok, "setup", func() error {
		m, cm, err := e.ctrl.AllocateMachine(jujuArgs(e))
		if err != nil {
			return err
		}
		if err := checkMatches(e, m, cm); err != nil {
			return err
		}
		if m.StatusName() != "Allocated" || m.CPUCount() < 2 || m.Memory() < 4096 || m.Zone().Name() != zoneName {
			return errorf("status %q cpu %d mem %d zone %q", m.StatusName(), m.CPUCount(), m.Memory(), m.Zone().Name())
		}
		e.allocated = m
		return nil
	})
	allocOK := e.allocated != nil
	s.need("Machines(AgentName) is the model boundary", allocOK, "an allocated machine", func() error {
		ms, err := e.ctrl.Machines(gomaasapi.MachinesArgs{AgentName: modelUUID})
		if err != nil {
			return err
		}
		return expect(len(ms) == 1 && ms[0].SystemID() == e.allocated.SystemID(), "got %d machines", len(ms))
	})
	s.need("Machines(AgentName, SystemIDs) is the intersection", allocOK, "an allocated machine", func() error {
		ms, err := e.ctrl.Machines(gomaasapi.MachinesArgs{AgentName: modelUUID, SystemIDs: e.machines})
		if err != nil {
			return err
		}
		if len(ms) != 1 || ms[0].SystemID() != e.allocated.SystemID() {
			return errorf("got %d machines", len(ms))
		}
		ms, err = e.ctrl.Machines(gomaasapi.MachinesArgs{AgentName: otherUUID, SystemIDs: []string{e.allocated.SystemID()}})
		if err != nil {
			return err
		}
		return expect(len(ms) == 0, "other model sees %d", len(ms))
	})
	s.need("AllocateMachine with no match (cpu 9999) -> 409 -> IsNoMatchError", ok, "setup", func() error {
		_, _, err := e.ctrl.AllocateMachine(gomaasapi.AllocateMachineArgs{MinCPUCount: 9999, AgentName: modelUUID})
		if !gomaasapi.IsNoMatchError(err) {
			return errorf("want NoMatchError, got %v", err)
		}
		return expect(statusOf(err) == 409, "status %d", statusOf(err))
	})
	s.need("AllocateMachine by unknown system_id -> IsNoMatchError", ok, "setup", func() error {
		_, _, err := e.ctrl.AllocateMachine(gomaasapi.AllocateMachineArgs{SystemId: "nosuch"})
		return expect(gomaasapi.IsNoMatchError(err), "want NoMatchError, got %v (status %d)", err, statusOf(err))
	})
	s.need("AllocateMachine with a nonexistent zone -> 4xx error, not a match", ok, "setup", func() error {
		m, _, err := e.ctrl.AllocateMachine(gomaasapi.AllocateMachineArgs{Zone: "no-such-zone"})
		if err == nil {
			return errorf("allocated %s in a missing zone", m.SystemID())
		}
		st := statusOf(err)
		return expect(st == 400 || st == 409, "want 400 (MAAS) or 409, got %v", err)
	})
	s.need("AllocateMachine with a malformed interfaces constraint -> 400", ok, "setup", func() error {
		_, _, err := e.ctrl.AllocateMachine(gomaasapi.AllocateMachineArgs{
			Interfaces: []gomaasapi.InterfaceSpec{{Label: "x", Space: "no-such-space"}}})
		st := statusOf(err)
		return expect(st == 400 || gomaasapi.IsNoMatchError(err), "want 400 (MAAS: unknown space) or no match, got %v", err)
	})
	s.need("AllocateMachine with tags and not_tags excluding each other -> IsNoMatchError", ok, "setup", func() error {
		_, _, err := e.ctrl.AllocateMachine(gomaasapi.AllocateMachineArgs{Tags: []string{tagName}, NotTags: []string{tagName}})
		return expect(gomaasapi.IsNoMatchError(err), "want NoMatchError, got %v", err)
	})
	_ = dryID
}

// ---------------------------------------------------------------------- deploy

func gzipB64(s string) string {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	_, _ = w.Write([]byte(s))
	_ = w.Close()
	return base64.StdEncoding.EncodeToString(b.Bytes())
}

func checkDeploy(s *suite, e *env) {
	ok := e.allocated != nil
	s.need("Machine.Start(user_data gzip+base64, distro_series jammy) -> Deploying", ok, "an allocated machine", func() error {
		err := e.allocated.Start(gomaasapi.StartArgs{
			UserData:     gzipB64("#cloud-config\nruncmd: [echo juju]\n"),
			DistroSeries: "jammy",
			Comment:      "gomaasapi compat",
		})
		if err != nil {
			return err
		}
		e.deployed = e.allocated.SystemID()
		// Start updates the machine from the deploy response; Juju builds
		// its NIC info from that response, so the links must already
		// carry addresses and subnets.
		if st := e.allocated.StatusName(); st != "Deploying" {
			return errorf("deploy response status_name %q, want Deploying", st)
		}
		m, err := findMachine(e, e.deployed)
		if err != nil {
			return err
		}
		if strings.ToLower(strings.TrimSpace(m.StatusName())) != "deploying" {
			return errorf("status %q after deploy", m.StatusName())
		}
		return expect(m.DistroSeries() == "jammy", "distro_series %q", m.DistroSeries())
	})
	// gomaasapi 2.0.0's Start copies only scalar fields (ip_addresses, status,
	// ...) from the deploy response into the machine, not interface_set.
	s.need("deploy response: ip_addresses has the AUTO link's address in the subnet", e.deployed != "", "a deploying machine", func() error {
		ips := e.allocated.IPAddresses()
		return expect(len(ips) == 1 && strings.HasPrefix(ips[0], "10.77.0.") && ips[0] != "10.77.0.1", "ip_addresses %v", ips)
	})
	s.need("deploying machine: links carry ip_address and subnet with space (Juju's NIC info)", e.deployed != "", "a deploying machine", func() error {
		ms, err := e.ctrl.Machines(gomaasapi.MachinesArgs{AgentName: modelUUID, SystemIDs: []string{e.deployed}})
		if err != nil || len(ms) != 1 {
			return errorf("%d %v", len(ms), err)
		}
		return linksHaveAddresses(ms[0])
	})
	s.need("deploy of an unknown machine -> 404 (Machine.Start maps it to BadRequest)", true, "", func() error {
		// Juju's machine objects come from the server; fake one via the
		// lower-level client instead: deploy of a missing machine is 404.
		_, err := e.admin.post("machines/nosuch/", "deploy")
		return expect(statusOf(err) == 404, "want 404, got %v", err)
	})
	// run.sh starts the region as `ironpool demo --machines 1`: a simulated
	// machine (virtual BMC + agent) that commissions itself to Ready and,
	// deployed, reports success over the metadata API like a real one.
	s.check("polling GET machines/?agent_name&id until Deployed (simulated machine)", func() error {
		sid, err := readySimulatedMachine(e)
		if err != nil {
			return err
		}
		// Its own model, so the checks that count modelUUID's machines are unaffected.
		m, _, err := e.ctrl.AllocateMachine(gomaasapi.AllocateMachineArgs{SystemId: sid, AgentName: simUUID})
		if err != nil {
			return errorf("AllocateMachine(system_id=%s): %v", sid, err)
		}
		if err := m.Start(gomaasapi.StartArgs{UserData: gzipB64("#cloud-config\n"), DistroSeries: "jammy"}); err != nil {
			return errorf("Start: %v", err)
		}
		return waitDeployedThenRelease(e, sid, "jammy")
	})
}

// waitDeployedThenRelease polls the simulated machine sid (model simUUID)
// the way Juju does until it is Deployed with the given series, then
// releases it so the next check finds it Ready again.
func waitDeployedThenRelease(e *env, sid, series string) error {
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		ms, err := e.ctrl.Machines(gomaasapi.MachinesArgs{AgentName: simUUID, SystemIDs: []string{sid}})
		if err != nil || len(ms) != 1 {
			return errorf("Machines(agent_name, id): %d %v", len(ms), err)
		}
		switch st := ms[0].StatusName(); st {
		case "Deployed":
			if ms[0].DistroSeries() != series {
				return errorf("deployed distro_series %q, want %q", ms[0].DistroSeries(), series)
			}
			return e.ctrl.ReleaseMachines(gomaasapi.ReleaseMachinesArgs{SystemIDs: []string{sid}})
		case "Deploying":
			time.Sleep(500 * time.Millisecond)
		default:
			return errorf("status %q while polling (%s)", st, ms[0].StatusMessage())
		}
	}
	return errorf("still not Deployed after 90 s")
}

// checkDemoSite checks the site `ironpool demo` builds, the way Juju's
// provider reads it when bootstrapping: series and architectures from boot
// resources, spaces with their subnets, zones, and a machine whose boot NIC
// is linked to a subnet of a space, allocated by a space constraint and
// deployed to a release the demo has images for.
func checkDemoSite(s *suite, e *env) {
	s.check("demo: BootResources() has ubuntu/jammy and ubuntu/noble for amd64/generic", func() error {
		br, err := e.ctrl.BootResources()
		if err != nil {
			return err
		}
		got := map[string]bool{}
		for _, b := range br {
			got[b.Name()+" "+b.Architecture()] = true
		}
		return expect(got["ubuntu/jammy amd64/generic"] && got["ubuntu/noble amd64/generic"], "boot resources %v", got)
	})
	s.check("demo: Spaces() public (10.20.0.0/24) and storage (10.30.0.0/24 on VLAN 30, MTU 9000)", func() error {
		spaces, err := e.ctrl.Spaces()
		if err != nil {
			return err
		}
		found := 0
		for _, sp := range spaces {
			for _, sn := range sp.Subnets() {
				switch {
				case sp.Name() == "public" && sn.CIDR() == "10.20.0.0/24":
					if sn.Gateway() != "10.20.0.1" || len(sn.DNSServers()) != 1 {
						return errorf("pxe subnet gateway %q dns %v", sn.Gateway(), sn.DNSServers())
					}
					found++
				case sp.Name() == "storage" && sn.CIDR() == "10.30.0.0/24":
					if sn.VLAN() == nil || sn.VLAN().VID() != 30 || sn.VLAN().MTU() != 9000 {
						return errorf("storage subnet VLAN %#v", sn.VLAN())
					}
					found++
				}
			}
		}
		return expect(found == 2, "found %d of the 2 demo subnets in their spaces", found)
	})
	s.check("demo: Zones() has az1 and az2; the boot VLAN serves DHCP", func() error {
		zones, err := e.ctrl.Zones()
		if err != nil {
			return err
		}
		names := map[string]bool{}
		for _, z := range zones {
			names[z.Name()] = true
		}
		if !names["az1"] || !names["az2"] {
			return errorf("zones %v", names)
		}
		fabrics, err := e.ctrl.Fabrics()
		if err != nil {
			return err
		}
		for _, f := range fabrics {
			for _, v := range f.VLANs() {
				if v.VID() == 0 && f.Name() == "demo" {
					return expect(v.DHCP(), "the demo fabric's untagged VLAN has DHCP off")
				}
			}
		}
		return errorf("no fabric named demo with an untagged VLAN")
	})
	s.check("demo: Juju-style allocate by space, deploy noble, address on the boot subnet, release", func() error {
		sid, err := readySimulatedMachine(e)
		if err != nil {
			return err
		}
		m, matches, err := e.ctrl.AllocateMachine(gomaasapi.AllocateMachineArgs{
			SystemId:   sid,
			AgentName:  simUUID,
			Zone:       "default",
			Interfaces: []gomaasapi.InterfaceSpec{{Label: "pxe", Space: "public"}},
		})
		if err != nil {
			return errorf("AllocateMachine(space public): %v", err)
		}
		ifs := matches.Interfaces["pxe"]
		if len(ifs) != 1 {
			return errorf("constraint matches %v", matches.Interfaces)
		}
		linked := false
		for _, l := range ifs[0].Links() {
			if l.Subnet() != nil && l.Subnet().CIDR() == "10.20.0.0/24" && l.Subnet().Space() == "public" && l.Mode() == "auto" {
				linked = true
			}
		}
		if !linked {
			return errorf("matched interface %s has no AUTO link to 10.20.0.0/24 in space public", ifs[0].Name())
		}
		if err := m.Start(gomaasapi.StartArgs{UserData: gzipB64("#cloud-config\n"), DistroSeries: "noble"}); err != nil {
			return errorf("Start(noble): %v", err)
		}
		ips := m.IPAddresses()
		if len(ips) == 0 || !strings.HasPrefix(ips[0], "10.20.0.") {
			return errorf("ip_addresses after deploy %v", ips)
		}
		return waitDeployedThenRelease(e, sid, "noble")
	})
}

// readySimulatedMachine waits for a machine with power_type virtual (the
// demo's simulated machines) to finish commissioning.
func readySimulatedMachine(e *env) (string, error) {
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		list, err := e.admin.getList("machines/")
		if err != nil {
			return "", err
		}
		for _, item := range list {
			m := item.(map[string]interface{})
			if str(m, "power_type") == "virtual" && str(m, "status_name") == "Ready" {
				return str(m, "system_id"), nil
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
	return "", errorf("no simulated (power_type virtual) machine reached Ready in 90 s; is the region running `ironpool demo --machines 1`?")
}

func linksHaveAddresses(m gomaasapi.Machine) error {
	n := 0
	for _, iface := range m.InterfaceSet() {
		for _, l := range iface.Links() {
			n++
			if l.Subnet() == nil {
				return errorf("link %d without subnet", l.ID())
			}
			if !strings.HasPrefix(l.IPAddress(), "10.77.0.") || l.IPAddress() == "10.77.0.1" || l.IPAddress() == "10.77.0.2" {
				return errorf("link %d mode %q ip %q", l.ID(), l.Mode(), l.IPAddress())
			}
			if l.Subnet().Space() != spaceName {
				return errorf("link subnet space %q", l.Subnet().Space())
			}
		}
	}
	return expect(n > 0, "no links")
}

// ----------------------------------------------------------------- owner data

func checkOwnerData(s *suite, e *env) {
	ok := e.allocated != nil
	s.need("SetOwnerData merges; OwnerData reads back; empty value deletes", ok, "an allocated machine", func() error {
		m, err := findMachine(e, e.allocated.SystemID())
		if err != nil {
			return err
		}
		if err := m.SetOwnerData(map[string]string{"juju-model-uuid": modelUUID, "juju-is-controller": "true", "juju-controller-uuid": otherUUID}); err != nil {
			return err
		}
		if err := m.SetOwnerData(map[string]string{"juju-controller-uuid": "", "extra": "x"}); err != nil {
			return err
		}
		want := map[string]string{"juju-model-uuid": modelUUID, "juju-is-controller": "true", "extra": "x"}
		if got := m.OwnerData(); fmt.Sprint(got) != fmt.Sprint(want) {
			return errorf("OwnerData after set %v, want %v", got, want)
		}
		again, err := findMachine(e, e.allocated.SystemID())
		if err != nil {
			return err
		}
		return expect(fmt.Sprint(again.OwnerData()) == fmt.Sprint(want), "reloaded %v", again.OwnerData())
	})
	s.need("Machines(OwnerData) client-side filter (ControllerInstances)", ok, "an allocated machine", func() error {
		ms, err := e.ctrl.Machines(gomaasapi.MachinesArgs{OwnerData: map[string]string{"juju-is-controller": "true"}})
		if err != nil {
			return err
		}
		return expect(len(ms) == 1 && ms[0].SystemID() == e.allocated.SystemID(), "got %d", len(ms))
	})
}

// ------------------------------------------------------------------- devices

func checkDevices(s *suite, e *env, netOK bool) {
	ok := e.allocated != nil && netOK
	var dev gomaasapi.Device
	const mac = "52:54:00:77:10:01"
	s.need("Machine.CreateDevice(eth0, MAC, subnet): one interface, STATIC link with an address", ok, "an allocated machine and a subnet", func() error {
		m, err := findMachine(e, e.allocated.SystemID())
		if err != nil {
			return err
		}
		var subnet gomaasapi.Subnet
		spaces, err := e.ctrl.Spaces()
		if err != nil {
			return err
		}
		for _, sp := range spaces {
			for _, sn := range sp.Subnets() {
				if sn.ID() == e.subnetID {
					subnet = sn
				}
			}
		}
		if subnet == nil {
			return errorf("subnet %d not found through Spaces()", e.subnetID)
		}
		dev, err = m.CreateDevice(gomaasapi.CreateMachineDeviceArgs{
			Hostname: "juju-0-lxd-0", InterfaceName: "eth0", MACAddress: mac, Subnet: subnet,
		})
		if err != nil {
			return err
		}
		if dev.Parent() != m.SystemID() {
			return errorf("parent %q", dev.Parent())
		}
		// CreateDevice returns the device as created; reload like Juju does.
		ds, err := e.ctrl.Devices(gomaasapi.DevicesArgs{SystemIDs: []string{dev.SystemID()}})
		if err != nil || len(ds) != 1 {
			return errorf("Devices(id) %d %v", len(ds), err)
		}
		dev = ds[0]
		ifs := dev.InterfaceSet()
		if len(ifs) != 1 || ifs[0].Name() != "eth0" || !strings.EqualFold(ifs[0].MACAddress(), mac) {
			return errorf("interfaces %d", len(ifs))
		}
		if ifs[0].VLAN() == nil || ifs[0].VLAN().ID() != e.vlanID {
			return errorf("device interface VLAN %v", ifs[0].VLAN())
		}
		links := ifs[0].Links()
		if len(links) != 1 || strings.ToLower(links[0].Mode()) != "static" || links[0].Subnet() == nil ||
			!strings.HasPrefix(links[0].IPAddress(), "10.77.0.") {
			return errorf("links %v", links)
		}
		return nil
	})
	devOK := dev != nil
	s.need("Machine.Devices() lists the container device", devOK, "a device", func() error {
		m, err := findMachine(e, e.allocated.SystemID())
		if err != nil {
			return err
		}
		ds, err := m.Devices(gomaasapi.DevicesArgs{Hostname: []string{"juju-0-lxd-0"}})
		if err != nil {
			return err
		}
		return expect(len(ds) == 1 && ds[0].SystemID() == dev.SystemID(), "got %d", len(ds))
	})
	s.need("Devices(MACAddresses) matches interface MACs case-insensitively", devOK, "a device", func() error {
		ds, err := e.ctrl.Devices(gomaasapi.DevicesArgs{MACAddresses: []string{strings.ToUpper(mac)}})
		if err != nil {
			return err
		}
		return expect(len(ds) == 1 && ds[0].SystemID() == dev.SystemID(), "got %d", len(ds))
	})
	s.need("Device.CreateInterface(eth1, VLAN) + LinkSubnet(STATIC, explicit IP)", devOK, "a device", func() error {
		vlan := dev.InterfaceSet()[0].VLAN()
		iface, err := dev.CreateInterface(gomaasapi.CreateInterfaceArgs{Name: "eth1", MACAddress: "52:54:00:77:10:02", VLAN: vlan})
		if err != nil {
			return err
		}
		sub := dev.InterfaceSet()[0].Links()[0].Subnet()
		if err := iface.LinkSubnet(gomaasapi.LinkSubnetArgs{Mode: gomaasapi.LinkModeStatic, Subnet: sub, IPAddress: "10.77.0.200"}); err != nil {
			return err
		}
		l := iface.Links()
		return expect(len(l) == 1 && l[0].IPAddress() == "10.77.0.200", "links %v", l)
	})
	s.need("LinkSubnet with an address outside the subnet -> IsBadRequestError", devOK, "a device", func() error {
		ds, err := e.ctrl.Devices(gomaasapi.DevicesArgs{SystemIDs: []string{dev.SystemID()}})
		if err != nil || len(ds) != 1 {
			return errorf("%d %v", len(ds), err)
		}
		iface := ds[0].InterfaceSet()[0]
		sub := iface.Links()[0].Subnet()
		err = iface.LinkSubnet(gomaasapi.LinkSubnetArgs{Mode: gomaasapi.LinkModeStatic, Subnet: sub, IPAddress: "192.0.2.1"})
		return expect(gomaasapi.IsBadRequestError(err), "want BadRequestError, got %v", err)
	})
	s.need("controller CreateDevice with an invalid MAC -> IsBadRequestError", true, "", func() error {
		d, err := e.ctrl.CreateDevice(gomaasapi.CreateDeviceArgs{Hostname: "bad-mac", MACAddresses: []string{"not-a-mac"}})
		if err == nil {
			_ = d.Delete()
		}
		return expect(gomaasapi.IsBadRequestError(err), "want BadRequestError, got %v", err)
	})
	s.need("Device.Delete; Devices(MAC) empty; second Delete -> IsNoMatchError", devOK, "a device", func() error {
		if err := dev.Delete(); err != nil {
			return err
		}
		ds, err := e.ctrl.Devices(gomaasapi.DevicesArgs{MACAddresses: []string{mac}})
		if err != nil || len(ds) != 0 {
			return errorf("after delete %d %v", len(ds), err)
		}
		err = dev.Delete()
		return expect(gomaasapi.IsNoMatchError(err), "want NoMatchError, got %v", err)
	})
}

// ---------------------------------------------------------------------- files

func checkFiles(s *suite, e *env) {
	name := modelUUID + "-provider-state"
	content := []byte("state-instances:\n- abc\n\x00\xff binary")
	var added bool
	s.check("AddFile (multipart) + Files(prefix) strips nothing, lists exactly the model's files", func() error {
		if err := e.ctrl.AddFile(gomaasapi.AddFileArgs{Filename: name, Content: content}); err != nil {
			return err
		}
		if err := e.ctrl.AddFile(gomaasapi.AddFileArgs{Filename: otherUUID + "-x", Content: []byte("x")}); err != nil {
			return err
		}
		added = true
		fs, err := e.ctrl.Files(modelUUID + "-")
		if err != nil {
			return err
		}
		return expect(len(fs) == 1 && fs[0].Filename() == name, "Files(prefix) = %d files", len(fs))
	})
	s.need("GetFile + ReadAll returns the bytes", added, "an uploaded file", func() error {
		f, err := e.ctrl.GetFile(name)
		if err != nil {
			return err
		}
		b, err := f.ReadAll()
		if err != nil {
			return err
		}
		return expect(bytes.Equal(b, content), "ReadAll = %q", b)
	})
	s.need("AddFile with the same name replaces the content", added, "an uploaded file", func() error {
		content = []byte("replaced")
		if err := e.ctrl.AddFile(gomaasapi.AddFileArgs{Filename: name, Reader: bytes.NewReader(content), Length: int64(len(content))}); err != nil {
			return err
		}
		f, err := e.ctrl.GetFile(name)
		if err != nil {
			return err
		}
		b, err := f.ReadAll()
		if err != nil {
			return err
		}
		return expect(bytes.Equal(b, content), "ReadAll = %q", b)
	})
	s.need("AnonymousURL fetched without credentials", added, "an uploaded file", func() error {
		f, err := e.ctrl.GetFile(name)
		if err != nil {
			return err
		}
		u := f.AnonymousURL()
		resp, err := http.Get(u)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			return errorf("GET %s: %s %s", u, resp.Status, b)
		}
		return expect(bytes.Equal(b, content), "anonymous GET %s = %q", u, b)
	})
	s.need("File.Delete, then GetFile -> IsNoMatchError and Delete -> IsNoMatchError", added, "an uploaded file", func() error {
		f, err := e.ctrl.GetFile(name)
		if err != nil {
			return err
		}
		if err := f.Delete(); err != nil {
			return err
		}
		if _, err := e.ctrl.GetFile(name); !gomaasapi.IsNoMatchError(err) {
			return errorf("GetFile after delete: want NoMatchError, got %v", err)
		}
		err = f.Delete()
		return expect(gomaasapi.IsNoMatchError(err), "second Delete: want NoMatchError, got %v", err)
	})
	s.check("GetFile of a never-uploaded name -> IsNoMatchError (Juju: not bootstrapped)", func() error {
		_, err := e.ctrl.GetFile("no-such-file")
		return expect(gomaasapi.IsNoMatchError(err), "want NoMatchError, got %v", err)
	})
}

// ----------------------------------------------------------------- permissions

func checkPermissions(s *suite, e *env) {
	if e.userKey == "" {
		s.skip("permission checks with a non-admin key", "no -user-key given")
		return
	}
	var user gomaasapi.Controller
	ok := s.check("NewController with the non-admin key", func() error {
		var err error
		user, err = gomaasapi.NewController(gomaasapi.ControllerArgs{BaseURL: e.url, APIKey: e.userKey})
		return err
	})
	if !ok {
		return
	}
	alloc := e.allocated != nil
	s.need("non-admin does not see the admin's allocated machine", alloc, "an allocated machine", func() error {
		ms, err := user.Machines(gomaasapi.MachinesArgs{AgentName: modelUUID})
		if err != nil {
			return err
		}
		return expect(len(ms) == 0, "non-admin sees %d of the admin's machines", len(ms))
	})
	s.need("non-admin ReleaseMachines of the admin's machine -> IsPermissionError (403)", alloc, "an allocated machine", func() error {
		err := user.ReleaseMachines(gomaasapi.ReleaseMachinesArgs{SystemIDs: []string{e.allocated.SystemID()}})
		return expect(gomaasapi.IsPermissionError(err), "want PermissionError, got %v (status %d)", err, statusOf(err))
	})
	s.check("non-admin Device.Delete of the admin's device -> IsPermissionError or invisible", func() error {
		d, err := e.ctrl.CreateDevice(gomaasapi.CreateDeviceArgs{Hostname: "admins-dev", MACAddresses: []string{"52:54:00:77:20:01"}})
		if err != nil {
			return errorf("admin CreateDevice: %v", err)
		}
		defer d.Delete()
		ds, err := user.Devices(gomaasapi.DevicesArgs{Hostname: []string{"admins-dev"}})
		if err != nil {
			return err
		}
		if len(ds) == 0 {
			return nil // not visible to the user at all: as good as forbidden
		}
		err = ds[0].Delete()
		return expect(gomaasapi.IsPermissionError(err), "want PermissionError, got %v", err)
	})
	s.check("non-admin GetFile of the admin's file -> IsNoMatchError (files are per owner)", func() error {
		if err := e.ctrl.AddFile(gomaasapi.AddFileArgs{Filename: "admin-only", Content: []byte("a")}); err != nil {
			return err
		}
		_, err := user.GetFile("admin-only")
		return expect(gomaasapi.IsNoMatchError(err), "want NoMatchError, got %v", err)
	})
}

// ------------------------------------------------------------------- release

func checkRelease(s *suite, e *env) {
	ok := e.allocated != nil
	s.check("ReleaseMachines with an unknown id -> IsBadRequestError (400)", func() error {
		err := e.ctrl.ReleaseMachines(gomaasapi.ReleaseMachinesArgs{SystemIDs: []string{"nosuch"}})
		return expect(gomaasapi.IsBadRequestError(err), "want BadRequestError, got %v (status %d)", err, statusOf(err))
	})
	s.need("ReleaseMachines(ids, comment): Ready, agent_name and owner_data cleared", ok, "an allocated machine", func() error {
		sid := e.allocated.SystemID()
		err := e.ctrl.ReleaseMachines(gomaasapi.ReleaseMachinesArgs{SystemIDs: []string{sid}, Comment: "Released by Juju MAAS provider"})
		if err != nil {
			return err
		}
		m, err := findMachine(e, sid)
		if err != nil {
			return err
		}
		if m.StatusName() != "Ready" {
			return errorf("status %q after release", m.StatusName())
		}
		if len(m.OwnerData()) != 0 {
			return errorf("owner_data %v after release", m.OwnerData())
		}
		ms, err := e.ctrl.Machines(gomaasapi.MachinesArgs{AgentName: modelUUID})
		if err != nil {
			return err
		}
		return expect(len(ms) == 0, "agent_name filter still returns %d", len(ms))
	})
	s.need("ReleaseMachines of a Ready machine -> success or 409 (IsCannotCompleteError, Juju: already released)", ok, "machine setup", func() error {
		err := e.ctrl.ReleaseMachines(gomaasapi.ReleaseMachinesArgs{SystemIDs: []string{e.allocated.SystemID()}})
		return expect(err == nil || gomaasapi.IsCannotCompleteError(err), "want nil or CannotCompleteError, got %v (status %d)", err, statusOf(err))
	})
	s.need("allocate two and release both in one call", ok, "allocation", func() error {
		var ids []string
		for i := 0; i < 2; i++ {
			m, _, err := e.ctrl.AllocateMachine(gomaasapi.AllocateMachineArgs{AgentName: modelUUID, Tags: []string{tagName}})
			if err != nil {
				return errorf("allocation %d: %v", i, err)
			}
			ids = append(ids, m.SystemID())
		}
		if err := e.ctrl.ReleaseMachines(gomaasapi.ReleaseMachinesArgs{SystemIDs: ids}); err != nil {
			return err
		}
		ms, err := e.ctrl.Machines(gomaasapi.MachinesArgs{SystemIDs: ids})
		if err != nil {
			return err
		}
		for _, m := range ms {
			if m.StatusName() != "Ready" {
				return errorf("%s is %q", m.SystemID(), m.StatusName())
			}
		}
		return expect(len(ms) == 2, "got %d", len(ms))
	})
}
