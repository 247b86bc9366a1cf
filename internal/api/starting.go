package api

import (
	"net/http"
	"sync/atomic"

	"github.com/hangarvm/hangar/internal/hangar"
)

// Starting answers every request with 503 and Retry-After until Ready hands it the
// real handler. The server opens its port first (the compute host's advertised
// address is the port it got), then sets up compute and adopts running VMs, which
// takes seconds: during a restart a client meanwhile gets a prompt "retry shortly"
// instead of a connection that hangs.
type Starting struct {
	next atomic.Pointer[http.Handler]
}

// Ready makes every later request go to h.
func (s *Starting) Ready(h http.Handler) { s.next.Store(&h) }

func (s *Starting) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h := s.next.Load(); h != nil {
		(*h).ServeHTTP(w, r)
		return
	}
	w.Header().Set("Retry-After", "1")
	writeJSON(w, http.StatusServiceUnavailable, errorBody{Error: hangar.Error{
		Code: hangar.CodeUnavailable, Message: "Hangar is starting (setting up compute and adopting running VMs): retry in a second"}})
}
