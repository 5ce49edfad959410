package main

// The remaining resources: maas_reserved_ip, maas_boot_source(_selection),
// maas_configuration, maas_vm_host and maas_node_script.

import (
	"encoding/json"
	"fmt"
	"sort"

	"github.com/canonical/gomaasclient/entity"
)

func reservedIP() error {
	if _, err := c.ReservedIPs.Get(); err != nil {
		return unserved("ReservedIPs.Get", err)
	}
	sn, err := newSubnet("resfab", "10.81.0.0/24", "10.81.0.1")
	if err != nil {
		return err
	}
	r, err := c.ReservedIPs.Create(&entity.ReservedIPCreateParams{IP: "10.81.0.30", Subnet: sn.ID, MACAddress: "52:54:00:12:34:56", Comment: "first"})
	if err != nil {
		return step("ReservedIPs.Create", err)
	}
	if r, err = c.ReservedIP.Get(r.ID); err != nil {
		return step("ReservedIP.Get", err)
	}
	if err := all(eq("ip", r.IP, "10.81.0.30"), eq("mac_address", r.MACAddress, "52:54:00:12:34:56"),
		eq("comment", r.Comment, "first"), eq("subnet.id", r.Subnet.ID, sn.ID)); err != nil {
		return err
	}
	if _, err := c.ReservedIP.Update(r.ID, &entity.ReservedIPUpdateParams{Comment: "second"}); err != nil {
		return step("ReservedIP.Update", err)
	}
	if r, err = c.ReservedIP.Get(r.ID); err != nil {
		return step("ReservedIP.Get", err)
	}
	if err := eq("comment", r.Comment, "second"); err != nil {
		return err
	}
	if err := c.ReservedIP.Delete(r.ID); err != nil {
		return step("ReservedIP.Delete", err)
	}
	_, err = c.ReservedIP.Get(r.ID)
	return gone("ReservedIP.Get", err)
}

func bootSource() error {
	if keyring == "" {
		return skipf("no -keyring file given")
	}
	url := "http://images.example/tf-" + sfx + "/streams/v1/index.sjson"
	b, err := c.BootSources.Create(&entity.BootSourceParams{URL: url, KeyringFilename: keyring})
	if err != nil {
		return step("BootSources.Create", err)
	}
	if b, err = c.BootSource.Get(b.ID); err != nil {
		return step("BootSource.Get", err)
	}
	if err := all(eq("url", b.URL, url), eq("keyring_filename", b.KeyringFilename, keyring)); err != nil {
		return err
	}
	if _, err := c.BootSource.Update(b.ID, &entity.BootSourceParams{URL: url + "2"}); err != nil {
		return step("BootSource.Update", err)
	}
	if b, err = c.BootSource.Get(b.ID); err != nil {
		return step("BootSource.Get", err)
	}
	if err := eq("url", b.URL, url+"2"); err != nil {
		return err
	}
	if err := c.BootSource.Delete(b.ID); err != nil {
		return step("BootSource.Delete", err)
	}
	_, err = c.BootSource.Get(b.ID)
	return gone("BootSource.Get", err)
}

func sorted(l []string) []string {
	out := append([]string{}, l...)
	sort.Strings(out)
	return out
}

// bootSourceSelection: arches, subarches and labels are lists, sent as
// repeated fields.
func bootSourceSelection() error {
	if keyring == "" {
		return skipf("no -keyring file given")
	}
	b, err := c.BootSources.Create(&entity.BootSourceParams{URL: "http://images.example/tf-sel-" + sfx + "/", KeyringFilename: keyring})
	if err != nil {
		return step("BootSources.Create", err)
	}
	deferCleanup(func() { _ = c.BootSource.Delete(b.ID) })
	s, err := c.BootSourceSelections.Create(b.ID, &entity.BootSourceSelectionParams{
		OS: "ubuntu", Release: "jammy", Arches: []string{"amd64", "arm64"}, Subarches: []string{"*"}, Labels: []string{"*"},
	})
	if err != nil {
		return step("BootSourceSelections.Create", err)
	}
	if s, err = c.BootSourceSelection.Get(b.ID, s.ID); err != nil {
		return step("BootSourceSelection.Get", err)
	}
	if err := all(eq("os", s.OS, "ubuntu"), eq("release", s.Release, "jammy"), eq("arches", sorted(s.Arches), []string{"amd64", "arm64"}),
		eq("subarches", s.Subarches, []string{"*"}), eq("labels", s.Labels, []string{"*"})); err != nil {
		return err
	}
	if _, err := c.BootSourceSelection.Update(b.ID, s.ID, &entity.BootSourceSelectionParams{
		OS: "ubuntu", Release: "noble", Arches: []string{"amd64", "arm64", "ppc64el"}, Subarches: []string{"generic", "hwe-24.04"}, Labels: []string{"*"},
	}); err != nil {
		return step("BootSourceSelection.Update", err)
	}
	if s, err = c.BootSourceSelection.Get(b.ID, s.ID); err != nil {
		return step("BootSourceSelection.Get", err)
	}
	if err := all(eq("release", s.Release, "noble"), eq("arches", sorted(s.Arches), []string{"amd64", "arm64", "ppc64el"}),
		eq("subarches", sorted(s.Subarches), []string{"generic", "hwe-24.04"})); err != nil {
		return err
	}
	if err := c.BootSourceSelection.Delete(b.ID, s.ID); err != nil {
		return step("BootSourceSelection.Delete", err)
	}
	_, err = c.BootSourceSelection.Get(b.ID, s.ID)
	return gone("BootSourceSelection.Get", err)
}

