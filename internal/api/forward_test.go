package api

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hangarvm/hangar/internal/nodeauth"
)

// TestForwardingHeaders: the forwarding headers pass only with a fresh, valid
// signature by the cluster's secret, on a route whose calls are forwarded.
func TestForwardingHeaders(t *testing.T) {
	key, err := nodeauth.NewKey([]byte(nodeauth.NewSecret()))
	if err != nil {
		t.Fatal(err)
	}
	other, _ := nodeauth.NewKey([]byte(nodeauth.NewSecret()))
	srv, admin := newClusterTestServer(t, Cluster{Key: key})
	lone, loneAdmin := newTestServer(t) // a node without a secret

	call := func(base, apiKey, method, path, body string, sign *nodeauth.Key, extra map[string]string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+apiKey)
		req.Header.Set("Content-Type", "application/json")
		if sign != nil {
			nodeauth.Signer{Key: sign, Node: "node-a"}.Sign(req.Header, nodeauth.Request{Method: method, Target: path,
				Authorization: "Bearer " + apiKey, Body: []byte(body)}, time.Now())
		}
		for k, v := range extra {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		var e struct {
			Error struct{ Code, Message string }
		}
		json.Unmarshal(data, &e)
		return resp.StatusCode, e.Error.Code + ": " + e.Error.Message
	}
	for _, tc := range []struct {
		name         string
		base, apiKey string
		method, path string
		body         string
		sign         *nodeauth.Key
		extra        map[string]string
		status       int
		says         string
	}{
		{"a client's header", srv.URL, admin, "DELETE", "/v1/vms/x", "", nil, map[string]string{nodeauth.HeaderNode: "node-a"}, 403, "cluster secret"},
		{"a client's signature header alone", srv.URL, admin, "DELETE", "/v1/vms/x", "", nil, map[string]string{nodeauth.HeaderSignature: "00"}, 403, "cluster secret"},
		{"signed with another secret", srv.URL, admin, "DELETE", "/v1/vms/x", "", other, nil, 403, "do not share one cluster secret"},
		{"signed, on a route never forwarded", srv.URL, admin, "GET", "/v1/disks", "", key, nil, 403, "never forwarded"},
		{"signed, to a node without a secret", lone.URL, loneAdmin, "DELETE", "/v1/vms/x", "", key, nil, 403, "no cluster secret"},
		{"signed, too big", srv.URL, admin, "POST", "/v1/vms/x/run-command", strings.Repeat(" ", nodeauth.MaxBody+1), key, nil, 413, "at most"},
		{"signed: served", srv.URL, admin, "DELETE", "/v1/vms/x", "", key, nil, 404, "NotFound"},
		{"signed, with a body: served", srv.URL, admin, "POST", "/v1/vms/x/run-command", `{"script":"id"}`, key, nil, 404, "NotFound"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, msg := call(tc.base, tc.apiKey, tc.method, tc.path, tc.body, tc.sign, tc.extra)
			if status != tc.status || !strings.Contains(msg, tc.says) {
				t.Fatalf("%d %s; want %d saying %q", status, msg, tc.status, tc.says)
			}
		})
	}
}
