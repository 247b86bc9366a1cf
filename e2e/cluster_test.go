package e2e

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hangarvm/hangar/internal/chunks/s3store/s3test"
)

// regionStore returns the URL of a new chunk store for another region: a bucket of
// the cluster's S3 server, or a directory.
func (c *cluster) regionStore() string {
	if c.s3 != nil {
		return c.s3.URL(c.s3.NewBucket(c.t))
	}
	return "file://" + c.t.TempDir()
}

type hostJSON struct {
	Name      string `json:"name"`
	Region    string `json:"region"`
	State     string `json:"state"`
	UsedVCPUs int64  `json:"usedVcpus"`
	VMs       int    `json:"vms"`
}

type replicaJSON struct {
	Region      string `json:"region"`
	State       string `json:"state"`
	Message     string `json:"message"`
	TotalBytes  int64  `json:"totalBytes"`
	DoneBytes   int64  `json:"doneBytes"`
	CopiedBytes int64  `json:"copiedBytes"`
}

// waitVMState polls a node until the VM's power state is want.
func (s *server) waitVMState(key, name, want string, within time.Duration) vmJSON {
	s.t.Helper()
	var vm vmJSON
	for deadline := time.Now().Add(within); ; time.Sleep(200 * time.Millisecond) {
		s.json(key, &vm, "vm", "show", name)
		if vm.PowerState == want {
			return vm
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("VM %s is %s after %s, want %s", name, vm.PowerState, within, want)
		}
	}
}

// TestClusterComputeHostAndRegions runs two API nodes and one compute node in another
// region, on one PostgreSQL database and one primary chunk store. An image version is
// usable in the compute node's region only once replicated there; a VM created through
// API node 2 then runs on the compute node, and calls for it through either API node
// reach it. When the compute node is killed, its VM's state becomes unknown and it is
// never started anywhere else; when the node returns, it takes its VM back.
func TestClusterComputeHostAndRegions(t *testing.T) {
	img := testImage(t, "generalized")
	c := newCluster(t)
	timing := []string{"--heartbeat", "500ms", "--host-down-after", "3s", "--region-store", "west=" + c.regionStore()}
	api1 := c.launch("api1", append([]string{"--role", "api"}, timing...)...)
	api2 := c.launch("api2", append([]string{"--role", "api"}, timing...)...)
	comp := c.launch("c1", append([]string{"--role", "compute", "--region", "west", "--vcpus", "2", "--memory-mib", "2048"}, timing...)...)
	for _, n := range []*server{api1, api2, comp} {
		n.waitHealthy()
	}
	var created struct {
		Key string `json:"key"`
	}
	api1.json(c.adminKey, &created, "tenant", "create", "alice")
	alice := created.Key

	api1.ok(alice, "disk", "upload", img, "--name", "tiny")
	osImage(api1, alice, "tiny", "tiny", "--version", "1.0.0")
	create := []string{"--name", "web", "--image", "tiny@1.0.0", "--location", "west", "--admin-username", "azureuser",
		"--ssh-key-value", newSSHKey(t), "--provisioning-timeout", "4m"}
	if _, err := api2.createVM(alice, create...); err == nil || !strings.Contains(err.Error(), "not (yet) replicated to region \"west\"") {
		t.Fatalf("VM created in a region the image is not in: %v", err)
	}

	var replicas []replicaJSON
	api1.json(alice, &replicas, "image", "replicate", "tiny", "1.0.0", "--region", "west")
	if len(replicas) != 2 || replicas[0].Region != "local" || replicas[1].Region != "west" || replicas[1].State != "Completed" ||
		replicas[1].TotalBytes == 0 || replicas[1].CopiedBytes != replicas[1].TotalBytes || replicas[1].DoneBytes != replicas[1].TotalBytes {
		t.Fatalf("replication: %+v", replicas)
	}

	vm, err := api2.createVM(alice, create...)
	if err != nil || vm.PowerState != "running" || vm.ProvisioningState != "Succeeded" {
		t.Fatalf("vm create through api2: %v %+v", err, vm)
	}
	var shown struct {
		Host string `json:"host"`
	}
	api1.json(alice, &shown, "vm", "show", "web")
	if shown.Host != "c1" || len(comp.qemuProcesses()) != 1 || len(api1.qemuProcesses())+len(api2.qemuProcesses()) != 0 {
		t.Fatalf("VM on host %q; QEMU on c1: %v, on the API nodes: %v %v", shown.Host, comp.qemuProcesses(), api1.qemuProcesses(), api2.qemuProcesses())
	}
	if msg := api1.fails(alice, "vm", "create", "--name", "other", "--image", "tiny@1.0.0", "--ssh-key-value", newSSHKey(t)); !strings.Contains(msg, "no compute host in region local") {
		t.Fatalf("VM without a host in its region: %s", msg)
	}
	if msg := api1.fails(alice, "vm", "create", "--name", "big", "--image", "tiny@1.0.0", "--location", "west", "--size", "large", "--ssh-key-value", newSSHKey(t)); !strings.Contains(msg, "has 2 vCPUs and 2048 MiB free") {
		t.Fatalf("VM larger than the room left on the host: %s", msg)
	}
	var hosts []hostJSON
	api2.json(c.adminKey, &hosts, "admin", "hosts")
	if len(hosts) != 1 || hosts[0].Name != "c1" || hosts[0].Region != "west" || hosts[0].State != "up" || hosts[0].UsedVCPUs != 1 || hosts[0].VMs != 1 {
		t.Fatalf("hosts: %+v", hosts)
	}
	// Calls for the VM through either API node are served by its host.
	if out := api1.ok(alice, "vm", "run-command", "web", "--script", "echo hello from $(hostname)"); !strings.Contains(out, "hello from web") {
		t.Fatalf("run-command through api1: %s", out)
	}
	if log := api2.serialLog(alice, "web"); !strings.Contains(log, "hangar-agent") {
		t.Fatalf("serial log through api2:\n%s", log)
	}

	// The compute node dies; its QEMU goes on running.
	comp.kill9()
	api1.waitVMState(alice, "web", "unknown", 30*time.Second)
	api2.json(c.adminKey, &hosts, "admin", "hosts")
	if hosts[0].State != "down" {
		t.Fatalf("a killed host shows %+v", hosts[0])
	}
	for _, args := range [][]string{{"start"}, {"stop"}, {"restart"}, {"delete", "--yes"}} {
		action := args[0]
		if msg := api2.fails(alice, append([]string{"vm", action, "web"}, args[1:]...)...); !strings.Contains(msg, "state is unknown until the host returns") {
			t.Fatalf("vm %s while its host is down: %s", action, msg)
		}
	}
	if n := len(comp.qemuProcesses()); n != 1 {
		t.Fatalf("%d QEMU processes for the VM while its host is down, want the one still running", n)
	}

	// It returns, on the same data dir and name: the VM is known, and served, again.
	comp.start()
	api2.waitVMState(alice, "web", "running", 30*time.Second)
	if out := api2.ok(alice, "vm", "run-command", "web", "--script", "echo back"); !strings.Contains(out, "back") {
		t.Fatalf("run-command after the host returned: %s", out)
	}
	if n := len(comp.qemuProcesses()); n != 1 {
		t.Fatalf("%d QEMU processes after the host returned, want 1", n)
	}
	api1.ok(alice, "vm", "delete", "web", "--yes")
	if n := len(comp.qemuProcesses()); n != 0 {
		t.Fatalf("QEMU left after vm delete: %d", n)
	}
	api1.json(c.adminKey, &hosts, "admin", "hosts")
	if hosts[0].UsedVCPUs != 0 {
		t.Fatalf("deleted VM still counted on its host: %+v", hosts[0])
	}
}

