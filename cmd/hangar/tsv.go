package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
)

// writeTSV prints a JSON value as az's -o tsv does, for scripts: a scalar on its
// own line, a list one element per line, an object's values tab-separated (in key
// order, nested objects and lists left out, as az does), nothing for null.
func writeTSV(w io.Writer, v any) error {
	switch v := v.(type) {
	case []any:
		for _, e := range v {
			if err := writeTSV(w, e); err != nil {
				return err
			}
		}
		return nil
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		var cols []string
		for _, k := range keys {
			switch v[k].(type) {
			case map[string]any, []any:
			default:
				cols = append(cols, tsvScalar(v[k]))
			}
		}
		_, err := fmt.Fprintln(w, strings.Join(cols, "\t"))
		return err
	case nil:
		return nil
	}
	_, err := fmt.Fprintln(w, tsvScalar(v))
	return err
}

func tsvScalar(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case float64:
		return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%f", v), "0"), ".")
	}
	return fmt.Sprint(v)
}
