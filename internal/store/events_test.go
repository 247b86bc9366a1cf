package store

import (
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hangarvm/hangar/internal/chunks"
	"github.com/hangarvm/hangar/internal/hangar"
)

func eventList(t *testing.T, db *DB, f EventFilter) []string {
	t.Helper()
	if f.Limit == 0 {
		f.Limit = 1000
	}
	evs, err := db.Events(t.Context(), f)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range evs {
		out = append(out, e.Type+" "+e.Subject)
	}
	return out
}

// TestEventsAreWrittenWithTheirChange: each change writes its event in its own
// transaction, in order; a change that fails or changes nothing writes none; a
// tenant sees only its own events, an admin's scope ("") every tenant's.
func TestEventsAreWrittenWithTheirChange(t *testing.T) {
	for kind, dsn := range databases(t) {
		t.Run(kind, func(t *testing.T) {
			ctx := t.Context()
			f := newRevisionFixture(t, dsn)
			im := f.image(t, "app")
			eol := "2030-01-01"
			if err := f.db.UpdateVersion(ctx, &im, hangar.Version{Major: 1}, hangar.ImageVersionUpdate{EndOfLife: &eol}, hangar.Precondition{}); err != nil {
				t.Fatal(err)
			}
			// The same date again changes nothing and says nothing.
			if err := f.db.UpdateVersion(ctx, &im, hangar.Version{Major: 1}, hangar.ImageVersionUpdate{EndOfLife: &eol}, hangar.Precondition{}); err != nil {
				t.Fatal(err)
			}
			// A version that exists already is refused, and no event is written.
			again := hangar.ImageCreate{Name: "app", Type: hangar.ImageTypeOS, OSType: hangar.OSLinux, OSState: hangar.Generalized, Version: "1.0.0", OSDisk: "app-os"}
			if err := again.Normalize(); err != nil {
				t.Fatal(err)
			}
			if _, err := f.db.CreateImageVersion(ctx, f.owner.ID, &again); hangar.ErrorCode(err) != hangar.CodeConflict {
				t.Fatalf("second 1.0.0: %v", err)
			}
			vm := f.vm(t, "web")
			running := hangar.PowerRunning
			for range 2 { // the second update is no change of state
				if err := f.db.UpdateVM(ctx, vm.ID, VMUpdate{PowerState: &running}); err != nil {
					t.Fatal(err)
				}
			}
			if err := f.db.DeleteVM(ctx, vm.ID); err != nil {
				t.Fatal(err)
			}
			if err := f.db.DeleteImage(ctx, &im, hangar.Precondition{}); err != nil {
				t.Fatal(err)
			}
			if err := f.db.DeleteDisk(ctx, f.owner.ID, "web-os", hangar.Precondition{}); err != nil {
				t.Fatal(err)
			}
			friendDisk := hangar.Disk{Name: "theirs", SourceFormat: "raw"}
			if err := f.db.CommitDisk(ctx, f.friend.ID, "", &friendDisk, chunks.Manifest{VirtualSize: chunks.ChunkSize}); err != nil {
				t.Fatal(err)
			}

			want := []string{
				"Hangar.Disk.Created disks/app-os",
				"Hangar.ImageVersion.Created images/app/versions/1.0.0",
				"Hangar.ImageVersion.EndOfLifeChanged images/app/versions/1.0.0",
				"Hangar.Disk.Created disks/web-os",
				"Hangar.VM.Created vms/web",
				"Hangar.VM.StateChanged vms/web",
				"Hangar.VM.Deleted vms/web",
				"Hangar.ImageVersion.Deleted images/app/versions/1.0.0",
				"Hangar.Disk.Deleted disks/web-os",
			}
			if got := eventList(t, f.db, EventFilter{TenantID: f.owner.ID}); !slices.Equal(got, want) {
				t.Fatalf("owner's events:\n got %q\nwant %q", got, want)
			}
			if got := eventList(t, f.db, EventFilter{TenantID: f.friend.ID}); !slices.Equal(got, []string{"Hangar.Disk.Created disks/theirs"}) {
				t.Fatalf("friend's events: %q", got)
			}
			if got := eventList(t, f.db, EventFilter{}); len(got) != len(want)+1 {
				t.Fatalf("every tenant's events: %q", got)
			}
			states := eventList(t, f.db, EventFilter{TenantID: f.owner.ID, Types: []string{hangar.EventVMStateChanged}})
			if len(states) != 1 {
				t.Fatalf("state changes: %q", states)
			}
			evs, _ := f.db.Events(ctx, EventFilter{TenantID: f.owner.ID, Types: []string{hangar.EventVMStateChanged}, Limit: 1})
			var data hangar.EventVM
			if err := json.Unmarshal(evs[0].Data, &data); err != nil || data.PowerState != hangar.PowerRunning || data.PreviousPowerState != hangar.PowerStopped {
				t.Fatalf("state change data %s: %v", evs[0].Data, err)
			}
			if pub := evs[0].Public(); pub.Source != "/tenants/owner" || pub.SpecVersion != "1.0" || pub.ID != fmt.Sprint(evs[0].Seq) {
				t.Fatalf("public form: %+v", pub)
			}
			// after= continues after an event.
			all, _ := f.db.Events(ctx, EventFilter{TenantID: f.owner.ID, Limit: 100})
			if rest := eventList(t, f.db, EventFilter{TenantID: f.owner.ID, After: all[6].Seq}); !slices.Equal(rest, want[7:]) {
				t.Fatalf("after %d: %q", all[6].Seq, rest)
			}
		})
	}
}

