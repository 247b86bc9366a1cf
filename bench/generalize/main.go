// Command generalize benchmarks offline generalization through the appliance
// against the debugfs path it replaced, on the same input in the same run: the
// specialized test guest grown to 4 GiB, generalized with `hangar disk generalize
// --local` by this tree's hangar (a throwaway appliance VM under TCG) and by the
// hangar of the last commit before the appliance (debugfs and e2fsck on the host),
// built from git. Target: at most 15 s through the appliance.
//
//	go run ./bench/generalize [-runs 3] [-accel tcg] [-baseline-rev eb85f55]
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/hangarvm/hangar/bench/internal/diskbench"
)

func main() {
	runs := flag.Int("runs", 3, "runs of each measurement")
	accel := flag.String("accel", "tcg", "the appliance's acceleration (tcg: what CI machines can do)")
	baseline := flag.String("baseline-rev", "eb85f55", "git revision of the debugfs-based generalize to compare with")
	prebuilt := diskbench.HangarFlag()
	flag.Parse()
	if err := run(*runs, *accel, *baseline, *prebuilt); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func run(runs int, accel, baselineRev, prebuilt string) error {
	for _, tool := range []string{"qemu-system-x86_64", "qemu-img", "debugfs", "e2fsck", "git"} {
		if err := diskbench.NeedTool(tool); err != nil {
			return err
		}
	}
	root, err := diskbench.Root()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "hangar-bench-generalize")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin, err := diskbench.Hangar(dir, prebuilt)
	if err != nil {
		return err
	}
	agent := filepath.Join(dir, "hangar-agent")
	steps := [][]string{
		{"go", "build", "-o", agent, "./cmd/hangar-agent"},
		{"images/appliance/build.sh", "--agent", agent, "--out", filepath.Join(dir, "appliance")},
		{"images/testimage/build.sh", "--agent", agent, "--specialized", "--out", filepath.Join(dir, "spec.raw")},
		{"git", "worktree", "add", "--detach", filepath.Join(dir, "baseline"), baselineRev},
	}
	for _, s := range steps {
		if err := runIn(root, s...); err != nil {
			return err
		}
	}
	defer runIn(root, "git", "worktree", "remove", "--force", filepath.Join(dir, "baseline"))
	old := filepath.Join(dir, "hangar-debugfs")
	if err := runIn(filepath.Join(dir, "baseline"), "go", "build", "-o", old, "./cmd/hangar"); err != nil {
		return err
	}
	input := filepath.Join(dir, "4g.raw")
	if _, err := diskbench.Run(nil, bin, "disk", "convert", filepath.Join(dir, "spec.raw"), input, "--format", "raw", "--resize-to-mib", "4096"); err != nil {
		return err
	}

	fmt.Printf("machine: %s; load %s\n", diskbench.Machine(dir), diskbench.LoadAvg())
	fmt.Printf("input: the specialized test guest grown to 4 GiB (raw, sparse); %d runs each\n", runs)
	measure := func(name string, args ...string) ([]time.Duration, error) {
		var ds []time.Duration
		for i := 0; i < runs; i++ {
			work := filepath.Join(dir, "work.raw")
			if err := runIn(dir, "cp", "--sparse=always", input, work); err != nil {
				return nil, err
			}
			d, err := diskbench.Time(func() error {
				_, err := diskbench.Run([]string{"HANGAR_APPLIANCE=" + filepath.Join(dir, "appliance")}, name,
					append([]string{"disk", "generalize", "--local", work, "--remove-user"}, args...)...)
				return err
			})
			if err != nil {
				return nil, err
			}
			ds = append(ds, d)
		}
		return ds, nil
	}
	ours, err := measure(bin, "--accel", accel)
	if err != nil {
		return err
	}
	anchor, err := measure(old)
	if err != nil {
		return err
	}
	fmt.Printf("appliance (%s): median %s (%s)\n", accel, diskbench.Sec(diskbench.Median(ours)), diskbench.Durations(ours))
	fmt.Printf("debugfs on the host (%s): median %s (%s)\n", baselineRev, diskbench.Sec(diskbench.Median(anchor)), diskbench.Durations(anchor))
	verdict := "met"
	if diskbench.Median(ours) > 15*time.Second {
		verdict = "MISSED"
	}
	fmt.Printf("appliance / debugfs: %.2fx; appliance at most 15 s: %s\n",
		diskbench.Median(ours).Seconds()/diskbench.Median(anchor).Seconds(), verdict)
	return nil
}

func runIn(dir string, args ...string) error {
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%v: %w\n%s", args, err, out)
	}
	return nil
}
