package e2e

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// receiver is a webhook receiver on loopback: it checks each delivery's
// signature with the Standard Webhooks library, refuses the first failFirst
// attempts of each event, and records what it accepted.
type receiver struct {
	t         *testing.T
	srv       *httptest.Server
	failFirst int
	mu        sync.Mutex
	verifier  *standardwebhooks.Webhook
	attempts  map[string]int // by webhook-id
	accepted  []hookEvent
	badSig    int
}

type hookEvent struct {
	ID, Type, Subject, Source string
	Attempt                   int
}

func newReceiver(t *testing.T, failFirst int) *receiver {
	r := &receiver{t: t, failFirst: failFirst, attempts: map[string]int{}}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.verifier == nil || r.verifier.Verify(body, req.Header) != nil {
			r.badSig++
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		id := req.Header.Get("webhook-id")
		r.attempts[id]++
		if r.attempts[id] <= r.failFirst {
			http.Error(w, "not now", http.StatusServiceUnavailable)
			return
		}
		var ev hookEvent
		if err := json.Unmarshal(body, &ev); err != nil || ev.ID != id || req.Header.Get("Content-Type") != "application/cloudevents+json; charset=utf-8" {
			t.Errorf("delivery %s: %v %s", id, err, body)
		}
		ev.Attempt = r.attempts[id]
		r.accepted = append(r.accepted, ev)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) setSecret(secret string) {
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		r.t.Fatal(err)
	}
	r.mu.Lock()
	r.verifier = wh
	r.mu.Unlock()
}

