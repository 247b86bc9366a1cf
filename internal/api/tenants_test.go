package api_test

import (
	"net/http/httptest"
	"testing"

	"github.com/hangarvm/hangar/internal/api/apitest"
	"github.com/hangarvm/hangar/internal/client"
	"github.com/hangarvm/hangar/internal/hangar"
)

// twoTenants is the real service layer served over HTTP with two tenants,
// alice and bob: their keys, and clients for them and for the admin.
type twoTenants struct {
	svc               *apitest.Service
	srv               *httptest.Server
	keys              map[string]string
	admin, alice, bob *client.Client
}

func aliceAndBob(t *testing.T) twoTenants {
	t.Helper()
	e := twoTenants{svc: apitest.New(t), keys: map[string]string{}}
	e.srv = httptest.NewServer(e.svc.API)
	t.Cleanup(e.srv.Close)
	e.admin = client.New(e.srv.URL, e.svc.AdminKey)
	for _, name := range []string{"alice", "bob"} {
		created, err := e.admin.CreateTenant(t.Context(), hangar.TenantCreate{Name: name})
		if err != nil {
			t.Fatal(err)
		}
		e.keys[name] = created.Key
	}
	e.alice, e.bob = client.New(e.srv.URL, e.keys["alice"]), client.New(e.srv.URL, e.keys["bob"])
	return e
}
