package main

import (
	"encoding/json"
	"io"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"
)

// Each -o format of one answer, through the whole CLI: the documents hold the same
// data, none prints nothing, jsonc without a terminal is -o json.
func TestOutputFormats(t *testing.T) {
	const answer = `[{"name":"alice","role":"user","entitlements":["msdn"],"createdAt":"2024-01-02T03:04:05Z"},
		{"name":"bob","role":"publisher","createdAt":"2024-01-02T03:04:05Z"}]`
	srv := newFakeServer(t, 200, answer)
	out := func(args ...string) string {
		t.Helper()
		r := runCLI(t, newGlobals(), nil, srv.URL, append([]string{"tenant", "list"}, args...)...)
		if r.code != 0 {
			t.Fatalf("%v: exit %d: %s", args, r.code, r.stderr)
		}
		return r.stdout
	}
	jsonOut := out("-o", "json")
	var want any
	if err := json.Unmarshal([]byte(jsonOut), &want); err != nil || len(want.([]any)) != 2 {
		t.Fatalf("-o json printed %q (%v)", jsonOut, err)
	}
	if got := yamlToJSONDoc(t, out("-o", "yaml")); !reflect.DeepEqual(got, want) {
		t.Errorf("-o yaml reads back as %v, want %v", got, want)
	}
	for _, args := range [][]string{{"-o", "jsonc"}, {"-o", "JSON"}} {
		if got := out(args...); got != jsonOut {
			t.Errorf("%v printed %q, want -o json's %q", args, got, jsonOut)
		}
	}
	for _, args := range [][]string{{"-o", "none"}, {"-o", "none", "--query", "[].name"}} {
		if got := out(args...); got != "" {
			t.Errorf("%v printed %q", args, got)
		}
	}
	if got := out("-o", "yaml", "--query", "[].name"); got != "- alice\n- bob\n" {
		t.Errorf("-o yaml --query printed %q", got)
	}
	if got := out("-o", "table"); !strings.Contains(got, "NAME") || !strings.Contains(got, "alice") {
		t.Errorf("-o table printed %q", got)
	}
}

// YAML keeps what JSON says: whole numbers, strings that look like other types,
// multi-line text, empty lists, null.
func TestYAMLKeepsTypes(t *testing.T) {
	doc := map[string]any{"sizeBytes": 4194304, "half": 0.5, "version": "1.0", "ready": "true", "no": false,
		"log": "line 1\nline 2\n", "disks": []string{}, "host": nil, "nested": map[string]any{"a": []int{1, 2}}}
	var buf strings.Builder
	if err := writeYAML(&buf, doc); err != nil {
		t.Fatal(err)
	}
	want, _ := jsonDoc(doc)
	if got := yamlToJSONDoc(t, buf.String()); !reflect.DeepEqual(got, want) {
		t.Errorf("YAML\n%s\nreads back as %v, want %v", buf.String(), got, want)
	}
	for _, line := range []string{"sizeBytes: 4194304\n", "log: |\n"} {
		if !strings.Contains(buf.String(), line) {
			t.Errorf("YAML lacks %q:\n%s", line, buf.String())
		}
	}
}

// On a terminal -o jsonc colors -o json's text and changes nothing else.
func TestJSONCColorsOnATerminal(t *testing.T) {
	doc := map[string]any{"name": "web \"1\"", "sizeBytes": -1.5e3, "ready": true, "host": nil, "tags": []string{"a:b"}}
	f, err := os.Create(t.TempDir() + "/stdout")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	g := fakeTerminal()
	g.output = "jsonc"
	cmd := &cobra.Command{}
	cmd.SetOut(f)
	if err := g.print(cmd, doc, func(io.Writer) { t.Fatal("a table was printed") }); err != nil {
		t.Fatal(err)
	}
	colored, _ := os.ReadFile(f.Name())
	var plain strings.Builder
	writeJSON(&plain, doc)
	if !strings.Contains(string(colored), colorKey+`"name"`+colorReset) || !strings.Contains(string(colored), colorLiteral+"true"+colorReset) {
		t.Errorf("not colored: %q", colored)
	}
	if stripped := regexp.MustCompile("\x1b\\[[0-9;]*m").ReplaceAllString(string(colored), ""); stripped != plain.String() {
		t.Errorf("colored JSON without its colors is %q, want %q", stripped, plain.String())
	}
}

// yamlToJSONDoc reads YAML into the generic JSON document jsonDoc makes.
func yamlToJSONDoc(t *testing.T, text string) any {
	t.Helper()
	var v any
	if err := yaml.Unmarshal([]byte(text), &v); err != nil {
		t.Fatalf("bad YAML %v:\n%s", err, text)
	}
	doc, err := jsonDoc(v)
	if err != nil {
		t.Fatal(err)
	}
	return doc
}
