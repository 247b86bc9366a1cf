package agent

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Generalization ("deprovisioning") turns a provisioned, specialized root
// filesystem back into a generalized one (docs/guest-protocol.md), ready to be
// captured as an image. The policy (what is removed, emptied or rewritten) lives
// here, once, as PlanDeprovision over a read-only Tree, and Agent.Deprovision
// applies it: in the running guest (`hangar-agent deprovision`), and offline in
// Hangar's appliance, chrooted into the root of a stopped disk (package generalize,
// `hangar disk generalize`). So both clean up exactly the same things, the same way.

// HostnameGeneralized is the host name of a generalized image, as Azure's agent
// leaves it.
const HostnameGeneralized = "localhost.localdomain"

// Limits of the planner.
const (
	maxLogEntries = 100000 // files and directories looked at under /var/log
	maxLogDepth   = 32
	maxSmallFile  = 4096    // /etc/hostname, /etc/machine-id
	maxSudoers    = 1 << 20 // a sudoers drop-in
)

// waagentDir is the state directory of Azure's Linux agent (waagent), where it,
// and cloud-init's Azure datasource, save the ovf-env.xml they provisioned from.
const waagentDir = "/var/lib/waagent"

// savedOVFEnvs are where the last provisioned user is looked up, in this order:
// hangar-agent's own copy, else the one waagent (password masked as "*") or
// cloud-init's Azure datasource (password "REDACTED") saved.
var savedOVFEnvs = []string{StateOVFEnv, waagentDir + "/ovf-env.xml"}

// sharedSudoers are the sudoers files waagent and cloud-init append one line per
// user to ("USER ALL=(ALL) NOPASSWD: ALL"; cloud-init's preceded by "# User rules
// for USER"): the removed user's lines are taken out of them, not the files.
var sharedSudoers = []string{"/etc/sudoers.d/waagent", "/etc/sudoers.d/90-cloud-init-users"}

// Tree is the read side of a root filesystem a deprovision plan is made against:
// the guest's root through Options.Root. Paths are absolute guest
// paths with "/" separators. A final symbolic link is never followed; missing
// paths are fs.ErrNotExist.
type Tree interface {
	// Lstat describes path.
	Lstat(path string) (TreeEntry, error)
	// ReadDir lists the directory path, without "." and "..".
	ReadDir(path string) ([]TreeEntry, error)
	// ReadFile returns the content of the regular file path, failing beyond
	// limit bytes.
	ReadFile(path string, limit int64) ([]byte, error)
}

// TreeEntry is one file of a Tree.
type TreeEntry struct {
	Name     string      // base name
	Mode     fs.FileMode // type and permission bits, as os.Lstat gives them
	UID, GID int
	Size     int64
}

// ChangeOp is what a Change does.
type ChangeOp string

// The operations of a plan.
const (
	// OpRemove removes a file, link or special file, or a directory with
	// everything in it (Change.Dir).
	OpRemove ChangeOp = "remove"
	// OpTruncate empties a log file, keeping its owner, mode and labels.
	OpTruncate ChangeOp = "truncate"
	// OpWrite gives a file new content (Change.Data), keeping the owner and mode
	// of the file it replaces, or with Mode, UID and GID for a new file.
	OpWrite ChangeOp = "write"
)

// Change is one step of a deprovision plan.
type Change struct {
	Op   ChangeOp `json:"op"`
	Path string   `json:"path"`
	Dir  bool     `json:"dir,omitempty"` // a directory removed with its contents
	What string   `json:"what"`          // why, for people: "SSH host key", "log"...

	Data     []byte      `json:"-"` // OpWrite: the new content
	Mode     fs.FileMode `json:"-"` // OpWrite, OpTruncate: permission bits the file keeps or gets
	UID, GID int         `json:"-"` // OpWrite, OpTruncate: its owner
	Exists   bool        `json:"-"` // OpWrite: a file is replaced (else created)
}

