package main

import (
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// azAliases are az's spellings of Hangar's flags (alias: Hangar's name). Each is
// taken wherever a command has the flag and no flag of the alias's own name: they
// are names, not flags, so --help lists them only in the flag's own line.
var azAliases = map[string]string{
	"hyper-v-generation": "hyperv-generation", // az sig image-definition create
	"end-of-life-date":   "end-of-life",       // az sig image-version create
	"ssh-key-values":     "ssh-key-value",     // az vm create
	"attach-data-disks":  "attach-data-disk",  // az vm create
	"location":           "region",            // az's name of a region, everywhere
	"scripts":            "script",            // az vm run-command invoke
	"plan-name":          "plan",              // az sig image-definition create
}

// addAzAliases lets c and every command under it take azAliases.
func addAzAliases(c *cobra.Command) {
	fs := c.Flags()
	names := map[string]string{}
	for alias, name := range azAliases {
		if f := fs.Lookup(name); f != nil && fs.Lookup(alias) == nil {
			names[alias] = name
			f.Usage += " (also --" + alias + ", as in az)"
		}
	}
	if len(names) > 0 {
		fs.SetNormalizeFunc(func(_ *pflag.FlagSet, name string) pflag.NormalizedName {
			if to, ok := names[name]; ok {
				return pflag.NormalizedName(to)
			}
			return pflag.NormalizedName(name)
		})
	}
	for _, sub := range c.Commands() {
		addAzAliases(sub)
	}
}
