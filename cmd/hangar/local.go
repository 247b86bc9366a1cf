package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/hangarvm/hangar/internal/atomicfile"
	"github.com/hangarvm/hangar/internal/diskfmt"
	"github.com/hangarvm/hangar/internal/hangar"
)

// inspection is what `hangar disk inspect` reports of a local file.
type inspection struct {
	File           string `json:"file"`
	Format         string `json:"format,omitempty"`
	FileSize       int64  `json:"fileSize"`
	VirtualSize    int64  `json:"virtualSize,omitempty"`
	AllocatedBytes int64  `json:"allocatedBytes,omitempty"`
	Problem        string `json:"problem,omitempty"`
	AzureReady     bool   `json:"azureReady"`
	AzureProblem   string `json:"azureProblem,omitempty"`
}

func openLocal(path string, maxSize int64) (*os.File, diskfmt.Disk, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	d, err := diskfmt.Open(f, fi.Size(), diskfmt.Options{MaxVirtualSize: maxSize})
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, d, nil
}

func newDiskInspectCmd(g *globals) *cobra.Command {
	var maxSize int64
	cmd := &cobra.Command{
		Use:   "inspect FILE",
		Short: "Tell a local disk file's format, sizes, problems, and whether Azure accepts it (no server needed)",
		Long: `Read a local disk file as untrusted input, the way the server does: detect the format
from the content, validate every header and table, and report the virtual size, the
allocated bytes, any problem found, and whether Azure would accept the file as is
(a fixed VHD of a whole number of MiB, 20 MiB to 32 TiB) and, if not, how to fix it.
It exits non-zero when the file cannot be used.`,
		Example: "  hangar disk inspect debian.vhd",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			in := inspection{File: args[0]}
			if fi, err := os.Stat(args[0]); err == nil {
				in.FileSize = fi.Size()
			}
			f, d, err := openLocal(args[0], maxSize)
			if err != nil {
				in.Problem = err.Error()
			} else {
				defer f.Close()
				in.Format, in.VirtualSize = string(d.Format()), d.VirtualSize()
				for _, e := range d.Extents() {
					in.AllocatedBytes += e.Length
				}
				in.AzureProblem = diskfmt.AzureReadyProblem(d.Format(), d.VirtualSize())
				in.AzureReady = in.AzureProblem == ""
			}
			if perr := g.print(cmd, in, func(w io.Writer) {
				row(w, "File:", in.File)
				if in.Problem != "" {
					row(w, "Problem:", in.Problem)
					return
				}
				row(w, "Format:", in.Format)
				row(w, "Virtual size:", fmt.Sprintf("%s (%d bytes)", hangar.FormatBytes(in.VirtualSize), in.VirtualSize))
				row(w, "Allocated:", hangar.FormatBytes(in.AllocatedBytes))
				row(w, "File size:", hangar.FormatBytes(in.FileSize))
				if in.AzureReady {
					row(w, "Azure-ready:", "yes")
				} else {
					row(w, "Azure-ready:", "no: "+in.AzureProblem)
				}
			}); perr != nil {
				return perr
			}
			if in.Problem != "" {
				return fmt.Errorf("%s cannot be used as a disk: %s", args[0], in.Problem)
			}
			return nil
		},
	}
	cmd.Flags().Int64Var(&maxSize, "max-virtual-size", 4<<40, "refuse virtual sizes above this many bytes")
	return cmd
}

type convertFlags struct {
	format      string
	resizeToMiB int64
	noProgress  bool
	sync        bool
}

var writers = map[string]func(io.Writer, diskfmt.Disk, diskfmt.WriteOptions) (int64, error){
	"raw":         diskfmt.WriteRaw,
	"vhd":         diskfmt.WriteFixedVHD,
	"vhd-dynamic": diskfmt.WriteDynamicVHD,
	"vhdx":        diskfmt.WriteVHDX,
	"qcow2":       diskfmt.WriteQCOW2,
	"vmdk": func(w io.Writer, d diskfmt.Disk, opt diskfmt.WriteOptions) (int64, error) {
		return diskfmt.WriteStreamVMDK(w, d, diskfmt.VMDKOptions{WriteOptions: opt})
	},
	"ova": func(w io.Writer, d diskfmt.Disk, opt diskfmt.WriteOptions) (int64, error) {
		return diskfmt.WriteOVA(w, d, diskfmt.OVAOptions{WriteOptions: opt})
	},
}