// waitFor waits until n events were accepted (the test's own timeout bounds it).
func (r *receiver) waitFor(n int) []hookEvent {
	r.t.Helper()
	for {
		r.mu.Lock()
		got := slices.Clone(r.accepted)
		r.mu.Unlock()
		if len(got) >= n {
			return got
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestEvents: a tenant's changes become events, listed in order, followed live
// as server-sent events (hangar event watch) and delivered to its webhook signed,
// retried after failures and in order per resource; deliveries that keep failing
// show in hangar event deliveries; another tenant sees none of them; a webhook
// aimed at the metadata address is refused when it is made.
func TestEvents(t *testing.T) {
	s := startServer(t, "--webhook-allow-cidr", "127.0.0.1/32")
	alice, bob := s.tenant("alice"), s.tenant("bob")

	good := newReceiver(t, 2) // each event's first two attempts fail
	var hook struct{ ID, URL, Secret string }
	s.json(alice, &hook, "event", "webhook", "create", good.srv.URL+"/hook")
	if !strings.HasPrefix(hook.Secret, "whsec_") || hook.ID == "" {
		t.Fatalf("webhook create: %+v", hook)
	}
	good.setSecret(hook.Secret)
	var broken struct{ ID string }
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "receiver is down", http.StatusInternalServerError)
	}))
	defer down.Close()
	s.json(alice, &broken, "event", "webhook", "create", down.URL, "--type", "Hangar.Disk.Created")
	// An address deliveries could never reach is refused when the webhook is made.
	if msg := s.fails(alice, "event", "webhook", "create", "http://169.254.169.254/latest"); !strings.Contains(msg, "link-local") || !strings.Contains(msg, "--webhook-allow-cidr") {
		t.Errorf("a webhook at the metadata address: %s", msg)
	}

	// hangar event watch follows the stream: from the start (--after 0), so that
	// it gets every event whenever it connects.
	streamed := s.watchEvents(alice)

	s.uploadDisk(alice, "d1", 1)
	osImage(s, alice, "web", "d1", "--version", "1.0.0")
	s.ok(alice, "image", "update-version", "web", "1.0.0", "--end-of-life", "2031-01-01")
	s.ok(alice, "image", "delete", "web", "--yes")
	s.ok(alice, "disk", "delete", "d1", "--yes")
	want := []string{
		"Hangar.Disk.Created disks/d1",
		"Hangar.ImageVersion.Created images/web/versions/1.0.0",
		"Hangar.ImageVersion.EndOfLifeChanged images/web/versions/1.0.0",
		"Hangar.ImageVersion.Deleted images/web/versions/1.0.0",
		"Hangar.Disk.Deleted disks/d1",
	}
	var listed []hookEvent
	s.json(alice, &listed, "event", "list")
	if got := describe(listed); !slices.Equal(got, want) {
		t.Fatalf("hangar event list:\n got %q\nwant %q", got, want)
	}
	for _, ev := range listed {
		if ev.Source != "/tenants/alice" {
			t.Errorf("event %s has source %q", ev.ID, ev.Source)
		}
	}
	// --newest N: the last N, still oldest first, of a type or not.
	var newest []hookEvent
	s.json(alice, &newest, "event", "list", "--newest", "2")
	if got := describe(newest); !slices.Equal(got, want[3:]) {
		t.Errorf("hangar event list --newest 2:\n got %q\nwant %q", got, want[3:])
	}
	s.json(alice, &newest, "event", "list", "--newest", "1", "--type", "Hangar.ImageVersion.Created")
	if got := describe(newest); !slices.Equal(got, want[1:2]) {
		t.Errorf("hangar event list --newest 1 --type Hangar.ImageVersion.Created: %q", got)
	}
	var live []hookEvent
	for len(live) < len(want) {
		ev, ok := <-streamed
		if !ok {
			t.Fatalf("hangar event watch stopped after %d events", len(live))
		}
		live = append(live, ev)
	}
	if ids(live) != ids(listed) {
		t.Errorf("the stream gave events %s, the list %s", ids(live), ids(listed))
	}

	got := good.waitFor(len(want))
	if g := describe(got); !slices.Equal(sorted(g), sorted(want)) {
		t.Errorf("delivered %q, want %q in any order across resources", g, want)
	}
	// Each resource's events arrive in the order they happened.
	for _, subject := range []string{"disks/d1", "images/web/versions/1.0.0"} {
		var order []int
		for _, ev := range got {
			if ev.Subject == subject {
				n, _ := strconv.Atoi(ev.ID)
				order = append(order, n)
			}
		}
		if !slices.IsSorted(order) {
			t.Errorf("%s: delivered in order %v", subject, order)
		}
	}
	for _, ev := range got {
		if ev.Attempt != 3 {
			t.Errorf("event %s accepted on attempt %d, want 3 (two refusals first)", ev.ID, ev.Attempt)
		}
	}
	if good.badSig != 0 {
		t.Errorf("%d deliveries had a bad signature", good.badSig)
	}

	// The failing receivers' deliveries stay pending with the reason.
	type delivery struct {
		Webhook, EventID, State, LastError string
		Attempts                           int
		LastStatus                         int
	}
	var ds []delivery
	for {
		s.json(alice, &ds, "event", "deliveries", "--state", "pending")
		seen := map[string]delivery{}
		for _, d := range ds {
			if d.Attempts > 0 {
				seen[d.Webhook] = d
			}
		}
		if len(seen) == 1 {
			if d := seen[broken.ID]; d.LastStatus != 500 || !strings.Contains(d.LastError, "receiver is down") {
				t.Errorf("delivery to the failing receiver: %+v", d)
			}
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	var delivered []delivery
	s.json(alice, &delivered, "event", "deliveries", "--webhook", hook.ID, "--state", "delivered")
	if len(delivered) != len(want) || delivered[0].Attempts != 3 {
		t.Errorf("delivered to the good receiver: %+v", delivered)
	}

	// Bob sees none of it, and cannot touch alice's webhooks.
	var bobs []hookEvent
	s.json(bob, &bobs, "event", "list")
	if len(bobs) != 0 {
		t.Errorf("bob sees alice's events: %q", describe(bobs))
	}
	if msg := s.fails(bob, "event", "webhook", "delete", hook.ID, "--yes"); !strings.Contains(msg, "not found") {
		t.Errorf("bob deleting alice's webhook: %s", msg)
	}
	var hooks []struct{ ID string }
	s.json(alice, &hooks, "event", "webhook", "list")
	if len(hooks) != 2 {
		t.Errorf("alice's webhooks after bob's attempt: %+v", hooks)
	}
	if msg := s.fails(alice, "event", "webhook", "create", "file:///etc/passwd"); !strings.Contains(msg, "http") {
		t.Errorf("a file URL: %s", msg)
	}
}

func describe(evs []hookEvent) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.Type+" "+e.Subject)
	}
	return out
}

