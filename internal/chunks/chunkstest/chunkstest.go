// Package chunkstest is the conformance suite every chunks.Backend must pass.
package chunkstest

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/hangarvm/hangar/internal/chunks"
)

// Run checks the chunks.Backend contract on backends made by newBackend (each call
// must return an empty backend).
func Run(t *testing.T, newBackend func(t *testing.T) chunks.Backend) {
	ctx := context.Background()
	data := bytes.Repeat([]byte("hangar"), 1000)
	name := chunks.Sum(data).String()

	t.Run("SaveLoadStat", func(t *testing.T) {
		b := newBackend(t)
		if err := b.Save(ctx, name, data); err != nil {
			t.Fatal(err)
		}
		got, err := b.Load(ctx, name)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("Load = %d bytes, %v; want the saved %d bytes", len(got), err, len(data))
		}
		info, err := b.Stat(ctx, name)
		if err != nil || info.Size != int64(len(data)) || info.Name != name {
			t.Fatalf("Stat = %+v, %v; want %s of %d bytes", info, err, name, len(data))
		}
		if age := time.Since(info.ModTime); age < -time.Minute || age > time.Minute {
			t.Fatalf("Stat: modification time %v is not about now", info.ModTime)
		}
	})
	t.Run("Missing", func(t *testing.T) {
		b := newBackend(t)
		if _, err := b.Load(ctx, name); !errors.Is(err, chunks.ErrNotExist) {
			t.Fatalf("Load of missing object: %v, want ErrNotExist", err)
		}
		if _, err := b.Stat(ctx, name); !errors.Is(err, chunks.ErrNotExist) {
			t.Fatalf("Stat of missing object: %v, want ErrNotExist", err)
		}
		if err := b.Remove(ctx, name); err != nil {
			t.Fatalf("Remove of missing object: %v", err)
		}
	})
	t.Run("SaveTwiceConcurrently", func(t *testing.T) {
		b := newBackend(t)
		var wg sync.WaitGroup
		errs := make([]error, 8)
		for i := range errs {
			wg.Add(1)
			go func() { defer wg.Done(); errs[i] = b.Save(ctx, name, data) }()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		if got, err := b.Load(ctx, name); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("after concurrent saves: %d bytes, %v", len(got), err)
		}
	})
	t.Run("SaveExistingRefreshesModTime", func(t *testing.T) {
		b := newBackend(t)
		if err := b.Save(ctx, name, data); err != nil {
			t.Fatal(err)
		}
		first, _ := b.Stat(ctx, name)
		// S3's Last-Modified header counts whole seconds.
		time.Sleep(1100 * time.Millisecond)
		if err := b.Save(ctx, name, data); err != nil {
			t.Fatal(err)
		}
		second, _ := b.Stat(ctx, name)
		if !second.ModTime.After(first.ModTime) {
			t.Fatalf("saving an existing object kept its old time %v", first.ModTime)
		}
	})
	t.Run("ListRemove", func(t *testing.T) {
		b := newBackend(t)
		want := map[string]int64{}
		for i := range 5 {
			d := bytes.Repeat([]byte{byte(i + 1)}, 100*(i+1))
			n := chunks.Sum(d).String()
			want[n] = int64(len(d))
			if err := b.Save(ctx, n, d); err != nil {
				t.Fatal(err)
			}
		}
		got := map[string]int64{}
		if err := b.List(ctx, func(o chunks.ObjectInfo) error { got[o.Name] = o.Size; return nil }); err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("List gave %d objects, want %d", len(got), len(want))
		}
		for n, size := range want {
			if got[n] != size {
				t.Fatalf("List: %s has size %d, want %d", n, got[n], size)
			}
		}
		for n := range want {
			if err := b.Remove(ctx, n); err != nil {
				t.Fatal(err)
			}
		}
		count := 0
		b.List(ctx, func(chunks.ObjectInfo) error { count++; return nil })
		if count != 0 {
			t.Fatalf("after removing all, List gave %d objects", count)
		}
	})
	// The optional interfaces are checked on the backends that have them (a skip
	// would fail make test, where a skip means a check that did not run).
	_, groupCommits := newBackend(t).(chunks.GroupCommitter)
	_, savesHashed := newBackend(t).(chunks.HashedSaver)
	groupCommit := func(t *testing.T) {
		b := newBackend(t).(chunks.GroupCommitter)
		other := bytes.Repeat([]byte("other"), 1000)
		otherName := chunks.Sum(other).String()
		for _, n := range []struct {
			name string
			data []byte
		}{{name, data}, {otherName, other}, {name, data}} {
			if err := b.SaveDeferred(ctx, n.name, n.data); err != nil {
				t.Fatal(err)
			}
		}
		if got, err := b.Load(ctx, name); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("Load after SaveDeferred = %d bytes, %v; want the saved %d bytes", len(got), err, len(data))
		}
		if err := b.Sync(ctx, []string{name, otherName, name}); err != nil {
			t.Fatal(err)
		}
		if err := b.Sync(ctx, []string{name}); err != nil {
			t.Fatalf("Sync of a durable object: %v", err)
		}
		if info, err := b.Stat(ctx, otherName); err != nil || info.Size != int64(len(other)) {
			t.Fatalf("Stat after Sync = %+v, %v", info, err)
		}
	}
	saveHashed := func(t *testing.T) {
		b := newBackend(t).(chunks.HashedSaver)
		wrong := chunks.Sum([]byte("something else"))
		if err := b.SaveHashed(ctx, name, data, wrong); err == nil {
			t.Fatal("SaveHashed with a SHA-256 the data does not have succeeded")
		}
		if _, err := b.Stat(ctx, name); !errors.Is(err, chunks.ErrNotExist) {
			t.Fatalf("after a refused SaveHashed, Stat = %v; want ErrNotExist", err)
		}
		if err := b.SaveHashed(ctx, name, data, chunks.Sum(data)); err != nil {
			t.Fatal(err)
		}
		if got, err := b.Load(ctx, name); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("Load after SaveHashed = %d bytes, %v; want the saved %d bytes", len(got), err, len(data))
		}
	}
	if groupCommits {
		t.Run("GroupCommit", groupCommit)
	}
	if savesHashed {
		t.Run("SaveHashed", saveHashed)
	}
}
