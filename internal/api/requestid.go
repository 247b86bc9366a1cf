package api

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
)

// RequestIDHeader carries the ID of every request in its answer, under the name
// Azure's APIs use: a user quotes it when reporting a problem, and the operator
// finds the request's log lines by it.
const RequestIDHeader = "x-ms-request-id"

// clientRequestIDHeader is the caller's own ID of a request (the Azure SDKs send
// one), echoed back as Azure does.
const clientRequestIDHeader = "x-ms-client-request-id"

type requestIDKey struct{}

// WithRequestID gives every request an ID: in its answer's header, in the
// context (RequestID) for logs and error bodies, and echoes the client's own ID.
func WithRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := newRequestID()
		w.Header().Set(RequestIDHeader, id)
		if c := r.Header.Get(clientRequestIDHeader); c != "" && len(c) <= 128 && printable(c) {
			w.Header().Set(clientRequestIDHeader, c)
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestIDKey{}, id)))
	})
}

// RequestID is the ID WithRequestID gave the request of ctx, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// newRequestID is a random UUID (version 4), the form of Azure's request IDs.
func newRequestID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
