package agent

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/hangarvm/hangar/internal/generalize/gentest"
	"github.com/hangarvm/hangar/internal/provision"
)

// generalizeFixture adds to the fake guest one file for every rule of the policy,
// and files the policy must keep: path, mode, owner, content ("->" makes a symlink).
var generalizeFixture = []struct {
	path     string
	mode     fs.FileMode
	uid, gid int
	data     string
}{
	{"/etc/resolv.conf", 0o644, 0, 0, "nameserver 10.0.0.2\n"},
	{"/etc/passwd-", 0o600, 0, 0, "root:x:0:0:root:/root:/bin/bash\nbob:x:1000:1000:Bob:/home/bob:/bin/bash\n"},
	{"/var/lib/dbus/machine-id", 0o444, 0, 0, "0123456789abcdef0123456789abcdef\n"},
	{"/var/lib/systemd/random-seed", 0o600, 0, 0, "seed"},
	{"/var/lib/dhclient/dhclient.leases", 0o644, 0, 0, "lease {}\n"},
	{"/var/lib/dhcp/dhclient.eth0.leases", 0o644, 0, 0, "lease {}\n"},
	{"/var/lib/dhcpcd/eth0.lease", 0o644, 0, 0, "lease"},
	{"/var/lib/dhcpcd/duid", 0o644, 0, 0, "duid"},
	{"/run/systemd/netif/leases/2", 0o644, 0, 0, "ADDRESS=10.0.0.5\n"},
	{"/var/lib/NetworkManager/internal-1234-eth0.lease", 0o644, 0, 0, "ADDRESS=10.0.0.5\n"},
	{"/var/lib/NetworkManager/NetworkManager.state", 0o644, 0, 0, "[main]\n"},
	{"/var/lib/cloud/instance", 0, 0, 0, "->/var/lib/cloud/instances/i-1"},
	{"/var/lib/cloud/instances/i-1/obj.pkl", 0o600, 0, 0, "pickle"},
	{"/var/lib/cloud/data/instance-id", 0o644, 0, 0, "i-1\n"},
	{"/var/lib/cloud/sem/config_scripts_per_once.once", 0o644, 0, 0, ""},
	{"/var/lib/cloud/seed/nocloud/meta-data", 0o644, 0, 0, "instance-id: seed\n"},
	{"/var/log/syslog", 0o640, 0, 4, "Nov 26 vm1 sshd: accepted\n"},
	{"/var/log/syslog.1", 0o640, 0, 4, "older\n"},
	{"/var/log/syslog.2.gz", 0o640, 0, 4, "\x1f\x8b"},
	{"/var/log/messages-20240101", 0o600, 0, 0, "old\n"},
	{"/var/log/empty.log", 0o644, 0, 0, ""},
	{"/var/log/wtmp", 0o664, 0, 43, "utmp records"},
	{"/var/log/apt/history.log", 0o644, 0, 0, "Start-Date: 2026-11-26\n"},
	{"/var/log/journal/0123456789abcdef0123456789abcdef/system.journal", 0o640, 0, 0, "LPKSHHRH"},
	{"/var/log/README", 0, 0, 0, "->../../usr/share/doc/systemd/README.logs"},
	{"/root/.bash_history", 0o600, 0, 0, "sudo -i\n"},
	{"/root/.ash_history", 0o600, 0, 0, "ls\n"},
	{"/root/.profile", 0o644, 0, 0, "# profile\n"},
	{"/home/bob/.bash_history", 0o600, 1000, 1000, "ls\n"},
	{"/home/bob/.zsh_history", 0o600, 1000, 1000, "ls\n"},
	{"/home/bob/notes.txt", 0o644, 1000, 1000, "keep me\n"},
	{"/tmp/a", 0o644, 0, 0, "a"},
	{"/tmp/dir/b", 0o644, 1000, 1000, "b"},
	{"/tmp/.X11-unix/X0", 0o644, 0, 0, ""},
	{"/var/tmp/c", 0o644, 0, 0, "c"},
}

