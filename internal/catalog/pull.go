package catalog

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/hangarvm/hangar/internal/chunks"
	"github.com/hangarvm/hangar/internal/hangar"
	"github.com/hangarvm/hangar/internal/store"
	"github.com/hangarvm/hangar/internal/syndicate"
)

// pullWorkers is how many chunks one pull fetches at once.
const pullWorkers = 4

// errPermanent marks a pull that cannot succeed by retrying: what the upstream sent
// does not match what it signed, or the version cannot be made here.
type errPermanent struct{ error }

func (e errPermanent) Unwrap() error { return e.error }

// pull brings one upstream version here: it verifies the signed entry with the
// pinned key, fetches each manifest and checks it against the entry, copies the
// chunks this installation lacks (each checked against its digest), and only then
// makes the version visible, in one transaction. Progress is saved about once a
// second with the lease; a pull taken over after a crash finds the chunks already
// copied present and fetches only the rest.
func (s *Service) pull(ctx context.Context, k store.SyndicationJobKey) {
	st := hangar.SyndicationJob{State: hangar.SyndicationPulling}
	report := func(lease time.Time) bool {
		ours, err := s.db.SyndicationProgress(ctx, k, s.cfg.Node, st, lease)
		return err == nil && ours
	}
	err := s.pullVersion(ctx, k, &st, report)
	var perm errPermanent
	switch {
	case err == nil:
		s.log.Info("syndication pull completed", "upstream", k.Upstream, "urn", k.URNKey, "chunks", st.TotalChunks, "copiedChunks", st.CopiedChunks, "copiedBytes", st.CopiedBytes)
	case errors.Is(err, store.ErrNotOurs) || ctx.Err() != nil:
	case errors.As(err, &perm):
		s.log.Warn("syndication pull failed", "upstream", k.Upstream, "urn", k.URNKey, "err", err)
		st.State, st.Message = hangar.SyndicationFailed, err.Error()
		if ours, _ := s.db.SyndicationProgress(ctx, k, s.cfg.Node, st, time.Time{}); ours {
			s.db.ReleaseSyndicationChunks(ctx, k)
		}
	default:
		s.log.Warn("syndication pull interrupted; it will be retried", "upstream", k.Upstream, "urn", k.URNKey, "err", err)
		st.Message = "retrying after an error: " + err.Error()
		report(time.Now().Add(replicaRetry))
	}
}

func (s *Service) pullVersion(ctx context.Context, k store.SyndicationJobKey, st *hangar.SyndicationJob, report func(time.Time) bool) error {
	job, err := s.db.SyndicationJob(ctx, k)
	if err != nil {
		return err
	}
	u, err := s.db.UpstreamByName(ctx, k.Upstream)
	if err != nil {
		return err
	}
	pub, err := syndicate.ParsePublicKey(u.PublicKey)
	if err != nil {
		return errPermanent{err}
	}
	var signed syndicate.Signed
	if err := json.Unmarshal([]byte(job.SignedEntry), &signed); err != nil {
		return errPermanent{fmt.Errorf("stored entry: %w", err)}
	}
	e, err := syndicate.VerifyEntry(pub, signed)
	if err != nil {
		return errPermanent{err}
	}
	up := s.dial(u)
	manifests := make([]chunks.Manifest, len(e.Disks))
	todo := map[chunks.Digest]int64{}
	var order []chunks.Digest
	for i, d := range e.Disks {
		raw, err := up.SyndicationManifest(ctx, e.URN, d.LUN, d.ManifestBytes)
		if err != nil {
			return upstreamError(u.Name, err)
		}
		if manifests[i], err = syndicate.CheckManifest(d, raw); err != nil {
			return errPermanent{err}
		}
		if err := s.checkVirtualSize(d.VirtualSize); err != nil {
			return errPermanent{err}
		}
		for _, x := range manifests[i].Extents {
			if _, ok := todo[x.Digest]; !ok {
				order = append(order, x.Digest)
				todo[x.Digest] = x.Length
			}
		}
	}
	st.TotalChunks = int64(len(order))
	for _, n := range todo {
		st.TotalBytes += n
	}
	if !report(time.Now().Add(replicaLease)) {
		return store.ErrNotOurs
	}
	if err := s.db.HoldSyndicationChunks(ctx, k, order); err != nil {
		return err
	}
	if err := s.fetchChunks(ctx, up, order, todo, st, report); err != nil {
		return err
	}
	return s.commitVersion(ctx, k, &u, &e, manifests, s.cfg.Node, hangar.SyndicationPulling, st)
}

