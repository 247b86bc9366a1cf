package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/hangarvm/hangar/internal/chunks"
	"github.com/hangarvm/hangar/internal/store"
)

// lockDataDir takes the data dir's lock, held while a server (or a migration) uses
// it, so that two never work on one data dir at once. The lock goes with the process.
func lockDataDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("data dir %s is in use by another hangar process (hangar serve?): stop it first", dir)
	}
	return f, nil
}

type migrateOptions struct {
	dataDir, fromDB, fromStore, toDB, toStore string
	s3                                        s3Flags
}

func newMigrateStoreCmd(g *globals) *cobra.Command {
	o := &migrateOptions{}
	cmd := &cobra.Command{
		Use:   "migrate-store --to DB_URL --to-store STORE_URL",
		Short: "Move an installation to another database and chunk store (e.g. PostgreSQL + S3)",
		Long: `Move an installation's metadata and chunks to another database and chunk store,
typically from the embedded default (SQLite and a directory in --data-dir) to
PostgreSQL and an S3-compatible object store.

Stop hangar serve first: the command takes the data dir's lock. Chunks are copied
first (those already in the target are skipped, so an interrupted run can simply be
started again), each verified against its digest; then every row is copied into the
empty target database in one transaction. Finally every chunk the metadata references
is checked to be in the target store. Nothing is deleted from the source: once the
service runs well on the target, remove the old data yourself.`,
		Example: `  AWS_ENDPOINT_URL=http://127.0.0.1:9000 AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=... \
    hangar admin migrate-store --data-dir ./hangar-data \
      --to postgres://hangar@db/hangar --to-store s3://hangar-chunks/prod`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return migrateStore(cmd, g, o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.dataDir, "data-dir", "./hangar-data", "data dir of the installation to move")
	f.StringVar(&o.fromDB, "from", "", "source database URL (default: the SQLite database in --data-dir)")
	f.StringVar(&o.fromStore, "from-store", "", "source chunk store URL (default: the chunk directory in --data-dir)")
	f.StringVar(&o.toDB, "to", "", "target database URL, e.g. postgres://user@host/db (must be empty)")
	f.StringVar(&o.toStore, "to-store", "", "target chunk store URL, e.g. s3://bucket/prefix")
	o.s3.register(f)
	cmd.MarkFlagRequired("to")
	cmd.MarkFlagRequired("to-store")
	return cmd
}

func migrateStore(cmd *cobra.Command, g *globals, o *migrateOptions) error {
	ctx := cmd.Context()
	lock, err := lockDataDir(o.dataDir)
	if err != nil {
		return err
	}
	defer lock.Close()
	srcDB, err := store.Open(ctx, firstNonEmpty(o.fromDB, "sqlite://"+filepath.Join(o.dataDir, "hangar.db")))
	if err != nil {
		return fmt.Errorf("source database: %w", err)
	}
	defer srcDB.Close()
	dstDB, err := store.Open(ctx, o.toDB)
	if err != nil {
		return fmt.Errorf("target database: %w", err)
	}
	defer dstDB.Close()
	srcBackend, err := openChunkStore(ctx, o.fromStore, o.dataDir, o.s3)
	if err != nil {
		return fmt.Errorf("source chunk store: %w", err)
	}
	dstBackend, err := openChunkStore(ctx, o.toStore, o.dataDir, o.s3)
	if err != nil {
		return fmt.Errorf("target chunk store: %w", err)
	}
	src, dst := &chunks.Store{Backend: srcBackend}, &chunks.Store{Backend: dstBackend}

	copied, skipped, err := copyChunks(ctx, cmd, g, src, dst)
	if err != nil {
		return fmt.Errorf("copying chunks: %w (run the command again: chunks already copied are skipped)", err)
	}
	counts, err := store.Copy(ctx, srcDB, dstDB)
	if err != nil {
		return fmt.Errorf("copying metadata: %w (the target database was left empty)", err)
	}
	missing := 0
	err = dstDB.ReferencedChunks(ctx, func(d chunks.Digest) error {
		has, err := dst.Has(ctx, d)
		if err == nil && !has {
			missing++
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("verifying the target: %w", err)
	}
	if missing > 0 {
		return fmt.Errorf("%d chunks the metadata references are not in the target store: the source store lacks them too (run hangar admin scrub on the source)", missing)
	}
	summary := migrateSummary{ChunksCopied: copied, ChunksPresent: skipped, Rows: counts,
		Next: fmt.Sprintf("hangar serve --data-dir %s --db %s --store %s", o.dataDir, o.toDB, o.toStore)}
	return g.print(cmd, summary, func(w io.Writer) {
		var rows int64
		for _, n := range counts {
			rows += n
		}
		fmt.Fprintf(w, "Copied %d chunks (%d were already there) and %d rows in %d tables; every referenced chunk is in the target.\n",
			copied, skipped, rows, len(counts))
		fmt.Fprintf(w, "Start the service on the new stores with:\n  %s\n", summary.Next)
	})
}

type migrateSummary struct {
	ChunksCopied  int              `json:"chunksCopied"`
	ChunksPresent int              `json:"chunksAlreadyPresent"`
	Rows          map[string]int64 `json:"rows"`
	Next          string           `json:"next"`
}

// copyChunks copies every chunk dst lacks, each verified on the way, a few at once.
func copyChunks(ctx context.Context, cmd *cobra.Command, g *globals, src, dst *chunks.Store) (copied, skipped int, err error) {
	todo := map[chunks.Digest]int64{}
	var total int64
	err = src.Backend.List(ctx, func(o chunks.ObjectInfo) error {
		if d, err := chunks.ParseDigest(o.Name); err == nil {
			todo[d] = o.Size
			total += o.Size
		}
		return nil
	})
	if err != nil {
		return 0, 0, err
	}
	var bar *progressbar.ProgressBar
	if g.tableOutput() {
		bar = progressbar.NewOptions64(total, progressbar.OptionSetWriter(cmd.ErrOrStderr()), progressbar.OptionShowBytes(true),
			progressbar.OptionSetDescription("copying chunks"), progressbar.OptionShowCount())
		defer fmt.Fprintln(cmd.ErrOrStderr())
	}
	err = chunks.CopyMissing(ctx, src, dst, todo, 4, func(size, n int64) error {
		if n > 0 {
			copied++
		} else {
			skipped++
		}
		if bar != nil {
			bar.Add64(size)
		}
		return nil
	})
	return copied, skipped, err
}
