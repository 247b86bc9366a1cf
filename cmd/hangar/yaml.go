package main

import (
	"encoding/json"
	"io"

	"go.yaml.in/yaml/v3"
)

// writeYAML prints v as YAML with the names and order of its JSON: v goes through
// JSON (whose field names the API documents) and is read back as a YAML node tree,
// which YAML, a superset of JSON, parses keeping key order and whole numbers.
func writeYAML(w io.Writer, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return err
	}
	plainStyle(&doc)
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return err
	}
	return enc.Close()
}

// plainStyle drops the JSON styles the parse kept ({...}, [...], "..."): the
// encoder then writes block YAML, quoting only strings that need it ("true", "1")
// and writing multi-line ones (a serial log) as literal blocks.
func plainStyle(n *yaml.Node) {
	n.Style = 0
	for _, c := range n.Content {
		plainStyle(c)
	}
}
