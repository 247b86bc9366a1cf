package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hangarvm/hangar/internal/api"
	"github.com/hangarvm/hangar/internal/appliance"
	"github.com/hangarvm/hangar/internal/arm"
	"github.com/hangarvm/hangar/internal/atomicfile"
	"github.com/hangarvm/hangar/internal/catalog"
	"github.com/hangarvm/hangar/internal/chunks"
	"github.com/hangarvm/hangar/internal/client"
	"github.com/hangarvm/hangar/internal/compute"
	"github.com/hangarvm/hangar/internal/console"
	"github.com/hangarvm/hangar/internal/events"
	"github.com/hangarvm/hangar/internal/fetch"
	"github.com/hangarvm/hangar/internal/hangar"
	"github.com/hangarvm/hangar/internal/netstack"
	"github.com/hangarvm/hangar/internal/store"
)

type serveOptions struct {
	listen, dataDir, db, store string
	maxVirtualSize             int64
	syndicationInterval        time.Duration
	syndicationBandwidth       int64
	syndicationBandwidthText   string
	limits                     hangar.Resources // default quotas of tenants
	logFormat                  string
	logLevel                   string
	rateLimit                  float64
	rateBurst                  int
	accel                      string
	appliance, qemuUser        string
	provisioningTimeout        time.Duration
	stopTimeout                time.Duration
	serialLogMax               int64
	s3                         s3Flags
	// Several nodes: role, compute host identity and capacity, regions.
	role, hostName, advertiseURL string
	hostNameGiven                bool // --host-name was on the command line
	vcpus, memoryMiB             int64
	heartbeat, hostDownAfter     time.Duration
	region, primaryRegion        string
	regionStores                 []string
	// Between nodes: the cluster secret, and TLS.
	clusterSecretFile      string
	tlsCert, tlsKey, tlsCA string
	egressDeny             []string
	importAllow            []string
	webhookAllow           []string
}

