package fetch

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/hangarvm/hangar/internal/chunks/s3store/s3test"
)

func TestMain(m *testing.M) {
	code := m.Run()
	s3test.Stop()
	os.Exit(code)
}

// TestOpenS3 reads an object from a real S3 server (versitygw) with the user's
// credentials, and refuses its loopback endpoint unless allowed.
func TestOpenS3(t *testing.T) {
	srv := s3test.Shared(t)
	cfg := srv.NewBucket(t)
	mc, err := minio.New(strings.TrimPrefix(srv.Endpoint, "http://"), &minio.Options{Creds: credentials.NewStaticV4(s3test.AccessKey, s3test.SecretKey, ""), Region: s3test.Region})
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("disk"), 1000)
	if _, err := mc.PutObject(context.Background(), cfg.Bucket, "images/d.raw", bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	acc := &S3Access{Endpoint: srv.Endpoint, Region: s3test.Region, AccessKeyID: s3test.AccessKey, SecretAccessKey: s3test.SecretKey}
	allowed := New(Policy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})
	url := "s3://" + cfg.Bucket + "/images/d.raw"

	r, err := allowed.Open(context.Background(), Source{URL: url, S3: acc})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if !bytes.Equal(got, data) || r.Size != int64(len(data)) {
		t.Fatalf("read %d bytes (size %d), want %d", len(got), r.Size, len(data))
	}

	_, err = New(Policy{}).Open(context.Background(), Source{URL: url, S3: acc})
	if !errors.Is(err, ErrRefused) {
		t.Errorf("loopback endpoint without the allow flag: %v, want a refusal", err)
	}
	wrong := *acc
	wrong.SecretAccessKey = "wrong"
	var fe *FetchError
	if _, err := allowed.Open(context.Background(), Source{URL: url, S3: &wrong}); !errors.As(err, &fe) || fe.Status != 403 {
		t.Errorf("wrong secret: %v, want a 403 FetchError", err)
	}
	if _, err := allowed.Open(context.Background(), Source{URL: url + ".missing", S3: acc}); !errors.As(err, &fe) || fe.Status != 404 {
		t.Errorf("missing key: %v, want a 404 FetchError", err)
	}
}
