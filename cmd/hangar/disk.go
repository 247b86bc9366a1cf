package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/hangarvm/hangar/internal/client"
	"github.com/hangarvm/hangar/internal/hangar"
)

func newDiskCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "disk", Short: "Upload, import, download, list, show and delete disks"}
	cmd.AddCommand(newDiskUploadCmd(g), newDiskImportCmd(g), newDiskDownloadCmd(g), newDiskInspectCmd(g), newDiskConvertCmd(g), newDiskGeneralizeCmd(g),
		&cobra.Command{
			Use: "list", Short: "List your disks", Args: cobra.NoArgs,
			Example: `  hangar disk list
  hangar disk list --query "[].name" -o tsv`,
			RunE: func(cmd *cobra.Command, _ []string) error {
				disks, err := g.client().ListDisks(cmd.Context(), g.tagFilter...)
				if err != nil {
					return err
				}
				return g.print(cmd, disks, func(w io.Writer) {
					row(w, "NAME", "VIRTUAL SIZE", "STORED", "FORMAT", "CREATED")
					for _, d := range disks {
						row(w, d.Name, hangar.FormatBytes(d.VirtualSize), hangar.FormatBytes(d.StoredBytes), d.SourceFormat, d.CreatedAt.Format("2006-01-02 15:04"))
					}
				})
			},
		},
		&cobra.Command{
			Use: "show NAME", Short: "Show a disk", Args: cobra.ExactArgs(1),
			Example: `  hangar disk show web-os
  hangar disk show web-os --query usedBy -o tsv
  hangar disk show web-os --query checksums.sha256 -o tsv   # compare with sha256sum of the raw file`,
			RunE: func(cmd *cobra.Command, args []string) error {
				d, err := g.client().Disk(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				return g.print(cmd, d, func(w io.Writer) {
					row(w, "Name:", d.Name)
					row(w, "ID:", d.ID)
					row(w, "Virtual size:", fmt.Sprintf("%s (%d bytes)", hangar.FormatBytes(d.VirtualSize), d.VirtualSize))
					row(w, "Stored:", hangar.FormatBytes(d.StoredBytes))
					row(w, "Uploaded as:", d.SourceFormat)
					row(w, "Used by:", orDash(strings.Join(d.UsedBy, ", ")))
					row(w, "Created:", d.CreatedAt.Format("2006-01-02 15:04:05 MST"))
					if c := d.Checksums; c != nil {
						row(w, "SHA-256 (raw):", c.SHA256)
						row(w, "MD5 (raw):", c.MD5)
						row(w, "SHA-256 (vhd):", c.VHDSHA256)
						row(w, "MD5 (vhd):", c.VHDMD5)
					} else {
						row(w, "Checksums:", "being computed (they appear here once the server has read the disk)")
					}
				})
			},
		},
		newDiskDeleteCmd(g))
	return cmd
}

func newDiskDeleteCmd(g *globals) *cobra.Command {
	var ifMatch func() client.RequestOption
	var confirm func(string) error
	cmd := &cobra.Command{
		Use: "delete NAME", Short: "Delete a disk that no image uses", Args: cobra.ExactArgs(1),
		Example: `  hangar disk delete web-os
  hangar disk delete web-os -y`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := confirm("delete disk " + args[0]); err != nil {
				return err
			}
			if err := g.client().DeleteDisk(cmd.Context(), args[0], ifMatch()); err != nil {
				return err
			}
			return g.done(cmd, "Deleted disk "+args[0]+".")
		},
	}
	ifMatch = ifMatchFlag(cmd, "disk")
	confirm = yesFlag(cmd, g)
	return cmd
}

type uploadFlags struct {
	name        string
	stream      bool
	connections int
	noProgress  bool
}

