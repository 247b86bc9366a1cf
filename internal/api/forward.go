package api

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"

	"github.com/hangarvm/hangar/internal/hangar"
)

// forwardedHeader marks a request one node passed to the compute host that serves
// it. The host answers it itself, whatever its view of placement: a request is
// forwarded at most once.
const forwardedHeader = "Hangar-Forwarded-By"

// forward passes the request, untouched (its API key included: every node checks
// keys against the shared database), to the node at target and relays the answer.
func (s *Server) forward(w http.ResponseWriter, r *http.Request, target string) {
	u, err := url.Parse(target)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(u)
			pr.Out.Host = u.Host
			pr.Out.Header.Set(forwardedHeader, s.vms.NodeID())
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			s.log.Warn("forwarding to compute host failed", "host", target, "err", err)
			w.Header().Set("Retry-After", "5")
			writeError(w, r, s.log, hangar.Errorf(hangar.CodeUnavailable,
				"the VM's compute host at %s did not answer (%v); its state is unknown until it returns: retry later", target, err))
		},
	}
	proxy.ServeHTTP(w, r)
}

// vmHost routes a call for a VM to its compute host.
func (s *Server) vmHost(c *call) (string, error) {
	return s.vms.Route(c.ctx, c.actor, c.path("name"))
}

// placeVM chooses the compute host of a new VM, reading the request for its size and
// location and leaving the body to be read again, here or by the chosen host. A
// request forwarded here was placed here.
func (s *Server) placeVM(c *call) (string, error) {
	if c.r.Header.Get(forwardedHeader) != "" {
		return "", nil
	}
	body, err := io.ReadAll(io.LimitReader(c.r.Body, maxJSONBody))
	if err != nil {
		return "", err
	}
	c.r.Body = io.NopCloser(bytes.NewReader(body))
	var req hangar.VMCreate
	if err := decodeJSON(bytes.NewReader(body), &req); err != nil {
		return "", err
	}
	return s.vms.Place(c.ctx, req)
}
