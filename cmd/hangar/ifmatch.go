package main

import (
	"github.com/spf13/cobra"

	"github.com/hangarvm/hangar/internal/client"
)

// ifMatchFlag adds --if-match to a command that changes an image, disk or VM (kind)
// and returns the request option it asks for. Several people (or nodes) may change
// one resource at once; the flag turns a read-then-change into one that cannot
// silently overwrite a change made in between.
func ifMatchFlag(cmd *cobra.Command, kind string) func() client.RequestOption {
	var etag string
	cmd.Flags().StringVar(&etag, "if-match", "", "change the "+kind+" only if its ETag is still `ETAG` (its etag field in -o json; quotes optional), "+
		"else fail with PreconditionFailed and change nothing, as it changed since you read it; * only requires that it exists")
	return func() client.RequestOption { return client.IfMatch(etag) }
}
