package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/hangarvm/hangar/internal/chunks"
	"github.com/hangarvm/hangar/internal/hangar"
	"github.com/hangarvm/hangar/internal/store"
	"github.com/hangarvm/hangar/internal/syndicate"
)

// The subscriber side of syndication: upstreams, what is pulled from them, and the
// loop that follows them. Pulls themselves are in pull.go.

// DefaultSyndicationInterval is how often a syndication looks at its upstream again.
const DefaultSyndicationInterval = 5 * time.Minute

// Upstream is what a subscriber pulls from an upstream installation with: its signed
// catalog, manifests and chunks, as package client fetches them. Nothing it returns
// is trusted until checked (package syndicate).
type Upstream interface {
	SyndicationCatalog(ctx context.Context, f hangar.MarketplaceFilter) (syndicate.Catalog, error)
	SyndicationManifest(ctx context.Context, urn string, lun int, size int64) ([]byte, error)
	SyndicationChunk(ctx context.Context, d chunks.Digest) ([]byte, error)
}

func (s *Service) dial(u store.Upstream) Upstream {
	return s.cfg.DialUpstream(u.URL, u.APIKey)
}

// AddUpstream subscribes this installation to an upstream (admins). The upstream's
// key is checked by fetching its catalog, verified with the pinned public key.
func (s *Service) AddUpstream(ctx context.Context, actor *hangar.Tenant, req hangar.UpstreamCreate) (hangar.Upstream, error) {
	if err := requireAdmin(actor, "manage upstreams"); err != nil {
		return hangar.Upstream{}, err
	}
	if err := hangar.ValidateName("upstream", req.Name); err != nil {
		return hangar.Upstream{}, err
	}
	offline := req.URL == "" && req.Key == ""
	if u, err := url.Parse(req.URL); !offline && (err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "") {
		return hangar.Upstream{}, hangar.Errorf(hangar.CodeInvalid, "upstream URL %q: use http://HOST:PORT or https://HOST:PORT (or neither --url nor --key, for an upstream that sends bundles only)", req.URL)
	}
	if !offline && req.Key == "" {
		return hangar.Upstream{}, hangar.Errorf(hangar.CodeInvalid, "give the API key of a tenant on the upstream (--key)")
	}
	pub, err := syndicate.ParsePublicKey(req.PublicKey)
	if err != nil {
		return hangar.Upstream{}, hangar.Errorf(hangar.CodeInvalid, "%v", err)
	}
	u := store.Upstream{Upstream: hangar.Upstream{Name: req.Name, URL: strings.TrimRight(req.URL, "/"),
		PublicKey: syndicate.FormatPublicKey(pub), Fingerprint: syndicate.Fingerprint(pub), Syndications: []hangar.Syndication{}}, APIKey: req.Key}
	if !offline {
		if _, _, err := s.upstreamCatalog(ctx, u, hangar.MarketplaceFilter{}); err != nil {
			return hangar.Upstream{}, err
		}
	}
	if err := s.db.CreateUpstream(ctx, &u); err != nil {
		return hangar.Upstream{}, err
	}
	s.log.Info("upstream added", "upstream", u.Name, "url", u.URL, "key", u.Fingerprint, "by", actor.Name)
	return u.Upstream, nil
}

// Upstreams lists the upstreams with their syndications (admins). Keys are never shown.
func (s *Service) Upstreams(ctx context.Context, actor *hangar.Tenant) ([]hangar.Upstream, error) {
	if err := requireAdmin(actor, "manage upstreams"); err != nil {
		return nil, err
	}
	return s.db.Upstreams(ctx)
}

// DeleteUpstream forgets an upstream (admins); what was pulled from it stays.
func (s *Service) DeleteUpstream(ctx context.Context, actor *hangar.Tenant, name string) error {
	if err := requireAdmin(actor, "manage upstreams"); err != nil {
		return err
	}
	return s.db.DeleteUpstream(ctx, name)
}

// upstreamCatalog fetches and verifies an upstream's catalog.
func (s *Service) upstreamCatalog(ctx context.Context, u store.Upstream, f hangar.MarketplaceFilter) ([]syndicate.Signed, []syndicate.Entry, error) {
	pub, err := syndicate.ParsePublicKey(u.PublicKey)
	if err != nil {
		return nil, nil, err
	}
	if u.URL == "" {
		return nil, nil, hangar.Errorf(hangar.CodeInvalid, "upstream %q has no URL: it is reached by bundles only (hangar marketplace import)", u.Name)
	}
	c, err := s.dial(u).SyndicationCatalog(ctx, f)
	if err != nil {
		return nil, nil, upstreamError(u.Name, err)
	}
	body, entries, err := syndicate.VerifyCatalog(pub, c)
	if err != nil {
		return nil, nil, hangar.Errorf(hangar.CodeConflict, "upstream %q: %v; nothing was taken from it", u.Name, err)
	}
	return body.Entries, entries, nil
}

