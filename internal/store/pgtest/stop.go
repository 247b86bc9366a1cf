package pgtest

import "sync"

var (
	stopMu sync.Mutex
	stops  []func()
)

func stopAtExit(f func()) {
	stopMu.Lock()
	stops = append(stops, f)
	stopMu.Unlock()
}

// Stop stops the cluster this package started. Call it from TestMain after m.Run.
func Stop() {
	stopMu.Lock()
	defer stopMu.Unlock()
	for _, f := range stops {
		f()
	}
	stops = nil
}
