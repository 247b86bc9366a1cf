package fabric

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
)

// The protocol version both agents speak (x-ms-version: 2012-11-30; wire.py:
// PROTOCOL_VERSION, helpers/azure.py: AzureEndpointHttpClient.headers).
const wireProtocolVersion = "2012-11-30"

// Bounds on the bodies the WireServer and HostGAPlugin accept and drop.
const (
	// maxTelemetry bounds a telemetry post: waagent sends at most
	// MAX_EVENT_BUFFER_SIZE (63 KiB) of events per request (wire.py: report_event).
	maxTelemetry = 256 << 10
	// maxSmallPost bounds the other posts (role properties, HealthService).
	maxSmallPost = 64 << 10
	// maxStatus bounds a status blob upload (HostGAPlugin PUT /status, or the
	// blob URL directly); without extensions it is a few KiB.
	maxStatus = 1 << 20
	// maxAgentLog bounds a log upload (HostGAPlugin PUT /vmAgentLog).
	maxAgentLog = 1 << 20
)

// The configuration documents of the goal state, by the type parameter of
// their URLs.
const (
	configHostingEnv = "hostingEnvironmentConfig"
	configShared     = "sharedConfig"
	configExtensions = "extensionsConfig"
)

// WireServer is the handler of 168.63.129.16:80: the wire protocol as waagent 2.7
// (common/protocol/wire.py, goal_state.py) and cloud-init 22.4 (sources/helpers/
// azure.py) speak it.
//
//	GET  /?comp=versions                      the protocol versions
//	GET  /machine/?comp=goalstate             the goal state
//	GET  /machine/{c}/{i}?comp=config&type=T  the goal state's documents
//	POST /machine?comp=health                 a health report: onHealth
//	POST /machine?comp=telemetrydata          events, dropped
//	POST /machine?comp=roleProperties         role properties, dropped (202)
//	POST /HealthService                       waagent's own health signals, dropped
//	PUT  /machine/{c}/{i}?comp=status         the status blob, dropped (201)
func (s *Server) WireServer() http.Handler {
	return http.HandlerFunc(s.serveWire)
}

func (s *Server) serveWire(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	comp := q.Get("comp")
	switch {
	case r.URL.Path == "/" && comp == "versions":
		s.serveDoc(w, r, s.versions)
	case (r.URL.Path == "/machine/" || r.URL.Path == "/machine") && comp == "goalstate":
		s.serveDoc(w, r, s.goalState)
	case r.URL.Path == s.configPath && comp == "config":
		switch q.Get("type") {
		case configHostingEnv:
			s.serveDoc(w, r, s.hostingEnv)
		case configShared:
			s.serveDoc(w, r, s.sharedConfig)
		case configExtensions:
			s.serveDoc(w, r, s.extensionsConfig)
		default:
			httpError(w, http.StatusNotFound, "no such configuration")
		}
	case r.URL.Path == s.configPath && comp == "status":
		s.drop(w, r, http.MethodPut, maxStatus, http.StatusCreated)
	case (r.URL.Path == "/machine" || r.URL.Path == "/machine/") && comp == "health":
		s.serveHealth(w, r)
	case (r.URL.Path == "/machine" || r.URL.Path == "/machine/") && comp == "telemetrydata":
		s.drop(w, r, http.MethodPost, maxTelemetry, http.StatusOK)
	case (r.URL.Path == "/machine" || r.URL.Path == "/machine/") && comp == "roleProperties":
		// waagent checks for 202 Accepted (wire.py: report_role_prop).
		s.drop(w, r, http.MethodPost, maxSmallPost, http.StatusAccepted)
	case r.URL.Path == "/HealthService":
		s.drop(w, r, http.MethodPost, maxSmallPost, http.StatusOK)
	default:
		httpError(w, http.StatusNotFound, "not found")
	}
}

// serveDoc answers a GET (or HEAD) with an XML document.
func (s *Server) serveDoc(w http.ResponseWriter, r *http.Request, doc []byte) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		httpError(w, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(doc)))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(doc)
	}
}

