package fabric

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// realClients returns a python3 and the environment under which it imports the
// client code of Debian's cloud-init and waagent packages, unpacked by
// scripts/deps.sh test into $HANGAR_AZURE_CLIENTS (or installed), or skips.
func realClients(t *testing.T) (python string, env []string) {
	t.Helper()
	dir := os.Getenv("HANGAR_AZURE_CLIENTS")
	if dir == "" {
		dir = "/usr/local/lib/hangar/azure-clients"
	}
	env = os.Environ()
	if pkgs := filepath.Join(dir, "usr/lib/python3/dist-packages"); dirExists(pkgs) {
		env = append(env, "PYTHONPATH="+pkgs)
	}
	// Debian's python3 first: the libraries the clients import are its packages.
	for _, py := range []string{"/usr/bin/python3", "python3"} {
		path, err := exec.LookPath(py)
		if err != nil {
			continue
		}
		cmd := exec.Command(path, "-c", "import cloudinit.sources.DataSourceAzure, cloudinit.sources.helpers.azure, azurelinuxagent.common.protocol.wire")
		cmd.Env = env
		if cmd.Run() == nil {
			return path, env
		}
	}
	t.Skip("cloud-init's and waagent's client code is not importable by python3 (scripts/deps.sh test unpacks it)")
	return "", nil
}

func dirExists(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}

// recorder notes every request and the status answered.
type recorder struct {
	mu   sync.Mutex
	seen []string
}

