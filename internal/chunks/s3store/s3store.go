// Package s3store keeps chunks in an S3-compatible object store (AWS S3, MinIO,
// versitygw, SeaweedFS, Ceph RGW, ...), one object per chunk under a key prefix.
//
// Chunks are content-addressed and immutable, so every write is an idempotent,
// single-request PUT (a chunk is at most 4 MiB: multipart is never needed). Writing a
// chunk that exists rewrites the same bytes and refreshes its Last-Modified time,
// which garbage collection's grace period relies on. Requests are signed with the
// payload's SHA-256, so the object store itself rejects a body damaged in transit.
// SaveHashed (chunks.Store.Put uses it) signs with the SHA-256 the caller already
// computed and sends the bytes as they are: no second hash of the chunk on this side,
// and no streaming-signature framing (over plain HTTP the client library otherwise
// hashes and re-frames every 64 KiB of the body).
package s3store

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/hangarvm/hangar/internal/chunks"
)

// Config says where the chunks live and how to reach them. Empty fields are taken
// from the standard AWS environment variables (see ConfigFromEnv).
type Config struct {
	Bucket   string
	Prefix   string // key prefix, without leading or trailing slash; may be empty
	Endpoint string // http://host:port or https://host; empty means AWS S3
	Region   string
	// AccessKeyID and SecretAccessKey are the credentials; both empty means the
	// standard AWS environment variables, then anonymous access.
	AccessKeyID     string
	SecretAccessKey string
}

// ParseURL reads s3://bucket/prefix[?endpoint=URL&region=NAME] into a Config. The
// query names the object store of this one URL, as another region's store needs;
// what it leaves out comes from flags and the environment.
func ParseURL(raw string) (Config, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "s3" || u.Host == "" {
		return Config{}, fmt.Errorf("chunk store %q: want s3://BUCKET[/PREFIX][?endpoint=URL&region=NAME]", raw)
	}
	q := u.Query()
	for k := range q {
		if k != "endpoint" && k != "region" {
			return Config{}, fmt.Errorf("chunk store %q: unknown parameter %q (endpoint and region are known)", raw, k)
		}
	}
	return Config{Bucket: u.Host, Prefix: strings.Trim(u.Path, "/"), Endpoint: q.Get("endpoint"), Region: q.Get("region")}, nil
}

// WithEnv fills the fields left empty from AWS_ENDPOINT_URL, AWS_REGION (or
// AWS_DEFAULT_REGION), AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.
func (c Config) WithEnv() Config {
	set := func(field *string, names ...string) {
		for _, n := range names {
			if *field == "" {
				*field = os.Getenv(n)
			}
		}
	}
	set(&c.Endpoint, "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")
	set(&c.Region, "AWS_REGION", "AWS_DEFAULT_REGION")
	if c.AccessKeyID == "" && c.SecretAccessKey == "" {
		set(&c.AccessKeyID, "AWS_ACCESS_KEY_ID")
		set(&c.SecretAccessKey, "AWS_SECRET_ACCESS_KEY")
	}
	return c
}

// Store is a chunks.Backend on one bucket and prefix.
type Store struct {
	client *minio.Client
	core   minio.Core // the same client, for PUTs signed with a known SHA-256
	bucket string
	prefix string // "" or "some/prefix/"
	where  string // for messages: s3://bucket/prefix at endpoint
}

var _ chunks.HashedSaver = (*Store)(nil)

// Open connects to the bucket and checks that it exists and that the credentials work.
func Open(ctx context.Context, c Config) (*Store, error) {
	endpoint, secure := "s3.amazonaws.com", true
	lookup := minio.BucketLookupAuto
	if c.Endpoint != "" {
		u, err := url.Parse(c.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("S3 endpoint %q: want http://HOST[:PORT] or https://HOST[:PORT]", c.Endpoint)
		}
		endpoint, secure = u.Host, u.Scheme == "https"
		// Self-hosted object stores rarely have wildcard DNS for bucket hostnames.
		lookup = minio.BucketLookupPath
	}
	var creds *credentials.Credentials
	if c.AccessKeyID != "" || c.SecretAccessKey != "" {
		creds = credentials.NewStaticV4(c.AccessKeyID, c.SecretAccessKey, "")
	} else {
		creds = credentials.NewStatic("", "", "", credentials.SignatureAnonymous)
	}
	client, err := minio.New(endpoint, &minio.Options{
		Creds: creds, Secure: secure, Region: c.Region, BucketLookup: lookup,
		// A few quick retries ride out a blip; an outage must reach the caller as a
		// retryable error soon, not after minutes of backoff.
		MaxRetries: 3,
	})
	if err != nil {
		return nil, err
	}
	s := &Store{client: client, core: minio.Core{Client: client}, bucket: c.Bucket, where: fmt.Sprintf("s3://%s/%s at %s", c.Bucket, c.Prefix, endpoint)}
	if c.Prefix != "" {
		s.prefix = c.Prefix + "/"
	}
	ok, err := client.BucketExists(ctx, c.Bucket)
	if minio.ToErrorResponse(err).StatusCode == http.StatusForbidden {
		return nil, fmt.Errorf("chunk store %s: access denied (%v): check the credentials (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or the --s3-* flags)", s.where, err)
	}
	if err != nil {
		return nil, s.fail("open", "", err)
	}
	if !ok {
		return nil, fmt.Errorf("chunk store %s: the bucket does not exist; create it first", s.where)
	}
	return s, nil
}

