package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/hangarvm/hangar/internal/hangar"
	"github.com/hangarvm/hangar/internal/store"
)

const (
	// keptRuns is how many runs of each kind (GC, scrub) the history keeps.
	keptRuns = 1000
	// defaultRunsListed and maxRunsListed bound one page of the history.
	defaultRunsListed = 100
	maxRunsListed     = 1000
)

// recordRun adds a finished GC or scrub run to the history. It is recorded even
// when the request that started it was cancelled (the run happened, as far as
// it got); failing to record it is logged, not returned: the run's own outcome
// is what its caller needs.
func (s *Service) recordRun(ctx context.Context, kind string, actor *hangar.Tenant, start time.Time, req, rep any, runErr error) {
	r := store.HygieneRun{Kind: kind, StartedBy: actor.Name, StartedAt: start, EndedAt: time.Now(), Outcome: hangar.RunSucceeded}
	if runErr != nil {
		r.Outcome, r.Error = hangar.RunFailed, runErr.Error()
		var he *hangar.Error
		if errors.As(runErr, &he) {
			r.Error = he.Message
		}
	}
	var err error
	if r.Request, err = json.Marshal(req); err == nil {
		r.Report, err = json.Marshal(rep)
	}
	if err == nil {
		err = s.db.RecordHygieneRun(context.WithoutCancel(ctx), &r, keptRuns)
	}
	if err != nil {
		s.log.Error("recording a run in the history", "kind", kind, "by", actor.Name, "err", err)
	}
}

// RunsPage selects one page of a run history: the newest runs, or those before
// the run with ID Before; at most Limit (100 when 0, at most 1,000).
type RunsPage struct {
	Before string
	Limit  int
}

func (s *Service) runs(ctx context.Context, actor *hangar.Tenant, kind string, p RunsPage) ([]store.HygieneRun, error) {
	if err := requireAdmin(actor, "read the history of "+kind+" runs"); err != nil {
		return nil, err
	}
	var before int64
	if p.Before != "" {
		n, err := strconv.ParseInt(p.Before, 10, 64)
		if err != nil || n <= 0 {
			return nil, hangar.Errorf(hangar.CodeInvalid, "before %q is not a run ID", p.Before)
		}
		before = n
	}
	limit := p.Limit
	switch {
	case limit < 0 || limit > maxRunsListed:
		return nil, hangar.Errorf(hangar.CodeInvalid, "limit %d is not between 1 and %d", limit, maxRunsListed)
	case limit == 0:
		limit = defaultRunsListed
	}
	return s.db.HygieneRuns(ctx, kind, before, limit)
}

// run returns one run of the history by its ID (admin).
func (s *Service) run(ctx context.Context, actor *hangar.Tenant, kind, id string) (store.HygieneRun, error) {
	if err := requireAdmin(actor, "read the history of "+kind+" runs"); err != nil {
		return store.HygieneRun{}, err
	}
	seq, err := strconv.ParseInt(id, 10, 64)
	var r store.HygieneRun
	if err == nil {
		r, err = s.db.HygieneRunBySeq(ctx, kind, seq)
	}
	var ne *strconv.NumError
	if errors.Is(err, store.ErrNotFound) || errors.As(err, &ne) {
		return r, hangar.Errorf(hangar.CodeNotFound, "no %s run %q in the history (it keeps the latest %d)", kind, id, keptRuns)
	}
	return r, err
}

func runInfo(r store.HygieneRun) hangar.HygieneRun {
	return hangar.HygieneRun{ID: strconv.FormatInt(r.Seq, 10), StartedBy: r.StartedBy, StartedAt: r.StartedAt,
		EndedAt: r.EndedAt, Outcome: r.Outcome, Error: r.Error}
}

// GCRuns returns the history of garbage collections, newest first (admin).
func (s *Service) GCRuns(ctx context.Context, actor *hangar.Tenant, p RunsPage) ([]hangar.GCRun, error) {
	list, err := s.runs(ctx, actor, store.HygieneGC, p)
	if err != nil {
		return nil, err
	}
	out := make([]hangar.GCRun, 0, len(list))
	for _, r := range list {
		out = append(out, gcRun(r))
	}
	return out, nil
}

// GCRun returns one garbage collection of the history by its ID (admin).
func (s *Service) GCRun(ctx context.Context, actor *hangar.Tenant, id string) (hangar.GCRun, error) {
	r, err := s.run(ctx, actor, store.HygieneGC, id)
	if err != nil {
		return hangar.GCRun{}, err
	}
	return gcRun(r), nil
}

func gcRun(r store.HygieneRun) hangar.GCRun {
	run := hangar.GCRun{HygieneRun: runInfo(r)}
	// What was recorded was marshalled from these very types.
	json.Unmarshal(r.Request, &run.Request)
	json.Unmarshal(r.Report, &run.Report)
	return run
}

// ScrubRuns returns the history of scrubs, newest first (admin).
func (s *Service) ScrubRuns(ctx context.Context, actor *hangar.Tenant, p RunsPage) ([]hangar.ScrubRun, error) {
	list, err := s.runs(ctx, actor, store.HygieneScrub, p)
	if err != nil {
		return nil, err
	}
	out := make([]hangar.ScrubRun, 0, len(list))
	for _, r := range list {
		out = append(out, scrubRun(r))
	}
	return out, nil
}

// ScrubRun returns one scrub of the history by its ID (admin).
func (s *Service) ScrubRun(ctx context.Context, actor *hangar.Tenant, id string) (hangar.ScrubRun, error) {
	r, err := s.run(ctx, actor, store.HygieneScrub, id)
	if err != nil {
		return hangar.ScrubRun{}, err
	}
	return scrubRun(r), nil
}

func scrubRun(r store.HygieneRun) hangar.ScrubRun {
	run := hangar.ScrubRun{HygieneRun: runInfo(r)}
	json.Unmarshal(r.Report, &run.Report)
	if run.Report.Corrupt == nil {
		run.Report.Corrupt = []hangar.CorruptChunk{}
	}
	return run
}
