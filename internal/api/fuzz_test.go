package api

import (
	"bytes"
	"testing"

	"github.com/hangarvm/hangar/internal/hangar"
)

// FuzzDecodeJSON feeds untrusted request bodies to the strict decoder: it never
// panics, and every refusal is an InvalidArgument error with a message.
func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{`{"name":"x","type":"os"}`, `{`, `{"typo":1}`, `{} {}`, `null`, `[]`, `{"dataDisks":[{"lun":-1}]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var req hangar.ImageCreate
		err := decodeJSON(bytes.NewReader(data), &req)
		if err != nil && (hangar.ErrorCode(err) != hangar.CodeInvalid || hangar.ErrorMessage(err) == "") {
			t.Fatalf("decodeJSON(%q): %v is not a clear InvalidArgument error", data, err)
		}
		if err == nil {
			req.Normalize() // must not panic on anything the decoder lets through
		}
	})
}