func newServeCmd() *cobra.Command {
	o := &serveOptions{}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the Hangar service",
		Long: `Run the Hangar service: the REST API, the image catalog and the disk store.

With no flags it uses the embedded default: SQLite metadata and a chunk directory,
both under --data-dir, and runs VMs on this machine. On first start it creates the
admin tenant and writes its API key to DATA_DIR/admin.key (mode 0600), unless
HANGAR_ADMIN_KEY is set (give every node of a cluster the same one). A new
HANGAR_ADMIN_KEY replaces the previous one at start: the old key stops working, and
keys made with hangar tenant key create stay.

Several nodes share PostgreSQL metadata (--db postgres://...) and an S3-compatible
object store (--store s3://bucket/prefix); the S3 endpoint, region and credentials
come from the --s3-* flags or the standard AWS environment variables
(AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY). A node with
--role api runs no VMs; --role compute nodes run them, each under its --host-name,
and any node forwards the calls for a VM to its host. Other regions' stores, for
hangar image replicate, are named with --region-store NAME=URL on every node.

Every tenant's quotas (stored bytes, total virtual size, disks, images, VMs, vCPUs,
memory, uploads in progress) default to the --quota-max-... flags; give every node
the same ones. hangar tenant update NAME --max-... sets one tenant's own.

Nodes sign the calls they forward with a cluster secret: the first node to start
on a new database makes one and keeps it there, unless every node is given the same
one (--cluster-secret-file, or HANGAR_CLUSTER_SECRET; at least 32 bytes). A node
refuses forwarding headers not signed with it, and a node with --role api refuses
to start a VM even for a call forwarded to it. The tenant's API key travels with
a forwarded call (its host checks it again): serve the nodes over HTTPS so that it
does not cross the network in clear.

--tls-cert and --tls-key serve HTTPS (the advertised URL then defaults to
https://LISTEN). Nodes call each other trusting the system's CAs, the certificates
in --tls-cert (so nodes sharing one self-signed certificate, or whose file holds
its CA, need nothing more) and --tls-ca. Clients trust a private CA with
hangar --ca-cert FILE or HANGAR_CA_CERT.

Each VM has its own network, run in this process: its guest never reaches this
host's own addresses, loopback, link-local or cloud metadata addresses, nor the
networks of --egress-deny (by default the private ranges, where the host's own
network usually is). A VM created with --egress none reaches nothing outside.`,
		Example: `  hangar serve
  hangar serve --listen 127.0.0.1:7070 --data-dir /var/lib/hangar
  hangar serve --egress-deny 10.0.0.0/8,192.168.0.0/16   # guests may reach 172.16.0.0/12
  AWS_ENDPOINT_URL=http://127.0.0.1:9000 AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=... \
    hangar serve --db postgres://hangar@db/hangar --store s3://hangar-chunks/prod
  hangar serve --listen 0.0.0.0:7070 --advertise-url https://node1.example:7070 \
    --tls-cert node1.pem --tls-key node1-key.pem --tls-ca cluster-ca.pem \
    --cluster-secret-file /etc/hangar/cluster.secret --db postgres://hangar@db/hangar`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.hostNameGiven = cmd.Flags().Changed("host-name")
			return serve(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.listen, "listen", "127.0.0.1:7070", "address to listen on")
	f.StringVar(&o.dataDir, "data-dir", "./hangar-data", "directory for the database, chunks and keys")
	f.StringVar(&o.db, "db", "", "metadata database URL (default: sqlite in --data-dir)")
	f.StringVar(&o.store, "store", "", "chunk store: file:///PATH or s3://BUCKET[/PREFIX][?endpoint=URL&region=NAME] (default: directory in --data-dir)")
	o.s3.register(f)
	f.StringVar(&o.syndicationBandwidthText, "syndication-bandwidth", "", "bound on what each marketplace pull fetches from its upstream per second, as 50MiB (default: none)")
	f.DurationVar(&o.syndicationInterval, "syndication-interval", catalog.DefaultSyndicationInterval, "how often each marketplace syndication looks at its upstream (new versions, changed flags, withdrawals)")
	f.Int64Var(&o.maxVirtualSize, "max-virtual-size", catalog.DefaultMaxVirtualSize, "largest virtual disk size accepted, in bytes")
	registerQuotaFlags(f, &o.limits, catalog.DefaultLimits)
	enumVar(f, &o.logFormat, "log-format", "json", []string{"json", "text"}, "log format: json or text")
	f.Float64Var(&o.rateLimit, "rate-limit", 500, "requests a second each tenant may send to this node, on average (0: no limit); more are answered 429 with Retry-After")
	f.IntVar(&o.rateBurst, "rate-burst", 1000, "requests a tenant may send at once above --rate-limit")
	enumVar(f, &o.logLevel, "log-level", "info", []string{"debug", "info", "warn", "error"}, "least severe log lines written: debug, info (one line per request), warn or error")
	enumVar(f, &o.accel, "accel", "auto", accels, "VM acceleration: auto (KVM if a test boot works, else TCG), kvm or tcg")
	f.StringVar(&o.appliance, "appliance", defaultApplianceDir(), "directory of the appliance (vmlinuz, initrd.img) that generalizes disks offline; make appliance builds it (env HANGAR_APPLIANCE)")
	f.StringVar(&o.qemuUser, "qemu-user", appliance.UnprivilegedUser(), "unprivileged user the appliance's QEMU runs as (-runas); \"\" keeps this process's user")
	f.DurationVar(&o.provisioningTimeout, "provisioning-timeout", 5*time.Minute, "how long a new VM's guest may take to report ready")
	f.Int64Var(&o.serialLogMax, "serial-log-max", compute.DefaultSerialLogMax, "size in bytes past which a VM's serial log is rotated; it and the one before are kept")
	f.DurationVar(&o.stopTimeout, "stop-timeout", 10*time.Second, "how long a guest may take to power off before QEMU is stopped")
	host, _ := os.Hostname()
	enumVar(f, &o.role, "role", "all", []string{"all", "api", "compute"}, "what this node does: all (API and VMs), api (API only: VMs run on compute hosts) or compute (runs VMs; answers the API calls forwarded to it)")
	f.StringVar(&o.hostName, "host-name", host, "this compute host's name, unique among the nodes")
	f.StringVar(&o.advertiseURL, "advertise-url", "", "URL other nodes reach this node at (default: http://LISTEN, or https://LISTEN with --tls-cert)")
	f.Int64Var(&o.vcpus, "vcpus", int64(runtime.NumCPU()), "vCPUs this compute host offers to VMs")
	f.Int64Var(&o.memoryMiB, "memory-mib", hostMemoryMiB(), "memory in MiB this compute host offers to VMs")
	f.DurationVar(&o.heartbeat, "heartbeat", 2*time.Second, "how often a compute host reports that it is alive")
	f.DurationVar(&o.hostDownAfter, "host-down-after", 15*time.Second, "how long a silent compute host is taken as down (its running VMs become unknown)")
	f.StringVar(&o.primaryRegion, "primary-region", catalog.DefaultRegion, "name of the region of --store, where every disk lands")
	f.StringVar(&o.region, "region", "", "the region this node is in (default: the primary region); a compute host reads chunks from its region's store")
	f.StringVar(&o.clusterSecretFile, "cluster-secret-file", "", "file holding the secret the nodes sign forwarded calls with, the same on every node (default: $HANGAR_CLUSTER_SECRET, else one kept in the database)")
	f.StringVar(&o.tlsCert, "tls-cert", "", "PEM certificate (chain) to serve HTTPS with; needs --tls-key")
	f.StringVar(&o.tlsKey, "tls-key", "", "PEM private key of --tls-cert")
	f.StringVar(&o.tlsCA, "tls-ca", "", "PEM file of the CA the other nodes' certificates are signed by, trusted besides the system's CAs and --tls-cert")
	f.StringSliceVar(&o.egressDeny, "egress-deny", netstack.DefaultDeny, "networks (CIDRs) no guest may reach, besides this host's own addresses, loopback, link-local and metadata addresses, which none ever does; \"\" for none")
	f.StringArrayVar(&o.webhookAllow, "webhook-allow-cidr", nil, "a network (CIDR) that webhooks may be delivered to although it is internal (loopback, link-local, private or this host's own); repeatable. Without it webhooks reach public addresses only")
	f.StringArrayVar(&o.importAllow, "import-allow-cidr", nil, "a network (CIDR) that disk imports from a URL may reach although it is internal (loopback, link-local, private or this host's own); repeatable. Without it imports reach public addresses only")
	f.StringArrayVar(&o.regionStores, "region-store", nil, "another region's chunk store, as NAME=URL, e.g. westeurope=s3://bucket/prefix?endpoint=https://s3.westeurope.example (repeatable; the same list on every node)")
	return cmd
}

