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
	"slices"
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

// server starts the shared cluster, or returns $HANGAR_TEST_POSTGRES.
func server() (string, error) {
	if dsn := os.Getenv("HANGAR_TEST_POSTGRES"); dsn != "" {
		return dsn, nil
	}
	c, err := startCluster()
	if err != nil {
		return "", err
	}
	stopAtExit(c.remove)
	return c.DSN(), nil
}

// Cluster is a PostgreSQL server of the tests' own.
type Cluster struct {
	bin, dir, data string
	runAs          []string
}

// NewCluster starts a cluster for one test, which may stop and start it (to test
// what happens when the database goes away); it is removed when the test ends.
func NewCluster(t testing.TB) *Cluster {
	t.Helper()
	c, err := startCluster()
	if err != nil {
		t.Fatalf("PostgreSQL for tests: %v (install it with scripts/deps.sh)", err)
	}
	t.Cleanup(c.remove)
	return c
}

// DSN is the URL of the cluster's postgres database.
func (c *Cluster) DSN() string { return "postgres://postgres@/postgres?host=" + url.QueryEscape(c.dir) }

func startCluster() (*Cluster, error) {
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(bins) == 0 {
		return nil, fmt.Errorf("initdb not found")
	}
	dir, err := os.MkdirTemp("", "hangar-pg")
	if err != nil {
		return nil, err
	}
	c := &Cluster{bin: filepath.Dir(bins[len(bins)-1]), dir: dir, data: filepath.Join(dir, "data")}
	// PostgreSQL refuses to run as root: run it as the postgres user then.
	if os.Geteuid() == 0 {
		pg, err := user.Lookup("postgres")
		if err != nil {
			return nil, err
		}
		uid, _ := strconv.Atoi(pg.Uid)
		gid, _ := strconv.Atoi(pg.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			return nil, err
		}
		c.runAs = []string{"runuser", "-u", "postgres", "--"}
	}
	if err := c.run(filepath.Join(c.bin, "initdb"), "-D", c.data, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"); err != nil {
		return nil, err
	}
	return c, c.Start()
}

func (c *Cluster) run(args ...string) error {
	args = append(slices.Clone(c.runAs), args...)
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %v: %s", filepath.Base(args[len(c.runAs)]), err, out)
	}
	return nil
}

// Start starts the server (again) and waits until it accepts connections.
func (c *Cluster) Start() error {
	opts := fmt.Sprintf("-k %s -c listen_addresses='' -F -c max_connections=200", c.dir)
	return c.run(filepath.Join(c.bin, "pg_ctl"), "-D", c.data, "-o", opts, "-l", filepath.Join(c.dir, "log"), "-w", "start")
}

// Stop shuts the server down at once, as a crash or an operator's restart would:
// every connection is cut.
func (c *Cluster) Stop() error {
	return c.run(filepath.Join(c.bin, "pg_ctl"), "-D", c.data, "-m", "immediate", "-w", "stop")
}

func (c *Cluster) remove() {
	c.Stop()
	os.RemoveAll(c.dir)
}
