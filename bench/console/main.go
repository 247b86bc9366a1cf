// Command console measures how long the web console takes to answer its pages at
// the server for one tenant with many images and VMs (by default 1,000 images and
// 200 VMs): the real service layer (catalog and compute over SQLite and a chunk
// directory, the API in process as hangar serve has it), the console over it,
// signed in with a session cookie, over loopback HTTP. The time is from sending the
// request to the last byte of the page. Target: p99 under 50 ms for every page.
//
// The images are made through the API (one small disk shared by all). The VMs are
// written straight into the metadata store, deallocated: booting 200 guests is not
// what is measured, listing and rendering them is.
//
//	go run ./bench/console [-images 1000] [-vms 200] [-n 200]
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/hangarvm/hangar/internal/api/apitest"
	"github.com/hangarvm/hangar/internal/client"
	"github.com/hangarvm/hangar/internal/console"
	"github.com/hangarvm/hangar/internal/hangar"
	"github.com/hangarvm/hangar/internal/store"
)

const adminKey = "bench-admin-key-0123456789"

func main() {
	images := flag.Int("images", 1000, "images of the tenant")
	vms := flag.Int("vms", 200, "VMs of the tenant")
	n := flag.Int("n", 200, "measured requests per page")
	flag.Parse()
	if err := run(context.Background(), *images, *vms, *n); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, images, vms, n int) error {
	dir, err := os.MkdirTemp("", "hangar-bench-console")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	unlimited := hangar.Resources{StoredBytes: -1, TotalVirtualSize: -1, Disks: -1, Images: -1, VMs: -1, VCPUs: -1, MemoryMiB: -1, Uploads: -1}
	svc, err := apitest.Open(ctx, dir, apitest.Options{AdminKey: adminKey, Limits: unlimited})
	if err != nil {
		return err
	}
	defer svc.DB.Close()
	db := svc.DB
	srv := httptest.NewServer(console.Mount(svc.API, console.New(svc.API, svc.Log, console.Options{Sessions: svc.DB})))
	defer srv.Close()
	admin := client.New(srv.URL, adminKey)
	alice, err := admin.CreateTenant(ctx, hangar.TenantCreate{Name: "alice"})
	if err != nil {
		return err
	}
	start := time.Now()
	if err := populate(ctx, db, client.New(srv.URL, alice.Key), images, vms); err != nil {
		return err
	}
	fmt.Printf("tenant alice: %d images, %d VMs, made in %s\n", images, vms, time.Since(start).Round(time.Second))

	web, err := signIn(srv.URL, alice.Key)
	if err != nil {
		return err
	}
	pages := []string{"/console/images", "/console/images?all=1", "/console/images?page=5&sort=latest&order=desc",
		"/console/images?q=img05", fmt.Sprintf("/console/images/img%04d", images/2), "/console/vms",
		"/console/vms.json", fmt.Sprintf("/console/vms/vm%03d", vms/2), "/console/new/vm", "/console/images.json?q=img0",
		"/console/new/image", "/console/disks", "/console/marketplace"}
	fmt.Printf("%-46s %10s %10s %10s %10s\n", "page (HTTP, loopback)", "bytes", "p50", "p99", "max")
	for _, p := range pages {
		lat := make([]time.Duration, n)
		size := 0
		for i := range 5 + n {
			t0 := time.Now()
			body, err := get(web, srv.URL+p)
			if err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
			if i >= 5 { // the first five warm up
				lat[i-5] = time.Since(t0)
			}
			size = len(body)
		}
		slices.Sort(lat)
		fmt.Printf("%-46s %10d %10s %10s %10s\n", p, size, pct(lat, 50), pct(lat, 99), lat[n-1].Round(time.Microsecond))
	}
	// What the API itself takes for the lists under those pages, for comparison.
	c := client.New(srv.URL, alice.Key)
	for _, op := range []struct {
		name string
		fn   func() error
	}{
		{"API: image list", func() error { _, err := c.ListImages(ctx, false); return err }},
		{"API: image list --all", func() error { _, err := c.ListImages(ctx, true); return err }},
		{"API: vm list", func() error { _, err := c.ListVMs(ctx); return err }},
	} {
		lat := make([]time.Duration, n)
		for i := range 5 + n {
			t0 := time.Now()
			if err := op.fn(); err != nil {
				return fmt.Errorf("%s: %w", op.name, err)
			}
			if i >= 5 {
				lat[i-5] = time.Since(t0)
			}
		}
		slices.Sort(lat)
		fmt.Printf("%-46s %10s %10s %10s %10s\n", op.name, "", pct(lat, 50), pct(lat, 99), lat[n-1].Round(time.Microsecond))
	}
	return nil
}

func pct(lat []time.Duration, p int) time.Duration {
	return lat[(len(lat)-1)*p/100].Round(time.Microsecond)
}

// populate makes the tenant's images through the API and its VMs in the store.
func populate(ctx context.Context, db *store.DB, c *client.Client, images, vms int) error {
	f, err := os.CreateTemp("", "hangar-bench-disk")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	f.WriteAt([]byte("boot"), 0)
	f.Truncate(1 << 20)
	f.Close()
	disk, _, err := c.UploadDisk(ctx, f.Name(), "os", client.UploadOptions{})
	if err != nil {
		return err
	}
	for i := range images {
		if _, err := c.CreateImage(ctx, hangar.ImageCreate{Name: fmt.Sprintf("img%04d", i), Type: hangar.ImageTypeOS,
			OSType: hangar.OSLinux, OSState: hangar.Generalized, OSDisk: "os",
			Description: "image <" + fmt.Sprint(i) + "> & its description"}); err != nil {
			return err
		}
	}
	who, err := c.Whoami(ctx)
	if err != nil {
		return err
	}
	for i := range vms {
		v := &store.VM{VM: hangar.VM{Name: fmt.Sprintf("vm%03d", i), Image: fmt.Sprintf("img%04d@1.0.0", i%max(images, 1)),
			OSType: hangar.OSLinux, OSState: hangar.Generalized, HyperVGeneration: "V1", Size: hangar.VMSizes[0],
			AdminUsername: "ops", PowerState: hangar.PowerDeallocated, ProvisioningState: hangar.ProvisioningSucceeded,
			Disks: []hangar.VMDisk{{LUN: -1, Source: "os", VirtualSize: disk.VirtualSize}}},
			TenantID: who.Tenant.ID, DiskIDs: []string{disk.ID}}
		if err := db.CreateVM(ctx, v); err != nil {
			return err
		}
	}
	return nil
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// signIn signs in to the console as a browser does and returns a client that
// holds the session cookie.
func signIn(base, key string) (*http.Client, error) {
	jar, _ := cookiejar.New(nil)
	web := &http.Client{Jar: jar}
	page, err := get(web, base+"/console/signin")
	if err != nil {
		return nil, err
	}
	m := csrfField.FindStringSubmatch(page)
	if m == nil {
		return nil, fmt.Errorf("no sign-in form")
	}
	req, _ := http.NewRequest("POST", base+"/console/signin", strings.NewReader(url.Values{"csrf": {m[1]}, "key": {key}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", base)
	resp, err := web.Do(req)
	if err != nil {
		return nil, err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `action="/console/signout"`) {
		return nil, fmt.Errorf("sign-in failed: %s", resp.Status)
	}
	return web, nil
}

func get(web *http.Client, u string) (string, error) {
	resp, err := web.Get(u)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return "", fmt.Errorf("%s: %s", u, resp.Status)
	}
	return string(body), err
}