func (rec *recorder) wrap(name string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(sw, r)
		rec.mu.Lock()
		rec.seen = append(rec.seen, fmt.Sprintf("%d %s %s %s", sw.status, name, r.Method, r.URL.RequestURI()))
		rec.mu.Unlock()
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(status int) {
	w.status = status
	w.ResponseWriter.WriteHeader(status)
}

// clientResult is what testdata/clients.py writes.
type clientResult struct {
	Errors    []string `json:"errors"`
	CloudInit struct {
		Username           string         `json:"username"`
		Hostname           string         `json:"hostname"`
		DisablePassword    bool           `json:"disable_password"`
		UserData           string         `json:"userdata"`
		PublicKeys         []string       `json:"public_keys"`
		Location           string         `json:"location"`
		PPSType            string         `json:"pps_type"`
		NetworkConfig      map[string]any `json:"network_config"`
		UnknownVersionCode int            `json:"unknown_version_code"`
		FallbackVMID       string         `json:"fallback_vm_id"`
		Ready              bool           `json:"ready"`
		FailureReported    bool           `json:"failure_reported"`
	} `json:"cloudinit"`
	WAAgent struct {
		Incarnation         string            `json:"incarnation"`
		IncarnationAgain    string            `json:"incarnation_again"`
		ContainerID         string            `json:"container_id"`
		RoleInstanceID      string            `json:"role_instance_id"`
		RoleConfigName      string            `json:"role_config_name"`
		VMName              string            `json:"vm_name"`
		Extensions          int               `json:"extensions"`
		AgentManifests      int               `json:"agent_manifests"`
		StatusUploadBlob    string            `json:"status_upload_blob"`
		VMSettingsSupported bool              `json:"vm_settings_supported"`
		ProvisionReported   bool              `json:"provision_reported"`
		StatusReported      bool              `json:"status_reported"`
		HostPlugin          bool              `json:"host_plugin"`
		TelemetrySent       bool              `json:"telemetry_sent"`
		IMDSCompute         map[string]string `json:"imds_compute"`
		IMDSValid           []any             `json:"imds_valid"`
	} `json:"waagent"`
}

// TestRealClients runs cloud-init's Azure datasource and waagent's wire protocol
// code, as Debian 12 packages them, against the handlers: every document must be
// parsed by the clients' own code into this VM's facts, and their health reports
// must reach onHealth.
func TestRealClients(t *testing.T) {
	py, env := realClients(t)
	inst := testInstance()
	var mu sync.Mutex
	var reports []Health
	s := New(inst, nil, func(h Health) {
		mu.Lock()
		reports = append(reports, h)
		mu.Unlock()
	})
	rec := &recorder{}
	wire := httptest.NewServer(rec.wrap("wire", s.WireServer()))
	defer wire.Close()
	hgap := httptest.NewServer(rec.wrap("hgap", s.HostGAPlugin()))
	defer hgap.Close()
	imds := httptest.NewServer(rec.wrap("imds", s.IMDS()))
	defer imds.Close()

	dir := t.TempDir()
	out := filepath.Join(dir, "out.json")
	const failure = "custom data script failed: exit status 1 <&> \x1b[31mred\x1b[0m\nsecond line"
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, "testdata/clients.py")
	cmd.Env = append(env,
		"WIRE="+strings.TrimPrefix(wire.URL, "http://"),
		"HGAP="+strings.TrimPrefix(hgap.URL, "http://"),
		"IMDS="+strings.TrimPrefix(imds.URL, "http://"),
		"WORK="+dir, "OUT="+out, "FAILURE="+failure, "HOME="+dir)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("clients.py: %v\n%s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var res clientResult
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	for _, e := range res.Errors {
		t.Errorf("client error: %s", e)
	}

	ci := res.CloudInit
	if ci.Username != inst.AdminUsername || ci.Hostname != inst.ComputerName || !ci.DisablePassword {
		t.Errorf("cloud-init read user %q, host %q, disable password %v", ci.Username, ci.Hostname, ci.DisablePassword)
	}
	if ci.UserData != "#cloud-config\nruncmd: [[touch, /tmp/ud]]\n" {
		t.Errorf("cloud-init read user data %q", ci.UserData)
	}
	if !slices.Equal(ci.PublicKeys, []string{inst.PublicKeys[0].KeyData}) {
		t.Errorf("cloud-init read keys %q", ci.PublicKeys)
	}
	if ci.Location != inst.Location || ci.PPSType != "None" {
		t.Errorf("cloud-init read location %q, pps type %q", ci.Location, ci.PPSType)
	}
	eth0, _ := ci.NetworkConfig["ethernets"].(map[string]any)["eth0"].(map[string]any)
	if m, _ := eth0["match"].(map[string]any); m["macaddress"] != "52:54:00:12:34:56" || eth0["dhcp4"] != true {
		t.Errorf("cloud-init's network configuration does not match the NIC: %v", ci.NetworkConfig)
	}
	if ci.UnknownVersionCode != http.StatusBadRequest || ci.FallbackVMID != inst.VMID {
		t.Errorf("unknown api-version answered %d, fallback read vmId %q", ci.UnknownVersionCode, ci.FallbackVMID)
	}
	if !ci.Ready || !ci.FailureReported {
		t.Errorf("cloud-init reported ready %v, failure %v", ci.Ready, ci.FailureReported)
	}

	wa := res.WAAgent
	if wa.Incarnation != "1" || wa.IncarnationAgain != "1" || wa.ContainerID != inst.ContainerID || wa.RoleInstanceID != inst.InstanceID || wa.RoleConfigName == "" {
		t.Errorf("waagent read goal state %+v", wa)
	}
	if wa.VMName != inst.Name || wa.Extensions != 0 || wa.AgentManifests != 0 || wa.StatusUploadBlob == "" || wa.VMSettingsSupported {
		t.Errorf("waagent read vm %q, %d extensions, %d agent manifests, status blob %q, vmSettings %v",
			wa.VMName, wa.Extensions, wa.AgentManifests, wa.StatusUploadBlob, wa.VMSettingsSupported)
	}
	if !wa.ProvisionReported || !wa.StatusReported || !wa.HostPlugin || !wa.TelemetrySent {
		t.Errorf("waagent: provision %v, status %v, host plugin %v, telemetry %v", wa.ProvisionReported, wa.StatusReported, wa.HostPlugin, wa.TelemetrySent)
	}
	wantCompute := map[string]string{"name": inst.Name, "location": inst.Location, "vmSize": inst.VMSize, "vmId": inst.VMID,
		"osType": "Linux", "subscriptionId": inst.SubscriptionID, "resourceGroupName": inst.ResourceGroup}
	for k, v := range wantCompute {
		if wa.IMDSCompute[k] != v {
			t.Errorf("waagent read IMDS compute %s = %q, want %q", k, wa.IMDSCompute[k], v)
		}
	}
	if len(wa.IMDSValid) != 2 || wa.IMDSValid[0] != true {
		t.Errorf("waagent's IMDS validation: %v", wa.IMDSValid)
	}

	cleaned := "custom data script failed: exit status 1 <&> [31mred[0m second line"
	want := []Health{
		{State: HealthReady},
		{State: HealthNotReady, SubStatus: SubStatusProvisioningFailed, Description: cleaned},
		{State: HealthNotReady, SubStatus: "Provisioning", Description: "Starting"},
		{State: HealthNotReady, SubStatus: SubStatusProvisioningFailed, Description: cleaned},
		{State: HealthReady},
	}
	mu.Lock()
	if !slices.Equal(reports, want) {
		t.Errorf("health reports\n got %q\nwant %q", reports, want)
	}
	mu.Unlock()

	// Nothing the clients asked went unanswered, but what must be refused: the
	// HostGAPlugin's vmSettings (no Fast Track) and the unknown api-version.
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, line := range rec.seen {
		if strings.HasPrefix(line, "2") {
			continue
		}
		if strings.HasPrefix(line, "404 hgap GET /vmSettings") || strings.HasPrefix(line, "400 imds GET /metadata/instance?api-version=2099-01-01") {
			continue
		}
		t.Errorf("unexpected answer: %s", line)
	}
	if t.Failed() {
		t.Logf("requests:\n%s", strings.Join(rec.seen, "\n"))
	}
}