// serveHealth takes a health report to onHealth.
func (s *Server) serveHealth(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		httpError(w, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	body, ok := readBody(w, r, MaxHealthReport)
	if !ok {
		return
	}
	rep, err := ParseHealth(body)
	if err != nil {
		s.log.Info("fabric: health report refused", "err", err)
		httpError(w, http.StatusBadRequest, "bad health report")
		return
	}
	// A report naming other ids is for another VM, or from a guest that kept a
	// stale goal state: neither changes this VM's state.
	if rep.ContainerID != s.inst.ContainerID || rep.InstanceID != s.inst.InstanceID {
		s.log.Info("fabric: health report for another container or instance refused",
			"container", Clean(rep.ContainerID, 64), "instance", Clean(rep.InstanceID, 128))
		httpError(w, http.StatusBadRequest, "the container or instance id is not this VM's")
		return
	}
	s.log.Debug("fabric: health report", "state", rep.Health.State, "substatus", rep.Health.SubStatus)
	if s.onHealth != nil {
		s.onHealth(rep.Health)
	}
	w.WriteHeader(http.StatusOK)
}

// drop reads and discards a body of at most limit bytes and answers status.
func (s *Server) drop(w http.ResponseWriter, r *http.Request, method string, limit int64, status int) {
	if r.Method != method {
		w.Header().Set("Allow", method)
		httpError(w, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	n, err := io.Copy(io.Discard, http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		bodyError(w, err)
		return
	}
	s.log.Debug("fabric: dropped", "path", r.URL.Path, "bytes", n)
	w.WriteHeader(status)
}

// readBody reads a body of at most limit bytes; on failure it has answered.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, bool) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		bodyError(w, err)
		return nil, false
	}
	return b, true
}

func bodyError(w http.ResponseWriter, err error) {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		httpError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("the body is larger than %d bytes", tooBig.Limit))
		return
	}
	httpError(w, http.StatusBadRequest, "the body could not be read")
}

func httpError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, msg+"\n")
}

// The documents of the wire protocol. Each mirrors what the agents read, with
// what Azure adds around it where an agent might look (shapes from WALinuxAgent's
// tests/data/wire, the captures of real WireServer answers its tests replay).

type versionsXML struct {
	XMLName   xml.Name `xml:"Versions"`
	Preferred struct {
		Version string `xml:"Version"`
	} `xml:"Preferred"`
	Supported struct {
		Version []string `xml:"Version"`
	} `xml:"Supported"`
}

type goalStateXML struct {
	XMLName     xml.Name `xml:"GoalState"`
	XSI         string   `xml:"xmlns:xsi,attr"`
	Schema      string   `xml:"xsi:noNamespaceSchemaLocation,attr"`
	Version     string   `xml:"Version"`
	Incarnation int      `xml:"Incarnation"`
	Machine     struct {
		ExpectedState         string `xml:"ExpectedState"`
		StopRolesDeadlineHint int    `xml:"StopRolesDeadlineHint"`
	} `xml:"Machine"`
	Container struct {
		ContainerID string `xml:"ContainerId"`
		Role        struct {
			InstanceID    string `xml:"InstanceId"`
			State         string `xml:"State"`
			Configuration struct {
				HostingEnvironmentConfig string `xml:"HostingEnvironmentConfig"`
				SharedConfig             string `xml:"SharedConfig"`
				ExtensionsConfig         string `xml:"ExtensionsConfig"`
				ConfigName               string `xml:"ConfigName"`
			} `xml:"Configuration"`
		} `xml:"RoleInstanceList>RoleInstance"`
	} `xml:"Container"`
}

type deploymentXML struct {
	Name        string `xml:"name,attr"`
	GUID        string `xml:"guid,attr"`
	Incarnation int    `xml:"incarnation,attr"`
}

type incarnationXML struct {
	Number   int    `xml:"number,attr"`
	Instance string `xml:"instance,attr"`
}

type roleXML struct {
	Name string `xml:"name,attr"`
}

type hostingEnvXML struct {
	XMLName     xml.Name       `xml:"HostingEnvironmentConfig"`
	Version     string         `xml:"version,attr"`
	GSInc       int            `xml:"goalStateIncarnation,attr"`
	Deployment  deploymentXML  `xml:"Deployment"`
	Incarnation incarnationXML `xml:"Incarnation"`
	Role        roleXML        `xml:"Role"`
}

type sharedConfigXML struct {
	XMLName     xml.Name       `xml:"SharedConfig"`
	Version     string         `xml:"version,attr"`
	GSInc       int            `xml:"goalStateIncarnation,attr"`
	Deployment  deploymentXML  `xml:"Deployment"`
	Incarnation incarnationXML `xml:"Incarnation"`
	Role        roleXML        `xml:"Role"`
	Instances   struct {
		Instance []struct {
			ID      string `xml:"id,attr"`
			Address string `xml:"address,attr"`
		} `xml:"Instance"`
	} `xml:"Instances"`
}

