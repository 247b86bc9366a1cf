package main

import (
	"bytes"
	"io"
)

// ANSI colors of -o jsonc, near az's: keys, strings, numbers, true/false/null.
const (
	colorKey     = "\x1b[94m"
	colorString  = "\x1b[32m"
	colorNumber  = "\x1b[33m"
	colorLiteral = "\x1b[35m"
	colorReset   = "\x1b[0m"
)

// writeColorJSON prints v as -o json does, colored for a terminal.
func writeColorJSON(w io.Writer, v any) error {
	var buf bytes.Buffer
	if err := writeJSON(&buf, v); err != nil {
		return err
	}
	_, err := w.Write(colorJSON(buf.Bytes()))
	return err
}

// colorJSON colors JSON as encoding/json writes it, token by token; the text
// between tokens is kept as it is.
func colorJSON(data []byte) []byte {
	var b bytes.Buffer
	for i := 0; i < len(data); {
		start, color := i, ""
		switch c := data[i]; {
		case c == '"':
			i = stringEnd(data, i)
			color = colorString
			if rest := bytes.TrimLeft(data[i:], " \t\r\n"); len(rest) > 0 && rest[0] == ':' {
				color = colorKey
			}
		case c == '-' || c >= '0' && c <= '9':
			for i < len(data) && bytes.IndexByte([]byte("+-.eE0123456789"), data[i]) >= 0 {
				i++
			}
			color = colorNumber
		case c >= 'a' && c <= 'z': // true, false, null
			for i < len(data) && data[i] >= 'a' && data[i] <= 'z' {
				i++
			}
			color = colorLiteral
		default:
			b.WriteByte(c)
			i++
			continue
		}
		b.WriteString(color)
		b.Write(data[start:i])
		b.WriteString(colorReset)
	}
	return b.Bytes()
}

// stringEnd is the index just past the JSON string that starts at data[i].
func stringEnd(data []byte, i int) int {
	for i++; i < len(data); i++ {
		switch data[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(data)
}
