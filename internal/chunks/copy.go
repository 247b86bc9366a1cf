package chunks

import (
	"context"
	"sync"

	"golang.org/x/sync/errgroup"
)

// Copy copies chunk d from src to dst unless dst has it, verifying it on the way,
// and returns the bytes it copied.
func Copy(ctx context.Context, src, dst *Store, d Digest) (int64, error) {
	if has, err := dst.Has(ctx, d); err != nil || has {
		return 0, err
	}
	data, err := src.Load(ctx, d)
	if err != nil {
		return 0, err
	}
	return int64(len(data)), dst.Backend.Save(ctx, d.String(), data)
}

// CopyMissing copies to dst every chunk of todo (digest to stored size) that dst
// lacks, workers at a time: object stores answer each request slowly but many at
// once. After each chunk, done is told its size and the bytes copied (0 when dst
// had it), one call at a time; an error from done, or from a copy, stops the rest
// and is returned. Memory is one chunk per worker.
func CopyMissing(ctx context.Context, src, dst *Store, todo map[Digest]int64, workers int, done func(size, copied int64) error) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(workers)
	var mu sync.Mutex
	for d, size := range todo {
		if ctx.Err() != nil {
			break // a copy failed: g.Wait returns its error
		}
		g.Go(func() error {
			n, err := Copy(ctx, src, dst, d)
			if err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			return done(size, n)
		})
	}
	return g.Wait()
}
