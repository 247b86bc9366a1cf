package dirstore

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/hangarvm/hangar/internal/chunks"
)

// object is one test object: its bytes and its name (their digest).
type object struct {
	name string
	data []byte
}

func newObject(i int) object {
	data := bytes.Repeat([]byte(fmt.Sprintf("object %d ", i)), 500)
	return object{name: chunks.Sum(data).String(), data: data}
}

// countingDir opens a Dir whose file fsyncs are counted per object name.
func countingDir(t *testing.T) (*Dir, func(name string) int) {
	t.Helper()
	d, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	synced := map[string]int{}
	d.syncFile = func(f *os.File) error {
		mu.Lock()
		synced[filepath.Base(f.Name())]++
		mu.Unlock()
		return f.Sync()
	}
	return d, func(name string) int {
		mu.Lock()
		defer mu.Unlock()
		return synced[name]
	}
}

func (d *Dir) isPending(name string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	_, ok := d.pending[name]
	return ok
}

func markerExists(d *Dir) bool {
	_, err := os.Stat(filepath.Join(d.root, markerName))
	return err == nil
}

// Every way an object saved without sync becomes durable: the Sync of its commit, a
// Stat (a "present" answer) or a plain Save of the same object (a caller told it is
// durable). Each fsyncs the file exactly once, and nothing stays pending or marked.
func TestDeferredObjectBecomesDurable(t *testing.T) {
	a, b := newObject(1), newObject(2)
	tests := []struct {
		name string
		then func(t *testing.T, d *Dir) error
		// wantSynced is the number of fsyncs of a's file afterwards.
		wantSynced int
	}{
		{"Sync", func(t *testing.T, d *Dir) error { return d.Sync(t.Context(), []string{a.name, b.name}) }, 1},
		{"Sync twice", func(t *testing.T, d *Dir) error {
			if err := d.Sync(t.Context(), []string{a.name, b.name}); err != nil {
				return err
			}
			return d.Sync(t.Context(), []string{a.name, b.name})
		}, 1},
		{"Stat", func(t *testing.T, d *Dir) error {
			if _, err := d.Stat(t.Context(), a.name); err != nil {
				return err
			}
			_, err := d.Stat(t.Context(), b.name)
			return err
		}, 1},
		{"Save", func(t *testing.T, d *Dir) error {
			if err := d.Save(t.Context(), a.name, a.data); err != nil {
				return err
			}
			return d.Save(t.Context(), b.name, b.data)
		}, 1},
		{"SaveDeferred again, then Sync", func(t *testing.T, d *Dir) error {
			if err := d.SaveDeferred(t.Context(), a.name, a.data); err != nil {
				return err
			}
			return d.Sync(t.Context(), []string{a.name, b.name})
		}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, synced := countingDir(t)
			for _, o := range []object{a, b} {
				if err := d.SaveDeferred(t.Context(), o.name, o.data); err != nil {
					t.Fatal(err)
				}
			}
			if synced(a.name) != 0 || !d.isPending(a.name) || !markerExists(d) {
				t.Fatalf("after SaveDeferred: %d fsyncs, pending %v, marker %v; want 0, true, true",
					synced(a.name), d.isPending(a.name), markerExists(d))
			}
			if err := tt.then(t, d); err != nil {
				t.Fatal(err)
			}
			if got := synced(a.name); got != tt.wantSynced {
				t.Errorf("file fsynced %d times, want %d", got, tt.wantSynced)
			}
			if d.isPending(a.name) || d.isPending(b.name) {
				t.Error("objects still pending")
			}
			if markerExists(d) {
				t.Error("marker left although nothing is pending")
			}
		})
	}
}

