package hangar

import (
	"strings"
	"unicode/utf8"
)

// Clip cuts s to at most n bytes of valid UTF-8, marking the cut: how a guest's or
// a client's words are bounded before they are kept or shown.
func Clip(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + "…"
}
