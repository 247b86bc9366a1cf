package fabric

import (
	"bytes"
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
)

// do sends one request to h and returns the answer.
func do(t *testing.T, h http.Handler, method, target string, body []byte, header http.Header) *http.Response {
	t.Helper()
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req := httptest.NewRequest(method, target, r)
	for k, v := range header {
		req.Header[k] = v
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w.Result()
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// goalStateSeen is what waagent's goal_state.py and cloud-init's GoalState read.
type goalStateSeen struct {
	Incarnation string `xml:"Incarnation"`
	Container   struct {
		ContainerID string `xml:"ContainerId"`
		Role        struct {
			InstanceID    string `xml:"InstanceId"`
			Configuration struct {
				HostingEnvironmentConfig string `xml:"HostingEnvironmentConfig"`
				SharedConfig             string `xml:"SharedConfig"`
				ExtensionsConfig         string `xml:"ExtensionsConfig"`
				Certificates             string `xml:"Certificates"`
				ConfigName               string `xml:"ConfigName"`
			} `xml:"Configuration"`
		} `xml:"RoleInstanceList>RoleInstance"`
	} `xml:"Container"`
}

// TestGoalStateAndItsDocuments follows the goal state's URLs as waagent does.
func TestGoalStateAndItsDocuments(t *testing.T) {
	inst := testInstance()
	h := New(inst, nil, nil).WireServer()
	for _, target := range []string{"/machine/?comp=goalstate", "/machine?comp=goalstate"} {
		resp := do(t, h, http.MethodGet, target, nil, nil)
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/xml") {
			t.Fatalf("%s: %s %s", target, resp.Status, resp.Header.Get("Content-Type"))
		}
		var gs goalStateSeen
		if err := xml.Unmarshal([]byte(readAll(t, resp)), &gs); err != nil {
			t.Fatal(err)
		}
		if gs.Incarnation != "1" || gs.Container.ContainerID != inst.ContainerID || gs.Container.Role.InstanceID != inst.InstanceID {
			t.Errorf("%s: goal state %+v", target, gs)
		}
		conf := gs.Container.Role.Configuration
		if conf.Certificates != "" {
			t.Errorf("the goal state names certificates: %q", conf.Certificates)
		}
		for name, want := range map[string]string{conf.HostingEnvironmentConfig: "HostingEnvironmentConfig",
			conf.SharedConfig: "SharedConfig", conf.ExtensionsConfig: "Extensions"} {
			u, err := url.Parse(name)
			if err != nil || u.Host != "168.63.129.16:80" {
				t.Fatalf("%q: %v", name, err)
			}
			resp := do(t, h, http.MethodGet, u.RequestURI(), nil, nil)
			body := readAll(t, resp)
			if resp.StatusCode != http.StatusOK || !strings.Contains(body, "<"+want+" ") {
				t.Errorf("%s: %s\n%s", u.RequestURI(), resp.Status, body)
			}
		}
	}
}

func TestWireServerAnswers(t *testing.T) {
	inst := testInstance()
	h := New(inst, nil, nil).WireServer()
	conf := "/machine/" + inst.ContainerID + "/" + inst.InstanceID
	for _, tc := range []struct {
		method, target string
		body           []byte
		status         int
		contains       string
	}{
		{"GET", "/?comp=versions", nil, 200, "<Preferred>\n    <Version>2012-11-30</Version>"},
		{"GET", conf + "?comp=config&type=hostingEnvironmentConfig&incarnation=1", nil, 200, `instance="vm1"`},
		{"GET", conf + "?comp=config&type=sharedConfig&incarnation=1", nil, 200, `address="10.0.0.4"`},
		{"GET", conf + "?comp=config&type=extensionsConfig&incarnation=1", nil, 200, `<StatusUploadBlob statusBlobType="BlockBlob">http://168.63.129.16:80` + conf + "?comp=status<"},
		{"GET", conf + "?comp=config&type=fullConfig&incarnation=1", nil, 404, ""},
		{"GET", conf + "?comp=config&type=certificates", nil, 404, ""},
		{"PUT", conf + "?comp=status", []byte(`{"version":"1.1"}`), 201, ""},
		{"PUT", conf + "?comp=status", bytes.Repeat([]byte("x"), maxStatus+1), 413, ""},
		{"POST", "/machine?comp=telemetrydata", []byte(`<?xml version="1.0"?><TelemetryData version="1.0"/>`), 200, ""},
		{"POST", "/machine?comp=telemetrydata", bytes.Repeat([]byte("x"), maxTelemetry+1), 413, ""},
		{"POST", "/machine?comp=roleProperties", []byte("<RoleProperties/>"), 202, ""},
		{"POST", "/HealthService", []byte(`{"Observations":[]}`), 200, ""},
		{"POST", "/HealthService", bytes.Repeat([]byte("x"), maxSmallPost+1), 413, ""},
		{"POST", "/machine/?comp=goalstate", nil, 405, ""},
		{"GET", "/machine?comp=health", nil, 405, ""},
		{"GET", "/machine?comp=telemetrydata", nil, 405, ""},
		{"GET", "/?comp=other", nil, 404, ""},
		{"GET", "/metadata/instance?api-version=2021-08-01", nil, 404, ""},
		{"GET", "/etc/passwd", nil, 404, ""},
	} {
		resp := do(t, h, tc.method, tc.target, tc.body, nil)
		body := readAll(t, resp)
		if resp.StatusCode != tc.status || !strings.Contains(body, tc.contains) {
			t.Errorf("%s %.80s: %s, want %d with %q\n%s", tc.method, tc.target, resp.Status, tc.status, tc.contains, body)
		}
	}
}

func TestHostGAPlugin(t *testing.T) {
	h := New(testInstance(), nil, nil).HostGAPlugin()
	for _, tc := range []struct {
		method, target string
		body           []byte
		status         int
		contains       string
	}{
		{"GET", "/versions", nil, 200, `"2015-09-01"`},
		{"GET", "/health", nil, 200, ""},
		{"GET", "/vmSettings", nil, 404, ""},
		{"PUT", "/status", []byte(`{"requestUri":"x","headers":[]}`), 200, ""},
		{"PUT", "/status", bytes.Repeat([]byte("x"), maxStatus+1), 413, ""},
		{"PUT", "/vmAgentLog", []byte("PK"), 200, ""},
		{"PUT", "/vmAgentLog", bytes.Repeat([]byte("x"), maxAgentLog+1), 413, ""},
		{"GET", "/status", nil, 405, ""},
		{"POST", "/versions", nil, 405, ""},
		{"GET", "/extensionArtifact", nil, 404, ""},
	} {
		resp := do(t, h, tc.method, tc.target, tc.body, nil)
		body := readAll(t, resp)
		if resp.StatusCode != tc.status || !strings.Contains(body, tc.contains) {
			t.Errorf("%s %s: %s, want %d with %q", tc.method, tc.target, resp.Status, tc.status, tc.contains)
		}
	}
}

// TestHealthReports: what each agent posts reaches onHealth with its state,
// substatus and own words; anything else is refused and reaches nothing.
func TestHealthReports(t *testing.T) {
	inst := testInstance()
	seed := func(name string) []byte {
		b, err := os.ReadFile("testdata/health/" + name)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	report := func(state, details string) []byte {
		return []byte(`<?xml version="1.0" encoding="utf-8"?><Health><GoalStateIncarnation>1</GoalStateIncarnation><Container><ContainerId>` +
			inst.ContainerID + `</ContainerId><RoleInstanceList><Role><InstanceId>` + inst.InstanceID +
			`</InstanceId><Health><State>` + state + `</State>` + details + `</Health></Role></RoleInstanceList></Container></Health>`)
	}
	long := strings.Repeat("é", MaxDescription) // 2 bytes each
	for _, tc := range []struct {
		name   string
		body   []byte
		status int
		want   *Health
	}{
		{"cloud-init ready", seed("cloudinit-ready.xml"), 200, &Health{State: "Ready"}},
		{"cloud-init failure", seed("cloudinit-failure.xml"), 200, &Health{State: "NotReady", SubStatus: "ProvisioningFailed",
			Description: "The VM encountered an error during deployment. Please visit https://aka.ms/linuxprovisioningerror for more information on remediation."}},
		{"waagent provisioning", seed("waagent-provisioning.xml"), 200, &Health{State: "NotReady", SubStatus: "Provisioning", Description: "Starting"}},
		{"waagent failure", seed("waagent-failure.xml"), 200, &Health{State: "NotReady", SubStatus: "ProvisioningFailed",
			Description: "Failed to provision: useradd: invalid user name '-x' & more"}},
		{"control characters", report("NotReady", "<Details><SubStatus>ProvisioningFailed</SubStatus><Description>\x1b]0;title\x07bad\r\n\tline\u202etxt.exe\x00</Description></Details>"), 200,
			&Health{State: "NotReady", SubStatus: "ProvisioningFailed", Description: "]0;titlebad  linetxt.exe"}}, // XML reads \r\n as \n
		{"long description", report("NotReady", "<Details><SubStatus>ProvisioningFailed</SubStatus><Description>"+long+"</Description></Details>"), 200,
			&Health{State: "NotReady", SubStatus: "ProvisioningFailed", Description: long[:MaxDescription]}},
		{"invalid utf-8", report("NotReady", "<Details><SubStatus>x</SubStatus><Description>a\xffb</Description></Details>"), 200,
			&Health{State: "NotReady", SubStatus: "x", Description: "a\uFFFDb"}},
		{"unknown state", report("Healthy", ""), 400, nil},
		{"empty state", report("", ""), 400, nil},
		{"not xml", []byte("Ready"), 400, nil},
		{"empty", []byte{}, 400, nil},
		{"truncated", report("Ready", "")[:200], 400, nil},
		{"no role", []byte(`<Health><Container><ContainerId>` + inst.ContainerID + `</ContainerId></Container></Health>`), 400, nil},
		{"two roles", bytes.Replace(report("Ready", ""), []byte("<Role>"), []byte("<Role><InstanceId>x</InstanceId><Health><State>Ready</State></Health></Role><Role>"), 1), 400, nil},
		{"another container", bytes.Replace(report("Ready", ""), []byte(inst.ContainerID), []byte("c1d2e3f4-0000-4000-8000-000000000002"), 1), 400, nil},
		{"another instance", bytes.Replace(report("Ready", ""), []byte(inst.InstanceID), []byte("other._vm2"), 1), 400, nil},
		{"other charset", append([]byte(`<?xml version="1.0" encoding="latin1"?>`), report("Ready", "")[38:]...), 400, nil},
		{"entity", []byte(`<?xml version="1.0"?><!DOCTYPE Health [<!ENTITY x SYSTEM "file:///etc/passwd">]>` + string(report("Ready", "<Details><SubStatus>a</SubStatus><Description>&x;</Description></Details>"))[38:]), 400, nil},
		{"oversize", append(report("NotReady", "<Details><SubStatus>a</SubStatus><Description>"), append(bytes.Repeat([]byte("x"), MaxHealthReport), "</Description></Details>"...)...), 413, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []Health
			h := New(inst, nil, func(h Health) { got = append(got, h) }).WireServer()
			resp := do(t, h, http.MethodPost, "/machine?comp=health", tc.body, http.Header{"Content-Type": {"text/xml; charset=utf-8"}})
			if resp.StatusCode != tc.status {
				t.Errorf("%s, want %d: %s", resp.Status, tc.status, readAll(t, resp))
			}
			switch {
			case tc.want == nil && len(got) != 0:
				t.Errorf("onHealth got %q", got)
			case tc.want != nil && (len(got) != 1 || got[0] != *tc.want):
				t.Errorf("onHealth got %q, want %q", got, *tc.want)
			}
		})
	}
}

func TestClean(t *testing.T) {
	for _, tc := range []struct {
		in   string
		max  int
		want string
	}{
		{"plain words", 100, "plain words"},
		{"  trimmed\n", 100, "trimmed"},
		{"a\x1b[2Jb", 100, "a[2Jb"},
		{"a\u200bb\u202ec", 100, "abc"},
		{"a\u0085b", 100, "ab"},
		{"ab€", 4, "ab"},  // € is 3 bytes: no half character
		{"ab€", 5, "ab€"}, //
		{"\xff", 10, "\uFFFD"},
	} {
		if got := Clean(tc.in, tc.max); got != tc.want {
			t.Errorf("Clean(%q, %d) = %q, want %q", tc.in, tc.max, got, tc.want)
		}
	}
}
