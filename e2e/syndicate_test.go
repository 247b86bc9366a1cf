package e2e

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

type signingKeyJSON struct {
	PublicKey   string `json:"publicKey"`
	Fingerprint string `json:"fingerprint"`
}

type syndicatedJSON struct {
	URN               string `json:"urn"`
	Entitlement       string `json:"entitlement"`
	ExcludeFromLatest bool   `json:"excludeFromLatest"`
	EndOfLife         string `json:"endOfLife"`
	Plan              *struct {
		Name string `json:"name"`
	} `json:"plan"`
	Provenance *struct {
		Upstream       string  `json:"upstream"`
		KeyFingerprint string  `json:"keyFingerprint"`
		PulledAt       string  `json:"pulledAt"`
		WithdrawnAt    *string `json:"withdrawnAt"`
	} `json:"provenance"`
}

type jobJSON struct {
	URN          string `json:"urn"`
	State        string `json:"state"`
	Message      string `json:"message"`
	TotalChunks  int    `json:"totalChunks"`
	DoneChunks   int    `json:"doneChunks"`
	CopiedChunks int    `json:"copiedChunks"`
	TotalBytes   int64  `json:"totalBytes"`
	CopiedBytes  int64  `json:"copiedBytes"`
}

// chunksServed counts the chunks the server has served to subscribers.
func (s *server) chunksServed() int {
	return strings.Count(s.log.String(), `"route":"/v1/syndication/chunks/{sha256}","status":200`)
}

