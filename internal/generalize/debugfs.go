package generalize

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/hangarvm/hangar/internal/agent"
)

// e2fsprogs' tools, looked up in PATH and then in the sbin directories, which a
// normal user's PATH often lacks.
func findTool(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/local/sbin"} {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found: install e2fsprogs (apt-get install e2fsprogs)", name)
}

// debugfs runs e2fsprogs' debugfs on one ext file system: the partition at offset
// bytes into image (a path without '?', which debugfs takes as the start of its
// options).
type debugfs struct {
	bin    string
	image  string
	offset int64
}

// spec is the device argument of debugfs and e2fsck.
func (d *debugfs) spec() string { return fmt.Sprintf("%s?offset=%d", d.image, d.offset) }

// run runs debugfs with args and the command script (nil: none), and fails if
// it printed any error: its exit status is 0 even when a command failed.
func (d *debugfs) run(ctx context.Context, script []byte, stdout io.Writer, args ...string) error {
	args = append(args, d.spec())
	cmd := exec.CommandContext(ctx, d.bin, args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C", "DEBUGFS_PAGER=__none__", "PAGER=__none__")
	if script != nil {
		cmd.Stdin = bytes.NewReader(script)
	}
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = stdout, &stderr
	err := cmd.Run()
	if msg := debugfsErrors(stderr.String()); msg != "" {
		return &debugfsError{msg: msg}
	}
	if err != nil {
		return fmt.Errorf("debugfs: %v", err)
	}
	return nil
}

// debugfsError is an error debugfs printed.
type debugfsError struct{ msg string }

func (e *debugfsError) Error() string { return "debugfs: " + e.msg }

// notFound reports whether debugfs could not find a path (or one of its parents
// is not a directory).
func (e *debugfsError) notFound() bool {
	return strings.Contains(e.msg, "File not found by ext2_lookup") || strings.Contains(e.msg, "Ext2 inode is not a directory")
}

// debugfsBanner is the version line debugfs always prints on stderr.
var debugfsBanner = regexp.MustCompile(`^debugfs [0-9][^ ]* \(.*\)$`)

// debugfsErrors returns the lines of stderr that are not the banner.
func debugfsErrors(stderr string) string {
	var errs []string
	for _, line := range strings.Split(stderr, "\n") {
		line = strings.TrimSpace(line)
		if line != "" && !debugfsBanner.MatchString(line) {
			errs = append(errs, line)
		}
	}
	return strings.Join(errs, "; ")
}

// quote makes s one argument of a debugfs command: in double quotes, with
// doubled double quotes. Paths are always absolute, so none starts with '-'.
// debugfs reads one command per line: a line break cannot be quoted.
func quote(s string) (string, error) {
	if strings.ContainsAny(s, "\n\r\x00") {
		return "", fmt.Errorf("the file name %q holds a line break, which debugfs cannot be given: remove it inside the guest", s)
	}
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`, nil
}

// request runs one read-only command.
func (d *debugfs) request(ctx context.Context, stdout io.Writer, command string) error {
	return d.run(ctx, nil, stdout, "-R", command)
}

// lsLine is one line of `ls -p`: /inode/mode/uid/gid/name/size/ (no size for
// directories). Names hold no '/', so the name is everything between the fourth
// slash and the last two.
var lsLine = regexp.MustCompile(`^/([0-9]+)/([0-7]+)/([0-9]+)/([0-9]+)/(.*)/([0-9]*)/$`)

// parseLs parses the output of `ls -p` of one directory.
func parseLs(dir string, out []byte) ([]agent.TreeEntry, error) {
	var entries []agent.TreeEntry
	for _, line := range strings.Split(string(out), "\n") {
		if line == "" {
			continue
		}
		m := lsLine.FindStringSubmatch(line)
		if m == nil {
			return nil, fmt.Errorf("cannot read an entry of %s from debugfs (%q): a file name with a line break?", dir, line)
		}
		if m[5] == "." || m[5] == ".." {
			continue
		}
		mode, _ := strconv.ParseUint(m[2], 8, 32)
		uid, err1 := strconv.Atoi(m[3])
		gid, err2 := strconv.Atoi(m[4])
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("cannot read an entry of %s from debugfs (%q)", dir, line)
		}
		size, _ := strconv.ParseInt(m[6], 10, 64)
		entries = append(entries, agent.TreeEntry{Name: m[5], Mode: fileMode(uint32(mode)), UID: uid, GID: gid, Size: size})
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name < entries[j].Name })
	return entries, nil
}

// fileMode converts an ext inode mode to an fs.FileMode.
func fileMode(m uint32) fs.FileMode {
	mode := fs.FileMode(m & 0o777)
	switch m & 0o170000 {
	case 0o040000:
		mode |= fs.ModeDir
	case 0o120000:
		mode |= fs.ModeSymlink
	case 0o020000:
		mode |= fs.ModeDevice | fs.ModeCharDevice
	case 0o060000:
		mode |= fs.ModeDevice
	case 0o010000:
		mode |= fs.ModeNamedPipe
	case 0o140000:
		mode |= fs.ModeSocket
	case 0o100000:
	default:
		mode |= fs.ModeIrregular
	}
	if m&0o4000 != 0 {
		mode |= fs.ModeSetuid
	}
	if m&0o2000 != 0 {
		mode |= fs.ModeSetgid
	}
	if m&0o1000 != 0 {
		mode |= fs.ModeSticky
	}
	return mode
}

// debugfsTree is the agent.Tree of an ext file system read with debugfs; it
// caches directory listings (the file system does not change while a plan is
// made).
type debugfsTree struct {
	ctx  context.Context
	d    *debugfs
	dirs map[string][]agent.TreeEntry
}

func newTree(ctx context.Context, d *debugfs) *debugfsTree {
	return &debugfsTree{ctx: ctx, d: d, dirs: map[string][]agent.TreeEntry{}}
}

func notExist(p string) error { return &fs.PathError{Op: "lstat", Path: p, Err: fs.ErrNotExist} }

func (t *debugfsTree) ReadDir(p string) ([]agent.TreeEntry, error) {
	p = path.Clean(p)
	if e, ok := t.dirs[p]; ok {
		return e, nil
	}
	q, err := quote(p)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	if err := t.d.request(t.ctx, &out, "ls -p "+q); err != nil {
		var de *debugfsError
		if errors.As(err, &de) && de.notFound() {
			return nil, notExist(p)
		}
		return nil, err
	}
	entries, err := parseLs(p, out.Bytes())
	if err != nil {
		return nil, err
	}
	t.dirs[p] = entries
	return entries, nil
}

func (t *debugfsTree) Lstat(p string) (agent.TreeEntry, error) {
	p = path.Clean(p)
	if p == "/" {
		return agent.TreeEntry{Name: "/", Mode: fs.ModeDir | 0o755}, nil
	}
	entries, err := t.ReadDir(path.Dir(p))
	if err != nil {
		return agent.TreeEntry{}, err
	}
	for _, e := range entries {
		if e.Name == path.Base(p) {
			return e, nil
		}
	}
	return agent.TreeEntry{}, notExist(p)
}

func (t *debugfsTree) ReadFile(p string, limit int64) ([]byte, error) {
	e, err := t.Lstat(p)
	if err != nil {
		return nil, err
	}
	if !e.Mode.IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", p)
	}
	if e.Size > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", p, limit)
	}
	q, err := quote(p)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	if err := t.d.request(t.ctx, &out, "cat "+q); err != nil {
		return nil, err
	}
	if int64(out.Len()) != e.Size {
		return nil, fmt.Errorf("debugfs read %d bytes of %s, which holds %d", out.Len(), p, e.Size)
	}
	return out.Bytes(), nil
}

// xattrNames lists the extended attributes of p (SELinux labels, ACLs...) that a
// rewrite must carry over; system.data is where ext4 keeps inline data, not an
// attribute.
func (t *debugfsTree) xattrNames(p string) ([]string, error) {
	q, err := quote(p)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	if err := t.d.request(t.ctx, &out, "ea_list "+q); err != nil {
		return nil, err
	}
	return parseEaList(out.String()), nil
}

// eaLine is one attribute of `ea_list`: two spaces, the name, its length. Values
// are printed escaped, so they never start a line.
var eaLine = regexp.MustCompile(`^  (\S+) \(([0-9]+)\)`)

func parseEaList(out string) []string {
	var names []string
	for _, line := range strings.Split(out, "\n") {
		if m := eaLine.FindStringSubmatch(line); m != nil && m[1] != "system.data" {
			names = append(names, m[1])
		}
	}
	return names
}

// walkRemove returns the commands removing the directory dir and everything in
// it, depth first: debugfs has no recursive rm.
func (t *debugfsTree) walkRemove(dir string, cmds *[]string) error {
	entries, err := t.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		p := path.Join(dir, e.Name)
		if e.Mode.IsDir() {
			if err := t.walkRemove(p, cmds); err != nil {
				return err
			}
			continue
		}
		q, err := quote(p)
		if err != nil {
			return err
		}
		*cmds = append(*cmds, "rm "+q)
	}
	q, err := quote(dir)
	if err != nil {
		return err
	}
	*cmds = append(*cmds, "rmdir "+q)
	return nil
}

// script turns a plan into debugfs commands. Files given new content (or
// emptied) are removed and written anew from a file in work, then get back the
// mode, owner and extended attributes of the old one: debugfs cannot rewrite a
// file in place, and its write copies no owner and refuses an existing path.
func (t *debugfsTree) script(changes []agent.Change, work string) ([]byte, error) {
	var cmds []string
	for i, c := range changes {
		q, err := quote(c.Path)
		if err != nil {
			return nil, err
		}
		switch c.Op {
		case agent.OpRemove:
			if c.Dir {
				if err := t.walkRemove(c.Path, &cmds); err != nil {
					return nil, err
				}
			} else {
				cmds = append(cmds, "rm "+q)
			}
		case agent.OpWrite, agent.OpTruncate:
			data := c.Data
			if c.Op == agent.OpTruncate {
				data = nil
			}
			src := filepath.Join(work, fmt.Sprintf("data-%d", i))
			if err := os.WriteFile(src, data, 0o600); err != nil {
				return nil, err
			}
			qsrc, err := quote(src)
			if err != nil {
				return nil, err
			}
			exists := c.Exists || c.Op == agent.OpTruncate
			var xattrs []string
			if exists {
				if xattrs, err = t.xattrNames(c.Path); err != nil {
					return nil, err
				}
			}
			var restore []string
			for j, name := range xattrs {
				qx, err := quote(filepath.Join(work, fmt.Sprintf("xattr-%d-%d", i, j)))
				if err != nil {
					return nil, err
				}
				qn, err := quote(name)
				if err != nil {
					return nil, err
				}
				cmds = append(cmds, fmt.Sprintf("ea_get -f %s %s %s", qx, q, qn))
				restore = append(restore, fmt.Sprintf("ea_set -f %s %s %s", qx, q, qn))
			}
			if exists {
				cmds = append(cmds, "rm "+q)
			}
			// write links its new file into the current directory under the
			// name it is given in e2fsprogs before 1.47: cd there first.
			qdir, err := quote(path.Dir(c.Path))
			if err != nil {
				return nil, err
			}
			qbase, err := quote(path.Base(c.Path))
			if err != nil {
				return nil, err
			}
			cmds = append(cmds, "cd "+qdir, fmt.Sprintf("write %s %s", qsrc, qbase), "cd /",
				fmt.Sprintf("sif %s mode 0%o", q, 0o100000|unixPerm(c.Mode)),
				fmt.Sprintf("sif %s uid %d", q, c.UID),
				fmt.Sprintf("sif %s gid %d", q, c.GID))
			cmds = append(cmds, restore...)
		default:
			return nil, fmt.Errorf("unknown change %q", c.Op)
		}
	}
	if len(cmds) == 0 {
		return nil, nil
	}
	return []byte(strings.Join(cmds, "\n") + "\n"), nil
}

// unixPerm converts the permission bits of an fs.FileMode to an inode's.
func unixPerm(m fs.FileMode) uint32 {
	p := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		p |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		p |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		p |= 0o1000
	}
	return p
}

// apply runs the plan's script with debugfs -w.
func (t *debugfsTree) apply(changes []agent.Change, work string) error {
	script, err := t.script(changes, work)
	if err != nil || script == nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(work, "script.debugfs"), script, 0o600); err != nil {
		return err
	}
	return t.d.run(t.ctx, nil, io.Discard, "-w", "-f", filepath.Join(work, "script.debugfs"))
}