type extensionsConfigXML struct {
	XMLName    xml.Name `xml:"Extensions"`
	Version    string   `xml:"version,attr"`
	GSInc      int      `xml:"goalStateIncarnation,attr"`
	GuestAgent struct {
		XSI        string   `xml:"xmlns:i,attr"`
		GAFamilies struct{} `xml:"GAFamilies"`
	} `xml:"GuestAgentExtension"`
	StatusUploadBlob struct {
		Type string `xml:"statusBlobType,attr"`
		URL  string `xml:",chardata"`
	} `xml:"StatusUploadBlob"`
}

// renderWire renders the WireServer's documents once.
func (s *Server) renderWire() {
	inst := s.inst
	s.configPath = "/machine/" + url.PathEscape(inst.ContainerID) + "/" + url.PathEscape(inst.InstanceID)
	base := "http://" + WireServerAddr.String() + ":80" + s.configPath
	configURL := func(typ string) string {
		return base + "?comp=config&type=" + typ + "&incarnation=" + strconv.Itoa(inst.Incarnation)
	}

	var v versionsXML
	v.Preferred.Version = wireProtocolVersion
	// Azure lists older versions too; both agents need only theirs.
	v.Supported.Version = []string{wireProtocolVersion, "2012-09-15", "2012-05-15", "2011-12-31", "2011-10-15", "2011-08-31", "2011-04-07", "2010-12-15", "2010-28-10"}
	s.versions = marshalXML(v)

	var gs goalStateXML
	gs.XSI = "http://www.w3.org/2001/XMLSchema-instance"
	gs.Schema = "goalstate10.xsd"
	gs.Version = wireProtocolVersion
	gs.Incarnation = inst.Incarnation
	gs.Machine.ExpectedState = "Started"
	gs.Machine.StopRolesDeadlineHint = 300000
	gs.Container.ContainerID = inst.ContainerID
	gs.Container.Role.InstanceID = inst.InstanceID
	gs.Container.Role.State = "Started"
	gs.Container.Role.Configuration.HostingEnvironmentConfig = configURL(configHostingEnv)
	gs.Container.Role.Configuration.SharedConfig = configURL(configShared)
	gs.Container.Role.Configuration.ExtensionsConfig = configURL(configExtensions)
	// waagent takes the deployment id from the part before the first dot and
	// sends the whole name back to the HostGAPlugin (hostplugin.py:
	// _extract_deployment_id).
	gs.Container.Role.Configuration.ConfigName = inst.ContainerID + "." + strconv.Itoa(inst.Incarnation) + "." + inst.InstanceID + ".xml"
	s.goalState = marshalXML(gs)

	dep := deploymentXML{Name: inst.ContainerID, GUID: "{" + inst.ContainerID + "}", Incarnation: inst.Incarnation}
	inc := incarnationXML{Number: inst.Incarnation, Instance: inst.Name}
	role := roleXML{Name: inst.Name}
	// waagent reads the VM, role and deployment names of the hosting environment
	// for its telemetry (goal_state.py: HostingEnv).
	s.hostingEnv = marshalXML(hostingEnvXML{Version: "1.0.0.0", GSInc: inst.Incarnation, Deployment: dep, Incarnation: inc, Role: role})
	sc := sharedConfigXML{Version: "1.0.0.0", GSInc: inst.Incarnation, Deployment: dep, Incarnation: inc, Role: role}
	if inst.Network.PrivateIPv4.IsValid() {
		sc.Instances.Instance = append(sc.Instances.Instance, struct {
			ID      string `xml:"id,attr"`
			Address string `xml:"address,attr"`
		}{ID: inst.Name, Address: inst.Network.PrivateIPv4.Addr().String()})
	}
	s.sharedConfig = marshalXML(sc)

	// The extensions configuration carries no extension and no agent family,
	// only the status blob's URL: without one, waagent's status report fails and
	// forces a full goal state fetch on every pass of its loop (wire.py:
	// upload_status_blob). The blob goes through the HostGAPlugin's /status,
	// or straight to this URL when the plugin fails; both take it and drop it.
	var ec extensionsConfigXML
	ec.Version = "1.0.0.0"
	ec.GSInc = inst.Incarnation
	ec.GuestAgent.XSI = "http://www.w3.org/2001/XMLSchema-instance"
	ec.StatusUploadBlob.Type = "BlockBlob"
	ec.StatusUploadBlob.URL = base + "?comp=status"
	s.extensionsConfig = marshalXML(ec)
}

// marshalXML renders v with an XML declaration. The documents are Hangar's own
// structs of strings and numbers, which always marshal.
func marshalXML(v any) []byte {
	b, err := xml.MarshalIndent(v, "", "  ")
	if err != nil {
		panic(fmt.Sprintf("fabric: rendering %T: %v", v, err))
	}
	return append([]byte(xml.Header), append(b, '\n')...)
}