// TestEventsCommitInSequenceOrder: writers on many connections at once; a reader
// that keeps asking for "after the last ID I saw" while they write ends up with
// every event, none skipped: an event never commits after one with a higher ID.
func TestEventsCommitInSequenceOrder(t *testing.T) {
	for kind, dsn := range databases(t) {
		t.Run(kind, func(t *testing.T) {
			ctx := t.Context()
			f := newRevisionFixture(t, dsn)
			const writers, each = 6, 15
			done := make(chan struct{})
			var wg sync.WaitGroup
			errs := make(chan error, writers)
			for w := range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range each {
						dk := hangar.Disk{Name: fmt.Sprintf("w%d-%d", w, i), SourceFormat: "raw"}
						if err := f.db.CommitDisk(ctx, f.owner.ID, "", &dk, chunks.Manifest{VirtualSize: chunks.ChunkSize}); err != nil {
							errs <- err
							return
						}
					}
				}()
			}
			go func() { wg.Wait(); close(done) }()
			var seen []int64
			last := int64(0)
			for finished := false; !finished; {
				select {
				case <-done:
					finished = true
				default:
				}
				evs, err := f.db.Events(ctx, EventFilter{TenantID: f.owner.ID, After: last, Limit: 1000})
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range evs {
					seen = append(seen, e.Seq)
					last = e.Seq
				}
			}
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			all, _ := f.db.Events(ctx, EventFilter{TenantID: f.owner.ID, Limit: 1000})
			if len(all) != writers*each || len(seen) != len(all) {
				t.Fatalf("%d events written, %d stored, the reader saw %d", writers*each, len(all), len(seen))
			}
		})
	}
}