func (s *Store) String() string { return s.where }

// Save stores data under name with one PUT.
func (s *Store) Save(ctx context.Context, name string, data []byte) error {
	_, err := s.client.PutObject(ctx, s.bucket, s.prefix+name, bytes.NewReader(data), int64(len(data)),
		minio.PutObjectOptions{ContentType: "application/octet-stream", DisableMultipart: true})
	return s.fail("save", name, err)
}

// SaveHashed implements chunks.HashedSaver: one PUT whose signature carries sum,
// which the object store checks against the body.
func (s *Store) SaveHashed(ctx context.Context, name string, data []byte, sum [32]byte) error {
	_, err := s.core.PutObject(ctx, s.bucket, s.prefix+name, bytes.NewReader(data), int64(len(data)), "", hex.EncodeToString(sum[:]),
		minio.PutObjectOptions{ContentType: "application/octet-stream", DisableMultipart: true, DisableContentSha256: true})
	return s.fail("save", name, err)
}

// Load reads the whole object.
func (s *Store) Load(ctx context.Context, name string) ([]byte, error) {
	obj, err := s.client.GetObject(ctx, s.bucket, s.prefix+name, minio.GetObjectOptions{})
	if err != nil {
		return nil, s.fail("load", name, err)
	}
	defer obj.Close()
	info, err := obj.Stat()
	if err != nil {
		return nil, s.fail("load", name, err)
	}
	if info.Size > 2*chunks.ChunkSize {
		return nil, fmt.Errorf("chunk store %s: object %s has %d bytes, more than any chunk", s.where, name, info.Size)
	}
	data := make([]byte, info.Size)
	if _, err := io.ReadFull(obj, data); err != nil {
		return nil, s.fail("load", name, err)
	}
	return data, nil
}

// Stat asks for the object's size and time without reading it.
func (s *Store) Stat(ctx context.Context, name string) (chunks.ObjectInfo, error) {
	info, err := s.client.StatObject(ctx, s.bucket, s.prefix+name, minio.StatObjectOptions{})
	if err != nil {
		return chunks.ObjectInfo{}, s.fail("stat", name, err)
	}
	return chunks.ObjectInfo{Name: name, Size: info.Size, ModTime: info.LastModified}, nil
}

// Remove deletes the object; S3 answers success for a missing one.
func (s *Store) Remove(ctx context.Context, name string) error {
	return s.fail("remove", name, s.client.RemoveObject(ctx, s.bucket, s.prefix+name, minio.RemoveObjectOptions{}))
}

// List pages through every object under the prefix.
func (s *Store) List(ctx context.Context, fn func(chunks.ObjectInfo) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops the lister's goroutine when fn ends the walk early
	for o := range s.client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: s.prefix, Recursive: true}) {
		if o.Err != nil {
			return s.fail("list", "", o.Err)
		}
		name := strings.TrimPrefix(o.Key, s.prefix)
		if name == "" || path.Base(name) != name {
			continue // not one of our flat chunk names
		}
		if err := fn(chunks.ObjectInfo{Name: name, Size: o.Size, ModTime: o.LastModified}); err != nil {
			return err
		}
	}
	return nil
}

// fail turns a client error into ours: a missing key wraps chunks.ErrNotExist, and an
// unreachable or failing server wraps chunks.ErrUnavailable, which callers report as
// retryable.
func (s *Store) fail(op, name string, err error) error {
	if err == nil {
		return nil
	}
	resp := minio.ToErrorResponse(err)
	switch {
	case resp.Code == minio.NoSuchKey || resp.StatusCode == http.StatusNotFound && resp.Code != minio.NoSuchBucket:
		return fmt.Errorf("%w: %s", chunks.ErrNotExist, name)
	case resp.StatusCode == 0 || resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return err
		}
		return fmt.Errorf("%w: %s %s in %s: %v", chunks.ErrUnavailable, op, name, s.where, err)
	}
	return fmt.Errorf("chunk store %s: %s %s: %w", s.where, op, name, err)
}