// upstreamError says which upstream failed; an upstream's own error keeps its code
// only when it is the caller's to fix (a bad key), else it is unavailable.
func upstreamError(name string, err error) error {
	var he *hangar.Error
	if errors.As(err, &he) {
		if he.Code == hangar.CodeUnauthenticated {
			return hangar.Errorf(hangar.CodeInvalid, "upstream %q refused the key: %s", name, he.Message)
		}
		return hangar.Errorf(hangar.CodeUnavailable, "upstream %q: %s", name, he.Message)
	}
	return hangar.Errorf(hangar.CodeUnavailable, "upstream %q cannot be reached: %v", name, err)
}

// UpstreamItems lists what an upstream offers this installation (admins), with the
// state of each version here.
func (s *Service) UpstreamItems(ctx context.Context, actor *hangar.Tenant, name string, f hangar.MarketplaceFilter) ([]hangar.UpstreamItem, error) {
	if err := requireAdmin(actor, "browse upstreams"); err != nil {
		return nil, err
	}
	u, err := s.db.UpstreamByName(ctx, name)
	if err != nil {
		return nil, err
	}
	_, entries, err := s.upstreamCatalog(ctx, u, f)
	if err != nil {
		return nil, err
	}
	local, err := s.jobStates(ctx, name)
	if err != nil {
		return nil, err
	}
	out := make([]hangar.UpstreamItem, 0, len(entries))
	for _, e := range entries {
		it := hangar.UpstreamItem{URN: e.URN, Plan: e.Plan, Entitlement: e.Entitlement, ExcludeFromLatest: e.ExcludeFromLatest,
			EndOfLife: e.EndOfLife, OSType: e.Image.OSType, Local: local[strings.ToLower(e.URN)]}
		for _, d := range e.Disks {
			it.StoredBytes += d.StoredBytes
		}
		out = append(out, it)
	}
	return out, nil
}

func (s *Service) jobStates(ctx context.Context, upstream string) (map[string]string, error) {
	jobs, err := s.db.SyndicationJobs(ctx)
	out := map[string]string{}
	for _, j := range jobs {
		if j.Key.Upstream == upstream {
			out[j.Key.URNKey] = j.State
		}
	}
	return out, err
}

// Syndicate pulls from an upstream the versions matching a pattern (admins), and
// with req.Follow keeps pulling new ones. It returns once the pulls are started;
// SyndicationJobs shows their progress.
func (s *Service) Syndicate(ctx context.Context, actor *hangar.Tenant, name string, req hangar.SyndicateRequest) (hangar.SyndicateResult, error) {
	if err := requireAdmin(actor, "syndicate marketplace items"); err != nil {
		return hangar.SyndicateResult{}, err
	}
	p, err := syndicate.ParsePattern(req.Pattern)
	if err != nil {
		return hangar.SyndicateResult{}, err
	}
	u, err := s.db.UpstreamByName(ctx, name)
	if err != nil {
		return hangar.SyndicateResult{}, err
	}
	syn := hangar.Syndication{Upstream: name, Pattern: req.Pattern, Follow: req.Follow}
	matched, err := s.sync(context.WithoutCancel(ctx), u, syn, p, true)
	if err != nil {
		return hangar.SyndicateResult{}, err
	}
	if len(matched) == 0 {
		return hangar.SyndicateResult{}, hangar.Errorf(hangar.CodeNotFound, "upstream %q offers nothing matching %s to this installation's key", name, req.Pattern)
	}
	if err := s.db.SetSyndication(ctx, syn); err != nil {
		return hangar.SyndicateResult{}, err
	}
	s.db.SyndicationChecked(ctx, syn, "")
	s.log.Info("syndication requested", "upstream", name, "pattern", req.Pattern, "follow", req.Follow, "versions", len(matched), "by", actor.Name)
	jobs, err := s.db.SyndicationJobs(ctx)
	res := hangar.SyndicateResult{Syndication: syn, Jobs: []hangar.SyndicationJob{}}
	for _, j := range jobs {
		if j.Key.Upstream == name && matched[j.Key.URNKey] {
			res.Jobs = append(res.Jobs, j.SyndicationJob)
		}
	}
	return res, err
}

// SyndicationJobs lists every pull with its progress (admins).
func (s *Service) SyndicationJobs(ctx context.Context, actor *hangar.Tenant) ([]hangar.SyndicationJob, error) {
	if err := requireAdmin(actor, "see syndication jobs"); err != nil {
		return nil, err
	}
	jobs, err := s.db.SyndicationJobs(ctx)
	out := make([]hangar.SyndicationJob, len(jobs))
	for i, j := range jobs {
		out[i] = j.SyndicationJob
	}
	return out, err
}