// TestDeliveriesInOrderPerResource: a webhook gets one delivery at a time; a
// resource's events in order (a later one waits while an earlier one is
// pending), while other resources' events go ahead; a claimed delivery is leased
// to one node; an admin's webhook gets every tenant's events; a type filter
// keeps its types.
func TestDeliveriesInOrderPerResource(t *testing.T) {
	for kind, dsn := range databases(t) {
		t.Run(kind, func(t *testing.T) {
			ctx := t.Context()
			f := newRevisionFixture(t, dsn)
			admin := hangar.Tenant{Name: "root", Role: hangar.RoleAdmin}
			if err := f.db.CreateTenant(ctx, &admin, NewKey{Hash: "hash-admin"}); err != nil {
				t.Fatal(err)
			}
			own := Webhook{Webhook: hangar.Webhook{URL: "https://hooks.example/own"}, TenantID: f.owner.ID, Secret: "s"}
			all := Webhook{Webhook: hangar.Webhook{URL: "https://hooks.example/all"}, TenantID: admin.ID, Secret: "s"}
			vmsOnly := Webhook{Webhook: hangar.Webhook{URL: "https://hooks.example/vms", Types: []string{hangar.EventVMDeleted}}, TenantID: f.owner.ID, Secret: "s"}
			for _, w := range []*Webhook{&own, &all, &vmsOnly} {
				if err := f.db.CreateWebhook(ctx, w); err != nil {
					t.Fatal(err)
				}
			}
			// disks/a twice (created, deleted), disks/b once.
			f.disk(t, "a")
			if err := f.db.DeleteDisk(ctx, f.owner.ID, "a", hangar.Precondition{}); err != nil {
				t.Fatal(err)
			}
			f.disk(t, "b")
			claim := func() map[string][]string {
				t.Helper()
				ds, err := f.db.ClaimDeliveries(ctx, 100, time.Now().Add(time.Minute))
				if err != nil {
					t.Fatal(err)
				}
				got := map[string][]string{}
				for _, d := range ds {
					got[d.URL] = append(got[d.URL], d.Type+" "+d.Subject)
				}
				return got
			}
			ownEvents, _ := f.db.Events(ctx, EventFilter{TenantID: f.owner.ID, Limit: 10})
			delivery := func(i int) Delivery { return Delivery{Event: ownEvents[i], WebhookID: own.ID} }
			finish := func(x Delivery, o DeliveryOutcome) {
				t.Helper()
				if err := f.db.FinishDelivery(ctx, x, o); err != nil {
					t.Fatal(err)
				}
			}
			aCreated, aDeleted, bCreated := "Hangar.Disk.Created disks/a", "Hangar.Disk.Deleted disks/a", "Hangar.Disk.Created disks/b"
			// One delivery at a time per webhook, the oldest first.
			if got := claim(); !slices.Equal(got[own.URL], []string{aCreated}) || !slices.Equal(got[all.URL], []string{aCreated}) || len(got[vmsOnly.URL]) != 0 {
				t.Fatalf("first claim: %q", got)
			}
			if again := claim(); len(again) != 0 {
				t.Fatalf("claimed while the webhooks have deliveries in flight: %q", again)
			}
			if ds, _ := f.db.Deliveries(ctx, DeliveryFilter{TenantID: f.owner.ID, Webhook: own.ID, Limit: 10}); len(ds) != 3 {
				t.Fatalf("the owner's webhook has %d deliveries: %+v", len(ds), ds)
			}
			// disks/a's first event fails and waits for its retry: its second
			// waits behind it, disks/b goes ahead.
			finish(delivery(0), DeliveryOutcome{State: hangar.DeliveryPending, Next: time.Now().Add(time.Hour), Status: 500, Error: "boom"})
			if got := claim(); !slices.Equal(got[own.URL], []string{bCreated}) {
				t.Fatalf("while disks/a waits for a retry, the owner's webhook gets %q (want disks/b's event)", got[own.URL])
			}
			finish(delivery(2), DeliveryOutcome{State: hangar.DeliveryDelivered, Status: 204})
			if got := claim(); len(got[own.URL]) != 0 {
				t.Fatalf("before disks/a's retry is due: %q", got[own.URL])
			}
			// The retry comes due: disks/a's first event, then its second.
			finish(delivery(0), DeliveryOutcome{State: hangar.DeliveryPending, Next: time.Now().Add(-time.Second), Status: 500, Error: "boom"})
			if got := claim(); !slices.Equal(got[own.URL], []string{aCreated}) {
				t.Fatalf("once its retry is due, the owner's webhook gets %q", got[own.URL])
			}
			finish(delivery(0), DeliveryOutcome{State: hangar.DeliveryDelivered, Status: 204})
			if got := claim(); !slices.Equal(got[own.URL], []string{aDeleted}) {
				t.Fatalf("once disks/a's first event is delivered, the owner's webhook gets %q", got[own.URL])
			}
			delivered, _ := f.db.Deliveries(ctx, DeliveryFilter{TenantID: f.owner.ID, State: hangar.DeliveryDelivered, Limit: 10})
			if len(delivered) != 2 || delivered[1].Attempts != 3 || delivered[1].LastStatus != 204 || delivered[0].Attempts != 1 {
				t.Fatalf("delivered (newest first): %+v", delivered)
			}
			if err := f.db.DeleteWebhook(ctx, f.friend.ID, own.ID); hangar.ErrorCode(err) != hangar.CodeNotFound {
				t.Fatalf("another tenant deleting the webhook: %v", err)
			}
			if err := f.db.DeleteWebhook(ctx, f.owner.ID, own.ID); err != nil {
				t.Fatal(err)
			}
			if ws, _ := f.db.Webhooks(ctx, f.owner.ID); len(ws) != 1 || ws[0].ID != vmsOnly.ID {
				t.Fatalf("webhooks after delete: %+v", ws)
			}
		})
	}
}