// addGeneralizeFixture writes generalizeFixture into the fake guest.
func (e *env) addGeneralizeFixture() {
	e.t.Helper()
	for _, f := range generalizeFixture {
		full := e.rootPath(f.path)
		if err := os.MkdirAll(full[:strings.LastIndex(full, "/")], 0o755); err != nil {
			e.t.Fatal(err)
		}
		if target, ok := strings.CutPrefix(f.data, "->"); ok {
			if err := os.Symlink(target, full); err != nil {
				e.t.Fatal(err)
			}
			continue
		}
		e.write(f.path, f.data, f.mode)
		if err := os.Chown(full, f.uid, f.gid); err != nil {
			e.t.Fatal(err)
		}
	}
	for _, d := range []struct {
		path     string
		mode     fs.FileMode
		uid, gid int
	}{{"/tmp", 0o1777, 0, 0}, {"/var/tmp", 0o1777, 0, 0}, {"/home/bob", 0o750, 1000, 1000}} {
		os.Chmod(e.rootPath(d.path), d.mode)
		os.Chown(e.rootPath(d.path), d.uid, d.gid)
	}
}

// provisionWith provisions the fake guest from c and fails the test unless ready.
func (e *env) provisionWith(c provision.Config) {
	e.t.Helper()
	e.attach(c)
	if got := e.agent().Boot(); got.Type != TypeReady {
		e.t.Fatalf("provisioning: %s", show(got))
	}
	e.removeDevice("vdc")
}

// useradd adds the account name as Debian's `useradd -m` does for waagent and
// cloud-init: its passwd and shadow entries with the next free id, a personal
// group, the membership of groups, and a home from /etc/skel with an authorized key.
func (e *env) useradd(name string, groups ...string) {
	e.t.Helper()
	id := 1000
	for u := range parseColonFile([]byte(e.read("/etc/passwd"))).ids(2) {
		if u >= id && u < 60000 {
			id = u + 1
		}
	}
	// edit appends add to file and name to the member lists (field member) of groups.
	edit := func(file, add string, member int) {
		fi, err := os.Stat(e.rootPath(file))
		if err != nil {
			e.t.Fatal(err)
		}
		var out []string
		for _, line := range strings.Split(strings.TrimSuffix(e.read(file), "\n"), "\n") {
			f := strings.Split(line, ":")
			if member > 0 && slices.Contains(groups, f[0]) && len(f) > member {
				f[member] = strings.Trim(f[member]+","+name, ",")
			}
			out = append(out, strings.Join(f, ":"))
		}
		e.write(file, strings.Join(append(out, add), "\n")+"\n", fi.Mode().Perm())
	}
	edit("/etc/passwd", fmt.Sprintf("%s:x:%d:%d::/home/%s:/bin/bash", name, id, id, name), 0)
	edit("/etc/shadow", name+":$6$salt$hash:20000:0:99999:7:::", 0)
	edit("/etc/group", fmt.Sprintf("%s:x:%d:", name, id), 3)
	edit("/etc/gshadow", name+":!::", 3)
	home := "/home/" + name
	for p, data := range map[string]string{
		home + "/.bashrc":              "# bashrc\n",
		home + "/.config/app.conf":     "x=1\n",
		home + "/.ssh/authorized_keys": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIM7MFQfcHd1ylZUcKQiI8JWtuQRNG3PWlubfBl1oO9T8 me@laptop\n",
	} {
		e.write(p, data, 0o600)
	}
	for _, p := range []string{home, home + "/.bashrc", home + "/.config", home + "/.config/app.conf", home + "/.ssh", home + "/.ssh/authorized_keys"} {
		if err := os.Chown(e.rootPath(p), id, id); err != nil {
			e.t.Fatal(err)
		}
	}
	os.Chmod(e.rootPath(home), 0o700)
}

// waagentSaved is ovf-env.xml as waagent 2.7 saves it in /var/lib/waagent
// (protocol/util.py: the password replaced by "*"), cloudInitSaved as cloud-init
// 22.4's Azure datasource does (DataSourceAzure.write_files: "REDACTED", and
// ElementTree's own namespace prefixes). Both name azureuser.
const (
	waagentSaved   = "testdata/ovf-env-waagent-saved.xml"
	cloudInitSaved = "testdata/ovf-env-cloud-init-saved.xml"
)

