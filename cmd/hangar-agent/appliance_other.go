//go:build !linux

package main

import (
	"context"
	"fmt"
	"os"
)

func appliance(context.Context) int {
	fmt.Fprintln(os.Stderr, "hangar-agent appliance: runs only inside Hangar's Linux appliance")
	return 2
}