// Describe is the line printed for c: "removed /etc/ssh/ssh_host_rsa_key (SSH
// host key)", or "would remove ..." for a dry run.
func (c Change) Describe(dryRun bool) string {
	verbs := map[ChangeOp][2]string{
		OpRemove:   {"removed", "would remove"},
		OpTruncate: {"emptied", "would empty"},
		OpWrite:    {"rewrote", "would rewrite"},
	}
	i := 0
	if dryRun {
		i = 1
	}
	p := c.Path
	if c.Dir {
		p += "/ and everything in it"
	}
	return fmt.Sprintf("%s %s (%s)", verbs[c.Op][i], p, c.What)
}

// DeprovisionPlan is what deprovisioning a Tree changes.
type DeprovisionPlan struct {
	// User is the provisioned user removed (deprovision+user), "" if none.
	User    string   `json:"user,omitempty"`
	Changes []Change `json:"changes"`
	// Notes are things left alone, and why.
	Notes []string `json:"notes,omitempty"`
}

// ruleKind is how a rule treats the paths it names.
type ruleKind int

const (
	removeMatches  ruleKind = iota // remove every path matching the pattern
	removeContents                 // empty the directory, keep it
	resetFile                      // give the file fixed content
	cleanLogs                      // truncate live logs, remove rotated ones (see planLogs)
	removeLastUser                 // the last provisioned user, with deprovision+user (see planUser)
)

// rule is one line of the generalization policy. Patterns are guest paths whose
// components may hold path.Match wildcards; a wildcard matches real directories
// only on its way down (a symbolic link is never followed).
type rule struct {
	kind    ruleKind
	pattern string
	what    string
	content string      // resetFile
	mode    fs.FileMode // resetFile: the mode of a new file
	last    []string    // removeContents: names removed last, in this order
	help    string      // removeContents: for DeprovisionPolicy, instead of what
}

// policy is the generalization policy, in the order it is applied. It closes the
// gaps of Azure's agent (cloud-init state, machine-id, random seed, /tmp) and, unlike
// it, keeps /etc/resolv.conf: deleting it breaks DNS in the image. The agents' state
// comes last, after the provisioned user: it names the user, so a run cut short
// finds it again; and what marks a disk as provisioned (waagent's provisioned,
// hangar-agent's instance-id) goes last of all: only a fully cleaned disk reads as
// generalized.
var policy = []rule{
	{kind: removeMatches, pattern: "/etc/ssh/ssh_host_*", what: "SSH host key"},
	{kind: resetFile, pattern: "/etc/hostname", what: "host name reset to " + HostnameGeneralized, content: HostnameGeneralized + "\n", mode: 0o644},
	{kind: resetFile, pattern: machineIDFile, what: "machine-id reset for systemd's first boot", content: uninitializedMark + "\n", mode: 0o444},
	{kind: removeMatches, pattern: "/var/lib/dbus/machine-id", what: "D-Bus machine-id"},
	{kind: removeMatches, pattern: "/var/lib/systemd/random-seed", what: "random seed"},
	{kind: removeContents, pattern: "/var/lib/dhclient", what: "DHCP lease"},
	{kind: removeContents, pattern: "/var/lib/dhcpcd", what: "DHCP lease"},
	{kind: removeContents, pattern: "/var/lib/dhcp", what: "DHCP lease"},
	{kind: removeMatches, pattern: "/run/systemd/netif/leases/*", what: "DHCP lease"},
	{kind: removeMatches, pattern: "/var/lib/NetworkManager/*.lease", what: "DHCP lease"},
	{kind: removeMatches, pattern: "/var/lib/cloud/instance", what: "cloud-init instance state"},
	{kind: removeMatches, pattern: "/var/lib/cloud/instances", what: "cloud-init instance state"},
	{kind: removeMatches, pattern: "/var/lib/cloud/data", what: "cloud-init instance state"},
	{kind: removeMatches, pattern: "/var/lib/cloud/sem", what: "cloud-init instance state"},
	{kind: cleanLogs, pattern: "/var/log", what: "log"},
	{kind: removeMatches, pattern: "/root/.bash_history", what: "shell history"},
	{kind: removeMatches, pattern: "/root/.ash_history", what: "shell history"},
	{kind: removeMatches, pattern: "/root/.zsh_history", what: "shell history"},
	{kind: removeMatches, pattern: "/home/*/.bash_history", what: "shell history"},
	{kind: removeMatches, pattern: "/home/*/.ash_history", what: "shell history"},
	{kind: removeMatches, pattern: "/home/*/.zsh_history", what: "shell history"},
	{kind: removeContents, pattern: "/tmp", what: "temporary file"},
	{kind: removeContents, pattern: "/var/tmp", what: "temporary file"},
	{kind: removeLastUser},
	// As waagent -deprovision does (DeprovisionHandler.del_dirs): without its
	// provisioned marker, waagent provisions the next VM.
	{kind: removeContents, pattern: waagentDir, what: "Azure guest agent state", last: []string{"ovf-env.xml", "provisioned"},
		help: "Azure guest agent state: its provisioned marker, saved ovf-env.xml and CustomData, goal state, " +
			"certificates; waagent then provisions the next VM"},
	{kind: removeContents, pattern: StateDir, what: "agent state", last: []string{path.Base(StateOVFEnv), path.Base(StateInstanceID)},
		help: "the agent's state; the disk then reads as generalized"},
}

