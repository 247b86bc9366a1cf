package api

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"time"

	"github.com/hangarvm/hangar/internal/hangar"
	"github.com/hangarvm/hangar/internal/nodeauth"
)

// Cluster is how this node deals with the other nodes of its cluster.
type Cluster struct {
	// Key is the cluster secret: this node signs the calls it forwards with it, and
	// answers forwarded calls only when they are signed with it. Without one, this
	// node neither forwards nor accepts forwarded calls.
	Key *nodeauth.Key
	// Transport carries forwarded calls; with TLS it trusts the cluster's CA. Nil
	// is http.DefaultTransport.
	Transport http.RoundTripper
}

// forward passes the request to the node at target, signed as this node's (see
// package nodeauth), and relays the answer. The tenant's API key goes along: the
// target checks it against the shared database itself. A request is forwarded at
// most once: the target answers a forwarded call itself, whatever its view of
// placement.
func (s *Server) forward(w http.ResponseWriter, r *http.Request, target string) {
	u, err := url.Parse(target)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	if s.cluster.Key == nil {
		writeError(w, r, s.log, hangar.Errorf(hangar.CodeUnavailable, "this node has no cluster secret to sign the call it would forward to %s; start hangar serve with the cluster's secret", target))
		return
	}
	body, err := readBounded(r.Body, nodeauth.MaxBody)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	signer := nodeauth.Signer{Key: s.cluster.Key, Node: s.vms.NodeID()}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(u)
			pr.Out.Host = u.Host
			pr.Out.Body, pr.Out.ContentLength, pr.Out.TransferEncoding = http.NoBody, 0, nil
			if len(body) > 0 {
				pr.Out.Body, pr.Out.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
			}
			signer.Sign(pr.Out.Header, nodeauth.Request{Method: pr.Out.Method, Target: pr.Out.URL.RequestURI(),
				Authorization: pr.Out.Header.Get("Authorization"), Body: body}, time.Now())
		},
		Transport: s.cluster.Transport,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			s.log.Warn("forwarding to compute host failed", "host", target, "err", err)
			w.Header().Set("Retry-After", "5")
			writeError(w, r, s.log, hangar.Errorf(hangar.CodeUnavailable,
				"the VM's compute host at %s did not answer (%v); its state is unknown until it returns: retry later", target, err))
		},
	}
	proxy.ServeHTTP(w, r)
}

// verifyForwarded checks a call that carries forwarding headers and returns the ID
// of the node that forwarded it. Such a call skips placement, so a header a client
// wrote itself must never pass: anything but a valid, fresh signature by a node of
// this cluster, on a route whose calls are forwarded, is refused.
func (s *Server) verifyForwarded(e endpoint, r *http.Request) (string, error) {
	refuse := func(why string) error {
		s.log.Warn("refused a call with forwarding headers", "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr, "reason", why)
		return hangar.Errorf(hangar.CodeForbidden, "this call carries the headers a Hangar node puts on a call it forwards to another node (%s), but %s. "+
			"Only the nodes of the cluster, which hold the cluster secret, send them: a client must not", nodeauth.HeaderNode, why)
	}
	if e.route == nil {
		return "", refuse("calls to " + e.pattern + " are never forwarded")
	}
	if s.cluster.Key == nil {
		return "", refuse("this node has no cluster secret")
	}
	body, err := readBounded(r.Body, nodeauth.MaxBody)
	if err != nil {
		return "", err
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	node, err := s.verifier.Verify(r.Header, nodeauth.Request{Method: r.Method, Target: r.RequestURI,
		Authorization: r.Header.Get("Authorization"), Body: body}, time.Now())
	if err != nil {
		return "", refuse(err.Error())
	}
	return node, nil
}

// readBounded reads a forwarded call's body, which is never large.
func readBounded(body io.Reader, limit int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(body, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, hangar.Errorf(hangar.CodeTooLarge, "the body of a call for a VM is at most %d bytes", limit)
	}
	return data, nil
}

// vmHost routes a call for a VM to its compute host.
func (s *Server) vmHost(c *call) (string, error) {
	return s.vms.Route(c.ctx, c.actor, c.path("name"))
}

// placeVM chooses the compute host of a new VM, reading the request for its size and
// location and leaving the body to be read again, here or by the chosen host. A
// call forwarded here (and verified) was placed here.
func (s *Server) placeVM(c *call) (string, error) {
	if c.forwardedBy != "" {
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
