package main

import (
	"fmt"
	"strings"

	"github.com/spf13/pflag"

	"github.com/hangarvm/hangar/internal/hangar"
)

// enum is a flag that takes one of a few words in any case (az users type Linux,
// v2, Generalized) and holds Hangar's spelling of it, which is what is sent. A
// word it does not know fails the parse, before any call.
type enum struct {
	value   *string
	allowed []string
}

func (e enum) String() string { return *e.value }
func (e enum) Type() string   { return "string" }

func (e enum) Set(s string) error {
	for _, a := range e.allowed {
		if strings.EqualFold(s, a) {
			*e.value = a
			return nil
		}
	}
	return fmt.Errorf("use %s", orList(e.allowed))
}

// enumVar defines an enum flag with default def. A flag whose default is "" (the
// server chooses) may also be given "" explicitly.
func enumVar(f *pflag.FlagSet, p *string, name, def string, allowed []string, usage string) {
	*p = def
	if def == "" {
		allowed = append([]string{""}, allowed...)
	}
	f.Var(enum{p, allowed}, name, usage)
}

// orList writes words as "a, b or c", leaving out "".
func orList(words []string) string {
	var w []string
	for _, s := range words {
		if s != "" {
			w = append(w, s)
		}
	}
	if len(w) < 2 {
		return strings.Join(w, "")
	}
	return strings.Join(w[:len(w)-1], ", ") + " or " + w[len(w)-1]
}

// The words of Hangar's enums, in Hangar's spelling.
var (
	imageTypes = []string{string(hangar.ImageTypeOS), string(hangar.ImageTypeVM)}
	osTypes    = []string{string(hangar.OSLinux), string(hangar.OSWindows)}
	osStates   = []string{string(hangar.Generalized), string(hangar.Specialized)}
	agents     = []string{string(hangar.AgentAuto), string(hangar.AgentAzure), string(hangar.AgentNoCloud),
		string(hangar.AgentHangar), string(hangar.AgentNone)}
	hyperVGenerations = []string{"V1", "V2"}
	architectures     = []string{"x64", "Arm64"}
	roles             = []string{string(hangar.RoleUser), string(hangar.RolePublisher), string(hangar.RoleAdmin)}
	accels            = []string{"auto", "kvm", "tcg"}
	diskFormats       = []string{"raw", "vhd", "vhd-dynamic", "vhdx", "qcow2", "vmdk", "ova"}
)