// TestNewestEvents: Newest gives the last Limit events the filter selects, still
// oldest first: of one tenant (never another's, however many more it has), of
// one type, after an ID, or every tenant's for an admin's scope.
func TestNewestEvents(t *testing.T) {
	for kind, dsn := range databases(t) {
		t.Run(kind, func(t *testing.T) {
			ctx := t.Context()
			f := newRevisionFixture(t, dsn)
			// The owner's disks and the friend's interleave; the friend writes last.
			for i := range 5 {
				f.disk(t, fmt.Sprint("d", i))
				dk := hangar.Disk{Name: fmt.Sprint("f", i), SourceFormat: "raw"}
				if err := f.db.CommitDisk(ctx, f.friend.ID, "", &dk, chunks.Manifest{VirtualSize: chunks.ChunkSize}); err != nil {
					t.Fatal(err)
				}
			}
			if err := f.db.DeleteDisk(ctx, f.owner.ID, "d1", hangar.Precondition{}); err != nil {
				t.Fatal(err)
			}
			for i := 5; i < 8; i++ {
				dk := hangar.Disk{Name: fmt.Sprint("f", i), SourceFormat: "raw"}
				if err := f.db.CommitDisk(ctx, f.friend.ID, "", &dk, chunks.Manifest{VirtualSize: chunks.ChunkSize}); err != nil {
					t.Fatal(err)
				}
			}
			created, deleted := "Hangar.Disk.Created disks/", "Hangar.Disk.Deleted disks/"
			for _, c := range []struct {
				name string
				f    EventFilter
				want []string
			}{
				{"owner's newest 3", EventFilter{TenantID: f.owner.ID, Limit: 3, Newest: true},
					[]string{created + "d3", created + "d4", deleted + "d1"}},
				{"owner's newest created", EventFilter{TenantID: f.owner.ID, Types: []string{hangar.EventDiskCreated}, Limit: 2, Newest: true},
					[]string{created + "d3", created + "d4"}},
				{"owner's newest deleted", EventFilter{TenantID: f.owner.ID, Types: []string{hangar.EventDiskDeleted}, Limit: 2, Newest: true},
					[]string{deleted + "d1"}},
				{"more than there are", EventFilter{TenantID: f.owner.ID, Limit: 100, Newest: true},
					[]string{created + "d0", created + "d1", created + "d2", created + "d3", created + "d4", deleted + "d1"}},
				{"friend's newest 2", EventFilter{TenantID: f.friend.ID, Limit: 2, Newest: true},
					[]string{created + "f6", created + "f7"}},
				{"friend has no deletes", EventFilter{TenantID: f.friend.ID, Types: []string{hangar.EventDiskDeleted}, Limit: 5, Newest: true}, nil},
				{"every tenant's newest 4", EventFilter{Limit: 4, Newest: true},
					[]string{deleted + "d1", created + "f5", created + "f6", created + "f7"}},
			} {
				if got := eventList(t, f.db, c.f); !slices.Equal(got, c.want) {
					t.Errorf("%s:\n got %q\nwant %q", c.name, got, c.want)
				}
			}
			// After and Newest: the newest of those after an ID.
			all, _ := f.db.Events(ctx, EventFilter{TenantID: f.owner.ID, Limit: 100})
			if got := eventList(t, f.db, EventFilter{TenantID: f.owner.ID, After: all[3].Seq, Limit: 5, Newest: true}); !slices.Equal(got, []string{created + "d4", deleted + "d1"}) {
				t.Errorf("newest after %d: %q", all[3].Seq, got)
			}
			// Oldest first, with increasing IDs, like every list.
			evs, _ := f.db.Events(ctx, EventFilter{Limit: 10, Newest: true})
			for i := 1; i < len(evs); i++ {
				if evs[i].Seq <= evs[i-1].Seq {
					t.Fatalf("not oldest first: %d after %d", evs[i].Seq, evs[i-1].Seq)
				}
			}
		})
	}
}