func serve(ctx context.Context, o *serveOptions) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		return err
	}
	opts := &slog.HandlerOptions{Level: level}
	var handler slog.Handler = slog.NewJSONHandler(os.Stderr, opts)
	if o.logFormat == "text" {
		handler = slog.NewTextHandler(os.Stderr, opts)
	}
	log := slog.New(handler)
	netstack.RouteLibraryLogs(log)
	if err := atomicfile.MkdirAll(o.dataDir, 0o700); err != nil {
		return err
	}
	// VM overlays name their bases by absolute path, and QEMU runs in its own
	// session: every path handed on must not depend on our working directory.
	abs, err := filepath.Abs(o.dataDir)
	if err != nil {
		return err
	}
	o.dataDir = abs
	lock, err := lockDataDir(o.dataDir)
	if err != nil {
		return err
	}
	defer lock.Close()
	dbURL := o.db
	if dbURL == "" {
		dbURL = "sqlite://" + filepath.Join(o.dataDir, "hangar.db")
	}
	db, err := store.Open(ctx, dbURL)
	if err != nil {
		return fmt.Errorf("open metadata store: %w", err)
	}
	defer db.Close()
	backend, err := openChunkStore(ctx, o.store, o.dataDir, o.s3)
	if err != nil {
		return fmt.Errorf("open chunk store: %w", err)
	}
	staging := filepath.Join(o.dataDir, "staging")
	if err := os.RemoveAll(staging); err != nil { // files of imports a crash interrupted
		return err
	}
	if err := atomicfile.MkdirAll(staging, 0o700); err != nil {
		return err
	}
	cs := &chunks.Store{Backend: backend}
	regions, err := openRegions(ctx, o)
	if err != nil {
		return err
	}
	nodeID, err := readNodeID(o.dataDir)
	if err != nil {
		return err
	}
	if o.hostName, err = stableHostName(o.dataDir, o.hostName, o.hostNameGiven); err != nil {
		return err
	}
	if o.syndicationBandwidthText != "" {
		if o.syndicationBandwidth, err = hangar.ParseSize(o.syndicationBandwidthText); err != nil || o.syndicationBandwidth <= 0 {
			return usageErrorf("--syndication-bandwidth %q: give bytes per second, as 50MiB", o.syndicationBandwidthText)
		}
	}
	signingKey, err := signingKey(ctx, db)
	if err != nil {
		return err
	}
	importPolicy, err := allowPolicy("--import-allow-cidr", o.importAllow)
	if err != nil {
		return err
	}
	webhookPolicy, err := allowPolicy("--webhook-allow-cidr", o.webhookAllow)
	if err != nil {
		return err
	}
	cat := catalog.New(db, cs, catalog.Config{
		ImportPolicy:   importPolicy,
		MaxVirtualSize: o.maxVirtualSize, StagingDir: staging, QuarantineDir: filepath.Join(o.dataDir, "quarantine"),
		PrimaryRegion: o.primaryRegion, Regions: regions, Node: o.hostName + "/" + nodeID,
		Limits: hangar.NormalizeLimits(o.limits), SigningKey: signingKey, SyndicationInterval: o.syndicationInterval, SyndicationBandwidth: o.syndicationBandwidth,
		DialUpstream: func(url, key string) catalog.Upstream { return client.New(url, key) },
	}, log)
	msg, err := cat.Bootstrap(ctx, os.Getenv("HANGAR_ADMIN_KEY"), filepath.Join(o.dataDir, "admin.key"))
	if err != nil {
		return err
	}
	cluster, secretMsg, err := clusterConfig(ctx, o, db)
	if err != nil {
		return err
	}
	tlsConfig, err := serverTLS(o)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return err
	}
	// The port answers at once, with 503 and Retry-After until compute is set up
	// and running VMs are adopted: a restarting server never leaves a client hanging.
	starting := &api.Starting{}
	srv := &http.Server{Handler: api.WithRequestID(starting), ReadHeaderTimeout: 30 * time.Second, TLSConfig: tlsConfig}
	errc := make(chan error, 1)
	go func() {
		if tlsConfig != nil {
			errc <- srv.ServeTLS(ln, "", "")
			return
		}
		errc <- srv.Serve(ln)
	}()
	defer srv.Close()
	cfg, err := computeConfig(o, log, nodeID, ln.Addr().String())
	if err != nil {
		return err
	}
	// A compute host in another region makes its VMs' disks from that region's copy.
	vmChunks := cs
	if r, ok := regions[cfg.Host.Region]; ok {
		vmChunks = r
	}
	vms, err := compute.New(ctx, cfg, db, cat, vmChunks, log)
	if err != nil {
		return err
	}
	defer vms.Close()
	if err := vms.Register(ctx); err != nil {
		return err
	}
	if err := vms.Adopt(ctx); err != nil {
		return fmt.Errorf("adopting running VMs: %w", err)
	}
	bg, stopBackground := context.WithCancel(ctx)
	defer stopBackground()
	go vms.Watch(bg)
	go cat.RunReplication(bg)
	go cat.RunSyndication(bg)
	go cat.RunChecksums(bg)
	evs := events.New(db, events.Config{Policy: webhookPolicy}, log)
	go evs.Run(bg)
	hangarAPI := api.New(cat, vms, log, cluster, api.WithEvents(evs))
	hangarAPI.LimitRate(api.RateLimit{PerSecond: o.rateLimit, Burst: o.rateBurst})
	srv.RegisterOnShutdown(hangarAPI.CloseStreams)
	starting.Ready(console.Mount(arm.Mount(hangarAPI, arm.New(hangarAPI, db, o.primaryRegion, log)), console.New(hangarAPI, log, console.Options{Sessions: db})))
	log.Info("hangar serving", "url", scheme(o)+"://"+ln.Addr().String(), "advertised", cfg.Host.URL, "role", o.role, "host", cfg.Host.Name,
		"dataDir", o.dataDir, "admin", msg, "clusterSecret", secretMsg)
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

