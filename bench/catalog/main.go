// Command catalog benchmarks image resolution and listing with a large catalog:
// 100,000 image versions (100 images of 1,000 versions each, every tenth version
// excluded from latest) plus a marketplace SKU with 10,000 versions. It drives the real
// server over loopback HTTP through the Go client, as the CLI does, and prints p50/p99
// latencies. Target: p99 of resolving latest under 5 ms.
//
//	go run ./bench/catalog [-images 100] [-versions 1000] [-n 2000]
package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/hangarvm/hangar/internal/api/apitest"
	"github.com/hangarvm/hangar/internal/client"
	"github.com/hangarvm/hangar/internal/hangar"
)

func main() {
	images := flag.Int("images", 100, "images")
	versions := flag.Int("versions", 1000, "versions per image")
	skuVersions := flag.Int("sku-versions", 10000, "versions of the marketplace SKU")
	n := flag.Int("n", 2000, "measured requests per operation")
	flag.Parse()
	if err := run(context.Background(), *images, *versions, *skuVersions, *n); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, images, versions, skuVersions, n int) error {
	dir, err := os.MkdirTemp("", "hangar-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	svc, err := apitest.Open(ctx, dir, apitest.Options{AdminKey: "bench-admin-key-0123456789"})
	if err != nil {
		return err
	}
	defer svc.DB.Close()
	srv := httptest.NewServer(svc.API)
	defer srv.Close()
	admin := client.New(srv.URL, "bench-admin-key-0123456789")
	pub, err := admin.CreateTenant(ctx, hangar.TenantCreate{Name: "contoso", Role: hangar.RolePublisher})
	if err != nil {
		return err
	}
	c := client.New(srv.URL, pub.Key)

	start := time.Now()
	if err := populate(ctx, c, images, versions, skuVersions); err != nil {
		return err
	}
	total := images*versions + skuVersions
	fmt.Printf("catalog: %d image versions (%d images x %d) + marketplace SKU with %d versions, built in %s\n",
		total, images, versions, skuVersions, time.Since(start).Round(time.Second))

	ops := []struct {
		name string
		fn   func(i int) error
	}{
		{"resolve NAME (latest)", func(i int) error {
			_, err := c.Resolve(ctx, fmt.Sprintf("img%03d", i%images))
			return err
		}},
		{"resolve NAME@VERSION", func(i int) error {
			_, err := c.Resolve(ctx, fmt.Sprintf("img%03d@1.%d.0", i%images, rand.IntN(versions)))
			return err
		}},
		{"resolve URN latest", func(i int) error {
			_, err := c.Resolve(ctx, "Contoso:Linux:base:latest")
			return err
		}},
		{"image list", func(int) error {
			_, err := c.ListImages(ctx, false)
			return err
		}},
		{"vm image list (latest per SKU)", func(int) error {
			_, err := c.Marketplace(ctx, hangar.MarketplaceFilter{})
			return err
		}},
	}
	fmt.Printf("%-32s %10s %10s %10s\n", "operation (HTTP, loopback)", "p50", "p99", "max")
	for _, op := range ops {
		count := n
		if strings.Contains(op.name, "list") {
			count = max(n/20, 50)
		}
		lat := make([]time.Duration, count)
		for i := range 20 { // warm-up
			op.fn(i)
		}
		for i := range lat {
			t0 := time.Now()
			if err := op.fn(i); err != nil {
				return fmt.Errorf("%s: %w", op.name, err)
			}
			lat[i] = time.Since(t0)
		}
		slices.Sort(lat)
		fmt.Printf("%-32s %10s %10s %10s\n", op.name, pct(lat, 50), pct(lat, 99), lat[len(lat)-1].Round(time.Microsecond))
	}
	return nil
}

func pct(lat []time.Duration, p int) time.Duration {
	return lat[(len(lat)-1)*p/100].Round(time.Microsecond)
}

func populate(ctx context.Context, c *client.Client, images, versions, skuVersions int) error {
	f, err := os.CreateTemp("", "hangar-bench-disk")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	f.WriteAt([]byte("boot"), 0)
	f.Truncate(1 << 20)
	f.Close()
	if _, _, err := c.UploadDisk(ctx, f.Name(), "os", client.UploadOptions{}); err != nil {
		return err
	}
	create := func(name string, v int, minor bool) error {
		version := fmt.Sprintf("1.%d.0", v)
		_, err := c.CreateImage(ctx, hangar.ImageCreate{Name: name, Type: hangar.ImageTypeOS, OSType: hangar.OSLinux,
			OSState: hangar.Generalized, OSDisk: "os", Version: version, ExcludeFromLatest: minor && v%10 == 9})
		return err
	}
	for i := range images {
		for v := range versions {
			if err := create(fmt.Sprintf("img%03d", i), v, true); err != nil {
				return err
			}
		}
	}
	for v := range skuVersions {
		if err := create("market", v, false); err != nil {
			return err
		}
		_, err := c.PublishMarketplace(ctx, hangar.MarketplacePublish{URN: fmt.Sprintf("Contoso:Linux:base:1.%d.0", v), Image: fmt.Sprintf("market@1.%d.0", v)})
		if err != nil {
			return err
		}
	}
	return nil
}