// sync looks at the upstream for one syndication: it starts pulls of matching
// versions not here yet (all of them when pullNew, else only if it follows),
// applies upstream's changed flags to versions pulled before, and marks those
// upstream no longer offers. It returns the matching URNs (lower case).
func (s *Service) sync(ctx context.Context, u store.Upstream, syn hangar.Syndication, p syndicate.Pattern, pullNew bool) (map[string]bool, error) {
	signed, entries, err := s.upstreamCatalog(ctx, u, p.Filter())
	if err != nil {
		return nil, err
	}
	local, err := s.db.SyndicatedEntries(ctx, u.Name)
	if err != nil {
		return nil, err
	}
	matched := map[string]bool{}
	for i, e := range entries {
		urn, _ := hangar.ParseURN(e.URN) // validated by VerifyCatalog
		if !p.Matches(urn) {
			continue
		}
		key := strings.ToLower(e.URN)
		matched[key] = true
		if have, ok := local[key]; ok {
			want := store.SyndicatedEntry{URNKey: key, ExcludeFromLatest: e.ExcludeFromLatest, EndOfLife: e.EndOfLife}
			if have != want {
				s.log.Info("syndicated version changed upstream", "upstream", u.Name, "urn", e.URN, "excludeFromLatest", e.ExcludeFromLatest, "endOfLife", e.EndOfLife)
				if err := s.db.UpdateSyndicated(ctx, u.Name, urn, want); err != nil {
					return nil, err
				}
			}
			continue
		}
		if !pullNew && !syn.Follow {
			continue
		}
		raw, err := json.Marshal(signed[i])
		if err != nil {
			return nil, err
		}
		k := store.SyndicationJobKey{Upstream: u.Name, URNKey: key}
		started, err := s.db.StartSyndicationJob(ctx, u.Name, e.URN, string(raw), s.cfg.Node, time.Now().Add(replicaLease))
		if err != nil {
			return nil, err
		}
		if started {
			go s.pull(context.WithoutCancel(ctx), k)
		}
	}
	for key, have := range local {
		urn, err := hangar.ParseURN(key)
		if err != nil || !p.Matches(urn) || matched[key] || have.Withdrawn {
			continue
		}
		s.log.Warn("syndicated version withdrawn upstream; kept here, marked", "upstream", u.Name, "urn", key)
		have.Withdrawn = true
		if err := s.db.UpdateSyndicated(ctx, u.Name, urn, have); err != nil {
			return nil, err
		}
	}
	return matched, nil
}

// RunSyndication, until ctx ends, takes up the pulls no node holds (those of nodes
// that died, and those that failed and wait to be retried) and looks at each
// syndication's upstream every SyndicationInterval.
func (s *Service) RunSyndication(ctx context.Context) {
	interval := s.cfg.SyndicationInterval
	if interval <= 0 {
		interval = DefaultSyndicationInterval
	}
	t := time.NewTicker(min(replicaRetry, interval))
	defer t.Stop()
	if err := s.db.ReleaseSyndicationJobs(ctx, s.cfg.Node); err != nil && ctx.Err() == nil {
		s.log.Warn("releasing this node's earlier syndication jobs failed", "err", err)
	}
	for {
		jobs, err := s.db.ClaimSyndicationJobs(ctx, s.cfg.Node, time.Now().Add(replicaLease))
		if err != nil && ctx.Err() == nil {
			s.log.Warn("claiming syndication jobs failed", "err", err)
		}
		for _, k := range jobs {
			s.log.Info("resuming syndication pull", "upstream", k.Upstream, "urn", k.URNKey)
			go s.pull(ctx, k)
		}
		s.checkSyndications(ctx, interval)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// checkSyndications syncs each syndication not looked at for interval.
func (s *Service) checkSyndications(ctx context.Context, interval time.Duration) {
	syns, err := s.db.Syndications(ctx, false)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("listing syndications failed", "err", err)
		}
		return
	}
	for _, syn := range syns {
		if syn.CheckedAt != nil && time.Since(*syn.CheckedAt) < interval {
			continue
		}
		msg := ""
		err := func() error {
			u, err := s.db.UpstreamByName(ctx, syn.Upstream)
			if err != nil {
				return err
			}
			p, err := syndicate.ParsePattern(syn.Pattern)
			if err != nil {
				return err
			}
			_, err = s.sync(ctx, u, syn, p, false)
			return err
		}()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			msg = fmt.Sprintf("last look at the upstream failed: %v", err)
			s.log.Warn("syndication check failed", "upstream", syn.Upstream, "pattern", syn.Pattern, "err", err)
		}
		s.db.SyndicationChecked(ctx, syn, msg)
	}
}

// noUpstream is the dialer of a catalog configured without one.
type noUpstream struct{}

var errNoUpstream = errors.New("this server is not configured to reach upstreams")

func (noUpstream) SyndicationCatalog(context.Context, hangar.MarketplaceFilter) (syndicate.Catalog, error) {
	return syndicate.Catalog{}, errNoUpstream
}

func (noUpstream) SyndicationManifest(context.Context, string, int, int64) ([]byte, error) {
	return nil, errNoUpstream
}

func (noUpstream) SyndicationChunk(context.Context, chunks.Digest) ([]byte, error) {
	return nil, errNoUpstream
}
