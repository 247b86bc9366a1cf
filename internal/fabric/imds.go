package fabric

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// IMDSVersions are the api-versions the IMDS answers, oldest first: Azure's
// published list up to the newest that cloud-init 22.4 asks for (2021-08-01,
// DataSourceAzure.IMDS_VER_WANT) and beyond. Anything else is refused with 400 and
// the newest versions, on which cloud-init retries with 2019-06-01
// (DataSourceAzure.get_imds_data_with_api_fallback).
var IMDSVersions = []string{
	"2017-03-01", "2017-04-02", "2017-08-01", "2017-10-01", "2017-12-01",
	"2018-02-01", "2018-04-02", "2018-10-01",
	"2019-02-01", "2019-03-11", "2019-04-30", "2019-06-01", "2019-06-04", "2019-08-01", "2019-08-15", "2019-11-01",
	"2020-06-01", "2020-07-15", "2020-09-01", "2020-10-01", "2020-12-01",
	"2021-01-01", "2021-02-01", "2021-03-01", "2021-05-01", "2021-08-01", "2021-10-01", "2021-11-01", "2021-11-15", "2021-12-13",
	"2023-07-01",
}

// The error messages of Azure's IMDS, from its documentation ("Errors and
// debugging", "Versioning"); the X-Forwarded-For one is Hangar's wording of a
// documented refusal.
const (
	imdsNoHeader       = "Bad request. Required metadata header not specified"
	imdsForwarded      = "Bad request. Requests with the X-Forwarded-For header are refused"
	imdsNoVersion      = "Bad request. api-version was not specified in the request. For more information refer to aka.ms/azureimds"
	imdsBadVersion     = "Bad request. api-version is invalid or was not specified in the request. For more information refer to aka.ms/azureimds"
	imdsLeafJSON       = "Bad request. Query parameter format=json is not supported for a leaf node; use format=text"
	imdsNodeText       = "Bad request. Query parameter format=text is supported only for a leaf node"
	imdsBadFormat      = "Bad request. Query parameter format must be json or text"
	imdsNotFound       = "Not found"
	imdsMethod         = "Method not allowed"
	imdsNewestVersions = 3
)

// IMDS is the handler of 169.254.169.254:80, the Instance Metadata Service as
// cloud-init (DataSourceAzure.get_metadata_from_imds) and waagent
// (common/protocol/imds.py: ImdsClient) ask it.
//
//	GET /metadata/versions                     the api-versions
//	GET /metadata/instance?api-version=V       compute and network, as JSON
//	GET /metadata/instance/P?api-version=V     a part: JSON for a node, text for a
//	                                           leaf (format=text), e.g.
//	                                           /metadata/instance/compute/userData
//
// Every request must carry "Metadata: true" (waagent sends "True") and no
// X-Forwarded-For header, or is refused with 400, as on Azure: a guest process
// tricked into fetching a URL (a proxy, a server-side request forgery) cannot read
// the metadata. /metadata/reprovisiondata, which cloud-init polls only on a
// preprovisioned VM (compute.ppsType, never set here), is 404 like every other path.
func (s *Server) IMDS() http.Handler {
	return http.HandlerFunc(s.serveIMDS)
}

func (s *Server) serveIMDS(w http.ResponseWriter, r *http.Request) {
	if len(r.Header.Values("X-Forwarded-For")) > 0 {
		imdsError(w, http.StatusBadRequest, imdsForwarded, false)
		return
	}
	md := r.Header.Values("Metadata")
	if len(md) != 1 || !strings.EqualFold(strings.TrimSpace(md[0]), "true") {
		imdsError(w, http.StatusBadRequest, imdsNoHeader, false)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		imdsError(w, http.StatusMethodNotAllowed, imdsMethod, false)
		return
	}
	path := r.URL.Path
	if path == "/metadata/versions" {
		writeJSON(w, r, http.StatusOK, map[string]any{"apiVersions": IMDSVersions})
		return
	}
	var rest string
	switch {
	case path == "/metadata/instance" || path == "/metadata/instance/":
	case strings.HasPrefix(path, "/metadata/instance/"):
		rest = strings.TrimPrefix(path, "/metadata/instance/")
	default:
		imdsError(w, http.StatusNotFound, imdsNotFound, false)
		return
	}
	q := r.URL.Query()
	switch v := q.Get("api-version"); {
	case v == "":
		imdsError(w, http.StatusBadRequest, imdsNoVersion, true)
		return
	case !slices.Contains(IMDSVersions, v):
		imdsError(w, http.StatusBadRequest, imdsBadVersion, true)
		return
	}
	node, ok := walk(s.imds, rest)
	if !ok {
		imdsError(w, http.StatusNotFound, imdsNotFound, false)
		return
	}
	if rest == "" && q.Get("extended") == "true" {
		// The extended compute part says the VM is not preprovisioned, so
		// cloud-init does not wait for reprovisioning data
		// (DataSourceAzure._ppstype_from_imds).
		m := copyTop(node.(map[string]any))
		m["extended"] = map[string]any{"compute": map[string]any{"ppsType": "None"}}
		node = m
	}
	leaf, isLeaf := node.(string)
	switch format := q.Get("format"); {
	case format != "" && format != "json" && format != "text":
		imdsError(w, http.StatusBadRequest, imdsBadFormat, false)
	case isLeaf && format == "json":
		imdsError(w, http.StatusBadRequest, imdsLeafJSON, false)
	case isLeaf:
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Content-Length", strconv.Itoa(len(leaf)))
		if r.Method == http.MethodGet {
			_, _ = io.WriteString(w, leaf)
		}
	case format == "text":
		imdsError(w, http.StatusBadRequest, imdsNodeText, false)
	default:
		writeJSON(w, r, http.StatusOK, node)
	}
}