// DeprovisionPolicy describes the policy for help texts, one line per rule.
func DeprovisionPolicy(removeUser bool) []string {
	var out []string
	for _, r := range policy {
		switch r.kind {
		case removeMatches:
			out = append(out, fmt.Sprintf("remove %s (%s)", r.pattern, r.what))
		case removeContents:
			help := r.help
			if help == "" {
				help = r.what + "s"
			}
			out = append(out, fmt.Sprintf("empty %s/ (%s)", r.pattern, help))
		case resetFile:
			out = append(out, fmt.Sprintf("write %q to %s", strings.TrimSuffix(r.content, "\n"), r.pattern))
		case cleanLogs:
			out = append(out, fmt.Sprintf("empty the logs under %s/, remove rotated and binary ones", r.pattern))
		case removeLastUser:
			if removeUser {
				out = append(out, "remove the last provisioned user (named in "+strings.Join(savedOVFEnvs, ", else ")+
					"): its /etc/passwd, /etc/shadow, /etc/group and /etc/gshadow entries, home, /etc/sudoers.d/hangar-USER, "+
					SSHDConfigFile+", and its lines in "+strings.Join(sharedSudoers, " and "))
			}
		}
	}
	return append(out, "keep /etc/resolv.conf (DNS keeps working)")
}

// PlanDeprovision reads t and returns what deprovisioning it changes, changing
// nothing. With removeUser it also removes the last provisioned user, named in the
// saved ovf-env.xml. Errors are failures to read t, or a saved user it refuses to
// remove (a system account).
func PlanDeprovision(t Tree, removeUser bool) (*DeprovisionPlan, error) {
	p := &planner{t: t, removeUser: removeUser, plan: &DeprovisionPlan{Changes: []Change{}}}
	for _, r := range policy {
		if err := p.apply(r); err != nil {
			return nil, err
		}
	}
	p.prune()
	return p.plan, nil
}

type planner struct {
	t          Tree
	removeUser bool
	plan       *DeprovisionPlan
}

func (p *planner) add(c Change) { p.plan.Changes = append(p.plan.Changes, c) }

func (p *planner) note(format string, args ...any) {
	p.plan.Notes = append(p.plan.Notes, fmt.Sprintf(format, args...))
}

