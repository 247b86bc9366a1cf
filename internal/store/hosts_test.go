package store

import (
	"reflect"
	"testing"
	"time"

	"github.com/hangarvm/hangar/internal/hangar"
)

func TestHosts(t *testing.T) {
	for kind, dsn := range databases(t) {
		t.Run(kind, func(t *testing.T) {
			ctx := t.Context()
			f := newRevisionFixture(t, dsn)
			h := Host{Name: "c1", NodeID: "node-a", URL: "http://c1", Region: "local", VCPUs: 2, MemoryMiB: 1024}
			if err := f.db.Heartbeat(ctx, h, time.Minute); err != nil {
				t.Fatal(err)
			}
			// Another live node may not take the name; the same node may come back.
			other := h
			other.NodeID = "node-b"
			if err := f.db.Heartbeat(ctx, other, time.Minute); hangar.ErrorCode(err) != hangar.CodeConflict {
				t.Fatalf("second node with the name: %v", err)
			}
			if err := f.db.Heartbeat(ctx, h, time.Minute); err != nil {
				t.Fatal(err)
			}

			running := f.vm(t, "running")
			stopped := f.vm(t, "stopped")
			for _, v := range []VM{running, stopped} {
				f.db.exec(ctx, f.db.db, `UPDATE vms SET host_name = 'c1' WHERE id = ?`, v.ID)
			}
			on := hangar.PowerRunning
			if err := f.db.UpdateVM(ctx, running.ID, VMUpdate{PowerState: &on}); err != nil {
				t.Fatal(err)
			}
			hosts, err := f.db.Hosts(ctx)
			if err != nil || len(hosts) != 1 || hosts[0].UsedVCPUs != 2 || hosts[0].UsedMemoryMiB != 1024 || hosts[0].VMs != 2 {
				t.Fatalf("hosts: %+v, %v (stopped VMs keep their room, as on Azure)", hosts, err)
			}
			st, err := f.db.Stats(ctx)
			if err != nil || !reflect.DeepEqual(st.VMs, []VMCount{{"c1", "running", 1}, {"c1", "stopped", 1}}) {
				t.Fatalf("the metrics' VM counts: %+v, %v", st.VMs, err)
			}
			if h, err := f.db.Host(ctx, "c1"); err != nil || h.UsedVCPUs != 2 || h.URL != "http://c1" {
				t.Fatalf("Host(c1) = %+v, %v", h, err)
			}
			if _, err := f.db.Host(ctx, "nope"); hangar.ErrorCode(err) != hangar.CodeNotFound {
				t.Fatalf("Host of an unknown name: %v", err)
			}
			// Full: a third VM is refused.
			third := VM{VM: running.VM, TenantID: f.owner.ID, DiskIDs: running.DiskIDs}
			third.Name, third.Host = "third", "c1"
			if err := f.db.CreateVM(ctx, &third); hangar.ErrorCode(err) != hangar.CodeUnavailable {
				t.Fatalf("VM beyond the host's capacity: %v", err)
			}

			// Not silent yet: nothing changes. Silent: only the running VM becomes unknown.
			if n, err := f.db.MarkUnknown(ctx, time.Now().Add(-time.Minute)); err != nil || n != 0 {
				t.Fatalf("MarkUnknown of a live host: %d, %v", n, err)
			}
			before, _ := f.db.VMByName(ctx, f.owner.ID, "running")
			if n, err := f.db.MarkUnknown(ctx, time.Now().Add(time.Second)); err != nil || n != 1 {
				t.Fatalf("MarkUnknown of a silent host: %d, %v", n, err)
			}
			after, _ := f.db.VMByName(ctx, f.owner.ID, "running")
			still, _ := f.db.VMByName(ctx, f.owner.ID, "stopped")
			if after.PowerState != hangar.PowerUnknown || after.ETag == before.ETag || still.PowerState != hangar.PowerStopped {
				t.Fatalf("after MarkUnknown: running VM %s (etag %s, was %s), stopped VM %s", after.PowerState, after.ETag, before.ETag, still.PowerState)
			}
			// Once silent, the name may be taken over (the node was replaced).
			if err := f.db.Heartbeat(ctx, other, 0); err != nil {
				t.Fatalf("taking over a silent host's name: %v", err)
			}
		})
	}
}
