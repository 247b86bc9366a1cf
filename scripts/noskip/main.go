// Command noskip reads `go test -json` on stdin, prints what `go test` would (each
// package's result, and the output of tests that failed or skipped), and fails when
// any test failed or skipped. make test pipes every suite through it: on a machine
// where make test installed everything, a skipped test is a check that silently did
// not run, so it counts as a failure. -allow names the skips a run makes on purpose
// (the second end-to-end pass leaves out the VM suites that ran on the first).
//
// Written here because the well-known converters (gotestsum, go-junit-report) format
// the stream but do not fail a run on skips.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
)

// event is one line of `go test -json` (see `go doc test2json`).
type event struct {
	Action  string
	Package string
	Test    string
	Output  string
	Elapsed float64
}

func main() {
	allow := flag.String("allow", "", "a regular expression: a skipped test whose output matches it is not a failure")
	flag.Parse()
	var allowed *regexp.Regexp
	if *allow != "" {
		allowed = regexp.MustCompile(*allow)
	}
	r := check(os.Stdin, os.Stdout, allowed)
	if len(r.failed)+len(r.skipped) > 0 {
		for _, t := range r.failed {
			fmt.Printf("FAILED  %s\n", t)
		}
		for _, t := range r.skipped {
			fmt.Printf("SKIPPED %s (a skip is a failure here: install what it needs, scripts/deps.sh)\n", t)
		}
		os.Exit(1)
	}
	if r.tests == 0 {
		fmt.Println("noskip: no test ran")
		os.Exit(1)
	}
}

type result struct {
	tests           int
	failed, skipped []string // "package TestName"
}

func check(in io.Reader, out io.Writer, allowed *regexp.Regexp) result {
	var r result
	outputs := map[string]*strings.Builder{} // per test (and per package, Test "")
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil || e.Action == "" {
			fmt.Fprintln(out, sc.Text()) // not an event: the go command's own words
			continue
		}
		key := e.Package + " " + e.Test
		switch e.Action {
		case "output", "build-output":
			b := outputs[key]
			if b == nil {
				b = &strings.Builder{}
				outputs[key] = b
			}
			b.WriteString(e.Output)
		case "pass", "fail", "skip":
			text := ""
			if b := outputs[key]; b != nil {
				text = b.String()
			}
			delete(outputs, key)
			if e.Test == "" { // the package's own result line
				if e.Action == "fail" {
					fmt.Fprint(out, text)
					r.failed = append(r.failed, e.Package)
				} else {
					fmt.Fprint(out, lastLine(text))
				}
				continue
			}
			r.tests++
			switch {
			case e.Action == "fail":
				fmt.Fprint(out, text)
				r.failed = append(r.failed, key)
			case e.Action == "skip" && (allowed == nil || !allowed.MatchString(text)):
				fmt.Fprint(out, text)
				r.skipped = append(r.skipped, key)
			}
		case "build-fail":
			r.failed = append(r.failed, e.Package)
		}
	}
	if err := sc.Err(); err != nil {
		r.failed = append(r.failed, "reading go test -json: "+err.Error())
	}
	return r
}

// lastLine is a package's summary ("ok  pkg 1.2s").
func lastLine(s string) string {
	s = strings.TrimRight(s, "\n")
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	if s == "" {
		return ""
	}
	return s + "\n"
}
