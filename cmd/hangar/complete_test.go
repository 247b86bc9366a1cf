package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestCompletion: names complete from the server, for arguments and flags.
func TestCompletion(t *testing.T) {
	answers := map[string]string{
		"/v1/disks":              `[{"name":"web-os"},{"name":"db-data"}]`,
		"/v1/vms":                `[{"name":"web1"}]`,
		"/v1/images?all=false":   `[{"name":"web","reference":"web@1.0.0"}]`,
		"/v1/images?all=true":    `[{"name":"web","reference":"web@1.0.0"},{"name":"base","reference":"community/contoso/base"}]`,
		"/v1/marketplace/images": `[{"urn":"Contoso:Linux:base:1.0.0"}]`,
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, ok := answers[r.URL.RequestURI()]
		if !ok && r.URL.Path == "/v1/marketplace/images" {
			body, ok = answers[r.URL.Path], true
		}
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, body)
	}))
	defer srv.Close()
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"disk", "show", ""}, []string{"web-os", "db-data"}},
		{[]string{"disk", "delete", ""}, []string{"web-os", "db-data"}},
		{[]string{"vm", "start", ""}, []string{"web1"}},
		{[]string{"image", "delete", ""}, []string{"web"}},
		{[]string{"image", "create", "--os-disk", ""}, []string{"web-os", "db-data"}},
		{[]string{"vm", "create", "--image", ""}, []string{"web@1.0.0", "community/contoso/base", "Contoso:Linux:base:1.0.0"}},
		{[]string{"marketplace", "publish", "--image", ""}, []string{"web"}},
		{[]string{"vm", "image", "show", "--urn", ""}, []string{"Contoso:Linux:base:1.0.0"}},
		{[]string{"disk", "show", "web-os", ""}, nil}, // one NAME only
	} {
		res := runCLI(t, newGlobals(), nil, "", append([]string{"__complete", "--server", srv.URL, "--key", "k"}, tc.args...)...)
		lines := strings.Split(strings.TrimSpace(res.stdout), "\n")
		got := lines[:len(lines)-1] // the last line is the directive
		if strings.Join(got, " ") != strings.Join(tc.want, " ") || lines[len(lines)-1] != ":4" {
			t.Errorf("completing %v: %q", tc.args, res.stdout)
		}
	}
}
