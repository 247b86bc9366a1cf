package catalog

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/hangarvm/hangar/internal/fetch"
	"github.com/hangarvm/hangar/internal/hangar"
)

// TestURLImport runs imports from a local HTTP server through the checks an upload
// gets: each refusal has its code, and no refused import leaves a disk.
func TestURLImport(t *testing.T) {
	dir := t.TempDir()
	s, admin := newServiceIn(t, dir, Config{StagingDir: dir, MaxVirtualSize: 4 << 20,
		ImportPolicy: fetch.Policy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}})
	alice := newTenant(t, s, admin, "alice")
	disk := make([]byte, 2<<20)
	copy(disk[1<<20:], "hello")
	sum := sha256.Sum256(disk)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/d.raw":
			w.Write(disk)
		case "/huge.raw": // says how large it is
			w.Header().Set("Content-Length", "1073741824")
		case "/endless.raw": // does not say, and never ends
			buf := make([]byte, 1<<20)
			for {
				if _, err := w.Write(buf); err != nil {
					return
				}
			}
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()

	cases := []struct {
		name string
		req  hangar.DiskImport
		code hangar.Code
	}{
		{"ok", hangar.DiskImport{URL: srv.URL + "/d.raw", SHA256: hex.EncodeToString(sum[:])}, ""},
		{"ok-upper", hangar.DiskImport{URL: srv.URL + "/d.raw", SHA256: strings.ToUpper(hex.EncodeToString(sum[:]))}, ""},
		{"ok", hangar.DiskImport{URL: srv.URL + "/d.raw"}, hangar.CodeConflict},
		{"bad-sum", hangar.DiskImport{URL: srv.URL + "/d.raw", SHA256: strings.Repeat("0", 64)}, hangar.CodeChecksumMismatch},
		{"bad-sum-form", hangar.DiskImport{URL: srv.URL + "/d.raw", SHA256: "abc"}, hangar.CodeInvalid},
		{"huge", hangar.DiskImport{URL: srv.URL + "/huge.raw"}, hangar.CodeTooLarge},
		{"endless", hangar.DiskImport{URL: srv.URL + "/endless.raw"}, hangar.CodeTooLarge},
		{"missing", hangar.DiskImport{URL: srv.URL + "/missing.raw"}, hangar.CodeImportSource},
		{"refused", hangar.DiskImport{URL: "http://[::1]:1/d.raw"}, hangar.CodeImportRefused},
		{"scheme", hangar.DiskImport{URL: "ftp://example.com/d.raw"}, hangar.CodeInvalid},
		{"bad name!", hangar.DiskImport{URL: srv.URL + "/d.raw"}, hangar.CodeInvalid},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var phases []string
			imp, err := s.StartURLImport(t.Context(), alice, c.name, c.req)
			var dk hangar.Disk
			if err == nil {
				dk, err = imp.Run(t.Context(), func(p hangar.DiskImportProgress) {
					if len(phases) == 0 || phases[len(phases)-1] != p.Phase {
						phases = append(phases, p.Phase)
					}
				})
			}
			if hangar.ErrorCode(err) != c.code && !(c.code == "" && err == nil) {
				t.Fatalf("error %v (code %s), want code %q", err, hangar.ErrorCode(err), c.code)
			}
			if c.code == "" {
				if dk.VirtualSize != int64(len(disk)) || dk.SourceFormat != "raw" || strings.Join(phases, ",") != "fetching,storing" {
					t.Fatalf("disk %+v, phases %v", dk, phases)
				}
				return
			}
			if c.code != hangar.CodeConflict {
				if _, err := s.Disk(t.Context(), alice, c.name); err == nil {
					t.Error("a refused import left a disk")
				}
			}
		})
	}
	ds, _ := s.ListDisks(t.Context(), alice)
	if len(ds) != 2 {
		t.Errorf("%d disks, want the two imported", len(ds))
	}
}
