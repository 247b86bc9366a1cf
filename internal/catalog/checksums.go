package catalog

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding"
	"encoding/hex"
	"fmt"
	"hash"
	"sync"
	"time"

	"github.com/hangarvm/hangar/internal/chunks"
	"github.com/hangarvm/hangar/internal/diskfmt"
	"github.com/hangarvm/hangar/internal/hangar"
)

// Checksums are computed once per disk, right after it is stored, by whichever
// node leases it first: an upload's chunks arrive in any order and the ones the
// store already had are never sent, so no pass over the upload itself sees the
// disk's bytes in order. The pass reads each chunk once, hashes SHA-256 and MD5
// side by side, and derives the fixed VHD's sums from the raw ones plus the
// footer that the VHD export writes.
const (
	checksumLease    = 15 * time.Minute
	checksumPollEach = 5 * time.Second
)

// RunChecksums computes the checksums of every disk stored without them until
// ctx ends. A disk that fails (a chunk unreadable) is tried again once its
// lease runs out.
func (s *Service) RunChecksums(ctx context.Context) {
	tick := time.NewTicker(checksumPollEach)
	defer tick.Stop()
	for {
		// New disks write events: their commit closes this channel.
		changed := s.db.EventsChanged()
		for ctx.Err() == nil {
			did, err := s.checksumNext(ctx)
			if err != nil && ctx.Err() == nil {
				s.log.Warn("computing a disk's checksums", "err", err)
			}
			if !did || err != nil {
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		case <-tick.C:
		}
	}
}

// checksumNext computes one disk's checksums; it reports whether there was one.
func (s *Service) checksumNext(ctx context.Context) (bool, error) {
	dk, ok, err := s.db.ClaimUnsummedDisk(ctx, time.Now().Add(checksumLease))
	if err != nil || !ok {
		return false, err
	}
	m, err := s.db.Manifest(ctx, dk.ID)
	if err != nil {
		return true, err
	}
	lastRenew := time.Now()
	renew := func() error {
		if time.Since(lastRenew) < checksumLease/3 {
			return nil
		}
		lastRenew = time.Now()
		return s.db.ExtendChecksumLease(ctx, dk.ID, time.Now().Add(checksumLease))
	}
	sums, err := DiskChecksums(ctx, s.chunks, m, vhdFooterFor(dk.ID, dk.CreatedAt, m.VirtualSize), renew)
	if err != nil {
		return true, err
	}
	s.log.Debug("disk checksums", "disk", dk.Name, "sha256", sums.SHA256)
	return true, s.db.SetDiskChecksums(ctx, dk.ID, sums)
}

// vhdFooterFor is the footer of a disk's fixed-VHD export: derived from the
// disk's identity, so every export of it is byte-identical.
func vhdFooterFor(diskID string, created time.Time, virtualSize int64) [512]byte {
	return diskfmt.VHDFooter(virtualSize, vhdUniqueID(diskID), vhdTimestamp(created))
}

func vhdUniqueID(diskID string) (id [16]byte) {
	sum := sha256.Sum256([]byte(diskID))
	copy(id[:], sum[:16])
	return id
}

// DiskChecksums hashes the disk the manifest describes, zeros where it has no
// chunk, and then the VHD footer after it. progress runs after each chunk; an
// error from it stops the pass.
func DiskChecksums(ctx context.Context, cs *chunks.Store, m chunks.Manifest, footer [512]byte, progress func() error) (hangar.DiskChecksums, error) {
	sha, md := sha256.New(), md5.New()
	zeros := make([]byte, chunks.ChunkSize)
	feed := func(p []byte) {
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { defer wg.Done(); sha.Write(p) }()
		md.Write(p)
		wg.Wait()
	}
	feedZeros := func(n int64) {
		for n > 0 {
			k := min(n, int64(len(zeros)))
			feed(zeros[:k])
			n -= k
		}
	}
	pos := int64(0)
	for _, e := range m.Extents {
		if err := ctx.Err(); err != nil {
			return hangar.DiskChecksums{}, err
		}
		feedZeros(e.Offset - pos)
		data, err := cs.Load(ctx, e.Digest)
		if err != nil {
			return hangar.DiskChecksums{}, err
		}
		if int64(len(data)) != e.Length {
			return hangar.DiskChecksums{}, fmt.Errorf("chunk %s at offset %d holds %d bytes, the manifest says %d", e.Digest.Short(), e.Offset, len(data), e.Length)
		}
		feed(data)
		pos = e.Offset + e.Length
		if err := progress(); err != nil {
			return hangar.DiskChecksums{}, err
		}
	}
	feedZeros(m.VirtualSize - pos)
	sums := hangar.DiskChecksums{SHA256: hex.EncodeToString(sha.Sum(nil)), MD5: hex.EncodeToString(md.Sum(nil))}
	// The VHD is the raw content and its footer: go on from the raw states.
	vsha, err := cloneHash(sha, sha256.New())
	if err != nil {
		return sums, err
	}
	vmd, err := cloneHash(md, md5.New())
	if err != nil {
		return sums, err
	}
	vsha.Write(footer[:])
	vmd.Write(footer[:])
	sums.VHDSHA256, sums.VHDMD5 = hex.EncodeToString(vsha.Sum(nil)), hex.EncodeToString(vmd.Sum(nil))
	return sums, nil
}

// cloneHash copies h's state into fresh (of the same kind).
func cloneHash(h, fresh hash.Hash) (hash.Hash, error) {
	state, err := h.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		return nil, err
	}
	return fresh, fresh.(encoding.BinaryUnmarshaler).UnmarshalBinary(state)
}