func newDiskUploadCmd(g *globals) *cobra.Command {
	f := &uploadFlags{}
	cmd := &cobra.Command{
		Use:   "upload FILE",
		Short: "Upload a disk file (raw or VHD; the format is read from the content)",
		Long: `Upload a disk file. The format is detected from the content (a fixed VHD is
recognised by its footer at the end). Only the file's non-zero chunks are hashed and
sent, over several connections, and only those the server does not already hold for
you. If the upload is interrupted, run the same command again: it resumes and does
not resend what the server already received.

With --stream the file is sent as one plain HTTP PUT and the server does the work,
as "curl -T FILE -H 'Authorization: Bearer KEY' SERVER/v1/disks/NAME" would.`,
		Example: `  hangar disk upload debian.vhd --name debian-os
  hangar disk upload data.raw --name data0 -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return uploadDisk(cmd, g, f, args[0])
		},
	}
	cmd.Flags().StringVarP(&f.name, "name", "n", "", "name of the new disk (default: the file name without extension)")
	cmd.Flags().BoolVar(&f.stream, "stream", false, "send the file as one stream and let the server chunk it")
	cmd.Flags().IntVar(&f.connections, "connections", client.DefaultConnections, "chunks sent at once (each on a connection of its own)")
	cmd.Flags().BoolVar(&f.noProgress, "no-progress", false, "do not show a progress bar")
	return cmd
}

func uploadDisk(cmd *cobra.Command, g *globals, f *uploadFlags, path string) error {
	name := f.name
	if name == "" {
		name = strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	}
	if err := hangar.ValidateName("disk", name); err != nil {
		return fmt.Errorf("%w (choose one with --name)", err)
	}
	c := g.client()
	showBar := !f.noProgress && g.tableOutput() && term.IsTerminal(int(os.Stderr.Fd()))
	if f.stream {
		file, err := os.Open(path)
		if err != nil {
			return err
		}
		defer file.Close()
		fi, _ := file.Stat()
		var body io.Reader = file
		if showBar {
			bar := progressbar.DefaultBytes(fi.Size(), "uploading "+name)
			body = io.TeeReader(file, bar)
		}
		d, err := c.ImportDisk(cmd.Context(), name, body)
		if err != nil {
			return err
		}
		return g.print(cmd, d, func(w io.Writer) {
			fmt.Fprintf(w, "Uploaded disk %s: %s virtual, %s stored (from %s).\n", d.Name, hangar.FormatBytes(d.VirtualSize), hangar.FormatBytes(d.StoredBytes), d.SourceFormat)
		})
	}
	opt := client.UploadOptions{Connections: f.connections, StateDir: uploadStateDir()}
	var bar *progressbar.ProgressBar
	if showBar {
		bar = progressbar.DefaultBytes(-1, "uploading "+name)
		opt.Progress = barProgress{bar}
	}
	d, st, err := c.UploadDisk(cmd.Context(), path, name, opt)
	if bar != nil {
		bar.Finish()
		fmt.Fprintln(os.Stderr)
	}
	if err != nil {
		return err
	}
	if err := g.tagNew(cmd, "disks", d.Name, &d); err != nil {
		return err
	}
	result := struct {
		hangar.Disk
		Upload client.UploadStats `json:"upload"`
	}{d, st}
	return g.print(cmd, result, func(w io.Writer) {
		fmt.Fprintf(w, "Uploaded disk %s from a %s file: %s virtual, %s of data, %s sent", d.Name, st.Format, hangar.FormatBytes(d.VirtualSize), hangar.FormatBytes(st.DataBytes), hangar.FormatBytes(st.SentBytes))
		if st.Resumed {
			fmt.Fprint(w, " (resumed)")
		}
		fmt.Fprintf(w, ".\nNext: hangar image create --name NAME --type os --os-type linux --os-state generalized --os-disk %s\n", d.Name)
	})
}

type barProgress struct{ bar *progressbar.ProgressBar }

func (b barProgress) Start(total int64) { b.bar.ChangeMax64(total) }
func (b barProgress) Add(n int64)       { b.bar.Add64(n) }

func uploadStateDir() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "hangar", "uploads")
}

func newDiskDownloadCmd(g *globals) *cobra.Command {
	var format, file string
	var noProgress bool
	cmd := &cobra.Command{
		Use:   "download NAME",
		Short: "Download a disk as raw, vhd, vhd-dynamic, vhdx, qcow2, vmdk or ova",
		Long: `Download one of your disks in the format you choose. Runs of zeros become holes in the
file. Raw and fixed VHD downloads resume: if one is interrupted, run the same command
again and only the rest is fetched. Two downloads of a disk are byte-identical.

For Hyper-V take vhdx (dynamic, 2 MiB blocks); for VMware, vmdk (streamOptimized, as
in an OVA) or ova, a tar of an OVF descriptor, a SHA-256 manifest and that vmdk,
which VMware, VirtualBox and oVirt import as a virtual machine. The server writes
these as it streams them; nothing is staged.

(-o stays the output format of the command's report, as everywhere; the file is --file.)`,
		Example: `  hangar disk download web-os --format vhd --file web-os.vhd
  hangar disk download web-os --format qcow2
  hangar disk download web-os --format vhdx --file web-os.vhdx
  hangar disk download web-os --format ova`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if file == "" {
				file = args[0] + formatExt[format]
			}
			var progress client.Progress
			var bar *progressbar.ProgressBar
			if !noProgress && g.tableOutput() && term.IsTerminal(int(os.Stderr.Fd())) {
				bar = progressbar.DefaultBytes(-1, "downloading "+args[0])
				progress = barProgress{bar}
			}
			res, err := g.client().DownloadDisk(cmd.Context(), args[0], format, file, progress)
			if bar != nil {
				bar.Finish()
				fmt.Fprintln(os.Stderr)
			}
			if err != nil {
				return err
			}
			return g.print(cmd, res, func(w io.Writer) {
				fmt.Fprintf(w, "Downloaded disk %s as %s to %s (%s).\n", args[0], format, res.Path, hangar.FormatBytes(res.Bytes))
			})
		},
	}
	enumVar(cmd.Flags(), &format, "format", "vhd", diskFormats, formatHelp)
	cmd.Flags().StringVar(&file, "file", "", "file to write (default: NAME and the format's extension)")
	cmd.Flags().BoolVar(&noProgress, "no-progress", false, "do not show a progress bar")
	return cmd
}
