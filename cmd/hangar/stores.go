package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/pflag"

	"github.com/hangarvm/hangar/internal/chunks"
	"github.com/hangarvm/hangar/internal/chunks/dirstore"
	"github.com/hangarvm/hangar/internal/chunks/s3store"
)

// s3Flags are the object store settings flags may give; what they leave empty comes
// from the standard AWS environment variables.
type s3Flags struct {
	endpoint, region, accessKeyID, secretAccessKey string
}

func (f *s3Flags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.endpoint, "s3-endpoint", "", "S3 endpoint URL for s3:// stores (default: $AWS_ENDPOINT_URL, else AWS)")
	fs.StringVar(&f.region, "s3-region", "", "S3 region (default: $AWS_REGION)")
	fs.StringVar(&f.accessKeyID, "s3-access-key-id", "", "S3 access key ID (default: $AWS_ACCESS_KEY_ID)")
	fs.StringVar(&f.secretAccessKey, "s3-secret-access-key", "", "S3 secret access key (default: $AWS_SECRET_ACCESS_KEY; the environment keeps it out of ps)")
}

// openChunkStore opens a chunk store URL: file:///PATH, a plain path, or
// s3://BUCKET[/PREFIX][?endpoint=URL&region=NAME]. An empty URL is the chunks
// directory in dataDir.
func openChunkStore(ctx context.Context, raw, dataDir string, s3 s3Flags) (chunks.Backend, error) {
	switch {
	case raw == "":
		return dirstore.Open(filepath.Join(dataDir, "chunks"))
	case strings.HasPrefix(raw, "s3://"):
		c, err := s3store.ParseURL(raw)
		if err != nil {
			return nil, err
		}
		c.Endpoint, c.Region = firstNonEmpty(c.Endpoint, s3.endpoint), firstNonEmpty(c.Region, s3.region)
		c.AccessKeyID, c.SecretAccessKey = s3.accessKeyID, s3.secretAccessKey
		return s3store.Open(ctx, c.WithEnv())
	case strings.HasPrefix(raw, "file://"):
		return dirstore.Open(strings.TrimPrefix(raw, "file://"))
	case !strings.Contains(raw, "://"):
		return dirstore.Open(raw)
	}
	return nil, fmt.Errorf("chunk store %q: want file:///PATH or s3://BUCKET[/PREFIX]", raw)
}