// A Sync of names saved and synced by many uploads at once returns only when every
// one is durable, and each file is fsynced once.
func TestConcurrentSyncs(t *testing.T) {
	d, synced := countingDir(t)
	objs := make([]object, 40)
	names := make([]string, len(objs))
	for i := range objs {
		objs[i] = newObject(i)
		names[i] = objs[i].name
	}
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for w := range errs {
		wg.Go(func() {
			for _, o := range objs {
				if err := d.SaveDeferred(t.Context(), o.name, o.data); err != nil {
					errs[w] = err
					return
				}
			}
			errs[w] = d.Sync(t.Context(), names)
			for _, n := range names {
				if d.isPending(n) {
					errs[w] = fmt.Errorf("Sync returned with %s still pending", n)
				}
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range names {
		if got := synced(n); got != 1 {
			t.Errorf("%s fsynced %d times, want 1", n[:8], got)
		}
	}
}

func TestSyncOfLostObject(t *testing.T) {
	d, _ := countingDir(t)
	o := newObject(1)
	if err := d.SaveDeferred(t.Context(), o.name, o.data); err != nil {
		t.Fatal(err)
	}
	os.Remove(d.path(o.name)) // behind the store's back
	if err := d.Sync(t.Context(), []string{o.name}); !errors.Is(err, chunks.ErrNotExist) {
		t.Fatalf("Sync of a pending object whose file is gone: %v, want ErrNotExist", err)
	}
}

// A power loss can take an object saved without an fsync away entirely, rename and
// all: the recovery at Open finds nothing to re-verify, while the database may
// still record the upload as having delivered it. A Sync (an upload's commit)
// that needs it must fail, and Lost must report it, so that the upload sends it
// again; once sent, it syncs.
func TestSyncOfObjectGoneAfterRestart(t *testing.T) {
	root := t.TempDir()
	d, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	o := newObject(2)
	if err := d.SaveDeferred(t.Context(), o.name, o.data); err != nil {
		t.Fatal(err)
	}
	os.Remove(d.path(o.name)) // what the power loss took
	d, err = Open(root)       // the restart: nothing is pending any more
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Sync(t.Context(), []string{o.name}); !errors.Is(err, chunks.ErrNotExist) {
		t.Fatalf("Sync after a restart of an object that is gone: %v, want ErrNotExist", err)
	}
	if lost := d.Lost([]string{o.name}); len(lost) != 1 {
		t.Fatalf("Lost = %v, want the object that is gone", lost)
	}
	if err := d.SaveDeferred(t.Context(), o.name, o.data); err != nil {
		t.Fatal(err)
	}
	if err := d.Sync(t.Context(), []string{o.name}); err != nil {
		t.Fatalf("Sync once the object was sent again: %v", err)
	}
	if lost := d.Lost([]string{o.name}); len(lost) != 0 {
		t.Fatalf("Lost = %v after the object was sent again", lost)
	}
}

// Open after a crash with deferred objects re-verifies those written since the
// marker and removes the damaged ones (what a power loss can leave); older objects
// and intact new ones stay.
func TestOpenRecoversAfterCrash(t *testing.T) {
	root := t.TempDir()
	d, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	old, oldDamaged, intact, damaged := newObject(1), newObject(2), newObject(3), newObject(4)
	for _, o := range []object{old, oldDamaged} {
		if err := d.Save(ctx, o.name, o.data); err != nil {
			t.Fatal(err)
		}
		past := time.Now().Add(-time.Hour)
		os.Chtimes(d.path(o.name), past, past)
	}
	// Damage that predates the crash window is scrub's business, not Open's.
	os.WriteFile(d.path(oldDamaged.name), []byte("bad"), 0o600)
	os.Chtimes(d.path(oldDamaged.name), time.Now().Add(-time.Hour), time.Now().Add(-time.Hour))
	for _, o := range []object{intact, damaged} {
		if err := d.SaveDeferred(ctx, o.name, o.data); err != nil {
			t.Fatal(err)
		}
	}
	// The crash: the process is gone with two objects pending; one came back empty.
	if err := os.Truncate(d.path(damaged.name), 0); err != nil {
		t.Fatal(err)
	}
	d2, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		o    object
		want bool
	}{{old, true}, {oldDamaged, true}, {intact, true}, {damaged, false}} {
		_, err := os.Stat(d2.path(tt.o.name))
		if got := err == nil; got != tt.want {
			t.Errorf("object %s present after recovery: %v, want %v", tt.o.name[:8], got, tt.want)
		}
	}
	if markerExists(d2) {
		t.Error("marker left after recovery")
	}
	// The upload that had sent the damaged chunk must not commit without it, and
	// must be told to send it again; once it has, all is well.
	if err := d2.Sync(ctx, []string{intact.name, damaged.name}); !errors.Is(err, chunks.ErrNotExist) {
		t.Fatalf("Sync of a chunk the recovery removed: %v, want ErrNotExist", err)
	}
	cs := &chunks.Store{Backend: d2}
	if lost := cs.Lost([]chunks.Digest{chunks.Sum(intact.data), chunks.Sum(damaged.data)}); len(lost) != 1 || lost[0] != chunks.Sum(damaged.data) {
		t.Fatalf("Lost = %v, want only the damaged chunk", lost)
	}
	if err := cs.PutDeferred(ctx, chunks.Sum(damaged.data), damaged.data); err != nil {
		t.Fatal(err)
	}
	if lost := d2.Lost([]string{damaged.name}); len(lost) != 0 {
		t.Fatalf("Lost after the chunk was sent again = %v", lost)
	}
	if err := d2.Sync(ctx, []string{intact.name, damaged.name}); err != nil {
		t.Fatalf("Sync after the chunk was sent again: %v", err)
	}
}

// alignedBytes returns n bytes of content seed starting at offset off from a 4 KiB
// boundary.
func alignedBytes(n, off int, seed byte) []byte {
	b := make([]byte, n+2*directAlign)
	start := int(-uintptr(unsafe.Pointer(&b[0]))&(directAlign-1)) + off
	p := b[start : start+n]
	for i := range p {
		p[i] = byte(i/512) ^ seed
	}
	return p
}

// Deferred saves store the exact bytes whichever write they take: O_DIRECT (an
// aligned buffer of whole 4 KiB blocks) or buffered (anything else, or when O_DIRECT
// is off).
func TestSaveDeferredWrites(t *testing.T) {
	tests := []struct {
		name   string
		data   []byte
		direct bool
	}{
		{"aligned chunk, direct", alignedBytes(4<<20, 0, 1), true},
		{"aligned 8 KiB, direct", alignedBytes(8192, 0, 2), true},
		{"unaligned address, direct", alignedBytes(8192, 512, 3), true},
		{"tail of 512-byte sectors, direct", alignedBytes(4096+512, 0, 4), true},
		{"aligned chunk, buffered", alignedBytes(4<<20, 0, 5), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, _ := countingDir(t)
			d.direct = tt.direct
			name := chunks.Sum(tt.data).String()
			if err := d.SaveDeferred(t.Context(), name, tt.data); err != nil {
				t.Fatal(err)
			}
			if err := d.Sync(t.Context(), []string{name}); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(d.path(name))
			if err != nil || !bytes.Equal(got, tt.data) {
				t.Fatalf("stored %d bytes (%v), want the %d saved", len(got), err, len(tt.data))
			}
			if entries, _ := os.ReadDir(filepath.Join(d.root, "tmp")); len(entries) != 0 {
				t.Errorf("temp files left: %v", entries)
			}
		})
	}
}