// commitVersion makes a version whose manifests and chunks are all here and checked
// visible: disks, image and marketplace entry, owned by the admin tenant. The job
// must still be worker's and in state.
func (s *Service) commitVersion(ctx context.Context, k store.SyndicationJobKey, u *store.Upstream, e *syndicate.Entry, manifests []chunks.Manifest, worker, state string, st *hangar.SyndicationJob) error {
	urn, _ := hangar.ParseURN(e.URN) // validated by VerifyEntry
	admin, err := s.db.TenantByName(ctx, AdminTenant)
	if err != nil {
		return err
	}
	name := syndicatedName(k.Upstream, e.URN)
	sv := store.SyndicatedVersion{Job: k, Worker: worker, State: state, Progress: *st, URN: urn, Fingerprint: u.Fingerprint,
		Plan: e.Plan, Entitlement: e.Entitlement,
		Image: hangar.ImageCreate{Name: name, Type: e.Image.Type, OSType: e.Image.OSType, OSState: e.Image.OSState,
			HyperVGeneration: e.Image.HyperVGeneration, Architecture: e.Image.Architecture, ProvisioningAgent: e.Image.ProvisioningAgent,
			Description: e.Image.Description, EULA: e.Image.EULA, ExcludeFromLatest: e.ExcludeFromLatest, EndOfLife: e.EndOfLife, Version: urn.Version.String()}}
	for i, d := range e.Disks {
		lun := "os"
		if d.LUN >= 0 {
			lun = "lun" + strconv.Itoa(d.LUN)
		}
		sv.Disks = append(sv.Disks, store.SyndicatedDisk{LUN: d.LUN, Name: name + "-" + lun, Manifest: manifests[i]})
		sv.ManifestDigests = append(sv.ManifestDigests, d.Manifest)
	}
	err = s.db.CommitSyndicated(ctx, admin.ID, &sv)
	if hangar.ErrorCode(err) == hangar.CodeConflict || hangar.ErrorCode(err) == hangar.CodeQuotaExceeded {
		return errPermanent{err}
	}
	if err == nil {
		*st = sv.Progress
		st.State = hangar.SyndicationCompleted
	}
	return err
}

// fetchChunks makes every chunk of order present here: those the chunk store has
// are counted done, the others fetched from the upstream and stored only if they
// hash to their digest.
func (s *Service) fetchChunks(ctx context.Context, up Upstream, order []chunks.Digest, todo map[chunks.Digest]int64, st *hangar.SyndicationJob, report func(time.Time) bool) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(pullWorkers)
	pace := newPacer(s.cfg.SyndicationBandwidth)
	done := make(chan [2]int64) // size, copied
	finished := make(chan error, 1)
	go func() {
		saved := time.Now()
		var err error
		for r := range done {
			st.DoneChunks++
			st.DoneBytes += r[0]
			if r[1] > 0 {
				st.CopiedChunks++
				st.CopiedBytes += r[1]
			}
			if err == nil && time.Since(saved) >= time.Second {
				saved = time.Now()
				if !report(saved.Add(replicaLease)) {
					err = store.ErrNotOurs
				}
			}
		}
		finished <- err
	}()
	for _, d := range order {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error {
			copied, err := s.fetchChunk(gctx, up, pace, d, todo[d])
			if err != nil {
				return err
			}
			select {
			case done <- [2]int64{todo[d], copied}:
				return nil
			case <-gctx.Done():
				return gctx.Err()
			}
		})
	}
	err := g.Wait()
	close(done)
	if lost := <-finished; lost != nil {
		return lost
	}
	return err
}

// fetchChunk makes one chunk present, fetching it unless the chunk store has it, and
// returns the bytes fetched. Pulls in this process that need one chunk at once
// (versions sharing most of their chunks) fetch it once: the others wait for it.
func (s *Service) fetchChunk(ctx context.Context, up Upstream, pace *pacer, d chunks.Digest, size int64) (int64, error) {
	for {
		s.pullMu.Lock()
		wait, busy := s.pulling[d]
		if !busy {
			if s.pulling == nil {
				s.pulling = map[chunks.Digest]chan struct{}{}
			}
			s.pulling[d] = make(chan struct{})
		}
		s.pullMu.Unlock()
		if !busy {
			break
		}
		select {
		case <-wait:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	defer func() {
		s.pullMu.Lock()
		close(s.pulling[d])
		delete(s.pulling, d)
		s.pullMu.Unlock()
	}()
	has, err := s.chunks.Has(ctx, d)
	if err != nil || has {
		return 0, err
	}
	if err := pace.wait(ctx, size); err != nil {
		return 0, err
	}
	data, err := up.SyndicationChunk(ctx, d)
	if err != nil {
		return 0, fmt.Errorf("chunk %s: %w", d.Short(), err)
	}
	if err := s.chunks.Put(ctx, d, data); err != nil {
		return 0, fmt.Errorf("chunk %s from the upstream: %w", d.Short(), err)
	}
	return int64(len(data)), nil
}

// syndicatedName names the local image (and, with a suffix, the disks) holding a
// syndicated version: owned by the admin tenant, one per upstream version.
func syndicatedName(upstream, urn string) string {
	sum := sha256.Sum256([]byte(upstream + "\n" + strings.ToLower(urn)))
	return "syndicated-" + hex.EncodeToString(sum[:8])
}

// pacer spreads fetches so that they average at most rate bytes per second.
type pacer struct {
	rate  int64
	mu    sync.Mutex
	start time.Time
	sent  int64
}

func newPacer(rate int64) *pacer { return &pacer{rate: rate, start: time.Now()} }

// wait reserves n bytes and sleeps until sending them keeps to the rate.
func (p *pacer) wait(ctx context.Context, n int64) error {
	if p.rate <= 0 {
		return nil
	}
	p.mu.Lock()
	due := p.start.Add(time.Duration(float64(p.sent) / float64(p.rate) * float64(time.Second)))
	p.sent += n
	p.mu.Unlock()
	select {
	case <-time.After(time.Until(due)):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
