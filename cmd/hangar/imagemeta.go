package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/hangarvm/hangar/internal/client"
	"github.com/hangarvm/hangar/internal/hangar"
)

// Image metadata: --properties on the commands that make an image version, and
// Azure's image definition fields (az sig image-definition create's flags) on
// image create.

// definitionFlags are image create's flags for properties and Azure's definition
// fields.
type definitionFlags struct {
	properties, features, disallowed     []string
	minCPU, maxCPU, minMemory, maxMemory int
}

func (d *definitionFlags) register(f *pflag.FlagSet) {
	f.StringArrayVar(&d.properties, "properties", nil, "a property of the new version: KEY=VALUE (repeatable), free-form metadata as Glance's")
	f.IntVar(&d.minCPU, "minimum-cpu-core", 0, "recommended minimum vCPUs: smaller VMs are refused (new image)")
	f.IntVar(&d.maxCPU, "maximum-cpu-core", 0, "recommended maximum vCPUs: larger VMs are refused (new image)")
	f.IntVar(&d.minMemory, "minimum-memory", 0, "recommended minimum memory in GiB: smaller VMs are refused (new image)")
	f.IntVar(&d.maxMemory, "maximum-memory", 0, "recommended maximum memory in GiB: larger VMs are refused (new image)")
	f.StringArrayVar(&d.features, "features", nil, `features, as "SecurityType=TrustedLaunch IsAcceleratedNetworkSupported=true" (new image; TrustedLaunch and ConfidentialVM need --hyper-v-generation V2)`)
	f.StringArrayVar(&d.disallowed, "disallowed-disk-types", nil, "disk types VMs of the image may not have: "+strings.Join(hangar.StorageSKUs, ", ")+" (space- or comma-separated; new image)")
}

// apply puts the flags into the request.
func (d *definitionFlags) apply(req *hangar.ImageCreate) error {
	var err error
	if len(d.properties) > 0 {
		if req.Properties, err = hangar.ParseProperties(d.properties); err != nil {
			return usageError{err}
		}
	}
	if len(d.features) > 0 {
		if req.Features, err = hangar.ParseFeatures(d.features); err != nil {
			return usageError{err}
		}
	}
	r := &hangar.Recommended{}
	if d.minCPU != 0 || d.maxCPU != 0 {
		r.VCPUs = &hangar.Range{Min: d.minCPU, Max: d.maxCPU}
	}
	if d.minMemory != 0 || d.maxMemory != 0 {
		r.MemoryGB = &hangar.Range{Min: d.minMemory, Max: d.maxMemory}
	}
	if r.VCPUs != nil || r.MemoryGB != nil {
		req.Recommended = r
	}
	if types := splitList(d.disallowed); len(types) > 0 {
		req.Disallowed = &hangar.Disallowed{DiskTypes: types}
	}
	return nil
}

// splitList reads values given space- or comma-separated, in one flag or several.
func splitList(args []string) []string {
	var out []string
	for _, a := range args {
		out = append(out, strings.FieldsFunc(a, func(r rune) bool { return r == ' ' || r == ',' })...)
	}
	return out
}

// printDefinition writes an image's resource group and definition fields.
func printDefinition(w io.Writer, im *hangar.Image) {
	if im.ResourceGroup != "" {
		row(w, "Resource group:", im.ResourceGroup)
	}
	if r := im.Recommended; r != nil {
		if r.VCPUs != nil {
			row(w, "Recommended vCPUs:", r.VCPUs.String())
		}
		if r.MemoryGB != nil {
			row(w, "Recommended memory:", r.MemoryGB.String()+" GiB")
		}
	}
	if len(im.Features) > 0 {
		row(w, "Features:", im.Features.String())
	}
	if im.Disallowed != nil {
		row(w, "Disallowed disk types:", strings.Join(im.Disallowed.DiskTypes, ", "))
	}
}

func newImageSetPropertiesCmd(g *globals) *cobra.Command {
	var ifMatch func() client.RequestOption
	cmd := &cobra.Command{
		Use:   "set-properties NAME VERSION [KEY=VALUE]...",
		Short: "Replace the properties of an image version (no KEY=VALUE: remove them all)",
		Long: `Replace all the properties of an image version with the KEY=VALUE pairs given; with
none, remove them. Properties are free-form metadata, as Glance's image properties
(os_distro, os_version, ...), shown to everyone who may use the image. At most 100;
keys up to 255 characters without '=', values up to 1024.`,
		Example: `  hangar image set-properties web 1.0.0 os_distro=ubuntu os_version=24.04
  hangar image set-properties web 1.0.0 --if-match "$(hangar image show web --query etag -o tsv)"`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			props, err := hangar.ParseProperties(args[2:])
			if err != nil {
				return usageError{err}
			}
			im, err := g.client().SetVersionProperties(cmd.Context(), args[0], args[1], props, ifMatch())
			if err != nil {
				return err
			}
			return g.print(cmd, im, func(w io.Writer) {
				fmt.Fprintf(w, "image %s version %s: %s\n", args[0], args[1], orDash(props.String()))
			})
		},
	}
	ifMatch = ifMatchFlag(cmd, "image")
	return cmd
}
