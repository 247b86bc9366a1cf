package catalog

import (
	"context"
	"encoding/hex"
	"errors"
	"strings"

	"github.com/hangarvm/hangar/internal/fetch"
	"github.com/hangarvm/hangar/internal/hangar"
)

// URLImport is an import from a URL whose source is open: the checks that need no
// byte of the file passed, and the source's server answered. Run does the rest.
type URLImport struct {
	s      *Service
	actor  *hangar.Tenant
	name   string
	lim    importLimits
	sum    []byte
	remote *fetch.Remote
}

// StartURLImport checks an import from a URL (name, quota, URL, checksum) and opens
// the source under the server's SSRF policy, so that a refused address, a missing
// file or a file that is too large is an answer of its own before any work. The
// caller must Run or Close the import.
func (s *Service) StartURLImport(ctx context.Context, actor *hangar.Tenant, name string, req hangar.DiskImport) (*URLImport, error) {
	lim, err := s.prepareImport(ctx, actor, name)
	if err != nil {
		return nil, err
	}
	imp := &URLImport{s: s, actor: actor, name: name, lim: lim}
	if req.SHA256 != "" {
		sum, err := hex.DecodeString(strings.ToLower(req.SHA256))
		if err != nil || len(sum) != 32 {
			return nil, hangar.Errorf(hangar.CodeInvalid, "sha256 %.70q is not 64 hexadecimal digits", req.SHA256)
		}
		imp.sum = sum
	}
	if _, err := fetch.ParseURL(req.URL); err != nil {
		return nil, hangar.Errorf(hangar.CodeInvalid, "import URL: %v", err)
	}
	src := fetch.Source{URL: req.URL}
	if req.S3 != nil {
		src.S3 = &fetch.S3Access{Endpoint: req.S3.Endpoint, Region: req.S3.Region, AccessKeyID: req.S3.AccessKeyID,
			SecretAccessKey: req.S3.SecretAccessKey, SessionToken: req.S3.SessionToken}
	}
	remote, err := s.fetcher.Open(ctx, src)
	if err != nil {
		return nil, fetchError(err)
	}
	if remote.Size > lim.limit {
		remote.Body.Close()
		return nil, s.tooLarge(actor, lim, remote.Size)
	}
	imp.remote = remote
	return imp, nil
}

// fetchError turns a fetch failure into a user error.
func fetchError(err error) error {
	var fe *fetch.FetchError
	switch {
	case errors.Is(err, fetch.ErrRefused):
		return hangar.Errorf(hangar.CodeImportRefused, "import refused: %s", strings.TrimPrefix(err.Error(), fetch.ErrRefused.Error()+": "))
	case errors.As(err, &fe):
		return hangar.Errorf(hangar.CodeImportSource, "%v", fe)
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		return err
	}
	return hangar.Errorf(hangar.CodeInvalid, "import: %v", err)
}

// Size is the file's size as its server said it, -1 when it did not.
func (u *URLImport) Size() int64 { return u.remote.Size }

// Close releases the source; Run closes it too.
func (u *URLImport) Close() { u.remote.Body.Close() }

// Run fetches the file into a staging file, checks it as an upload is checked
// (checksum when given, size, format) and commits the disk, reporting progress to
// progress (nil: none). Until the commit no disk of that name is visible; on failure
// none ever is.
func (u *URLImport) Run(ctx context.Context, progress func(hangar.DiskImportProgress)) (hangar.Disk, error) {
	defer u.Close()
	opt := stageOptions{sha256: u.sum, where: u.remote.Where}
	if progress != nil {
		var done int64
		opt.progress = func(n int64) {
			done += n
			progress(hangar.DiskImportProgress{Phase: "fetching", Bytes: done, Total: u.remote.Size})
		}
		opt.storing = func(at, total int64) { progress(hangar.DiskImportProgress{Phase: "storing", Bytes: at, Total: total}) }
	}
	dk, err := u.s.stageAndStore(ctx, u.actor, u.name, u.remote.Body, u.lim, opt)
	if err != nil {
		u.s.log.Info("disk import failed", "tenant", u.actor.Name, "disk", u.name, "source", u.remote.Where, "err", err)
		return dk, err
	}
	u.s.log.Info("disk imported from a URL", "tenant", u.actor.Name, "disk", u.name, "source", u.remote.Where,
		"format", dk.SourceFormat, "virtualSize", dk.VirtualSize)
	return dk, nil
}
