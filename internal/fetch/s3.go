package fetch

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// openS3 reads s3://BUCKET/KEY through the fetcher's guarded transport, signed with
// the credentials given (anonymous without them).
func (f *Fetcher) openS3(ctx context.Context, u *url.URL, acc *S3Access) (*Remote, error) {
	if acc == nil {
		acc = &S3Access{}
	}
	bucket, key := u.Host, strings.TrimPrefix(u.Path, "/")
	endpoint, secure, lookup := "s3.amazonaws.com", true, minio.BucketLookupAuto
	if acc.Endpoint != "" {
		e, err := url.Parse(acc.Endpoint)
		if err != nil || (e.Scheme != "http" && e.Scheme != "https") || e.Host == "" || e.User != nil || strings.Trim(e.Path, "/") != "" {
			return nil, fmt.Errorf("S3 endpoint %q: want http://HOST[:PORT] or https://HOST[:PORT]", acc.Endpoint)
		}
		endpoint, secure, lookup = e.Host, e.Scheme == "https", minio.BucketLookupPath
	}
	where := fmt.Sprintf("s3://%s/%s at %s", bucket, key, endpoint)
	creds := credentials.NewStatic("", "", "", credentials.SignatureAnonymous)
	if acc.AccessKeyID != "" || acc.SecretAccessKey != "" {
		creds = credentials.NewStaticV4(acc.AccessKeyID, acc.SecretAccessKey, acc.SessionToken)
	}
	region := acc.Region
	if region == "" {
		region = "us-east-1" // else minio asks the server, one more request
	}
	client, err := minio.New(endpoint, &minio.Options{
		Creds: creds, Secure: secure, Region: region, BucketLookup: lookup,
		Transport: f.transport, MaxRetries: 2,
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %v", where, err)
	}
	obj, err := client.GetObject(ctx, bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, s3Error(where, err)
	}
	info, err := obj.Stat() // sends the request: failures show here, before any byte
	if err != nil {
		obj.Close()
		return nil, s3Error(where, err)
	}
	return &Remote{Body: obj, Size: info.Size, Where: where}, nil
}

func s3Error(where string, err error) error {
	if errors.Is(err, ErrRefused) {
		return unwrapRefusal(err)
	}
	r := minio.ToErrorResponse(err)
	if r.StatusCode != 0 {
		msg := r.Message
		if r.Code != "" {
			msg = r.Code + ": " + msg
		}
		if r.StatusCode == http.StatusForbidden {
			msg += " (check the credentials: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN)"
		}
		return &FetchError{Where: where, Status: r.StatusCode, Msg: msg}
	}
	return &FetchError{Where: where, Msg: "cannot fetch: " + err.Error()}
}