// TestReplicationSurvivesItsNode kills the node copying a version to another region
// while the copy cannot finish (that region's object store is down): once the store
// is back, another node takes the job over and completes it.
func TestReplicationSurvivesItsNode(t *testing.T) {
	c := newCluster(t)
	west := s3test.New(t)
	westStore := west.NewBucket(t)
	// The region's URL names its endpoint; the credentials come from the environment.
	t.Setenv("AWS_ACCESS_KEY_ID", s3test.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", s3test.SecretKey)
	args := []string{"--role", "api", "--region-store", "west=" + west.URL(westStore)}
	a, b := c.launch("a", args...), c.launch("b", args...)
	a.waitHealthy()
	b.waitHealthy()
	var created struct {
		Key string `json:"key"`
	}
	a.json(c.adminKey, &created, "tenant", "create", "alice")
	alice := created.Key
	src := filepath.Join(t.TempDir(), "os.raw")
	writeDisk(t, src, 32<<20, 4, map[int64]int64{0: 6 << 20, 16 << 20: 5 << 20})
	a.ok(alice, "disk", "upload", src, "--name", "os")
	osImage(a, alice, "web", "os", "--version", "1.0.0")

	west.Stop()
	var st []replicaJSON
	a.json(alice, &st, "image", "replicate", "web", "1.0.0", "--region", "west", "--no-wait")
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
		st = nil // a field left out of the answer must not keep an old value
		b.json(alice, &st, "image", "replicate", "web", "1.0.0")
		if st[1].Message != "" {
			break // node a tried, failed, and recorded why
		}
		if time.Now().After(deadline) {
			t.Fatalf("replication during the outage: %+v", st)
		}
	}
	if st[1].State != "Replicating" || !strings.Contains(st[1].Message, "unavailable") {
		t.Fatalf("replication while the region's store is down: %+v", st[1])
	}
	a.kill9()
	if err := west.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
		st = nil
		b.json(alice, &st, "image", "replicate", "web", "1.0.0")
		if st[1].State == "Completed" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("node b never completed the replication node a held: %+v", st[1])
		}
	}
	// Every chunk of the primary store (the one disk's) is in the region now, and the
	// message is gone.
	names := func(files []string) []string {
		out := make([]string, len(files))
		for i, f := range files {
			out[i] = filepath.Base(f)
		}
		slices.Sort(out)
		return out
	}
	primary := names(b.chunkFiles())
	region, _ := filepath.Glob(west.ObjectPath(westStore, "*"))
	if len(primary) == 0 || !slices.Equal(primary, names(region)) || st[1].TotalBytes != int64(len(primary))*(4<<20) ||
		st[1].DoneBytes != st[1].TotalBytes || st[1].Message != "" {
		t.Fatalf("primary chunks %v, region west %v; replication %+v", primary, names(region), st[1])
	}
}
