package agent

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func addTestdata(f *testing.F, pattern string) {
	paths, _ := filepath.Glob(filepath.Join("testdata", pattern))
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// FuzzOVFEnv parses and masks arbitrary ovf-env.xml: masking keeps the document
// parsable and leaves no password behind.
func FuzzOVFEnv(f *testing.F) {
	addTestdata(f, "ovf-env-*.xml")
	f.Fuzz(func(t *testing.T, data []byte) {
		env, err := ParseOVFEnv(data)
		masked, merr := MaskOVFEnv(data)
		if err != nil || merr != nil {
			return
		}
		env2, err := ParseOVFEnv(masked)
		if err != nil {
			t.Fatalf("masked document does not parse: %v\n%s", err, masked)
		}
		if env.Windows != env2.Windows {
			t.Fatal("masking changed the configuration set")
		}
		if !env.Windows && env.UserPassword != "" && env2.UserPassword != "*" {
			t.Fatalf("password %q masked as %q", env.UserPassword, env2.UserPassword)
		}
		if !env.Windows && env.UserName != env2.UserName {
			t.Fatalf("masking changed the user name %q to %q", env.UserName, env2.UserName)
		}
		_ = env.Config("i").Validate()
	})
}

func FuzzMetaData(f *testing.F) {
	addTestdata(f, "meta-data.*")
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseMetaData(data)
		if err == nil && m.InstanceID == "" {
			t.Fatal("accepted without instance-id")
		}
	})
}

func FuzzMessage(f *testing.F) {
	f.Add([]byte(`{"type":"run","id":"1","script":"#!/bin/sh\necho hi\n"}`))
	f.Add([]byte(`{"type":"ready","instanceId":"i","provisioned":true,"hostname":"vm1"}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		m, err := ParseMessage(line)
		if err == nil && m.Type == "" {
			t.Fatal("accepted without type")
		}
	})
}

// FuzzAccounts parses arbitrary /etc/passwd and /etc/group contents and adds a user:
// the original lines stay as they were, a new uid is free and in the people's range,
// and the user is in /etc/shadow once.
func FuzzAccounts(f *testing.F) {
	f.Add([]byte(fixture[0].data), []byte(fixture[1].data))
	f.Add([]byte("alice:x:1000:1000::/home/alice:/bin/sh\n"), []byte("alice:x:5:\n"))
	f.Fuzz(func(t *testing.T, passwd, group []byte) {
		db := &accountDB{passwd: parseColonFile(passwd), group: parseColonFile(group), shadow: parseColonFile(nil), gshadow: parseColonFile(nil)}
		before := string(db.passwd.bytes())
		used := db.passwd.ids(2)
		u, err := db.addUser("alice", "/bin/sh")
		if err != nil {
			return
		}
		if !strings.HasPrefix(string(db.passwd.bytes()), before) {
			t.Fatal("existing passwd lines changed")
		}
		if u.created && (u.uid < firstUserID || u.uid > lastUserID || used[u.uid]) {
			t.Fatalf("new uid %d is used or out of range", u.uid)
		}
		db.setShadow("alice", "!", 1)
		if n := bytes.Count(db.shadow.bytes(), []byte("alice:")); n != 1 {
			t.Fatalf("alice %d times in shadow", n)
		}
	})
}