// configuration is maas_configuration: set_config then get_config, which
// the provider json-decodes.
func configuration() error {
	read := func(name string) (interface{}, error) {
		raw, err := c.MAASServer.Get(name)
		if err != nil {
			return nil, step("MAASServer.Get "+name, err)
		}
		var v interface{}
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("get_config %s answered %q, not JSON: %v", name, raw, err)
		}
		return v, nil
	}
	orig, err := read("ntp_servers")
	if err != nil {
		return err
	}
	for _, kv := range [][2]string{{"ntp_servers", "ntp1.example ntp2.example"}, {"upstream_dns", "10.0.0.53 10.0.0.54"}, {"enable_analytics", "false"}} {
		if err := c.MAASServer.Post(kv[0], kv[1]); err != nil {
			return step("MAASServer.Post "+kv[0], err)
		}
	}
	if v, err := read("ntp_servers"); err != nil {
		return err
	} else if err := eq("ntp_servers", v, "ntp1.example ntp2.example"); err != nil {
		return err
	}
	if v, err := read("upstream_dns"); err != nil {
		return err
	} else if err := eq("upstream_dns", v, "10.0.0.53 10.0.0.54"); err != nil {
		return err
	}
	if v, err := read("enable_analytics"); err != nil {
		return err
	} else if err := eq("enable_analytics", v, false); err != nil {
		return err
	}
	if s, ok := orig.(string); ok {
		return step("MAASServer.Post ntp_servers (restore)", c.MAASServer.Post("ntp_servers", s))
	}
	return nil
}

// vmHost replays maas_vm_host without a machine to deploy: register a virsh
// host, read, update, read, refresh, parameters, delete. The host is
// libvirt's built-in test driver (`test:///default`), which virsh opens
// in-process, so no libvirtd is needed.
func vmHost() error {
	if _, err := c.VMHosts.Get(); err != nil {
		return unserved("VMHosts.Get", err)
	}
	name := "tf-vmhost-" + sfx
	h, err := c.VMHosts.Create(&entity.VMHostParams{Type: "virsh", PowerAddress: "test:///default", Name: name,
		Tags: "tf", CPUOverCommitRatio: 2})
	if err != nil {
		return step("VMHosts.Create", err)
	}
	if h, err = c.VMHost.Get(h.ID); err != nil {
		return step("VMHost.Get", err)
	}
	if err := all(eq("name", h.Name, name), eq("type", h.Type, "virsh"), eq("cpu_over_commit_ratio", h.CPUOverCommitRatio, 2.0),
		eq("tags", fmt.Sprint(h.Tags), "[tf]")); err != nil {
		return err
	}
	if h.Total.Cores <= 0 || h.Total.Memory <= 0 {
		return fmt.Errorf("total resources not discovered: %+v", h.Total)
	}
	if _, err := c.VMHost.Update(h.ID, &entity.VMHostParams{Name: name + "-2", MemoryOverCommitRatio: 1.5}); err != nil {
		return step("VMHost.Update", err)
	}
	if h, err = c.VMHost.Get(h.ID); err != nil {
		return step("VMHost.Get", err)
	}
	if err := all(eq("name", h.Name, name+"-2"), eq("memory_over_commit_ratio", h.MemoryOverCommitRatio, 1.5)); err != nil {
		return err
	}
	if _, err := c.VMHost.Refresh(h.ID); err != nil {
		return step("VMHost.Refresh", err)
	}
	p, err := c.VMHost.GetParameters(h.ID)
	if err != nil {
		return step("VMHost.GetParameters", err)
	}
	if err := eq("parameters.power_address", p["power_address"], "test:///default"); err != nil {
		return err
	}
	if err := c.VMHost.Delete(h.ID); err != nil {
		return step("VMHost.Delete", err)
	}
	if _, err := c.VMHost.Get(h.ID); err == nil {
		return fmt.Errorf("VM host %d still readable after delete", h.ID)
	}
	return nil
}

func nodeScript() error {
	if _, err := c.NodeScripts.Get(&entity.NodeScriptReadParams{}); err != nil {
		return unserved("NodeScripts.Get", err)
	}
	no := false
	name := "tf-script-" + sfx
	script := []byte("#!/bin/sh\n# --- Start MAAS 1.0 script metadata ---\n# name: " + name + "\n# script_type: testing\n# --- End MAAS 1.0 script metadata ---\necho hi\n")
	s, err := c.NodeScripts.Create(&entity.NodeScriptParams{Name: name, ScriptType: "testing", Description: "first", Tags: "a,b",
		Destructive: &no, MayReboot: &no, Recommission: &no, ApplyConfiguredNetworking: &no}, script)
	if err != nil {
		return step("NodeScripts.Create", err)
	}
	if s, err = c.NodeScript.Get(name, true); err != nil {
		return step("NodeScript.Get", err)
	}
	if err := all(eq("name", s.Name, name), eq("description", s.Description, "first")); err != nil {
		return err
	}
	if _, err := c.NodeScript.Update(name, &entity.NodeScriptParams{Description: "second"}, script); err != nil {
		return step("NodeScript.Update", err)
	}
	if s, err = c.NodeScript.Get(name, false); err != nil {
		return step("NodeScript.Get", err)
	}
	if err := eq("description", s.Description, "second"); err != nil {
		return err
	}
	if err := c.NodeScript.Delete(name); err != nil {
		return step("NodeScript.Delete", err)
	}
	_, err = c.NodeScript.Get(name, false)
	return gone("NodeScript.Get", err)
}