// versionDisk writes a dense disk of n distinct chunks whose content is the same for
// every version except the chunks listed in changed, which get content of their own.
func versionDisk(t *testing.T, n int, changed ...int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), fmt.Sprintf("v%v.raw", changed))
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	const chunk = 4 << 20
	buf := make([]byte, chunk)
	for c := 0; c < n; c++ {
		seed := uint64(c)
		if slices.Contains(changed, c) {
			seed += 1000
		}
		rng := rand.New(rand.NewPCG(seed, 42))
		for i := 0; i < len(buf); i += 8 {
			binary.LittleEndian.PutUint64(buf[i:], rng.Uint64())
		}
		if _, err := f.Write(buf); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

// publishVersion uploads a disk upstream and publishes it as Contoso:Web:gold:VERSION.
func publishVersion(up *server, key, version, disk string, extra ...string) {
	up.t.Helper()
	name := "web-" + strings.ReplaceAll(version, ".", "-")
	up.ok(key, "disk", "upload", disk, "--name", name)
	osImage(up, key, "web", name, "--version", version)
	up.ok(key, append([]string{"marketplace", "publish", "--urn", "Contoso:Web:gold:" + version, "--image", "web@" + version,
		"--plan", "gold", "--entitlement", "msdn"}, extra...)...)
}

// syndicated lists the local marketplace's versions of Contoso:Web:gold.
func syndicated(s *server, key string) map[string]syndicatedJSON {
	var list []syndicatedJSON
	s.json(key, &list, "vm", "image", "list", "--publisher", "Contoso", "--all")
	out := map[string]syndicatedJSON{}
	for _, m := range list {
		out[m.URN] = m
	}
	return out
}

// upstreamPair starts an upstream with a publisher (contoso) and a subscriber's
// tenant (mirror, entitled to msdn), and a downstream subscribed to it.
func upstreamPair(t *testing.T, downFlags ...string) (up, down *server, contoso string) {
	up = startServer(t)
	down = startServer(t, downFlags...)
	contoso = up.tenant("contoso", "--role", "publisher")
	mirror := up.tenant("mirror", "--entitlement", "msdn")
	var key signingKeyJSON
	up.json(up.adminKey(), &key, "admin", "signing-key")
	down.ok(down.adminKey(), "marketplace", "upstream", "add", "up", "--url", up.url(), "--key", mirror, "--public-key", key.PublicKey)
	return up, down, contoso
}

func waitJobs(t *testing.T, s *server, within time.Duration, want int) []jobJSON {
	t.Helper()
	var jobs []jobJSON
	eventually(t, within, fmt.Sprintf("%d pulls Completed", want), func() bool {
		s.json(s.adminKey(), &jobs, "marketplace", "jobs")
		n := 0
		for _, j := range jobs {
			if j.State == "Failed" {
				t.Fatalf("pull failed: %+v", j)
			}
			if j.State == "Completed" {
				n++
			}
		}
		return n == want
	})
	return jobs
}

// TestSyndication fills one installation's marketplace from another's: the signing
// key, what a subscriber's key may see, two versions then a third with only the new
// chunks crossing, plans and entitlements kept, provenance shown, upstream's changes
// followed and a withdrawn version marked, not deleted.
func TestSyndication(t *testing.T) {
	up, down, contoso := upstreamPair(t, "--syndication-interval", "1s")
	upAdmin, downAdmin := up.adminKey(), down.adminKey()

	// Trust: each installation has its own key, kept across restarts.
	var upKey, downKey signingKeyJSON
	up.json(upAdmin, &upKey, "admin", "signing-key")
	down.json(downAdmin, &downKey, "admin", "signing-key")
	if !strings.HasPrefix(upKey.PublicKey, "ed25519:") || !strings.HasPrefix(upKey.Fingerprint, "SHA256:") || upKey == downKey {
		t.Fatalf("signing keys: upstream %+v, downstream %+v", upKey, downKey)
	}
	down.kill()
	down.start()
	var again signingKeyJSON
	down.json(downAdmin, &again, "admin", "signing-key")
	if again != downKey {
		t.Fatalf("the signing key changed across a restart: %+v then %+v", downKey, again)
	}
	if msg := up.fails(contoso, "admin", "signing-key"); !strings.Contains(msg, "admin") {
		t.Fatalf("a tenant asking for the signing key: %s", msg)
	}

	// A wrong pinned key or upstream key is refused at once; the upstream's key is
	// never shown back.
	mirror2 := up.tenant("mirror2", "--entitlement", "msdn")
	if msg := down.fails(downAdmin, "marketplace", "upstream", "add", "bad", "--url", up.url(), "--key", mirror2, "--public-key", downKey.PublicKey); !strings.Contains(msg, "signature") {
		t.Fatalf("an upstream with the wrong pinned key: %s", msg)
	}
	if msg := down.fails(downAdmin, "marketplace", "upstream", "add", "bad", "--url", up.url(), "--key", "hgr_nope", "--public-key", upKey.PublicKey); !strings.Contains(msg, "refused the key") {
		t.Fatalf("an upstream with a wrong key: %s", msg)
	}
	if out := down.ok(downAdmin, "marketplace", "upstream", "list", "-o", "json"); strings.Contains(out, "hgr_") || !strings.Contains(out, upKey.Fingerprint) {
		t.Fatalf("upstream list shows a key, or not the fingerprint: %s", out)
	}

	// Two versions upstream, 8 chunks each, the second changing one chunk.
	publishVersion(up, contoso, "1.0.0", versionDisk(t, 8))
	publishVersion(up, contoso, "1.1.0", versionDisk(t, 8, 3))
	// Visibility: a tenant without the entitlement sees nothing of it upstream,
	// not in the catalog, not its chunks.
	plain := up.tenant("plain")
	if r := up.api(plain, "GET", "/v1/syndication/catalog", nil); r.status != 200 || strings.Contains(r.body, "Contoso") {
		t.Fatalf("catalog for a tenant without the entitlement: %d %s", r.status, r.body)
	}
	if r := up.api(plain, "GET", "/v1/syndication/manifests/Contoso:Web:gold:1.0.0/-1", nil); r.status != http.StatusNotFound {
		t.Fatalf("manifest for a tenant without the entitlement: %d %s", r.status, r.body)
	}
	out := down.ok(downAdmin, "marketplace", "upstream", "list", "up", "--publisher", "Contoso")
	if !strings.Contains(out, "Contoso:Web:gold:1.0.0") || !strings.Contains(out, "Contoso:Web:gold:1.1.0") {
		t.Fatalf("upstream list up:\n%s", out)
	}

	down.ok(downAdmin, "marketplace", "syndicate", "up", "Contoso:Web", "--follow")
	if n := up.chunksServed(); n != 9 {
		t.Fatalf("syndicating two versions of 8 chunks sharing 7 fetched %d chunks, want 9", n)
	}
	bob := down.tenant("bob", "--entitlement", "msdn")
	alice := down.tenant("alice")
	got := syndicated(down, bob)
	if len(got) != 2 {
		t.Fatalf("the local marketplace holds %v", got)
	}
	for urn, m := range got {
		if m.Plan == nil || m.Plan.Name != "gold" || m.Entitlement != "msdn" || m.Provenance == nil ||
			m.Provenance.Upstream != "up" || m.Provenance.KeyFingerprint != upKey.Fingerprint || m.Provenance.PulledAt == "" {
			t.Fatalf("%s as syndicated: %+v %+v", urn, m, m.Provenance)
		}
	}
	if list := syndicated(down, alice); len(list) != 0 {
		t.Fatalf("a local tenant without the entitlement sees %v", list)
	}

	// A third version: followed, and only its one new chunk crosses.
	publishVersion(up, contoso, "1.2.0", versionDisk(t, 8, 3, 5), "--exclude-from-latest")
	waitJobs(t, down, 60*time.Second, 3)
	if n := up.chunksServed(); n != 10 {
		t.Fatalf("following a third version fetched %d chunks in all, want 10 (one new)", n)
	}
	var latest syndicatedJSON
	down.json(bob, &latest, "vm", "image", "show", "--urn", "Contoso:Web:gold:latest")
	if latest.URN != "Contoso:Web:gold:1.1.0" {
		t.Fatalf("latest is %s; 1.2.0 is excluded from latest upstream", latest.URN)
	}

	// Upstream changes: an end-of-life date, and a withdrawn version.
	up.ok(contoso, "image", "update-version", "web", "1.1.0", "--end-of-life", "2030-01-01")
	up.ok(contoso, "marketplace", "withdraw", "Contoso:Web:gold:1.0.0", "--yes")
	eventually(t, 60*time.Second, "the changes upstream seen here", func() bool {
		got = syndicated(down, bob)
		old := got["Contoso:Web:gold:1.0.0"]
		return got["Contoso:Web:gold:1.1.0"].EndOfLife == "2030-01-01" && old.Provenance != nil && old.Provenance.WithdrawnAt != nil
	})
	// Marked, not deleted: it still resolves, for VMs and images that use it.
	down.ok(bob, "vm", "image", "terms", "accept", "--urn", "Contoso:Web:gold:1.0.0")
	r := down.api(bob, "POST", "/v1/images:resolve", strings.NewReader(`{"reference":"Contoso:Web:gold:1.0.0"}`))
	if r.status != 200 || !strings.Contains(r.body, `"1.0.0"`) {
		t.Fatalf("resolving the withdrawn version: %d %s", r.status, r.body)
	}
}

// TestSyndicationResume kills the pulling installation with SIGKILL mid-way: nothing
// shows before the pull completes, the pull resumes after a restart, and only the
// chunks it still lacked cross the wire again.
func TestSyndicationResume(t *testing.T) {
	up, down, contoso := upstreamPair(t, "--syndication-bandwidth", "8MiB")
	downAdmin := down.adminKey()
	const n = 24 // 96 MiB: about 12 s at 8 MiB/s
	publishVersion(up, contoso, "1.0.0", versionDisk(t, n))
	down.ok(downAdmin, "marketplace", "syndicate", "up", "Contoso:Web:gold:1.0.0", "--no-wait")
	eventually(t, 60*time.Second, "a few chunks pulled", func() bool { return up.chunksServed() >= 4 })
	var jobs []jobJSON
	down.json(downAdmin, &jobs, "marketplace", "jobs")
	if len(jobs) != 1 || jobs[0].State != "Pulling" || jobs[0].TotalChunks != n || jobs[0].DoneChunks == 0 || jobs[0].CopiedBytes == 0 {
		t.Fatalf("jobs mid-way: %+v", jobs)
	}
	bob := down.tenant("bob", "--entitlement", "msdn")
	if list := syndicated(down, bob); len(list) != 0 {
		t.Fatalf("a version half pulled is visible: %v", list)
	}
	down.kill9()
	before := up.chunksServed()
	if before >= n {
		t.Fatalf("the pull finished before the kill (%d chunks); slow it down", before)
	}
	down.start()
	jobs = waitJobs(t, down, 90*time.Second, 1)
	after := up.chunksServed()
	// Chunks fetched but not yet stored when the process died may be fetched again:
	// at most one per worker.
	if after < n || after > n+4 {
		t.Fatalf("%d chunks crossed in all for a %d-chunk version (%d before the kill)", after, n, before)
	}
	if j := jobs[0]; j.DoneChunks != n || j.CopiedChunks == 0 || j.CopiedChunks >= n {
		t.Fatalf("the resumed pull's progress: %+v", j)
	}
	if list := syndicated(down, bob); len(list) != 1 {
		t.Fatalf("after the resumed pull the marketplace holds %v", list)
	}
}

// TestSyndicatedVM boots a VM from a syndicated URN once its plan's terms are
// accepted: the pulled disks are whole and usable.
func TestSyndicatedVM(t *testing.T) {
	img := testImage(t, "generalized")
	up, down, contoso := upstreamPair(t)
	up.ok(contoso, "disk", "upload", img, "--name", "tiny")
	osImage(up, contoso, "tiny", "tiny", "--version", "1.0.0")
	up.ok(contoso, "marketplace", "publish", "--urn", "Contoso:Tiny:std:1.0.0", "--image", "tiny", "--plan", "std", "--entitlement", "msdn")
	down.ok(down.adminKey(), "marketplace", "syndicate", "up", "Contoso:Tiny")
	bob := down.tenant("bob", "--entitlement", "msdn")
	args := []string{"--name", "t1", "--image", "Contoso:Tiny:std:latest", "--admin-username", "azureuser", "--ssh-key-value", newSSHKey(t)}
	if _, err := down.createVM(bob, args...); err == nil || !strings.Contains(err.Error(), "terms") {
		t.Fatalf("a VM from a plan whose terms are not accepted: %v", err)
	}
	down.ok(bob, "vm", "image", "terms", "accept", "--urn", "Contoso:Tiny:std:latest")
	vm, err := down.createVM(bob, args...)
	if err != nil {
		t.Fatal(err)
	}
	if vm.ProvisioningState != "Succeeded" {
		t.Fatalf("VM from the syndicated image: %+v", vm)
	}
	if out := down.ok(bob, "vm", "run-command", "t1", "--script", "echo syndicated-ok"); !strings.Contains(out, "syndicated-ok") {
		t.Fatalf("run-command in the VM: %s", out)
	}
}

type importJSON struct {
	Upstream   string    `json:"upstream"`
	SentChunks int       `json:"sentChunks"`
	Jobs       []jobJSON `json:"jobs"`
}

// copyDir copies a bundle so that a test can tamper with the copy.
func copyDir(t *testing.T, from string) string {
	t.Helper()
	to := filepath.Join(t.TempDir(), "copy")
	if out, err := exec.Command("cp", "-a", from, to).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	return to
}

func firstFile(t *testing.T, pattern string) string {
	t.Helper()
	files, _ := filepath.Glob(pattern)
	if len(files) == 0 {
		t.Fatalf("no file matches %s", pattern)
	}
	return files[0]
}

// TestSyndicationBundles carries versions to an installation with no network path
// to the upstream: signed bundles, refused whole when tampered with, delta bundles
// (--since), a bundle split in two parts imported one part at a time.
func TestSyndicationBundles(t *testing.T) {
	up := startServer(t)
	down := startServer(t)
	upAdmin, downAdmin := up.adminKey(), down.adminKey()
	contoso := up.tenant("contoso", "--role", "publisher")
	publishVersion(up, contoso, "1.0.0", versionDisk(t, 8))
	publishVersion(up, contoso, "1.1.0", versionDisk(t, 8, 3))
	var key signingKeyJSON
	up.json(upAdmin, &key, "admin", "signing-key")
	dir := t.TempDir()
	b1 := filepath.Join(dir, "b1")
	up.ok(upAdmin, "marketplace", "export", "Contoso:Web:gold:1.0.0", "--to", b1)
	if n := len(up.chunksServedFiles(b1)); n != 8 {
		t.Fatalf("the first bundle carries %d chunks, want 8", n)
	}

	// Nothing from a bundle is taken without an upstream pinning its key.
	if msg := down.fails(downAdmin, "marketplace", "import", b1); !strings.Contains(msg, "no upstream pins the key") {
		t.Fatalf("import with no upstream pinning the key: %s", msg)
	}
	down.ok(downAdmin, "marketplace", "upstream", "add", "hq", "--public-key", key.PublicKey)
	bob := down.tenant("bob", "--entitlement", "msdn")

	// Tampered, truncated, reordered: refused with the reason, nothing visible.
	flip := func(path string) {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		data[len(data)/2] ^= 1
		os.WriteFile(path, data, 0o644)
	}
	for name, c := range map[string]struct {
		tamper func(b string)
		want   string
	}{
		"chunk": {func(b string) { flip(firstFile(t, filepath.Join(b, "chunks", "*", "*"))) }, "does not match its digest"},
		"manifest": {func(b string) {
			// Another extent's digest in its place: same length, valid JSON.
			p := firstFile(t, filepath.Join(b, "manifests", "*"))
			data, _ := os.ReadFile(p)
			i := strings.Index(string(data), `"sha256":"`) + len(`"sha256":"`)
			data[i] = "10"[min(1, int(data[i]-'0'))]
			os.WriteFile(p, data, 0o644)
		}, "does not match the signed entry"},
		"catalog signature": {func(b string) {
			p := filepath.Join(b, "catalog.json")
			var doc map[string]any
			data, _ := os.ReadFile(p)
			mustUnmarshal(t, string(data), &doc)
			sig, err := base64.StdEncoding.DecodeString(doc["signature"].(string))
			if err != nil {
				t.Fatal(err)
			}
			sig[3] ^= 2
			doc["signature"] = base64.StdEncoding.EncodeToString(sig)
			data, _ = json.Marshal(doc)
			os.WriteFile(p, data, 0o644)
		}, "signature does not verify"},
		"truncated chunk": {func(b string) {
			p := firstFile(t, filepath.Join(b, "chunks", "*", "*"))
			os.Truncate(p, 1000)
		}, "truncated"},
		"reordered chunks": {func(b string) {
			files, _ := filepath.Glob(filepath.Join(b, "chunks", "*", "*"))
			os.Rename(files[0], files[0]+".tmp")
			os.Rename(files[1], files[0])
			os.Rename(files[0]+".tmp", files[1])
		}, "does not match its digest"},
		"truncated index": {func(b string) {
			p := filepath.Join(b, "index.json")
			data, _ := os.ReadFile(p)
			os.WriteFile(p, data[:len(data)/2], 0o644)
		}, "index.json"},
	} {
		b := copyDir(t, b1)
		c.tamper(b)
		if msg := down.fails(downAdmin, "marketplace", "import", b); !strings.Contains(msg, c.want) {
			t.Errorf("a bundle with a tampered %s: %s (want %q)", name, msg, c.want)
		}
		if list := syndicated(down, bob); len(list) != 0 {
			t.Fatalf("after a bundle with a tampered %s the marketplace holds %v", name, list)
		}
	}

	// The whole bundle: imported, then again (nothing sent, nothing changes).
	var res importJSON
	down.json(downAdmin, &res, "marketplace", "import", b1)
	if res.Upstream != "hq" || res.SentChunks != 8 {
		t.Fatalf("import: %+v", res)
	}
	got := syndicated(down, bob)
	if m := got["Contoso:Web:gold:1.0.0"]; m.Provenance == nil || m.Provenance.Upstream != "hq" || m.Provenance.KeyFingerprint != key.Fingerprint {
		t.Fatalf("imported version: %+v", got)
	}
	down.json(downAdmin, &res, "marketplace", "import", b1)
	if res.SentChunks != 0 {
		t.Fatalf("importing a bundle again sent %d chunks", res.SentChunks)
	}

	// A delta bundle carries only what the first did not.
	b2 := filepath.Join(dir, "b2")
	up.ok(upAdmin, "marketplace", "export", "Contoso:Web:gold:1.1.0", "--to", b2, "--since", b1)
	if n := len(up.chunksServedFiles(b2)); n != 1 {
		t.Fatalf("the delta bundle carries %d chunks, want 1", n)
	}
	down.json(downAdmin, &res, "marketplace", "import", b2)
	if res.SentChunks != 1 || len(syndicated(down, bob)) != 2 {
		t.Fatalf("delta import: %+v", res)
	}

	// A bundle in two parts, imported one part at a time, the second first. Its
	// chunk 3 is 1.1.0's, here already: it is not sent.
	publishVersion(up, contoso, "2.0.0", versionDisk(t, 8, 0, 1, 2, 3, 4, 5, 6, 7))
	b3 := filepath.Join(dir, "b3")
	up.ok(upAdmin, "marketplace", "export", "Contoso:Web:gold:2.0.0", "--to", b3, "--part-size", "16MiB")
	for _, p := range []string{"part-001", "part-002"} {
		if n := len(up.chunksServedFiles(filepath.Join(b3, p))); n != 4 {
			t.Fatalf("%s carries %d chunks, want 4", p, n)
		}
	}
	down.json(downAdmin, &res, "marketplace", "import", filepath.Join(b3, "part-002"))
	if _, ok := syndicated(down, bob)["Contoso:Web:gold:2.0.0"]; ok {
		t.Fatal("a version half imported is visible")
	}
	var waiting bool
	for _, j := range res.Jobs {
		waiting = waiting || (j.URN == "Contoso:Web:gold:2.0.0" && j.State == "Importing" && strings.Contains(j.Message, "waiting for 3 of 8 chunks"))
	}
	if !waiting {
		t.Fatalf("after one part of two: %+v", res.Jobs)
	}
	down.json(downAdmin, &res, "marketplace", "import", filepath.Join(b3, "part-001"))
	if res.SentChunks != 3 {
		t.Fatalf("the second part sent %d chunks, want 3", res.SentChunks)
	}
	if _, ok := syndicated(down, bob)["Contoso:Web:gold:2.0.0"]; !ok {
		t.Fatal("the version of both parts is not visible")
	}
}

// chunksServedFiles lists the chunk files of a bundle part.
func (s *server) chunksServedFiles(part string) []string {
	files, _ := filepath.Glob(filepath.Join(part, "chunks", "*", "*"))
	return files
}

// TestSyndicationImportResume kills the importing installation with SIGKILL in the
// middle of an import: nothing of the version shows, and the same import run again
// sends only the chunks that had not arrived.
func TestSyndicationImportResume(t *testing.T) {
	up := startServer(t)
	down := startServer(t)
	upAdmin, downAdmin := up.adminKey(), down.adminKey()
	contoso := up.tenant("contoso", "--role", "publisher")
	const n = 32
	publishVersion(up, contoso, "1.0.0", versionDisk(t, n))
	var key signingKeyJSON
	up.json(upAdmin, &key, "admin", "signing-key")
	b := filepath.Join(t.TempDir(), "b")
	up.ok(upAdmin, "marketplace", "export", "Contoso:Web:gold:1.0.0", "--to", b)
	down.ok(downAdmin, "marketplace", "upstream", "add", "hq", "--public-key", key.PublicKey)
	bob := down.tenant("bob", "--entitlement", "msdn")

	received := func() int {
		return strings.Count(down.log.String(), `"route":"/v1/marketplace/imports/{upstream}/chunks/{sha256}","status":204`)
	}
	cmd := exec.Command(hangarBin, "marketplace", "import", b, "-o", "json")
	cmd.Env = append(os.Environ(), "HANGAR_SERVER="+down.url(), "HANGAR_KEY="+downAdmin, "HOME="+down.home)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(60 * time.Second); received() < 3; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no chunk of the import arrived")
		}
	}
	down.kill9()
	cmd.Wait()
	before := received()
	if before >= n {
		t.Fatalf("the import finished before the kill (%d chunks)", before)
	}
	down.start()
	if list := syndicated(down, bob); len(list) != 0 {
		t.Fatalf("a version half imported is visible: %v", list)
	}
	var res importJSON
	down.json(downAdmin, &res, "marketplace", "import", b)
	// Chunks are sent one at a time: one may have been stored, not yet answered,
	// when the server died.
	if res.SentChunks > n-before || res.SentChunks < n-before-1 {
		t.Fatalf("the resumed import sent %d chunks; %d of %d had arrived before the kill", res.SentChunks, before, n)
	}
	if _, ok := syndicated(down, bob)["Contoso:Web:gold:1.0.0"]; !ok {
		t.Fatal("the resumed import's version is not visible")
	}
}