func readTestdata(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// azureProvisioned makes the fake guest what waagent, or cloud-init with Azure's
// datasource, leaves after provisioning azureuser on a booted Debian: the saved
// ovf-env.xml (saved, a testdata file), the other state files given, the account
// (uid 1001 on the fixture, in groups) and a systemd machine-id.
func (e *env) azureProvisioned(saved string, state map[string]string, groups ...string) {
	e.t.Helper()
	e.write("/etc/machine-id", "4c4c4544004e3510804cb8c04f4b3332\n", 0o444)
	e.write(waagentDir+"/ovf-env.xml", readTestdata(e.t, saved), 0o600)
	for p, data := range state {
		e.write(p, data, 0o600)
	}
	os.Chmod(e.rootPath(waagentDir), 0o700)
	e.useradd("azureuser", groups...)
}

// waagentState is some of what waagent 2.7 keeps in /var/lib/waagent besides
// ovf-env.xml.
var waagentState = map[string]string{
	waagentDir + "/provisioned":      "",
	waagentDir + "/CustomData":       "I2Nsb3VkLWNvbmZpZwo=\n",
	waagentDir + "/GoalState.1.xml":  "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<GoalState><Incarnation>1</Incarnation></GoalState>\n",
	waagentDir + "/Certificates.pem": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
}

// contentDiff lists the differences between two snapshots as "removed P",
// "added P" and "changed P" lines, sorted; a file changes when its content, mode
// or owner does (times are ignored: directories' change whenever an entry goes).
func contentDiff(a, b map[string]fileInfo) []string {
	var d []string
	for p, x := range a {
		y, ok := b[p]
		switch {
		case !ok:
			d = append(d, "removed "+p)
		case x.mode != y.mode || x.uid != y.uid || x.gid != y.gid || x.data != y.data:
			d = append(d, "changed "+p)
		}
	}
	for p := range b {
		if _, ok := a[p]; !ok {
			d = append(d, "added "+p)
		}
	}
	sort.Strings(d)
	return d
}

// Expected changes, by group.
var (
	generalChanges = []string{
		"changed /etc/hostname", "changed /etc/machine-id",
		"changed /var/log/apt/history.log", "changed /var/log/syslog", "changed /var/log/wtmp",
		"removed /home/bob/.bash_history", "removed /home/bob/.zsh_history",
		"removed /root/.ash_history", "removed /root/.bash_history",
		"removed /run/systemd/netif/leases/2",
		"removed /tmp/.X11-unix", "removed /tmp/.X11-unix/X0", "removed /tmp/a", "removed /tmp/dir", "removed /tmp/dir/b",
		"removed /var/lib/NetworkManager/internal-1234-eth0.lease",
		"removed /var/lib/cloud/data", "removed /var/lib/cloud/data/instance-id",
		"removed /var/lib/cloud/instance",
		"removed /var/lib/cloud/instances", "removed /var/lib/cloud/instances/i-1", "removed /var/lib/cloud/instances/i-1/obj.pkl",
		"removed /var/lib/cloud/sem", "removed /var/lib/cloud/sem/config_scripts_per_once.once",
		"removed /var/lib/dbus/machine-id",
		"removed /var/lib/dhclient/dhclient.leases", "removed /var/lib/dhcp/dhclient.eth0.leases",
		"removed /var/lib/dhcpcd/duid", "removed /var/lib/dhcpcd/eth0.lease",
		"removed /var/lib/hangar-agent/instance-id", "removed /var/lib/hangar-agent/ovf-env.xml",
		"removed /var/lib/systemd/random-seed",
		"removed /var/log/journal/0123456789abcdef0123456789abcdef/system.journal",
		"removed /var/log/messages-20240101", "removed /var/log/syslog.1", "removed /var/log/syslog.2.gz",
		"removed /var/tmp/c",
	}
	aliceHistory = []string{"removed /home/alice/.bash_history"}
	aliceRemoved = []string{
		"changed /etc/group", "changed /etc/gshadow", "changed /etc/passwd", "changed /etc/shadow",
		"removed /etc/ssh/sshd_config.d/00-hangar.conf", "removed /etc/sudoers.d/hangar-alice",
		"removed /home/alice", "removed /home/alice/.bash_history", "removed /home/alice/.bashrc",
		"removed /home/alice/.config", "removed /home/alice/.config/app.conf",
	}
	aliceKeys = []string{"removed /home/alice/.ssh", "removed /home/alice/.ssh/authorized_keys"}
	// Without hangar-agent: no state of its own.
	generalNoAgent = slices.DeleteFunc(slices.Clone(generalChanges), func(s string) bool { return strings.Contains(s, "/hangar-agent/") })
	waagentEmptied = []string{
		"removed /var/lib/waagent/Certificates.pem", "removed /var/lib/waagent/CustomData",
		"removed /var/lib/waagent/GoalState.1.xml", "removed /var/lib/waagent/ovf-env.xml", "removed /var/lib/waagent/provisioned",
	}
	azureuserRemoved = []string{
		"changed /etc/group", "changed /etc/gshadow", "changed /etc/passwd", "changed /etc/shadow",
		"removed /home/azureuser", "removed /home/azureuser/.bashrc",
		"removed /home/azureuser/.config", "removed /home/azureuser/.config/app.conf",
		"removed /home/azureuser/.ssh", "removed /home/azureuser/.ssh/authorized_keys",
	}
)

func join(groups ...[]string) []string {
	var out []string
	for _, g := range groups {
		out = append(out, g...)
	}
	sort.Strings(out)
	return slices.Compact(out)
}

func TestDeprovision(t *testing.T) {
	bob := func(t *testing.T) provision.Config {
		c := keyConfig(t, "i-7")
		c.AdminUsername = "bob"
		return c
	}
	tests := []struct {
		name       string
		removeUser bool
		setup      func(e *env)
		want       []string // contentDiff after deprovisioning
		user       string   // DeprovisionPlan.User
		note       string   // in DeprovisionPlan.Notes
		check      func(e *env, before map[string]fileInfo)
	}{
		{
			name:  "deprovision keeps the user",
			setup: func(e *env) { e.provisionWith(keyConfig(t, "i-1")); e.aliceHistory() },
			want:  join(generalChanges, aliceHistory, []string{"removed /var/lib/hangar-agent/custom-data"}),
			check: func(e *env, before map[string]fileInfo) {
				if !strings.Contains(e.read("/etc/passwd"), "\nalice:") {
					t.Error("alice removed without +user")
				}
			},
		},
		{
			name:       "deprovision+user after key provisioning",
			removeUser: true,
			setup:      func(e *env) { e.provisionWith(keyConfig(t, "i-1")); e.aliceHistory() },
			want:       join(generalChanges, aliceRemoved, aliceKeys, []string{"removed /var/lib/hangar-agent/custom-data"}),
			user:       "alice",
			check:      checkAccountsAsBefore,
		},
		{
			name:       "deprovision+user after password provisioning",
			removeUser: true,
			setup:      func(e *env) { e.provisionWith(passwordConfig(t, "i-2")); e.aliceHistory() },
			want:       join(generalChanges, aliceRemoved),
			user:       "alice",
			check:      checkAccountsAsBefore,
		},
		{
			name:       "deprovision+user removes an account the image had",
			removeUser: true,
			setup:      func(e *env) { e.provisionWith(bob(t)) },
			want: join(generalChanges, []string{
				"changed /etc/group", "changed /etc/gshadow", "changed /etc/passwd", "changed /etc/passwd-", "changed /etc/shadow",
				"removed /etc/ssh/sshd_config.d/00-hangar.conf", "removed /etc/sudoers.d/hangar-bob",
				// bob's home existed: provisioning copied no /etc/skel into it.
				"removed /home/bob", "removed /home/bob/.ssh", "removed /home/bob/.ssh/authorized_keys", "removed /home/bob/notes.txt",
				"removed /var/lib/hangar-agent/custom-data",
			}),
			user: "bob",
			check: func(e *env, _ map[string]fileInfo) {
				for file, want := range map[string]string{
					"/etc/group":   "root:x:0:\ndaemon:x:1:\nshadow:x:42:\nsudo:x:27:\nsvc:x:998:\nnogroup:x:65534:\n",
					"/etc/gshadow": "root:*::\nshadow:*::\nsudo:*::\nsvc:!::\n",
					"/etc/passwd-": "root:x:0:0:root:/root:/bin/bash\n",
				} {
					if got := e.read(file); got != want {
						t.Errorf("%s:\n%s\nwant:\n%s", file, got, want)
					}
				}
				if strings.Contains(e.read("/etc/passwd")+e.read("/etc/shadow"), "bob") {
					t.Error("bob left in /etc/passwd or /etc/shadow")
				}
				e.checkFile("/etc/passwd-", 0o600, 0, 0)
			},
		},
		{
			name:       "a home that is not the user's is kept",
			removeUser: true,
			setup: func(e *env) {
				e.provisionWith(keyConfig(t, "i-1"))
				os.Chown(e.rootPath("/home/alice"), 0, 0)
			},
			want: join(generalChanges, []string{
				"changed /etc/group", "changed /etc/gshadow", "changed /etc/passwd", "changed /etc/shadow",
				"removed /etc/ssh/sshd_config.d/00-hangar.conf", "removed /etc/sudoers.d/hangar-alice",
				"removed /var/lib/hangar-agent/custom-data",
			}),
			user: "alice",
			note: "home /home/alice of alice left alone: it belongs to uid 0",
		},
		{
			name:       "never provisioned",
			removeUser: true,
			setup:      func(e *env) { e.write("/etc/hostname", "vm0\n", 0o644) },
			want: slices.DeleteFunc(slices.Clone(generalChanges), func(s string) bool {
				return strings.Contains(s, "/hangar-agent/") || s == "changed /etc/machine-id"
			}),
			note: "no /var/lib/hangar-agent/ovf-env.xml or /var/lib/waagent/ovf-env.xml",
		},
		{
			name: "provisioned by waagent: deprovision keeps the user",
			setup: func(e *env) {
				e.azureProvisioned(waagentSaved, waagentState)
				e.write("/etc/sudoers.d/waagent", "azureuser ALL=(ALL) NOPASSWD: ALL\n", 0o440)
			},
			want:  join(generalNoAgent, waagentEmptied),
			check: func(e *env, _ map[string]fileInfo) { e.checkFile(waagentDir, 0o700, 0, 0) },
		},
		{
			name:       "provisioned by waagent: deprovision+user",
			removeUser: true,
			setup: func(e *env) {
				e.azureProvisioned(waagentSaved, waagentState)
				e.write("/etc/sudoers.d/waagent", "azureuser ALL=(ALL) NOPASSWD: ALL\n", 0o440)
			},
			want:  join(generalNoAgent, waagentEmptied, azureuserRemoved, []string{"removed /etc/sudoers.d/waagent"}),
			user:  "azureuser",
			check: checkAccountsAsBefore,
		},
		{
			name:       "provisioned by cloud-init's Azure datasource: deprovision+user",
			removeUser: true,
			setup: func(e *env) {
				e.azureProvisioned(cloudInitSaved, nil, "sudo", "svc")
				// cloud-init's own lines, for an image's user (ops) and azureuser.
				e.write("/etc/sudoers.d/90-cloud-init-users", "# Created by cloud-init v. 22.4 on Thu, 26 Nov 2026 12:00:00 +0000\n\n"+
					"# User rules for ops\nops ALL=(ALL) NOPASSWD:ALL\n\n# User rules for azureuser\nazureuser ALL=(ALL) NOPASSWD:ALL\n", 0o440)
				// Not a file to edit: left alone.
				if err := os.Symlink("/usr/share/waagent/sudoers", e.rootPath("/etc/sudoers.d/waagent")); err != nil {
					t.Fatal(err)
				}
			},
			want: join(generalNoAgent, azureuserRemoved, []string{
				"changed /etc/sudoers.d/90-cloud-init-users", "removed /var/lib/waagent/ovf-env.xml",
			}),
			user: "azureuser",
			note: "/etc/sudoers.d/waagent left alone: not a regular file",
			check: func(e *env, before map[string]fileInfo) {
				checkAccountsAsBefore(e, before)
				want := "# Created by cloud-init v. 22.4 on Thu, 26 Nov 2026 12:00:00 +0000\n\n# User rules for ops\nops ALL=(ALL) NOPASSWD:ALL\n\n"
				if got := e.read("/etc/sudoers.d/90-cloud-init-users"); got != want {
					t.Errorf("90-cloud-init-users:\n%s\nwant:\n%s", got, want)
				}
				e.checkFile("/etc/sudoers.d/90-cloud-init-users", 0o440, 0, 0)
			},
		},
		{
			name:       "hangar-agent's saved user comes before waagent's",
			removeUser: true,
			setup: func(e *env) {
				e.provisionWith(keyConfig(t, "i-1"))
				e.aliceHistory()
				e.azureProvisioned(waagentSaved, nil)
			},
			want: join(generalChanges, aliceRemoved, aliceKeys, []string{
				"removed /var/lib/hangar-agent/custom-data", "removed /var/lib/waagent/ovf-env.xml",
			}),
			user: "alice",
			check: func(e *env, _ map[string]fileInfo) {
				if !strings.Contains(e.read("/etc/passwd"), "\nazureuser:") {
					t.Error("azureuser removed")
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.addGeneralizeFixture()
			tt.setup(e)
			before := e.snapshot()
			a := e.agent()

			// A dry run lists the changes and makes none.
			var dryLog bytes.Buffer
			dry, err := a.Deprovision(DeprovisionOptions{RemoveUser: tt.removeUser, DryRun: true, Log: &dryLog})
			if err != nil {
				t.Fatalf("dry run: %v", err)
			}
			if d := contentDiff(before, e.snapshot()); len(d) != 0 {
				t.Fatalf("dry run changed files:\n%s", strings.Join(d, "\n"))
			}

			var log bytes.Buffer
			plan, err := a.Deprovision(DeprovisionOptions{RemoveUser: tt.removeUser, Log: &log})
			if err != nil {
				t.Fatalf("Deprovision: %v", err)
			}
			after := e.snapshot()
			// Whatever host keys there were (the image's, or provisioning's) are gone.
			want := slices.Clone(tt.want)
			for p := range before {
				if strings.HasPrefix(p, "/etc/ssh/ssh_host_") {
					want = append(want, "removed "+p)
				}
			}
			if got := contentDiff(before, after); !slices.Equal(got, join(want)) {
				t.Errorf("changes:\n%s", gentest.ListDiff(got, join(want)))
			}
			if plan.User != tt.user {
				t.Errorf("plan.User = %q, want %q", plan.User, tt.user)
			}
			if tt.note != "" && !strings.Contains(strings.Join(plan.Notes, "\n"), tt.note) {
				t.Errorf("notes %q lack %q", plan.Notes, tt.note)
			}
			// The dry run listed exactly what was done, and the log names every change.
			dryAsDone := strings.NewReplacer("would remove ", "removed ", "would empty ", "emptied ", "would rewrite ", "rewrote ").Replace(dryLog.String())
			if dryAsDone != log.String() || len(dry.Changes) != len(plan.Changes) {
				t.Errorf("dry run listed:\n%s\nthe run did:\n%s", dryLog.String(), log.String())
			}
			for _, c := range plan.Changes {
				if !strings.Contains(log.String(), " "+c.Path) {
					t.Errorf("log lacks %s", c.Path)
				}
			}
			// The agents' state comes last (it names the user, so that a run cut
			// short finds it again), the markers of a provisioned disk last in it.
			inState := func(p string) bool { return strings.HasPrefix(p, waagentDir+"/") || strings.HasPrefix(p, StateDir+"/") }
			for i, c := range plan.Changes {
				if i > 0 && inState(plan.Changes[i-1].Path) && !inState(c.Path) {
					t.Errorf("%s planned after the agents' state", c.Path)
				}
				if c.Path == waagentDir+"/provisioned" && i+1 < len(plan.Changes) && strings.HasPrefix(plan.Changes[i+1].Path, waagentDir+"/") {
					t.Errorf("%s planned after %s", plan.Changes[i+1].Path, c.Path)
				}
			}
			checkGeneralized(t, e)
			if tt.check != nil {
				tt.check(e, before)
			}

			// Twice is harmless: nothing left to do.
			again, err := a.Deprovision(DeprovisionOptions{RemoveUser: tt.removeUser})
			if err != nil {
				t.Fatalf("second run: %v", err)
			}
			if len(again.Changes) != 0 {
				t.Errorf("second run changed %v", again.Changes)
			}
			if d := contentDiff(after, e.snapshot()); len(d) != 0 {
				t.Errorf("second run changed files:\n%s", strings.Join(d, "\n"))
			}
			// The disk now boots as generalized: the agent waits for provisioning.
			if got := e.agent().Boot(); got.Type != TypeWaiting {
				t.Errorf("boot after deprovisioning: %s", show(got))
			}
		})
	}
}

// aliceHistory gives the provisioned user a shell history.
func (e *env) aliceHistory() {
	e.write("/home/alice/.bash_history", "sudo reboot\n", 0o600)
	os.Chown(e.rootPath("/home/alice/.bash_history"), 1001, 1001)
}

// checkGeneralized checks what every deprovisioned tree holds.
func checkGeneralized(t *testing.T, e *env) {
	t.Helper()
	for p, want := range map[string]string{
		"/etc/hostname":    "localhost.localdomain\n",
		"/etc/machine-id":  "uninitialized\n",
		"/etc/resolv.conf": "nameserver 10.0.0.2\n",
		"/var/log/syslog":  "",
		"/var/log/wtmp":    "",
	} {
		if got := e.read(p); got != want {
			t.Errorf("%s = %q, want %q", p, got, want)
		}
	}
	e.checkFile("/var/log/syslog", 0o640, 0, 4)
	e.checkFile("/var/log/wtmp", 0o664, 0, 43)
	e.checkFile("/etc/machine-id", 0o444, 0, 0)
	e.checkFile("/tmp", 0o777, 0, 0)
	if exists(e.rootPath(StateDir)) {
		e.checkFile(StateDir, 0o700, 0, 0)
	}
	for _, p := range []string{"/var/lib/cloud/seed/nocloud/meta-data", "/var/lib/NetworkManager/NetworkManager.state",
		"/var/log/README", "/var/log/journal/0123456789abcdef0123456789abcdef", "/root/.profile", "/var/lib/dhcpcd"} {
		if !exists(e.rootPath(p)) {
			t.Errorf("%s removed", p)
		}
	}
	for _, dir := range []string{StateDir, waagentDir} {
		if entries, _ := os.ReadDir(e.rootPath(dir)); len(entries) != 0 {
			t.Errorf("%s not empty: %v", dir, entries)
		}
	}
}

// checkAccountsAsBefore: removing the user provisioned from the fixture gives back
// the fixture's account databases, byte for byte, with their modes and owners.
func checkAccountsAsBefore(e *env, _ map[string]fileInfo) {
	e.t.Helper()
	for _, f := range fixture {
		if slices.Contains([]string{"/etc/passwd", "/etc/group", "/etc/shadow", "/etc/gshadow"}, f.path) {
			if got := e.read(f.path); got != f.data {
				e.t.Errorf("%s:\n%s\nwant:\n%s", f.path, got, f.data)
			}
		}
	}
	e.checkFile("/etc/shadow", 0o640, 0, shadowGID)
	e.checkFile("/etc/passwd", 0o644, 0, 0)
}

// TestDeprovisionRefusals: a system account named as the user, a name that is no
// name, or an unreadable saved ovf-env.xml (hangar-agent's, else the one waagent or
// cloud-init saved), and the running system without root, are refused before
// anything changes; the error names the file read.
func TestDeprovisionRefusals(t *testing.T) {
	for _, src := range []struct {
		name, file, user string
		setup            func(e *env)
	}{
		{"hangar-agent", StateOVFEnv, "alice", func(e *env) { e.provisionWith(keyConfig(t, "i-1")) }},
		{"waagent", waagentDir + "/ovf-env.xml", "azureuser", func(e *env) { e.azureProvisioned(waagentSaved, waagentState) }},
		{"cloud-init", waagentDir + "/ovf-env.xml", "azureuser", func(e *env) { e.azureProvisioned(cloudInitSaved, nil) }},
	} {
		t.Run(src.name, func(t *testing.T) {
			e := newEnv(t)
			e.addGeneralizeFixture()
			src.setup(e)
			saved := e.read(src.file)
			naming := func(user string) string { return strings.Replace(saved, ">"+src.user+"<", ">"+user+"<", 1) }
			for _, tt := range []struct {
				name, ovfEnv string
				want         string // in the error, after the file name
				is           error
			}{
				{"system account", naming("daemon"), ` names "daemon", a system account of this image (uid 1)`, nil},
				{"a user name that is no name", naming("../etc"), ` names no Linux user to remove ("../etc")`, nil},
				{"unreadable ovf-env.xml", "<not xml", ": invalid ovf-env.xml", ErrOVFEnv},
			} {
				e.write(src.file, tt.ovfEnv, 0o600)
				before := e.snapshot()
				_, err := e.agent().Deprovision(DeprovisionOptions{RemoveUser: true})
				if err == nil || !strings.Contains(err.Error(), src.file+tt.want) || tt.is != nil && !errors.Is(err, tt.is) {
					t.Errorf("%s: %v, want an error with %q", tt.name, err, src.file+tt.want)
				}
				if d := contentDiff(before, e.snapshot()); len(d) != 0 {
					t.Errorf("%s: the refused run changed files:\n%s", tt.name, strings.Join(d, "\n"))
				}
			}
		})
	}

	e := newEnv(t)
	defer func(f func() int) { geteuid = f }(geteuid)
	geteuid = func() int { return 1000 }
	if _, err := New(Options{Root: "/"}).Deprovision(DeprovisionOptions{DryRun: true}); !errors.Is(err, ErrNotRoot) {
		t.Errorf("not root on /: %v", err)
	}
	if _, err := e.agent().Deprovision(DeprovisionOptions{DryRun: true}); err != nil {
		t.Errorf("not root on a test root: %v", err)
	}
}

// TestDeprovisionPolicyText: the help text names the paths of the policy.
func TestDeprovisionPolicyText(t *testing.T) {
	text := strings.Join(DeprovisionPolicy(true), "\n")
	for _, want := range []string{"/etc/ssh/ssh_host_*", "/var/lib/cloud/instances", "/etc/sudoers.d/hangar-USER", "keep /etc/resolv.conf",
		"empty /var/lib/waagent/ (Azure guest agent state", "/var/lib/hangar-agent/ovf-env.xml, else /var/lib/waagent/ovf-env.xml",
		"/etc/sudoers.d/waagent", "/etc/sudoers.d/90-cloud-init-users"} {
		if !strings.Contains(text, want) {
			t.Errorf("policy text lacks %q:\n%s", want, text)
		}
	}
	// In the order it is applied: the user before the agents' state.
	if u, s := strings.Index(text, "remove the last provisioned user"), strings.Index(text, "empty /var/lib/waagent/"); u < 0 || s < u {
		t.Errorf("policy text lists the agents' state before the user:\n%s", text)
	}
	if text := strings.Join(DeprovisionPolicy(false), "\n"); strings.Contains(text, "provisioned user") {
		t.Errorf("policy text without +user removes the user:\n%s", text)
	}
}

// TestDropSudoers: the user's lines (and cloud-init's comment for it) go, the rest
// stays byte for byte; a file left without rules is removed, one without the user
// left as it is.
func TestDropSudoers(t *testing.T) {
	const header = "# Created by cloud-init v. 22.4 on Thu, 26 Nov 2026 12:00:00 +0000\n\n"
	for _, tt := range []struct {
		name, in, want string
		remove         bool
	}{
		{"waagent's line", "azureuser ALL=(ALL) NOPASSWD: ALL\n", "", true},
		{"waagent's password line, no final newline", "azureuser ALL=(ALL) ALL", "", true},
		{"cloud-init's only user", header + "# User rules for azureuser\nazureuser ALL=(ALL) NOPASSWD:ALL\n", header, true},
		{"another user stays", header + "# User rules for azureuser\nazureuser ALL=(ALL) NOPASSWD:ALL\n\n# User rules for ops\nops  ALL=(ALL) NOPASSWD:ALL\n",
			header + "\n# User rules for ops\nops  ALL=(ALL) NOPASSWD:ALL\n", false},
		{"tabs, several lines", "azureuser\tALL=(ALL) ALL\r\n\tazureuser ALL=(root) /bin/true\nDefaults:azureuser !lecture\n",
			"Defaults:azureuser !lecture\n", false},
		{"names that only start alike", "azureuser2 ALL=(ALL) ALL\n# azureuser\n%azureuser ALL=(ALL) ALL\nazureuser ALL=(ALL) ALL\n",
			"azureuser2 ALL=(ALL) ALL\n# azureuser\n%azureuser ALL=(ALL) ALL\n", false},
		{"#includedir is no comment", "azureuser ALL=(ALL) ALL\n#includedir /etc/sudoers.d\n", "#includedir /etc/sudoers.d\n", false},
		{"#UID is no comment", "azureuser ALL=(ALL) ALL\n#1002 ALL=(ALL) ALL\n", "#1002 ALL=(ALL) ALL\n", false},
		{"not the user's", "# nothing here\n", "# nothing here\n", false},
		{"empty", "", "", false},
	} {
		got, remove := dropSudoers([]byte(tt.in), "azureuser")
		if remove != tt.remove || !remove && string(got) != tt.want {
			t.Errorf("%s: %q, remove %v; want %q, remove %v", tt.name, got, remove, tt.want, tt.remove)
		}
	}
}
