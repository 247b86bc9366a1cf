package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hangarvm/hangar/internal/api"
	"github.com/hangarvm/hangar/internal/catalog"
	"github.com/hangarvm/hangar/internal/chunks"
	"github.com/hangarvm/hangar/internal/chunks/dirstore"
	"github.com/hangarvm/hangar/internal/compute"
	"github.com/hangarvm/hangar/internal/store"
)

type serveOptions struct {
	listen, dataDir, db, store string
	maxVirtualSize             int64
	logFormat                  string
	accel                      string
	provisioningTimeout        time.Duration
	stopTimeout                time.Duration
}

func newServeCmd() *cobra.Command {
	o := &serveOptions{}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the Hangar service",
		Long: `Run the Hangar service: the REST API, the image catalog and the disk store.

With no flags it uses the embedded default: SQLite metadata and a chunk directory,
both under --data-dir. On first start it creates the admin tenant and writes its API
key to DATA_DIR/admin.key (mode 0600), unless HANGAR_ADMIN_KEY is set.`,
		Example: `  hangar serve
  hangar serve --listen 127.0.0.1:7070 --data-dir /var/lib/hangar`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return serve(cmd.Context(), o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.listen, "listen", "127.0.0.1:7070", "address to listen on")
	f.StringVar(&o.dataDir, "data-dir", "./hangar-data", "directory for the database, chunks and keys")
	f.StringVar(&o.db, "db", "", "metadata database URL (default: sqlite in --data-dir)")
	f.StringVar(&o.store, "store", "", "chunk store URL (default: directory in --data-dir)")
	f.Int64Var(&o.maxVirtualSize, "max-virtual-size", catalog.DefaultMaxVirtualSize, "largest virtual disk size accepted, in bytes")
	f.StringVar(&o.logFormat, "log-format", "json", "log format: json or text")
	f.StringVar(&o.accel, "accel", "auto", "VM acceleration: auto (KVM if a test boot works, else TCG), kvm or tcg")
	f.DurationVar(&o.provisioningTimeout, "provisioning-timeout", 5*time.Minute, "how long a new VM's guest may take to report ready")
	f.DurationVar(&o.stopTimeout, "stop-timeout", 10*time.Second, "how long a guest may take to power off before QEMU is stopped")
	return cmd
}

func serve(ctx context.Context, o *serveOptions) error {
	var handler slog.Handler = slog.NewJSONHandler(os.Stderr, nil)
	if o.logFormat == "text" {
		handler = slog.NewTextHandler(os.Stderr, nil)
	}
	log := slog.New(handler)
	if err := os.MkdirAll(o.dataDir, 0o700); err != nil {
		return err
	}
	// VM overlays name their bases by absolute path, and QEMU runs in its own
	// session: every path handed on must not depend on our working directory.
	abs, err := filepath.Abs(o.dataDir)
	if err != nil {
		return err
	}
	o.dataDir = abs
	dbURL := o.db
	if dbURL == "" {
		dbURL = "sqlite://" + filepath.Join(o.dataDir, "hangar.db")
	}
	db, err := store.Open(ctx, dbURL)
	if err != nil {
		return fmt.Errorf("open metadata store: %w", err)
	}
	defer db.Close()
	if o.store != "" && !strings.HasPrefix(o.store, "file://") {
		return fmt.Errorf("chunk store %q: only a local directory (file:///path) is available in this build", o.store)
	}
	chunkDir := strings.TrimPrefix(o.store, "file://")
	if chunkDir == "" {
		chunkDir = filepath.Join(o.dataDir, "chunks")
	}
	backend, err := dirstore.Open(chunkDir)
	if err != nil {
		return fmt.Errorf("open chunk store: %w", err)
	}
	staging := filepath.Join(o.dataDir, "staging")
	if err := os.RemoveAll(staging); err != nil { // files of imports a crash interrupted
		return err
	}
	if err := os.MkdirAll(staging, 0o700); err != nil {
		return err
	}
	cs := &chunks.Store{Backend: backend}
	cat := catalog.New(db, cs, catalog.Config{
		MaxVirtualSize: o.maxVirtualSize, StagingDir: staging, QuarantineDir: filepath.Join(o.dataDir, "quarantine"),
	}, log)
	msg, err := cat.Bootstrap(ctx, os.Getenv("HANGAR_ADMIN_KEY"), filepath.Join(o.dataDir, "admin.key"))
	if err != nil {
		return err
	}
	vms, err := compute.New(ctx, computeConfig(o, log), db, cat, cs, log)
	if err != nil {
		return err
	}
	defer vms.Close()
	if err := vms.Adopt(ctx); err != nil {
		return fmt.Errorf("adopting running VMs: %w", err)
	}
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: api.New(cat, vms, log), ReadHeaderTimeout: 30 * time.Second}
	log.Info("hangar serving", "url", "http://"+ln.Addr().String(), "dataDir", o.dataDir, "admin", msg)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// computeConfig finds QEMU and the UEFI firmware. Without QEMU the service still
// runs: images work, VM calls answer that the host cannot run VMs.
func computeConfig(o *serveOptions, log *slog.Logger) compute.Config {
	c := compute.Config{
		Dir: filepath.Join(o.dataDir, "compute"), Accel: o.accel, Sandbox: true,
		ProvisioningTimeout: o.provisioningTimeout, StopTimeout: o.stopTimeout,
	}
	c.QEMU, _ = exec.LookPath("qemu-system-x86_64")
	c.QEMUImg, _ = exec.LookPath("qemu-img")
	for _, fw := range []string{"/usr/share/ovmf/OVMF.fd", "/usr/share/qemu/OVMF.fd"} {
		if _, err := os.Stat(fw); err == nil {
			c.OVMF = fw
			break
		}
	}
	if c.QEMU == "" || c.QEMUImg == "" {
		log.Warn("QEMU not found: VMs are unavailable on this host; on Debian: apt-get install qemu-system-x86 qemu-utils ovmf")
		c.QEMU, c.QEMUImg = "", ""
	}
	return c
}
