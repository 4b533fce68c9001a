package identity

// Escaping of certificate-derived strings before they become header values.
//
// Security: every string here comes from a certificate that a CA signed, but
// not every CA checks what it signs. A UTF8String common name may hold CR, LF
// or NUL, and an IA5String DNS or e-mail SAN may hold any ASCII control
// character or a comma. Copied raw into a header, CR/LF would split the
// request (or make net/http refuse to send it), and a comma inside one SAN
// would read as two SANs to an upstream that splits a list. So:
//
//   - distinguished names (Subject, Issuer) escape control bytes as RFC 4514
//     §2.4 hex pairs ("\0D"), which any RFC 4514 parser decodes back;
//   - SAN values and other single values percent-encode control bytes
//     ("%0D"), as RFC 3986 would;
//   - items of a comma-separated list additionally percent-encode ',' and
//     SP, so that no item can look like two.
//
// Ordinary names (DNS names, e-mail addresses, IP addresses, SPIFFE IDs,
// printable subjects) are never altered.

import "strings"

const upperHex = "0123456789ABCDEF"

// hex2 renders c as "0xHH" for error messages.
func hex2(c byte) string { return "0x" + string([]byte{upperHex[c>>4], upperHex[c&0xf]}) }

// isCTL reports an ASCII control byte, which is never allowed in a header
// value we emit. HTAB is allowed by RFC 9110 but trimmed as whitespace by
// parsers, so it is escaped too.
func isCTL(c byte) bool { return c < 0x20 || c == 0x7f }

// isListSpecial reports a byte that must be escaped inside one item of a
// comma-separated header list.
func isListSpecial(c byte) bool { return isCTL(c) || c == ',' || c == ' ' }

// isUnreserved reports an RFC 3986 unreserved byte.
func isUnreserved(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// escapeBytes replaces every byte of s for which esc is true by prefix and
// two upper-case hex digits. It returns s itself when nothing needs escaping.
func escapeBytes(s string, prefix byte, esc func(byte) bool) string {
	n := 0
	for i := 0; i < len(s); i++ {
		if esc(s[i]) {
			n++
		}
	}
	if n == 0 {
		return s
	}
	b := make([]byte, 0, len(s)+2*n)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if esc(c) {
			b = append(b, prefix, upperHex[c>>4], upperHex[c&0xf])
			continue
		}
		b = append(b, c)
	}
	return string(b)
}

// escapeDN makes an RFC 4514 string (as produced by pkix.Name.String, which
// escapes ',', '+', '"', '\\', '<', '>' and ';' but not control bytes) safe
// for a header value, by escaping control bytes as RFC 4514 hex pairs. A
// trailing space, which HTTP would trim, becomes the hex pair "\20".
func escapeDN(s string) string {
	s = escapeBytes(s, '\\', isCTL)
	if !strings.HasSuffix(s, " ") {
		return s
	}
	n := 0 // backslashes before the final space
	for i := len(s) - 2; i >= 0 && s[i] == '\\'; i-- {
		n++
	}
	if n%2 == 1 { // already escaped: "\ " becomes "\20"
		return s[:len(s)-1] + "20"
	}
	return s[:len(s)-1] + `\20`
}

// escapeValue percent-encodes control bytes of a single value.
func escapeValue(s string) string { return escapeBytes(s, '%', isCTL) }

// escapeListItem percent-encodes control bytes, ',' and SP of a list item.
func escapeListItem(s string) string { return escapeBytes(s, '%', isListSpecial) }

// urlEncode percent-encodes every byte but RFC 3986 unreserved ones, so the
// result survives both path and query (form) decoding: '+' becomes %2B and
// SP %20. Envoy encodes the XFCC Cert value the same way.
func urlEncode(s string) string {
	b := make([]byte, 0, len(s)*3/2)
	for i := 0; i < len(s); i++ {
		if c := s[i]; isUnreserved(c) {
			b = append(b, c)
		} else {
			b = append(b, '%', upperHex[c>>4], upperHex[c&0xf])
		}
	}
	return string(b)
}