// computeConfig finds QEMU and the UEFI firmware, and says what this node offers as a
// compute host. Without QEMU the node still serves: images work, and VMs run on
// other hosts, if there are any.
func computeConfig(o *serveOptions, log *slog.Logger, nodeID, listenAddr string) (compute.Config, error) {
	c := compute.Config{
		Dir: filepath.Join(o.dataDir, "compute"), Accel: o.accel, Sandbox: true,
		ApplianceDir: o.appliance, QEMUUser: o.qemuUser,
		ProvisioningTimeout: o.provisioningTimeout, StopTimeout: o.stopTimeout, SerialLogMax: o.serialLogMax,
		Host: compute.HostConfig{
			Name: o.hostName, NodeID: nodeID, URL: o.advertiseURL, Region: firstNonEmpty(o.region, o.primaryRegion),
			VCPUs: o.vcpus, MemoryMiB: o.memoryMiB, Heartbeat: o.heartbeat, DownAfter: o.hostDownAfter,
		},
	}
	if c.Host.URL == "" {
		c.Host.URL = scheme(o) + "://" + listenAddr
	}
	if o.tlsCert != "" && !strings.HasPrefix(c.Host.URL, "https://") {
		return c, fmt.Errorf("--advertise-url %s: this node serves HTTPS (--tls-cert), so other nodes reach it at https://", c.Host.URL)
	}
	deny, err := netstack.ParseDeny(o.egressDeny)
	if err != nil {
		return c, fmt.Errorf("--egress-deny: %w", err)
	}
	c.EgressDeny = deny
	switch o.role {
	case "all", "compute":
		if err := hangar.ValidateName("host", o.hostName); err != nil {
			return c, fmt.Errorf("--host-name: %w", err)
		}
	case "api":
		c.Host.Name = ""
	default:
		return c, fmt.Errorf("--role %q: use all, api or compute", o.role)
	}
	if o.heartbeat <= 0 || o.hostDownAfter < 2*o.heartbeat {
		return c, fmt.Errorf("--host-down-after (%s) must be at least twice --heartbeat (%s)", o.hostDownAfter, o.heartbeat)
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
		if o.role == "compute" {
			return c, fmt.Errorf("--role compute needs QEMU; on Debian: apt-get install qemu-system-x86 qemu-utils ovmf")
		}
		if c.Host.Name != "" {
			log.Warn("QEMU not found: this node runs no VMs; on Debian: apt-get install qemu-system-x86 qemu-utils ovmf")
		}
		c.QEMU, c.QEMUImg, c.Host.Name = "", "", ""
	}
	return c, nil
}