// absent reports whether err means a missing path (or a parent that is not a
// directory).
func absent(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

func (p *planner) apply(r rule) error {
	switch r.kind {
	case removeMatches:
		matches, err := p.glob(r.pattern)
		if err != nil {
			return err
		}
		for _, m := range matches {
			p.add(Change{Op: OpRemove, Path: m.path, Dir: m.Mode.IsDir(), What: r.what})
		}
	case removeContents:
		return p.planContents(r.pattern, r.what, r.last)
	case resetFile:
		return p.planReset(r)
	case cleanLogs:
		return p.planLogs(r.pattern, r.what)
	case removeLastUser:
		if p.removeUser {
			return p.planUser()
		}
	}
	return nil
}

// match is a path found by glob.
type match struct {
	path string
	TreeEntry
}

// glob returns the existing paths matching pattern, in name order.
func (p *planner) glob(pattern string) ([]match, error) {
	parts := strings.Split(strings.TrimPrefix(pattern, "/"), "/")
	cur := []match{{path: "/", TreeEntry: TreeEntry{Name: "/", Mode: fs.ModeDir}}}
	for i, part := range parts {
		last := i == len(parts)-1
		var next []match
		for _, m := range cur {
			if !strings.ContainsAny(part, `*?[\`) {
				full := path.Join(m.path, part)
				if !last {
					next = append(next, match{path: full, TreeEntry: TreeEntry{Mode: fs.ModeDir}})
					continue
				}
				e, err := p.t.Lstat(full)
				if absent(err) {
					continue
				}
				if err != nil {
					return nil, err
				}
				next = append(next, match{path: full, TreeEntry: e})
				continue
			}
			entries, err := p.t.ReadDir(m.path)
			if absent(err) {
				continue
			}
			if err != nil {
				return nil, err
			}
			for _, e := range entries {
				if ok, _ := path.Match(part, e.Name); ok && (last || e.Mode.IsDir()) {
					next = append(next, match{path: path.Join(m.path, e.Name), TreeEntry: e})
				}
			}
		}
		cur = next
	}
	return cur, nil
}

// planContents removes everything in dir, a real directory; the names in last, if
// any, come last, in that order.
func (p *planner) planContents(dir, what string, last []string) error {
	e, err := p.t.Lstat(dir)
	if absent(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if !e.Mode.IsDir() {
		p.note("%s left alone: not a directory", dir)
		return nil
	}
	entries, err := p.t.ReadDir(dir)
	if err != nil {
		return err
	}
	slices.SortStableFunc(entries, func(a, b TreeEntry) int {
		ia, ib := slices.Index(last, a.Name), slices.Index(last, b.Name)
		return ia - ib
	})
	for _, e := range entries {
		p.add(Change{Op: OpRemove, Path: path.Join(dir, e.Name), Dir: e.Mode.IsDir(), What: what})
	}
	return nil
}

// planReset gives a file fixed content unless it has it already. A symbolic link
// or any other non-regular file is left alone, with a note.
func (p *planner) planReset(r rule) error {
	e, err := p.t.Lstat(r.pattern)
	c := Change{Op: OpWrite, Path: r.pattern, What: r.what, Data: []byte(r.content), Mode: r.mode}
	switch {
	case absent(err):
		if d, err := p.t.Lstat(path.Dir(r.pattern)); err != nil || !d.Mode.IsDir() {
			return nil // no /etc: not a root filesystem we can help
		}
		p.add(c)
		return nil
	case err != nil:
		return err
	case !e.Mode.IsRegular():
		p.note("%s left alone: not a regular file (%s)", r.pattern, e.Mode.Type())
		return nil
	}
	if e.Size == int64(len(r.content)) {
		data, err := p.t.ReadFile(r.pattern, maxSmallFile)
		if err != nil {
			return err
		}
		if string(data) == r.content {
			return nil
		}
	}
	c.Mode, c.UID, c.GID, c.Exists = e.Mode.Perm(), e.UID, e.GID, true
	p.add(c)
	return nil
}

// rotatedLog matches the names of rotated, compressed and binary logs.
var rotatedLog = regexp.MustCompile(`(\.[0-9]+|-[0-9]{8}|\.(gz|xz|bz2|zst|lz4|lzma|Z|zip|old|journal|journal~))$`)

// planLogs walks the real directories under root: live log files are truncated,
// which keeps their owner, mode and security labels (wtmp, btmp and lastlog must
// exist for login accounting; daemons that open their log for appending do not
// always create it with the right owner); rotated, compressed and binary (journald)
// logs are removed: nothing needs them and an empty one is invalid. Directories are
// kept, symbolic links and special files left alone.
func (p *planner) planLogs(root, what string) error {
	e, err := p.t.Lstat(root)
	if absent(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if !e.Mode.IsDir() {
		p.note("%s left alone: not a directory", root)
		return nil
	}
	seen := 0
	var walk func(dir string, depth int) error
	walk = func(dir string, depth int) error {
		if depth > maxLogDepth {
			p.note("%s left alone: deeper than %d directories", dir, maxLogDepth)
			return nil
		}
		entries, err := p.t.ReadDir(dir)
		if err != nil {
			return err
		}
		for _, e := range entries {
			if seen++; seen > maxLogEntries {
				return fmt.Errorf("%s holds more than %d files: clean it up first", root, maxLogEntries)
			}
			full := path.Join(dir, e.Name)
			switch {
			case e.Mode.IsDir():
				if err := walk(full, depth+1); err != nil {
					return err
				}
			case !e.Mode.IsRegular():
			case rotatedLog.MatchString(e.Name):
				p.add(Change{Op: OpRemove, Path: full, What: "rotated " + what})
			case e.Size > 0:
				p.add(Change{Op: OpTruncate, Path: full, What: what, Mode: e.Mode.Perm(), UID: e.UID, GID: e.GID})
			}
		}
		return nil
	}
	return walk(root, 0)
}

// prune drops the changes inside a directory that is removed whole, keeping the
// first change of each path.
func (p *planner) prune() {
	var dirs []string
	for _, c := range p.plan.Changes {
		if c.Op == OpRemove && c.Dir {
			dirs = append(dirs, c.Path+"/")
		}
	}
	seen := map[string]bool{}
	out := p.plan.Changes[:0]
	for _, c := range p.plan.Changes {
		inside := slices.ContainsFunc(dirs, func(d string) bool { return strings.HasPrefix(c.Path, d) })
		if inside || seen[c.Path] {
			continue
		}
		seen[c.Path] = true
		out = append(out, c)
	}
	p.plan.Changes = out
}

// Account databases edited to remove a user, and their backups (shadow-utils'
// "-" copies hold the same entries).
var accountFiles = []string{"/etc/passwd", "/etc/shadow", "/etc/group", "/etc/gshadow",
	"/etc/passwd-", "/etc/shadow-", "/etc/group-", "/etc/gshadow-"}

// planUser removes the user named in the first saved ovf-env.xml found (read
// before the state is removed): its account entries, personal group, group
// memberships, home, the sudoers file and sshd drop-in hangar-agent wrote, and its
// lines in the sudoers files waagent and cloud-init wrote.
func (p *planner) planUser() error {
	var file string
	var data []byte
	for _, f := range savedOVFEnvs {
		d, err := p.t.ReadFile(f, maxOVFEnv)
		if absent(err) {
			continue
		}
		if err != nil {
			return err
		}
		file, data = f, d
		break
	}
	if file == "" {
		p.note("no %s (never provisioned, or already deprovisioned): no user to remove", strings.Join(savedOVFEnvs, " or "))
		return nil
	}
	env, err := ParseOVFEnv(data)
	if err != nil {
		return fmt.Errorf("reading the last provisioned user from %s: %w", file, err)
	}
	name := env.UserName
	if env.Windows || !safeName(name) {
		return fmt.Errorf("%s names no Linux user to remove (%q)", file, name)
	}
	p.plan.User = name

	passwd, err := p.readAccounts("/etc/passwd")
	if err != nil {
		return err
	}
	fields, _ := passwd.find(name)
	uid, gid, home := -1, -1, ""
	if fields == nil {
		p.note("user %s has no /etc/passwd entry", name)
	} else {
		if len(fields) < 7 {
			return fmt.Errorf("the /etc/passwd entry of %q is malformed", name)
		}
		var err1, err2 error
		uid, err1 = strconv.Atoi(fields[2])
		gid, err2 = strconv.Atoi(fields[3])
		if err1 != nil || err2 != nil {
			return fmt.Errorf("the /etc/passwd entry of %q is malformed", name)
		}
		if uid < firstUserID {
			return fmt.Errorf("%s names %q, a system account of this image (uid %d): not removing it", file, name, uid)
		}
		home = fields[5]
	}
	personal, err := p.personalGroup(passwd, name, gid)
	if err != nil {
		return err
	}
	for _, f := range accountFiles {
		if err := p.planAccountFile(f, name, personal); err != nil {
			return err
		}
	}
	for _, f := range []string{"/etc/sudoers.d/hangar-" + name, SSHDConfigFile} {
		e, err := p.t.Lstat(f)
		if err != nil && !absent(err) {
			return err
		}
		if err == nil {
			p.add(Change{Op: OpRemove, Path: f, Dir: e.Mode.IsDir(), What: "written by hangar-agent for " + name})
		}
	}
	for _, f := range sharedSudoers {
		if err := p.planEdit(f, "sudo rules of "+name+" removed", maxSudoers, func(data []byte) ([]byte, bool) {
			return dropSudoers(data, name)
		}); err != nil {
			return err
		}
	}
	if home != "" {
		return p.planHome(name, uid, home)
	}
	return nil
}

// safeName accepts the user names the agent provisions; anything else is not
// used to build paths.
func safeName(name string) bool {
	return name != "" && len(name) <= 32 && !strings.ContainsAny(name, "/:\n\x00 ") && name[0] != '.' && name[0] != '-'
}

// personalGroup reports whether the user has a personal group, as useradd makes
// it: a group of the same name whose gid is the user's primary group, the primary
// group of no other account.
func (p *planner) personalGroup(passwd *colonFile, name string, gid int) (bool, error) {
	if gid < 0 {
		return false, nil
	}
	for _, line := range passwd.lines {
		f := strings.Split(line, ":")
		if len(f) > 3 && f[0] != name && f[3] == strconv.Itoa(gid) {
			return false, nil
		}
	}
	group, err := p.readAccounts("/etc/group")
	if absent(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	f, _ := group.find(name)
	return len(f) > 2 && f[2] == strconv.Itoa(gid), nil
}

func (p *planner) readAccounts(name string) (*colonFile, error) {
	data, err := p.t.ReadFile(name, maxDBFile)
	if err != nil {
		return nil, err
	}
	return parseColonFile(data), nil
}

// planEdit rewrites the regular file file with what edit makes of its content (at
// most limit bytes), keeping its owner and mode, or removes it if edit says so. A
// missing file is skipped; a symbolic link or any other non-regular file is left
// alone, with a note.
func (p *planner) planEdit(file, what string, limit int64, edit func(data []byte) (edited []byte, remove bool)) error {
	e, err := p.t.Lstat(file)
	if absent(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if !e.Mode.IsRegular() {
		p.note("%s left alone: not a regular file", file)
		return nil
	}
	data, err := p.t.ReadFile(file, limit)
	if err != nil {
		return err
	}
	edited, remove := edit(data)
	switch {
	case remove:
		p.add(Change{Op: OpRemove, Path: file, What: what})
	case string(edited) != string(data):
		p.add(Change{Op: OpWrite, Path: file, What: what, Data: edited,
			Mode: e.Mode.Perm(), UID: e.UID, GID: e.GID, Exists: true})
	}
	return nil
}

// planAccountFile removes name's entry from an account database and from the
// member lists of groups; with personal, also its personal group.
func (p *planner) planAccountFile(file, name string, personal bool) error {
	isGroup := strings.HasPrefix(file, "/etc/group")
	isGshadow := strings.HasPrefix(file, "/etc/gshadow")
	return p.planEdit(file, "account of "+name+" removed", maxDBFile, func(data []byte) ([]byte, bool) {
		var out []string
		for _, line := range parseColonFile(data).lines {
			fields := strings.Split(line, ":")
			switch {
			case fields[0] == name && !isGroup && !isGshadow:
				continue // passwd, shadow
			case fields[0] == name && (isGroup || isGshadow) && personal:
				continue
			case isGroup && len(fields) > 3:
				fields[3] = dropMember(fields[3], name)
			case isGshadow && len(fields) > 3:
				fields[2], fields[3] = dropMember(fields[2], name), dropMember(fields[3], name)
			}
			out = append(out, strings.Join(fields, ":"))
		}
		return (&colonFile{lines: out}).bytes(), false
	})
}

// dropSudoers removes from a sudoers file the lines whose first field is name, and
// the comment cloud-init writes above them; the other lines stay byte for byte.
// remove reports that it dropped some and no rule is left.
func dropSudoers(data []byte, name string) (edited []byte, remove bool) {
	var out strings.Builder
	dropped, rules := false, false
	for _, line := range strings.SplitAfter(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) > 0 && f[0] == name || strings.TrimSpace(line) == "# User rules for "+name {
			dropped = true
			continue
		}
		out.WriteString(line)
		rules = rules || sudoersRule(line)
	}
	if !dropped {
		return data, false // not the user's file: even one with no rules stays
	}
	return []byte(out.String()), !rules
}

// sudoersRule reports whether a line of a sudoers file means something to sudo:
// it is neither blank nor a comment. "#include", "#includedir" and "#UID" (a user
// by id) look like comments but are not.
func sudoersRule(line string) bool {
	s := strings.TrimSpace(line)
	if s == "" {
		return false
	}
	if s[0] != '#' {
		return true
	}
	return strings.HasPrefix(s, "#include") || len(s) > 1 && s[1] >= '0' && s[1] <= '9'
}

// dropMember removes name from a comma-separated member list.
func dropMember(list, name string) string {
	if list == "" {
		return list
	}
	members := strings.Split(list, ",")
	return strings.Join(slices.DeleteFunc(members, func(m string) bool { return m == name }), ",")
}

// planHome removes the user's home when it is safely the user's: a real directory
// at least two levels down (/home/alice), owned by the user.
func (p *planner) planHome(name string, uid int, home string) error {
	clean := path.Clean(home)
	if !path.IsAbs(clean) || strings.Count(clean, "/") < 2 {
		p.note("home %s of %s left alone: not a directory of its own", home, name)
		return nil
	}
	e, err := p.t.Lstat(clean)
	switch {
	case absent(err):
		return nil
	case err != nil:
		return err
	case !e.Mode.IsDir():
		p.note("home %s of %s left alone: not a directory (%s)", clean, name, e.Mode.Type())
	case e.UID != uid:
		p.note("home %s of %s left alone: it belongs to uid %d, not to %s (uid %d)", clean, name, e.UID, name, uid)
	default:
		p.add(Change{Op: OpRemove, Path: clean, Dir: true, What: "home of " + name})
	}
	return nil
}

// DeprovisionOptions choose what Agent.Deprovision does.
type DeprovisionOptions struct {
	RemoveUser bool      // deprovision+user: also the last provisioned user
	DryRun     bool      // list the changes, make none
	Log        io.Writer // one line per change, as it is made; nil discards
}

// geteuid is os.Geteuid; tests replace it.
var geteuid = os.Geteuid

// ErrNotRoot is returned when the agent deprovisions the running system ("/")
// without being root.
var ErrNotRoot = errors.New("deprovisioning changes system files and reads /etc/shadow: run it as root")

// Deprovision generalizes the root filesystem (Options.Root): it makes the plan of
// PlanDeprovision, then applies it in order, logging each change as it is made.
// Files are rewritten atomically (keeping their owner and mode), logs truncated in
// place, directories removed without crossing into other file systems. On error,
// the changes logged before it were made; running it again finishes the job. On
// the running system ("/") it must run as root.
func (a *Agent) Deprovision(o DeprovisionOptions) (*DeprovisionPlan, error) {
	if filepath.Clean(a.opts.Root) == "/" && geteuid() != 0 {
		return nil, ErrNotRoot
	}
	log := o.Log
	if log == nil {
		log = io.Discard
	}
	plan, err := PlanDeprovision(rootTree{a.opts.Root}, o.RemoveUser)
	if err != nil {
		return nil, err
	}
	for _, c := range plan.Changes {
		if !o.DryRun {
			if err := a.applyChange(c); err != nil {
				return plan, fmt.Errorf("%s %s: %w", c.Op, c.Path, err)
			}
		}
		fmt.Fprintln(log, c.Describe(o.DryRun))
	}
	return plan, nil
}

func (a *Agent) applyChange(c Change) error {
	p := a.path(c.Path)
	switch c.Op {
	case OpRemove:
		if c.Dir {
			return removeTree(p)
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return syncDir(filepath.Dir(p))
	case OpTruncate:
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_TRUNC|syscall.O_NOFOLLOW, 0)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	case OpWrite:
		return replaceFile(p, c.Data, c.Mode, owner{c.UID, c.GID})
	}
	return fmt.Errorf("unknown change %q", c.Op)
}

// removeTree removes dir and everything in it, refusing (before removing
// anything) if a file system is mounted below it. Both walk with directory
// descriptors, so that a tree deeper than PATH_MAX allows is removed too.
func removeTree(dir string) error {
	top, err := os.Lstat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if top.IsDir() {
		fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		if err := noMountBelow(fd, uint64(top.Sys().(*syscall.Stat_t).Dev), dir, 0); err != nil {
			return err
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	return syncDir(filepath.Dir(dir))
}

// maxTreeDepth bounds how deep removeTree looks (each level holds a descriptor).
const maxTreeDepth = 1000

// noMountBelow fails if a directory below the one open as fd (path, for
// messages) is on another device than dev. It closes fd.
func noMountBelow(fd int, dev uint64, path string, depth int) error {
	f := os.NewFile(uintptr(fd), path)
	defer f.Close()
	if depth > maxTreeDepth {
		return fmt.Errorf("%s is nested more than %d directories deep: remove it inside the guest", path, maxTreeDepth)
	}
	for {
		names, err := f.Readdirnames(1024)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		for _, name := range names {
			var st unix.Stat_t
			if err := unix.Fstatat(fd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
				if errors.Is(err, unix.ENOENT) {
					continue
				}
				return err
			}
			if st.Mode&unix.S_IFMT != unix.S_IFDIR {
				continue
			}
			child := path + "/" + name
			if uint64(st.Dev) != dev {
				return fmt.Errorf("%s is a mount point: unmount it first", child)
			}
			cfd, err := unix.Openat(fd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			if err != nil {
				return err
			}
			if err := noMountBelow(cfd, dev, child, depth+1); err != nil {
				return err
			}
		}
	}
}

// rootTree is the Tree of a root directory on this system.
type rootTree struct{ root string }

func (t rootTree) full(p string) string { return filepath.Join(t.root, filepath.FromSlash(p)) }

func entryOf(name string, fi fs.FileInfo) TreeEntry {
	e := TreeEntry{Name: name, Mode: fi.Mode(), Size: fi.Size()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		e.UID, e.GID = int(st.Uid), int(st.Gid)
	}
	return e
}

func (t rootTree) Lstat(p string) (TreeEntry, error) {
	fi, err := os.Lstat(t.full(p))
	if err != nil {
		return TreeEntry{}, err
	}
	return entryOf(path.Base(p), fi), nil
}

func (t rootTree) ReadDir(p string) ([]TreeEntry, error) {
	des, err := os.ReadDir(t.full(p))
	if err != nil {
		return nil, err
	}
	out := make([]TreeEntry, 0, len(des))
	for _, d := range des {
		fi, err := d.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue // gone meanwhile
		}
		if err != nil {
			return nil, err
		}
		out = append(out, entryOf(d.Name(), fi))
	}
	return out, nil
}

func (t rootTree) ReadFile(p string, limit int64) ([]byte, error) {
	fi, err := os.Lstat(t.full(p))
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", p)
	}
	return readFileLimit(t.full(p), limit)
}
