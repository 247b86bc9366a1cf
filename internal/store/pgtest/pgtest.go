// Package pgtest gives tests a real, throwaway PostgreSQL database: the server named
// by $HANGAR_TEST_POSTGRES (a postgres:// URL of a database the tests may create
// databases from), or else one cluster per test binary made with the system's initdb
// (Debian's postgresql package) in a temporary directory, listening only on a unix
// socket, stopped when the tests end.
package pgtest

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib"
)

var (
	once    sync.Once
	baseDSN string
	initErr error
	count   atomic.Int64
)

// DSN returns the URL of a new, empty database.
func DSN(t testing.TB) string {
	t.Helper()
	once.Do(func() { baseDSN, initErr = server() })
	if initErr != nil {
		t.Fatalf("PostgreSQL for tests: %v (install it with scripts/deps.sh, or set HANGAR_TEST_POSTGRES)", initErr)
	}
	u, _ := url.Parse(baseDSN)
	db, err := sql.Open("pgx", baseDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	name := fmt.Sprintf("hangar_test_%d_%d", os.Getpid(), count.Add(1))
	if _, err := db.ExecContext(context.Background(), "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}

// server starts the cluster, or returns $HANGAR_TEST_POSTGRES.
func server() (string, error) {
	if dsn := os.Getenv("HANGAR_TEST_POSTGRES"); dsn != "" {
		return dsn, nil
	}
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(bins) == 0 {
		return "", fmt.Errorf("initdb not found")
	}
	bin := filepath.Dir(bins[len(bins)-1])
	dir, err := os.MkdirTemp("", "hangar-pg")
	if err != nil {
		return "", err
	}
	// PostgreSQL refuses to run as root: run it as the postgres user then.
	var runAs []string
	if os.Geteuid() == 0 {
		pg, err := user.Lookup("postgres")
		if err != nil {
			return "", err
		}
		uid, _ := strconv.Atoi(pg.Uid)
		gid, _ := strconv.Atoi(pg.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			return "", err
		}
		runAs = []string{"runuser", "-u", "postgres", "--"}
	}
	data := filepath.Join(dir, "data")
	run := func(args ...string) error {
		cmd := exec.Command(runAs[0], append(runAs[1:], args...)...)
		if len(runAs) == 0 {
			cmd = exec.Command(args[0], args[1:]...)
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %v: %s", filepath.Base(args[0]), err, out)
		}
		return nil
	}
	if err := run(filepath.Join(bin, "initdb"), "-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"); err != nil {
		return "", err
	}
	opts := fmt.Sprintf("-k %s -c listen_addresses='' -F -c max_connections=200", dir)
	if err := run(filepath.Join(bin, "pg_ctl"), "-D", data, "-o", opts, "-l", filepath.Join(dir, "log"), "-w", "start"); err != nil {
		return "", err
	}
	stopAtExit(func() { run(filepath.Join(bin, "pg_ctl"), "-D", data, "-m", "immediate", "stop"); os.RemoveAll(dir) })
	return "postgres://postgres@/postgres?host=" + url.QueryEscape(dir), nil
}