// formatHelp says what --format takes.
const formatHelp = "raw, vhd (fixed, Azure-ready), vhd-dynamic, vhdx, qcow2, vmdk (streamOptimized) or ova (OVF and vmdk)"

// formatExt is the file name extension of each format.
var formatExt = map[string]string{"raw": ".raw", "vhd": ".vhd", "vhd-dynamic": ".vhd", "vhdx": ".vhdx", "qcow2": ".qcow2", "vmdk": ".vmdk", "ova": ".ova"}

func newDiskConvertCmd(g *globals) *cobra.Command {
	f := &convertFlags{}
	cmd := &cobra.Command{
		Use:   "convert IN OUT",
		Short: "Convert a local disk file to raw, vhd, vhd-dynamic, vhdx, qcow2, vmdk or ova (no server needed)",
		Long: `Convert a local disk file. The input format is detected from the content and the
input is read as untrusted (no backing files, no paths inside it are ever followed).
Only allocated extents are read; raw and fixed VHD outputs are sparse files. The
output appears only once complete: an interrupted convert leaves no partial OUT.
Like cp and qemu-img, the command leaves writing the output to disk to the kernel;
--sync waits until it is on disk (survives a power loss) before returning. A fixed
VHD keeps the exact virtual size: use --resize-to-mib to grow the disk to a whole
number of MiB, as Azure requires.`,
		Example: `  hangar disk convert disk.qcow2 disk.vhd --format vhd
  hangar disk convert disk.raw disk.vhd --format vhd --resize-to-mib 10240
  hangar disk convert disk.qcow2 disk.vhdx --format vhdx
  hangar disk convert disk.raw appliance.ova --format ova`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error { return convert(cmd, g, f, args[0], args[1]) },
	}
	enumVar(cmd.Flags(), &f.format, "format", "vhd", diskFormats, formatHelp)
	cmd.Flags().Int64Var(&f.resizeToMiB, "resize-to-mib", 0, "new virtual size in MiB (grow only over allocated data)")
	cmd.Flags().BoolVar(&f.noProgress, "no-progress", false, "do not show a progress bar")
	cmd.Flags().BoolVar(&f.sync, "sync", false, "return only once the output is on disk (fsync)")
	return cmd
}

func convert(cmd *cobra.Command, g *globals, f *convertFlags, in, out string) error {
	write := writers[f.format] // the flag takes only their names
	src, d, err := openLocal(in, 1<<62)
	if err != nil {
		return err
	}
	defer src.Close()
	if f.resizeToMiB > 0 {
		if d, err = diskfmt.Resize(d, f.resizeToMiB<<20); err != nil {
			return err
		}
	}
	tmp, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	var total int64
	for _, e := range d.Extents() {
		total += e.Length
	}
	opt := diskfmt.WriteOptions{Sparse: f.format == "raw" || f.format == "vhd", Durable: f.sync}
	var bar *progressbar.ProgressBar
	if !f.noProgress && g.tableOutput() && term.IsTerminal(int(os.Stderr.Fd())) {
		bar = progressbar.DefaultBytes(total, "converting")
		opt.Progress = func(n int64) { bar.Add64(n) }
	}
	n, err := write(tmp, d, opt)
	if bar != nil {
		bar.Finish()
		fmt.Fprintln(os.Stderr)
	}
	if err != nil {
		return err
	}
	if f.sync {
		if err := tmp.Sync(); err != nil {
			return err
		}
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return err
	}
	if f.sync {
		if err := atomicfile.SyncDir(filepath.Dir(out)); err != nil {
			return err
		}
	}
	res := struct {
		File        string `json:"file"`
		Format      string `json:"format"`
		From        string `json:"from"`
		VirtualSize int64  `json:"virtualSize"`
		FileSize    int64  `json:"fileSize"`
		AzureReady  bool   `json:"azureReady"`
		Azure       string `json:"azureProblem,omitempty"`
	}{out, f.format, string(d.Format()), d.VirtualSize(), n, false, ""}
	if f.format == "vhd" {
		res.Azure = diskfmt.AzureReadyProblem(diskfmt.VHDFixed, d.VirtualSize())
		res.AzureReady = res.Azure == ""
	}
	return g.print(cmd, res, func(w io.Writer) {
		fmt.Fprintf(w, "Wrote %s (%s, %s virtual) from a %s file.\n", out, f.format, hangar.FormatBytes(res.VirtualSize), res.From)
		if f.format == "vhd" && !res.AzureReady {
			fmt.Fprintf(w, "Note: Azure would refuse it: %s\n", res.Azure)
		}
	})
}
