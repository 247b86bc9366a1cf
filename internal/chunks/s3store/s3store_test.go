package s3store_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/hangarvm/hangar/internal/chunks"
	"github.com/hangarvm/hangar/internal/chunks/chunkstest"
	"github.com/hangarvm/hangar/internal/chunks/s3store"
	"github.com/hangarvm/hangar/internal/chunks/s3store/s3test"
)

func TestMain(m *testing.M) {
	code := m.Run()
	s3test.Stop()
	os.Exit(code)
}

func open(t *testing.T, c s3store.Config) *s3store.Store {
	t.Helper()
	s, err := s3store.Open(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	chunkstest.Run(t, func(t *testing.T) chunks.Backend { return open(t, s3test.Config(t)) })
}

func TestObjectsLiveUnderThePrefix(t *testing.T) {
	srv := s3test.Shared(t)
	c := srv.NewBucket(t)
	s := open(t, c)
	data := []byte("chunk under a prefix")
	name := chunks.Sum(data).String()
	if err := s.Save(context.Background(), name, data); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(srv.ObjectPath(c, name))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("object file %s: %q, %v", srv.ObjectPath(c, name), got, err)
	}
	// Another prefix in the same bucket is another store.
	c.Prefix = "other"
	n := 0
	open(t, c).List(context.Background(), func(chunks.ObjectInfo) error { n++; return nil })
	if n != 0 {
		t.Fatalf("store under prefix %q lists %d objects of another prefix", c.Prefix, n)
	}
}

// A stopped object store gives errors callers can tell are worth retrying, and the
// store works again, with its data, once the server is back.
func TestOutageIsRetryable(t *testing.T) {
	ctx := context.Background()
	srv := s3test.New(t)
	s := open(t, srv.NewBucket(t))
	data := []byte("saved before the outage")
	name := chunks.Sum(data).String()
	if err := s.Save(ctx, name, data); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	other := []byte("saved during the outage")
	checks := map[string]error{
		"Save": s.Save(ctx, chunks.Sum(other).String(), other),
		"Stat": func() error { _, err := s.Stat(ctx, name); return err }(),
		"Load": func() error { _, err := s.Load(ctx, name); return err }(),
		"List": s.List(ctx, func(chunks.ObjectInfo) error { return nil }),
	}
	for op, err := range checks {
		if !errors.Is(err, chunks.ErrUnavailable) {
			t.Errorf("%s while the server is down: %v, want ErrUnavailable", op, err)
		}
		if errors.Is(err, chunks.ErrNotExist) {
			t.Errorf("%s while the server is down says the chunk is missing: %v", op, err)
		}
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	got, err := s.Load(ctx, name)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("after the server returned: %q, %v", got, err)
	}
}

func TestOpenErrors(t *testing.T) {
	srv := s3test.Shared(t)
	good := srv.NewBucket(t)
	tests := []struct {
		name   string
		change func(*s3store.Config)
		want   string
	}{
		{"missing bucket", func(c *s3store.Config) { c.Bucket = "no-such-bucket" }, "bucket does not exist"},
		{"wrong secret", func(c *s3store.Config) { c.SecretAccessKey = "wrong" }, "check the credentials"},
		{"bad endpoint", func(c *s3store.Config) { c.Endpoint = "ftp://x" }, "want http://"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := good
			tt.change(&c)
			_, err := s3store.Open(context.Background(), c)
			if err == nil || !strings.Contains(strings.ToLower(err.Error()), tt.want) {
				t.Fatalf("Open = %v, want an error saying %q", err, tt.want)
			}
		})
	}
}

func TestParseURLAndEnv(t *testing.T) {
	c, err := s3store.ParseURL("s3://images/hangar/prod/")
	if err != nil || c.Bucket != "images" || c.Prefix != "hangar/prod" {
		t.Fatalf("ParseURL = %+v, %v", c, err)
	}
	c2, err := s3store.ParseURL("s3://west/chunks?endpoint=http://10.0.0.9:9000&region=westeurope")
	if err != nil || c2.Bucket != "west" || c2.Prefix != "chunks" || c2.Endpoint != "http://10.0.0.9:9000" || c2.Region != "westeurope" {
		t.Fatalf("ParseURL with a query = %+v, %v", c2, err)
	}
	for _, bad := range []string{"s3://", "http://bucket/x", "images/x", "s3://b/p?endpiont=http://x"} {
		if _, err := s3store.ParseURL(bad); err == nil {
			t.Errorf("ParseURL(%q) accepted", bad)
		}
	}
	t.Setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9000")
	t.Setenv("AWS_REGION", "eu-west-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "env-key")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "env-secret")
	got := c.WithEnv()
	if got.Endpoint != "http://127.0.0.1:9000" || got.Region != "eu-west-1" || got.AccessKeyID != "env-key" || got.SecretAccessKey != "env-secret" {
		t.Fatalf("WithEnv = %+v", got)
	}
	// Flags win over the environment, and a key pair is never mixed from both.
	c.Region, c.AccessKeyID, c.SecretAccessKey = "flag-region", "flag-key", "flag-secret"
	got = c.WithEnv()
	if got.Region != "flag-region" || got.AccessKeyID != "flag-key" || got.SecretAccessKey != "flag-secret" {
		t.Fatalf("WithEnv with flags = %+v", got)
	}
}