// openRegions opens the other regions' chunk stores named by --region-store.
func openRegions(ctx context.Context, o *serveOptions) (map[string]*chunks.Store, error) {
	regions := map[string]*chunks.Store{}
	for _, rs := range o.regionStores {
		name, url, ok := strings.Cut(rs, "=")
		if !ok || url == "" {
			return nil, fmt.Errorf("--region-store %q: want NAME=URL, as in westeurope=s3://bucket/prefix", rs)
		}
		if err := hangar.ValidateName("region", name); err != nil {
			return nil, fmt.Errorf("--region-store: %w", err)
		}
		if name == o.primaryRegion || regions[name] != nil {
			return nil, fmt.Errorf("--region-store: region %q is named twice (the primary region's store is --store)", name)
		}
		b, err := openChunkStore(ctx, url, o.dataDir, o.s3)
		if err != nil {
			return nil, fmt.Errorf("region %s: %w", name, err)
		}
		regions[name] = &chunks.Store{Backend: b}
	}
	if o.region != "" && o.region != o.primaryRegion && regions[o.region] == nil {
		return nil, fmt.Errorf("--region %q has no store: add --region-store %s=URL", o.region, o.region)
	}
	return regions, nil
}

// readNodeID returns the identity of this data dir, made on first start: it tells a
// restarted node from another node that took the same host name.
func readNodeID(dataDir string) (string, error) {
	return remembered(filepath.Join(dataDir, "node.id"), store.NewID(), false)
}

// stableHostName is the host name this data dir registers under: the one given,
// else the one it used before, else the machine's. A machine whose name changes
// (a container's, say) must not lose track of the VMs placed on it.
func stableHostName(dataDir, name string, given bool) (string, error) {
	return remembered(filepath.Join(dataDir, "host.name"), name, given)
}

// remembered returns the value the file holds, or, when it holds none or override
// is set, value, which it then holds. The file is replaced atomically and durably: a
// crash while writing must not leave an empty node.id, which would make the node
// a stranger to its own VMs on the next start.
func remembered(path, value string, override bool) (string, error) {
	if !override {
		if data, err := os.ReadFile(path); err == nil && strings.TrimSpace(string(data)) != "" {
			return strings.TrimSpace(string(data)), nil
		}
	}
	return value, atomicfile.WriteFile(path, []byte(value+"\n"), 0o600)
}

// hostMemoryMiB is the machine's memory, the default a compute host offers.
func hostMemoryMiB() int64 {
	data, _ := os.ReadFile("/proc/meminfo")
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			var kib int64
			fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), &kib)
			return kib / 1024
		}
	}
	return 1024
}

// defaultApplianceDir is $HANGAR_APPLIANCE, else the appliance directory beside
// this executable (make build puts bin/hangar and bin/appliance side by side).
func defaultApplianceDir() string {
	if d := os.Getenv("HANGAR_APPLIANCE"); d != "" {
		return d
	}
	exe, err := os.Executable()
	if err != nil {
		return "appliance"
	}
	return filepath.Join(filepath.Dir(exe), "appliance")
}

// allowPolicy is an SSRF policy (of imports from a URL, or of webhooks) with the
// CIDRs an admin allowed with flag.
func allowPolicy(flag string, cidrs []string) (fetch.Policy, error) {
	var p fetch.Policy
	for _, c := range cidrs {
		pre, err := netip.ParsePrefix(strings.TrimSpace(c))
		if err != nil {
			return p, fmt.Errorf("%s %q: want a network such as 10.1.0.0/16 or 127.0.0.1/32", flag, c)
		}
		p.Allow = append(p.Allow, pre.Masked())
	}
	return p, nil
}
