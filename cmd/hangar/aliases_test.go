package main

import (
	"reflect"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// az's spellings, shorthands and enum cases send the very request Hangar's own
// spelling sends, and that request holds Hangar's spelling of every enum.
func TestAzSpellingsSendTheSameRequest(t *testing.T) {
	const key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK0 k"
	for _, tt := range []struct {
		name       string
		hangar, az []string
		want       []string // in the body sent
	}{
		{"vm create",
			[]string{"vm", "create", "--name", "web1", "--image", "base", "--ssh-key-value", key, "--attach-data-disk", "d1", "--location", "west", "--size", "medium", "--egress", "none", "--no-wait"},
			[]string{"vm", "create", "-n", "web1", "--image", "base", "--ssh-key-values", key, "--attach-data-disks", "d1", "-l", "west", "--size", "Medium", "--egress", "NONE", "--no-wait"},
			[]string{`"name":"web1"`, `"location":"west"`, `"size":"medium"`, `"egress":"none"`, `"attachDataDisks":["d1"]`}},
		{"image create",
			[]string{"image", "create", "--name", "web", "--os-disk", "d", "--type", "os", "--os-type", "linux", "--os-state", "generalized",
				"--hyperv-generation", "V2", "--architecture", "Arm64", "--provisioning-agent", "nocloud", "--end-of-life", "2030-01-01"},
			[]string{"image", "create", "-n", "web", "--os-disk", "d", "--type", "OS", "--os-type", "Linux", "--os-state", "Generalized",
				"--hyper-v-generation", "v2", "--architecture", "ARM64", "--provisioning-agent", "NoCloud", "--end-of-life-date", "2030-01-01"},
			[]string{`"type":"os"`, `"osType":"linux"`, `"osState":"generalized"`, `"hyperVGeneration":"V2"`, `"architecture":"Arm64"`, `"provisioningAgent":"nocloud"`}},
		{"image update-version",
			[]string{"image", "update-version", "web", "1.0.0", "--end-of-life", "2030-01-01"},
			[]string{"image", "update-version", "web", "1.0.0", "--end-of-life-date", "2030-01-01"},
			[]string{`"endOfLife":"2030-01-01"`}},
		{"image replicate",
			[]string{"image", "replicate", "web", "1.0.0", "--region", "west=2", "--region", "east", "--no-wait"},
			[]string{"image", "replicate", "web", "1.0.0", "-l", "west=2", "--location", "east", "--no-wait"},
			[]string{`"region":"west","replicaCount":2`, `"region":"east"`}},
		{"vm capture",
			[]string{"vm", "capture", "web1", "--image-name", "web", "--os-state", "specialized", "--type", "os"},
			[]string{"vm", "capture", "web1", "--image-name", "web", "--os-state", "Specialized", "--type", "OS"},
			[]string{`"osState":"specialized"`, `"type":"os"`}},
		{"vm run-command",
			[]string{"vm", "run-command", "web1", "--script", "uname"},
			[]string{"vm", "run-command", "web1", "--scripts", "uname"},
			[]string{`"script":"uname"`}},
		{"vm backup",
			[]string{"vm", "backup", "web1", "--name", "bk"},
			[]string{"vm", "backup", "web1", "-n", "bk"},
			[]string{`"name":"bk"`}},
		{"disk generalize",
			[]string{"disk", "generalize", "web-os", "--name", "gen"},
			[]string{"disk", "generalize", "web-os", "-n", "gen"},
			[]string{`"name":"gen"`}},
		{"marketplace publish",
			[]string{"marketplace", "publish", "--urn", "C:O:S:1.0.0", "--image", "web", "--plan", "gold"},
			[]string{"marketplace", "publish", "--urn", "C:O:S:1.0.0", "--image", "web", "--plan-name", "gold"},
			[]string{`"plan":"gold"`}},
		{"tenant create",
			[]string{"tenant", "create", "contoso", "--role", "publisher"},
			[]string{"tenant", "create", "contoso", "--role", "Publisher"},
			[]string{`"role":"publisher"`}},
		{"tenant key create",
			[]string{"tenant", "key", "create", "alice", "--name", "ci"},
			[]string{"tenant", "key", "create", "alice", "-n", "ci"},
			[]string{`"name":"ci"`}},
	} {
		var sent [2][]request
		for i, args := range [][]string{tt.hangar, tt.az} {
			srv := newFakeServer(t, 200, "null")
			if r := runCLI(t, newGlobals(), nil, srv.URL, append(args, "-o", "none")...); r.code != 0 {
				t.Fatalf("%s: %v: exit %d: %s", tt.name, args, r.code, r.stderr)
			}
			sent[i] = srv.sent()
		}
		if len(sent[0]) == 0 || !reflect.DeepEqual(sent[0], sent[1]) {
			t.Errorf("%s: az's spelling sent\n%v\nHangar's\n%v", tt.name, sent[1], sent[0])
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(sent[0][0].body, w) {
				t.Errorf("%s: sent %s, without %s", tt.name, sent[0][0].body, w)
			}
		}
	}
}

// An enum value no spelling matches is refused before any call, naming the values.
func TestBadEnumIsUsageError(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"image", "create", "-n", "w", "--os-disk", "d", "--os-type", "solaris"}, `"--os-type" flag: use linux or windows`},
		{[]string{"image", "create", "-n", "w", "--os-disk", "d", "--hyper-v-generation", "V3"}, "use V1 or V2"},
		{[]string{"vm", "create", "-n", "w", "--image", "i", "--size", "huge"}, "use small, medium or large"},
		{[]string{"disk", "download", "d", "--format", "vmdk-flat"}, "use raw, vhd, vhd-dynamic, vhdx, qcow2, vmdk or ova"},
		{[]string{"tenant", "create", "t", "--role", "root"}, "use user, publisher or admin"},
	} {
		srv := newFakeServer(t, 200, "null")
		r := runCLI(t, newGlobals(), nil, srv.URL, tt.args...)
		if r.code != exitUsage || !strings.Contains(r.stderr, tt.want) || len(srv.sent()) > 0 {
			t.Errorf("%v: exit %d, %q, %d calls; want exit 2 saying %q before any call", tt.args, r.code, r.stderr, len(srv.sent()), tt.want)
		}
	}
}

// Every --name has -n, and every region flag -l, as az's do. hangar serve's
// --region is the exception: -l there would read as --listen.
func TestShorthandsEverywhere(t *testing.T) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for name, short := range map[string]string{"name": "n", "location": "l", "region": "l"} {
			if f := c.Flags().Lookup(name); f != nil && f.Name == name && f.Shorthand != short && c.Name() != "serve" {
				t.Errorf("%s --%s has no -%s", c.CommandPath(), name, short)
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(newRoot(newGlobals()))
}
