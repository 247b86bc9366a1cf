package agent

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
)

// Account ids as Debian, Fedora and Alpine allocate them to people.
const (
	firstUserID = 1000
	lastUserID  = 59999
	maxDBFile   = 8 << 20 // bytes of /etc/passwd, /etc/group, /etc/shadow read
)

// colonFile is a colon-separated account database (/etc/passwd, /etc/group,
// /etc/shadow, /etc/gshadow) kept as lines so that rewriting it changes only what
// was changed.
type colonFile struct {
	lines []string
}

// parseColonFile splits data into lines; a missing final newline is tolerated.
func parseColonFile(data []byte) *colonFile {
	s := strings.TrimSuffix(string(data), "\n")
	if s == "" {
		return &colonFile{}
	}
	return &colonFile{lines: strings.Split(s, "\n")}
}

// bytes renders the file, each line ended by a newline.
func (f *colonFile) bytes() []byte {
	if len(f.lines) == 0 {
		return nil
	}
	return []byte(strings.Join(f.lines, "\n") + "\n")
}

// find returns the fields of the entry called name and its line index, or -1.
func (f *colonFile) find(name string) ([]string, int) {
	for i, line := range f.lines {
		fields := strings.Split(line, ":")
		if fields[0] == name {
			return fields, i
		}
	}
	return nil, -1
}

// ids returns the numeric ids in field (2 for passwd and group) of every entry.
func (f *colonFile) ids(field int) map[int]bool {
	ids := map[int]bool{}
	for _, line := range f.lines {
		fields := strings.Split(line, ":")
		if len(fields) > field {
			if id, err := strconv.Atoi(fields[field]); err == nil {
				ids[id] = true
			}
		}
	}
	return ids
}

// freeID returns the lowest id of the people's range not in used.
func freeID(used map[int]bool, prefer int) (int, error) {
	if prefer >= firstUserID && prefer <= lastUserID && !used[prefer] {
		return prefer, nil
	}
	highest := firstUserID - 1
	for id := range used {
		if id >= firstUserID && id <= lastUserID && id > highest {
			highest = id
		}
	}
	if highest < lastUserID {
		return highest + 1, nil
	}
	for id := firstUserID; id <= lastUserID; id++ {
		if !used[id] {
			return id, nil
		}
	}
	return 0, errors.New("no free user id left")
}

// accountDB is the account databases of the root filesystem.
type accountDB struct {
	passwd, group, shadow, gshadow *colonFile
	hasShadow, hasGshadow          bool
}

func (a *Agent) loadAccounts() (*accountDB, error) {
	db := &accountDB{}
	for _, f := range []struct {
		name     string
		dst      **colonFile
		present  *bool
		required bool
	}{
		{"/etc/passwd", &db.passwd, nil, true},
		{"/etc/group", &db.group, nil, true},
		{"/etc/shadow", &db.shadow, &db.hasShadow, false},
		{"/etc/gshadow", &db.gshadow, &db.hasGshadow, false},
	} {
		data, err := readFileLimit(a.path(f.name), maxDBFile)
		switch {
		case errors.Is(err, fs.ErrNotExist) && !f.required:
			*f.dst = &colonFile{}
			continue
		case errors.Is(err, fs.ErrNotExist):
			return nil, fmt.Errorf("the image has no %s", f.name)
		case err != nil:
			return nil, err
		}
		*f.dst = parseColonFile(data)
		if f.present != nil {
			*f.present = true
		}
	}
	return db, nil
}

// user is the admin account as provisioned.
type user struct {
	name     string
	uid, gid int
	home     string // guest path
	created  bool   // new in /etc/passwd
}

// ensureUser finds or adds the account name and sets its password hash (a
// SHA-512-crypt hash, or "!" for a locked password). A name that belongs to a system
// account of the image (uid below 1000) is refused.
func (a *Agent) ensureUser(name, hash string, days int64) (*user, error) {
	db, err := a.loadAccounts()
	if err != nil {
		return nil, err
	}
	u, err := db.addUser(name, a.shell())
	if err != nil {
		return nil, err
	}
	db.setShadow(name, hash, days)
	files := []struct {
		name  string
		f     *colonFile
		perm  fs.FileMode // when the file is new
		write bool
	}{
		{"/etc/passwd", db.passwd, 0o644, u.created},
		{"/etc/group", db.group, 0o644, u.created},
		{"/etc/gshadow", db.gshadow, 0o600, u.created && db.hasGshadow},
		{"/etc/shadow", db.shadow, 0o600, true},
	}
	for _, f := range files {
		if !f.write {
			continue
		}
		if err := replaceFile(a.path(f.name), f.f.bytes(), f.perm, rootOwner); err != nil {
			return nil, fmt.Errorf("writing %s: %w", f.name, err)
		}
	}
	return u, nil
}

// addUser returns the account name, appending it (and its group) when missing.
func (db *accountDB) addUser(name, shell string) (*user, error) {
	if fields, _ := db.passwd.find(name); fields != nil {
		if len(fields) < 7 {
			return nil, fmt.Errorf("the /etc/passwd entry of %q is malformed", name)
		}
		uid, err1 := strconv.Atoi(fields[2])
		gid, err2 := strconv.Atoi(fields[3])
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("the /etc/passwd entry of %q is malformed", name)
		}
		if uid < firstUserID {
			return nil, fmt.Errorf("user name %q belongs to a system account of this image", name)
		}
		return &user{name: name, uid: uid, gid: gid, home: fields[5]}, nil
	}
	uid, err := freeID(db.passwd.ids(2), 0)
	if err != nil {
		return nil, err
	}
	gid := 0
	if fields, _ := db.group.find(name); fields != nil {
		if len(fields) < 3 {
			return nil, fmt.Errorf("the /etc/group entry of %q is malformed", name)
		}
		if gid, err = strconv.Atoi(fields[2]); err != nil || gid < firstUserID {
			return nil, fmt.Errorf("a system group called %q exists in this image", name)
		}
	} else {
		if gid, err = freeID(db.group.ids(2), uid); err != nil {
			return nil, err
		}
		db.group.lines = append(db.group.lines, fmt.Sprintf("%s:x:%d:", name, gid))
		if db.hasGshadow {
			db.gshadow.lines = append(db.gshadow.lines, name+":!::")
		}
	}
	home := "/home/" + name
	db.passwd.lines = append(db.passwd.lines, fmt.Sprintf("%s:x:%d:%d::%s:%s", name, uid, gid, home, shell))
	return &user{name: name, uid: uid, gid: gid, home: home, created: true}, nil
}

// setShadow sets the password field of name, adding the entry if needed; days is
// the date of the last change, in days since 1970.
func (db *accountDB) setShadow(name, hash string, days int64) {
	fields, i := db.shadow.find(name)
	if fields == nil {
		db.shadow.lines = append(db.shadow.lines, fmt.Sprintf("%s:%s:%d:0:99999:7:::", name, hash, days))
		return
	}
	for len(fields) < 9 {
		fields = append(fields, "")
	}
	fields[1], fields[2] = hash, strconv.FormatInt(days, 10)
	db.shadow.lines[i] = strings.Join(fields, ":")
}

// shell is the admin user's login shell: bash if the image has it.
func (a *Agent) shell() string {
	if _, err := os.Stat(a.path("/bin/bash")); err == nil {
		return "/bin/bash"
	}
	return "/bin/sh"
}
