package chunks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrNotExist is returned by Backend.Load and Store.Load when no object has the name.
var ErrNotExist = errors.New("chunk does not exist")

// ErrCorrupt is returned when a chunk's content does not match its digest.
var ErrCorrupt = errors.New("chunk content does not match its digest")

// ErrUnavailable is wrapped by backend errors that say the store cannot be reached or
// is failing for now (a stopped object store, a network partition): the request may
// be retried later and will find the store as it was.
var ErrUnavailable = errors.New("chunk store unavailable; retry later")

// Backend stores named, immutable byte objects. Implementations live in their own
// packages (dirstore, s3store) and pass the conformance suite in package chunkstest.
type Backend interface {
	// Save stores data under name, atomically: a reader sees the whole object or
	// none. Saving a name that exists is not an error: the content stays (objects
	// are immutable, so it is the same) and the modification time becomes now, so
	// that garbage collection's grace period protects a chunk an upload just sent.
	// Save must not keep data after it returns: callers reuse the buffer.
	Save(ctx context.Context, name string, data []byte) error
	// Load returns the object's bytes, or an error wrapping ErrNotExist.
	Load(ctx context.Context, name string) ([]byte, error)
	// Stat describes the object, or returns an error wrapping ErrNotExist.
	Stat(ctx context.Context, name string) (ObjectInfo, error)
	// Remove deletes the object. Removing a missing object is not an error.
	Remove(ctx context.Context, name string) error
	// List calls fn for every object, in no particular order, until fn returns an error.
	List(ctx context.Context, fn func(ObjectInfo) error) error
}

// GroupCommitter is a Backend that can also save without making each object durable
// at once, so that the objects of one upload are made durable together (group
// commit): a few fsyncs per upload instead of two per object.
type GroupCommitter interface {
	Backend
	// SaveDeferred is Save, except that the object need not survive a power loss
	// until Sync has returned for its name. It is visible at once and whole, as after
	// Save. Stat (and Save) of a name saved this way make it durable first, so that
	// a backend never reports as present an object that a power loss could take.
	SaveDeferred(ctx context.Context, name string, data []byte) error
	// Sync makes durable every named object saved with SaveDeferred, by whichever
	// caller: once it returns nil, those objects survive a crash or power loss.
	// Names that are already durable cost nothing. A name that is not stored is an
	// error wrapping ErrNotExist.
	Sync(ctx context.Context, names []string) error
}

// LossReporter is a Backend that can tell which objects it lost in a crash: those
// a recovery removed because a power loss had damaged them before they were durable.
// An upload that had sent one must send it again.
type LossReporter interface {
	Backend
	// Lost returns those of names that were lost in a crash and not saved since.
	Lost(names []string) []string
}

// HashedSaver is a Backend whose Save can use the SHA-256 of the data, computed
// and checked by the caller, instead of hashing the bytes once more (an S3 PUT is
// signed with its payload's SHA-256).
type HashedSaver interface {
	Backend
	// SaveHashed is Save of data whose SHA-256 is sum. A wrong sum makes the save
	// fail; it never stores bytes under a sum they do not have.
	SaveHashed(ctx context.Context, name string, data []byte, sum [32]byte) error
}

// ObjectInfo describes a stored object.
type ObjectInfo struct {
	Name    string
	Size    int64
	ModTime time.Time
}

// Store adds content addressing and verification to a Backend.
type Store struct {
	Backend Backend
}

// Put verifies that data hashes to d and stores it (a chunk already stored is only
// marked as recently saved).
func (s *Store) Put(ctx context.Context, d Digest, data []byte) error {
	if got := Sum(data); got != d {
		return fmt.Errorf("%w: received %d bytes with sha256 %s, expected %s", ErrCorrupt, len(data), got.Short(), d.Short())
	}
	if hs, ok := s.Backend.(HashedSaver); ok {
		return hs.SaveHashed(ctx, d.String(), data, d)
	}
	return s.Backend.Save(ctx, d.String(), data)
}

// PutDeferred is Put for a chunk that Sync will make durable later, before anything
// that references it is acknowledged. On a backend that is no GroupCommitter it is
// Put (durable at once).
func (s *Store) PutDeferred(ctx context.Context, d Digest, data []byte) error {
	gc, ok := s.Backend.(GroupCommitter)
	if !ok {
		return s.Put(ctx, d, data)
	}
	if got := Sum(data); got != d {
		return fmt.Errorf("%w: received %d bytes with sha256 %s, expected %s", ErrCorrupt, len(data), got.Short(), d.Short())
	}
	return gc.SaveDeferred(ctx, d.String(), data)
}

// Sync makes the chunks durable, whoever saved them with PutDeferred: it returns nil
// only when every one of them would survive a power loss. On a backend that is no
// GroupCommitter every stored chunk is durable already and Sync does nothing.
func (s *Store) Sync(ctx context.Context, ds []Digest) error {
	gc, ok := s.Backend.(GroupCommitter)
	if !ok || len(ds) == 0 {
		return nil
	}
	names := make([]string, len(ds))
	for i, d := range ds {
		names[i] = d.String()
	}
	return gc.Sync(ctx, names)
}

// Lost returns those of ds that the backend lost in a crash and that were not saved
// again since (see LossReporter); nil on a backend that cannot lose a saved chunk.
func (s *Store) Lost(ds []Digest) []Digest {
	lr, ok := s.Backend.(LossReporter)
	if !ok || len(ds) == 0 {
		return nil
	}
	byName := make(map[string]Digest, len(ds))
	names := make([]string, len(ds))
	for i, d := range ds {
		names[i] = d.String()
		byName[names[i]] = d
	}
	var lost []Digest
	for _, n := range lr.Lost(names) {
		lost = append(lost, byName[n])
	}
	return lost
}

// Has reports whether the chunk is stored.
func (s *Store) Has(ctx context.Context, d Digest) (bool, error) {
	_, err := s.Backend.Stat(ctx, d.String())
	if errors.Is(err, ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// Load returns the chunk's bytes after checking them against the digest.
func (s *Store) Load(ctx context.Context, d Digest) ([]byte, error) {
	data, err := s.Backend.Load(ctx, d.String())
	if err != nil {
		return nil, err
	}
	if Sum(data) != d {
		return nil, fmt.Errorf("%w: chunk %s", ErrCorrupt, d.Short())
	}
	return data, nil
}

// IsZero reports whether every byte of data is zero. Such chunks are never stored.
func IsZero(data []byte) bool {
	const block = 4096
	var zeros [block]byte
	for len(data) >= block {
		if !bytes.Equal(data[:block], zeros[:]) {
			return false
		}
		data = data[block:]
	}
	return bytes.Equal(data, zeros[:len(data)])
}