// walk follows a path of keys and array indexes down the tree.
func walk(node any, path string) (any, bool) {
	for _, seg := range strings.Split(path, "/") {
		if seg == "" {
			continue
		}
		switch n := node.(type) {
		case map[string]any:
			var ok bool
			if node, ok = n[seg]; !ok {
				return nil, false
			}
		case []any:
			i, err := strconv.Atoi(seg)
			if err != nil || i < 0 || i >= len(n) || seg != strconv.Itoa(i) {
				return nil, false
			}
			node = n[i]
		default:
			return nil, false
		}
	}
	return node, true
}

// copyTop copies the top level of m.
func copyTop(m map[string]any) map[string]any {
	c := make(map[string]any, len(m)+1)
	for k, v := range m {
		c[k] = v
	}
	return c
}

func imdsError(w http.ResponseWriter, status int, msg string, versions bool) {
	body := map[string]any{"error": msg}
	if versions {
		newest := slices.Clone(IMDSVersions[len(IMDSVersions)-imdsNewestVersions:])
		slices.Reverse(newest)
		body["newest-versions"] = newest
	}
	writeJSON(w, nil, status, body)
}

// writeJSON answers v as compact JSON, as Azure does; encoding/json sorts the
// keys of maps, so the same tree gives the same bytes.
func writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// The trees are Hangar's own maps, slices and strings.
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	if r == nil || r.Method != http.MethodHead {
		_, _ = w.Write(b)
	}
}

// imdsTree is the IMDS's document of inst: maps, slices and strings, every value a
// string as on Azure ("all primitives will be of type string").
func imdsTree(inst Instance) any {
	keys := make([]any, 0, len(inst.PublicKeys))
	for _, k := range inst.PublicKeys {
		keys = append(keys, map[string]any{"keyData": k.KeyData, "path": k.Path})
	}
	compute := map[string]any{
		"azEnvironment":        "AzurePublicCloud",
		"customData":           "", // disabled on Azure too: custom data is on the CD only
		"location":             inst.Location,
		"name":                 inst.Name,
		"offer":                "",
		"osType":               inst.OSType,
		"placementGroupId":     "",
		"platformFaultDomain":  "0",
		"platformUpdateDomain": "0",
		"provider":             "Microsoft.Compute",
		"osProfile": map[string]any{
			"adminUsername":                 inst.AdminUsername,
			"computerName":                  inst.ComputerName,
			"disablePasswordAuthentication": strconv.FormatBool(inst.DisablePasswordAuthentication),
		},
		"publicKeys":        keys,
		"publisher":         "",
		"resourceGroupName": inst.ResourceGroup,
		"resourceId": fmt.Sprintf("/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Compute/virtualMachines/%s",
			inst.SubscriptionID, inst.ResourceGroup, inst.Name),
		"sku":            "",
		"subscriptionId": inst.SubscriptionID,
		"tags":           "",
		"tagsList":       []any{},
		"userData":       inst.UserData,
		"version":        "",
		"vmId":           inst.VMID,
		"vmScaleSetName": "",
		"vmSize":         inst.VMSize,
		"zone":           "",
	}
	tree := map[string]any{"compute": compute}
	// Without a usable NIC the network part is left out: cloud-init then falls
	// back to DHCP on the first NIC, where an empty interface list would leave the
	// guest with no network at all
	// (DataSourceAzure.generate_network_config_from_instance_network_metadata).
	n := inst.Network
	if len(n.MAC) == 6 && n.PrivateIPv4.IsValid() && n.PrivateIPv4.Addr().Is4() {
		public := ""
		if n.PublicIPv4.IsValid() {
			public = n.PublicIPv4.String()
		}
		tree["network"] = map[string]any{"interface": []any{map[string]any{
			"ipv4": map[string]any{
				"ipAddress": []any{map[string]any{"privateIpAddress": n.PrivateIPv4.Addr().String(), "publicIpAddress": public}},
				"subnet":    []any{map[string]any{"address": n.PrivateIPv4.Masked().Addr().String(), "prefix": strconv.Itoa(n.PrivateIPv4.Bits())}},
			},
			"ipv6":       map[string]any{"ipAddress": []any{}},
			"macAddress": azureMAC(n.MAC),
		}}}
	}
	return tree
}
