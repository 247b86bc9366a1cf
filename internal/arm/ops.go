package arm

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/hangarvm/hangar/internal/hangar"
	"github.com/hangarvm/hangar/internal/store"
)

// operation names what a long-running operation waits for. Its status is read
// from Hangar each time it is polled, so nothing about it is kept: an operation
// survives a restart and is the same on every node.
type operation struct {
	Kind    string `json:"k"` // vm: a VM's provisioning; version: a version's replication
	Name    string `json:"h"` // the Hangar VM or image
	Version string `json:"v,omitempty"`
}

// startOperation sets ARM's headers of a long-running operation on the answer.
func (c *call) startOperation(location string, op operation) {
	data, _ := json.Marshal(op)
	u := c.base() + c.id("providers", "Microsoft.Compute", "locations", location, "operations", base64.RawURLEncoding.EncodeToString(data))
	if v := c.apiVersion(); v != "" {
		u += "?api-version=" + v
	}
	c.w.Header().Set("Azure-AsyncOperation", u)
	c.w.Header().Set("Location", u)
	c.w.Header().Set("Retry-After", "2")
}

// operationStatus is ARM's operation status resource.
type operationStatus struct {
	Name   string        `json:"name"`
	Status string        `json:"status"` // InProgress, Succeeded, Failed
	Error  *hangar.Error `json:"error,omitempty"`
}

func (h *Handler) getOperation(c *call) (int, any, error) {
	id := c.p["operation"]
	data, err := base64.RawURLEncoding.DecodeString(id)
	var op operation
	if err != nil || json.Unmarshal(data, &op) != nil {
		return 0, nil, &hangar.Error{Code: "OperationNotFound", Message: "no such operation: " + id}
	}
	st := operationStatus{Name: id, Status: "InProgress"}
	switch op.Kind {
	case "vm":
		vm, err := c.hangar.VM(c.ctx, op.Name)
		if err != nil {
			return 0, nil, err
		}
		switch vm.ProvisioningState {
		case hangar.ProvisioningSucceeded:
			st.Status = "Succeeded"
		case hangar.ProvisioningFailed, hangar.ProvisioningTimedOut:
			st.Status = "Failed"
			st.Error = &hangar.Error{Code: hangar.Code(vm.ProvisioningState), Message: vm.ProvisioningMessage}
		}
	case "version":
		reps, err := c.hangar.Replication(c.ctx, op.Name, op.Version)
		if err != nil {
			return 0, nil, err
		}
		st.Status = "Succeeded"
		for _, r := range reps {
			switch r.State {
			case hangar.ReplicationFailed:
				st.Status = "Failed"
				st.Error = &hangar.Error{Code: "ReplicationFailed", Message: r.Region + ": " + r.Message}
			case hangar.ReplicationReplicating:
				if st.Status != "Failed" {
					st.Status = "InProgress"
				}
			}
		}
	default:
		return 0, nil, &hangar.Error{Code: "OperationNotFound", Message: "no such operation: " + id}
	}
	if st.Status == "InProgress" {
		c.w.Header().Set("Retry-After", "2")
	}
	return http.StatusOK, st, nil
}

// lookup finds the ARM resource named name in parent. An image or VM made with
// Hangar's own API stands in DefaultGroup under its own name, unless an ARM
// resource stands for it.
func (h *Handler) lookup(c *call, kind, hangarKind, parent, name string) (store.ARMResource, error) {
	r, err := h.reg.ARMResourceByName(c.ctx, c.tenant.ID, kind, parent, name)
	if err == nil || !errors.Is(err, store.ErrNotFound) {
		return r, err
	}
	if hangarKind != "" && parent == strings.ToLower(DefaultGroup) {
		if _, err := h.reg.ARMResourceFor(c.ctx, c.tenant.ID, hangarKind, name); errors.Is(err, store.ErrNotFound) {
			return store.ARMResource{Kind: kind, Parent: parent, Group: DefaultGroup, Name: name, HangarKind: hangarKind, HangarName: name}, nil
		}
	}
	return r, notFound(kind, name)
}

// claim records a new resource that stands for a Hangar image or VM, choosing the
// Hangar name: the ARM name when it is free, else the name with a suffix made
// from where it is, so that one name can live in several groups (and galleries).
func (h *Handler) claim(c *call, r store.ARMResource, inUse func(name string) (bool, error)) (store.ARMResource, error) {
	sum := sha256.Sum256([]byte(r.Parent))
	suffix := "-" + hex.EncodeToString(sum[:4])
	for _, candidate := range []string{r.Name, r.Name[:min(len(r.Name), hangar.MaxNameLen-len(suffix))] + suffix} {
		if used, err := inUse(candidate); err != nil {
			return r, err
		} else if used {
			continue
		}
		r.HangarName = candidate
		err := h.reg.CreateARMResource(c.ctx, c.tenant.ID, r)
		if err == nil {
			return r, nil
		}
		if !store.IsUniqueViolation(err) {
			return r, err
		}
		if existing, err := h.reg.ARMResourceByName(c.ctx, c.tenant.ID, r.Kind, r.Parent, r.Name); err == nil {
			return existing, nil // made meanwhile by another request
		}
	}
	return r, &hangar.Error{Code: hangar.CodeConflict, Message: "the name " + r.Name + " is taken in Hangar, also with its resource group's suffix: choose another name"}
}

// allResources lists every recorded resource of a kind in parent ("" for all).
func (h *Handler) allResources(c *call, kind, parent string) ([]store.ARMResource, error) {
	var all []store.ARMResource
	afterParent, afterName := "", ""
	for {
		rs, err := h.reg.ARMResources(c.ctx, c.tenant.ID, kind, parent, afterParent, afterName, PageSize)
		if err != nil {
			return nil, err
		}
		all = append(all, rs...)
		if len(rs) < PageSize {
			return all, nil
		}
		last := rs[len(rs)-1]
		afterParent, afterName = last.Parent, last.Name
	}
}

// forget drops the record of an ARM resource whose Hangar image or VM is gone (or
// was never made); one already dropped is no error.
func (h *Handler) forget(c *call, r store.ARMResource) error {
	err := h.reg.DeleteARMResource(c.ctx, c.tenant.ID, r.Kind, r.Parent, r.Name)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return err
}
