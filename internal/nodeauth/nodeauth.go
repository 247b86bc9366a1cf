// Package nodeauth authenticates the calls one Hangar node forwards to another.
//
// The nodes of a cluster share a secret. A node that forwards a call (to the compute
// host of a VM) signs it: an HMAC-SHA256, under the secret, of the forwarding node's
// ID, the method, the request target (path and query, exactly as sent), a digest of
// the body, a digest of the Authorization header, the time and a random nonce. The
// receiving node recomputes it, refuses a time further than MaxSkew from its own
// clock, and refuses a signature it has seen before (a replay) while that signature
// is within its window.
//
// Vocabulary:
//   - Key: the shared secret, at least MinSecret bytes.
//   - Signer: a Key and this node's ID; Sign sets the forwarding headers.
//   - Verifier: a Key and the signatures seen lately; Verify checks the headers.
//
// Invariants: a request that carries any forwarding header (Carries) is either
// verified or refused; never is a header taken on trust. Bodies of forwarded calls
// are small JSON documents: at most MaxBody bytes are signed and verified.
package nodeauth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The headers of a forwarded call.
const (
	HeaderNode      = "Hangar-Forwarded-By"      // the forwarding node's ID
	HeaderTime      = "Hangar-Forward-Time"      // Unix seconds
	HeaderNonce     = "Hangar-Forward-Nonce"     // 32 hex digits
	HeaderSignature = "Hangar-Forward-Signature" // 64 hex digits
)

var headers = []string{HeaderNode, HeaderTime, HeaderNonce, HeaderSignature}

const (
	// MinSecret is the shortest cluster secret accepted, in bytes.
	MinSecret = 32
	// MaxSkew is how far a forwarded call's time may be from the receiver's clock.
	MaxSkew = 2 * time.Minute
	// MaxBody bounds the body of a forwarded call: the VM calls that are forwarded
	// take small JSON documents (a run-command script is at most 256 KiB).
	MaxBody = 1 << 20
)

// Errors of Verify, each wrapped with details.
var (
	ErrBadSignature = errors.New("the forwarding signature is not valid")
	ErrClock        = errors.New("the forwarded call's time is outside the allowed window")
	ErrReplayed     = errors.New("the forwarded call was seen before")
)

// Key is a cluster secret.
type Key struct{ secret []byte }

// NewKey checks a secret's length and returns it as a key.
func NewKey(secret []byte) (*Key, error) {
	if len(secret) < MinSecret {
		return nil, fmt.Errorf("the cluster secret has %d bytes; it needs at least %d (make one with: openssl rand -hex 32)", len(secret), MinSecret)
	}
	return &Key{secret: append([]byte(nil), secret...)}, nil
}

// NewSecret returns a new random secret, as hex text.
func NewSecret() string {
	var b [32]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Carries reports whether a request has any of the forwarding headers.
func Carries(h http.Header) bool {
	for _, name := range headers {
		if _, ok := h[name]; ok {
			return true
		}
	}
	return false
}

// Strip removes the forwarding headers.
func Strip(h http.Header) {
	for _, name := range headers {
		h.Del(name)
	}
}

// Request is what a signature covers.
type Request struct {
	Method        string
	Target        string // the request target as sent: path and query (http.Request.RequestURI)
	Authorization string // the Authorization header
	Body          []byte
}

// Signer signs the calls this node forwards.
type Signer struct {
	Key  *Key
	Node string // this node's ID
}

// Sign sets the forwarding headers of a call at time now.
func (s Signer) Sign(h http.Header, r Request, now time.Time) {
	var nonce [16]byte
	rand.Read(nonce[:])
	ts := strconv.FormatInt(now.Unix(), 10)
	n := hex.EncodeToString(nonce[:])
	Strip(h)
	h.Set(HeaderNode, s.Node)
	h.Set(HeaderTime, ts)
	h.Set(HeaderNonce, n)
	h.Set(HeaderSignature, hex.EncodeToString(s.Key.mac(s.Node, ts, n, r)))
}

// mac is the signature of a call: each field on its own line. No field can hold a
// newline: node IDs and nonces are checked, the time is a number, the method a
// token, the target is escaped, and the body and key are digested.
func (k *Key) mac(node, ts, nonce string, r Request) []byte {
	body := sha256.Sum256(r.Body)
	auth := sha256.Sum256([]byte(r.Authorization))
	m := hmac.New(sha256.New, k.secret)
	for _, f := range []string{"hangar-forward-v1", node, r.Method, r.Target, hex.EncodeToString(body[:]), hex.EncodeToString(auth[:]), ts, nonce} {
		m.Write([]byte(f))
		m.Write([]byte{'\n'})
	}
	return m.Sum(nil)
}

// Verifier checks the calls forwarded to this node.
type Verifier struct {
	Key *Key

	mu    sync.Mutex
	seen  map[string]time.Time // signature -> when it leaves the window
	sweep time.Time
}

// Verify checks the forwarding headers of a call received at time now and returns
// the forwarding node's ID.
func (v *Verifier) Verify(h http.Header, r Request, now time.Time) (string, error) {
	node, ts, nonce, sig := h.Get(HeaderNode), h.Get(HeaderTime), h.Get(HeaderNonce), h.Get(HeaderSignature)
	if !validToken(node, 64) || !isHex(nonce, 32) || !isHex(sig, 64) {
		return "", fmt.Errorf("%w: the headers %s are missing or malformed", ErrBadSignature, strings.Join(headers, ", "))
	}
	secs, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(ts) > 12 {
		return "", fmt.Errorf("%w: %s is not a Unix time", ErrBadSignature, HeaderTime)
	}
	want := v.Key.mac(node, ts, nonce, r)
	got, _ := hex.DecodeString(sig)
	if !hmac.Equal(got, want) {
		return "", fmt.Errorf("%w (node %s): the nodes do not share one cluster secret, or the call was changed on its way", ErrBadSignature, node)
	}
	at := time.Unix(secs, 0)
	if d := now.Sub(at); d > MaxSkew || d < -MaxSkew {
		return "", fmt.Errorf("%w: node %s signed it at %s, %s from this node's clock (at most %s); keep the nodes' clocks in sync (NTP)",
			ErrClock, node, at.UTC().Format(time.RFC3339), d.Round(time.Second), MaxSkew)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.seen == nil {
		v.seen = map[string]time.Time{}
	}
	if now.After(v.sweep) {
		for s, until := range v.seen {
			if now.After(until) {
				delete(v.seen, s)
			}
		}
		v.sweep = now.Add(MaxSkew)
	}
	if _, dup := v.seen[sig]; dup {
		return "", fmt.Errorf("%w: node %s sent this signature already", ErrReplayed, node)
	}
	// Kept until its time leaves the window: after that the clock check refuses it.
	v.seen[sig] = at.Add(MaxSkew)
	return node, nil
}

func validToken(s string, max int) bool {
	if s == "" || len(s) > max {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}