func ids(evs []hookEvent) string {
	var out []string
	for _, e := range evs {
		out = append(out, e.ID)
	}
	return strings.Join(out, ",")
}

func sorted(s []string) []string { s = slices.Clone(s); slices.Sort(s); return s }

// TestSlowWebhooksHoldUpNoOtherTenant: a tenant whose ten webhooks never answer
// (each attempt waits for the server's timeout) takes one delivery slot per
// webhook, no more: another tenant's event is delivered while all of them still
// hang, not after they time out.
func TestSlowWebhooksHoldUpNoOtherTenant(t *testing.T) {
	s := startServer(t, "--webhook-allow-cidr", "127.0.0.1/32")
	mallory, alice := s.tenant("mallory"), s.tenant("alice")
	var mu sync.Mutex
	hanging, timedOut := 0, 0
	tarpit := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body) // the body read, a closed connection cancels r's context
		mu.Lock()
		hanging++
		mu.Unlock()
		<-r.Context().Done() // until the server gives up on this attempt
		mu.Lock()
		hanging--
		timedOut++
		mu.Unlock()
	}))
	defer tarpit.Close()
	for i := range 10 {
		s.ok(mallory, "event", "webhook", "create", tarpit.URL+"/"+strconv.Itoa(i))
	}
	for i := range 3 {
		s.uploadDisk(mallory, "junk"+strconv.Itoa(i), byte(i))
	}
	for { // every one of mallory's webhooks has an attempt hanging
		mu.Lock()
		n := hanging
		mu.Unlock()
		if n >= 10 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	arrived := make(chan int, 1)
	fine := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		select {
		case arrived <- timedOut:
		default:
		}
		mu.Unlock()
	}))
	defer fine.Close()
	s.ok(alice, "event", "webhook", "create", fine.URL)
	s.uploadDisk(alice, "d", 9)
	if n := <-arrived; n != 0 {
		t.Fatalf("alice's event was delivered only after %d of mallory's hanging attempts timed out", n)
	}
}

// TestShutdownEndsEventStreams: a server asked to stop while a client follows
// its events ends the stream and exits cleanly, instead of waiting for a stream
// that never ends and failing its graceful shutdown.
func TestShutdownEndsEventStreams(t *testing.T) {
	s := startServer(t)
	alice := s.tenant("alice")
	s.uploadDisk(alice, "d", 1)
	if _, ok := <-s.watchEvents(alice); !ok { // the first event: the stream is open
		t.Fatal("hangar event watch printed nothing")
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	if err := s.cmd.Wait(); err != nil {
		t.Fatalf("the server's exit with an event stream open: %v\n%s", err, s.log.String())
	}
}

// watchEvents runs hangar event watch --after 0 -o json as key until the test
// ends, and gives each event it prints; the channel closes if the command stops.
func (s *server) watchEvents(key string) <-chan hookEvent {
	s.t.Helper()
	watch := s.cli(key, "event", "watch", "--after", "0", "-o", "json")
	stdout, err := watch.StdoutPipe()
	if err != nil {
		s.t.Fatal(err)
	}
	if err := watch.Start(); err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() { watch.Process.Kill(); watch.Wait() })
	streamed := make(chan hookEvent, 100)
	go func() {
		defer close(streamed)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var ev hookEvent
			if json.Unmarshal(sc.Bytes(), &ev) == nil {
				streamed <- ev
			}
		}
	}()
	return streamed
}
