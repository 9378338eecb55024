package host

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxText bounds the guest bytes kept of one error message, log line or
// stdout/stderr line; the rest is cut and counted.
const maxText = 1 << 10

// guestText makes guest-supplied bytes safe to print, log and put in
// headers: at most maxText bytes are kept (cut at a character boundary,
// then "… (N bytes truncated)" where total is the length the guest gave),
// control and other non-printing characters are escaped as in a Go string
// literal (\n, \x00, \x1b, \u202e), and so are bytes that are not UTF-8.
// Printable text, quotes and backslashes are kept as they are.
func guestText(b []byte, total int) string {
	cut := len(b)
	if cut > maxText {
		cut = maxText
		for cut > 0 && !utf8.RuneStart(b[cut]) {
			cut--
		}
	}
	var s strings.Builder
	s.Grow(cut + 16)
	for j := 0; j < cut; {
		r, size := utf8.DecodeRune(b[j:cut])
		switch {
		case r == utf8.RuneError && size <= 1:
			fmt.Fprintf(&s, `\x%02x`, b[j])
		case unicode.IsPrint(r):
			s.WriteString(string(b[j : j+size]))
		default:
			q := strconv.QuoteRune(r)
			s.WriteString(q[1 : len(q)-1])
		}
		j += size
	}
	if total > cut {
		fmt.Fprintf(&s, "… (%d bytes truncated)", total-cut)
	}
	return s.String()
}
