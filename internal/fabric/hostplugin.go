package fabric

import (
	"io"
	"net/http"
)

// hostGAPluginVersions is the answer to GET /versions. waagent uses the plugin
// only if 2015-09-01 is among them (hostplugin.py: API_VERSION,
// HostPluginProtocol.ensure_initialized).
const hostGAPluginVersions = `["2015-09-01", "2012-11-30"]` + "\n"

// HostGAPlugin is the handler of 168.63.129.16:32526, the host's agent that
// waagent 2.7 talks to beside the WireServer (common/protocol/hostplugin.py).
//
//	GET /versions     the plugin's API versions
//	GET /health       200
//	GET /vmSettings   404: no Fast Track, so waagent keeps to the WireServer's goal
//	                  state (wire.py: _fetch_vm_settings_goal_state, "vmSettings is
//	                  not supported", asked again after 6 hours)
//	PUT /status       the status blob, dropped
//	PUT /vmAgentLog   the agent's logs, dropped
//
// Everything else, extension artifacts included (there are no extensions), is 404.
func (s *Server) HostGAPlugin() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/versions":
			if !allowGet(w, r) {
				return
			}
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			_, _ = io.WriteString(w, hostGAPluginVersions)
		case "/health":
			if !allowGet(w, r) {
				return
			}
			w.WriteHeader(http.StatusOK)
		case "/status":
			s.drop(w, r, http.MethodPut, maxStatus, http.StatusOK)
		case "/vmAgentLog":
			s.drop(w, r, http.MethodPut, maxAgentLog, http.StatusOK)
		default:
			httpError(w, http.StatusNotFound, "not found")
		}
	})
}

func allowGet(w http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return true
	}
	w.Header().Set("Allow", "GET, HEAD")
	httpError(w, http.StatusMethodNotAllowed, "method not allowed")
	return false
}
