package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/hangarvm/hangar/internal/hangar"
)

type importFlags struct {
	url, sha256          string
	s3Endpoint, s3Region string
	noProgress           bool
}

func newDiskImportCmd(g *globals) *cobra.Command {
	f := &importFlags{}
	cmd := &cobra.Command{
		Use:   "import NAME --url URL",
		Short: "Import a disk from an http, https or s3 URL (the server fetches it)",
		Long: `Import a disk that is on the web or in an S3 bucket: the server fetches the file
and stores it with the checks of an upload (the format is read from the content; size
limits and your quota apply). The disk appears only once it is whole; a failed import
leaves nothing. With --sha256 the file must have that SHA-256, else it is refused.

The server streams its progress while it works, shown as a progress bar; the import
runs as long as the command does (interrupting it cancels the import).

For s3://BUCKET/KEY the request is signed with your AWS credentials from the
environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN), anonymous
without them, for the region AWS_REGION (or --s3-region) at the endpoint
AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL (or --s3-endpoint; default AWS). They are
sent to the Hangar server for this one request and never stored; use an https server
URL. A presigned https URL works as well and sends no credentials.

The server refuses URLs, redirects and DNS names that lead to its own, loopback,
link-local or private addresses unless its admin allowed them
(hangar serve --import-allow-cidr).`,
		Example: `  hangar disk import debian-12 --url https://cloud.debian.org/images/cloud/bookworm/latest/debian-12-generic-amd64.qcow2
  hangar disk import web-os --url https://example.com/web-os.vhd --sha256 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
  AWS_REGION=eu-west-1 hangar disk import data0 --url s3://my-bucket/disks/data0.vhdx
  hangar disk import data1 --url s3://images/data1.raw --s3-endpoint https://minio.example.com:9000`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return importDisk(cmd, g, f, args[0]) },
	}
	cmd.Flags().StringVar(&f.url, "url", "", "http://, https:// or s3://BUCKET/KEY URL of the disk file (required)")
	cmd.Flags().StringVar(&f.sha256, "sha256", "", "the file's SHA-256 (64 hex digits): refuse the file unless it matches")
	cmd.Flags().StringVar(&f.s3Endpoint, "s3-endpoint", "", "S3 endpoint for s3:// URLs, http(s)://HOST[:PORT] (default: $AWS_ENDPOINT_URL_S3, $AWS_ENDPOINT_URL, else AWS)")
	cmd.Flags().StringVar(&f.s3Region, "s3-region", "", "S3 region for s3:// URLs (default: $AWS_REGION, $AWS_DEFAULT_REGION, else us-east-1)")
	cmd.Flags().BoolVar(&f.noProgress, "no-progress", false, "do not show a progress bar")
	cmd.MarkFlagRequired("url")
	return cmd
}

// s3Access is the S3 endpoint and credentials of the CLI's environment and flags.
func (f *importFlags) s3Access() *hangar.S3Access {
	first := func(vals ...string) string {
		for _, v := range vals {
			if v != "" {
				return v
			}
		}
		return ""
	}
	return &hangar.S3Access{
		Endpoint:        first(f.s3Endpoint, os.Getenv("AWS_ENDPOINT_URL_S3"), os.Getenv("AWS_ENDPOINT_URL")),
		Region:          first(f.s3Region, os.Getenv("AWS_REGION"), os.Getenv("AWS_DEFAULT_REGION")),
		AccessKeyID:     os.Getenv("AWS_ACCESS_KEY_ID"),
		SecretAccessKey: os.Getenv("AWS_SECRET_ACCESS_KEY"),
		SessionToken:    os.Getenv("AWS_SESSION_TOKEN"),
	}
}

func importDisk(cmd *cobra.Command, g *globals, f *importFlags, name string) error {
	if err := hangar.ValidateName("disk", name); err != nil {
		return err
	}
	req := hangar.DiskImport{URL: f.url, SHA256: f.sha256}
	if strings.HasPrefix(f.url, "s3://") {
		req.S3 = f.s3Access()
	} else if f.s3Endpoint != "" || f.s3Region != "" {
		return hangar.Errorf(hangar.CodeInvalid, "--s3-endpoint and --s3-region are for s3:// URLs")
	}
	var bar *progressbar.ProgressBar
	var progress func(hangar.DiskImportProgress)
	if !f.noProgress && g.tableOutput() && term.IsTerminal(int(os.Stderr.Fd())) {
		bar = progressbar.DefaultBytes(-1, "importing "+name)
		phase := ""
		progress = func(p hangar.DiskImportProgress) {
			if p.Phase != phase {
				phase = p.Phase
				bar.Describe(p.Phase + " " + name)
				bar.ChangeMax64(p.Total)
			}
			bar.Set64(p.Bytes)
		}
	}
	d, err := g.client().ImportDiskURL(cmd.Context(), name, req, progress)
	if bar != nil {
		bar.Finish()
		fmt.Fprintln(os.Stderr)
	}
	if err != nil {
		return err
	}
	return g.print(cmd, d, func(w io.Writer) {
		fmt.Fprintf(w, "Imported disk %s from a %s file: %s virtual, %s stored.\n", d.Name, d.SourceFormat, hangar.FormatBytes(d.VirtualSize), hangar.FormatBytes(d.StoredBytes))
	})
}
