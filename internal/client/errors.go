package client

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/hangarvm/hangar/internal/hangar"
)

// decodeError turns a non-2xx answer into a *hangar.Error.
func decodeError(resp *http.Response) error {
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return errorFromBody(resp.StatusCode, resp.Status, data)
}

// errorFromBody decodes Hangar's JSON error document. An answer without one (a
// proxy's or load balancer's page) still gets the code its status stands for, so
// that a caller can tell a missing resource or a down server from a bug.
func errorFromBody(code int, status string, data []byte) error {
	var e struct {
		Error hangar.Error `json:"error"`
	}
	if json.Unmarshal(data, &e) != nil || e.Error.Code == "" {
		return &hangar.Error{Code: hangar.CodeOfStatus(code), Message: fmt.Sprintf("server answered %s", status)}
	}
	return &e.Error
}
