// Package httpfield holds the HTTP field rules that the gateway's HTTP/1.x
// server (internal/h1), HTTP/2 server (internal/h2) and upstream response
// reader (internal/proxy) share, so that each version reads and writes
// fields the same way.
package httpfield

import (
	"net/http"
	"slices"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// tchar marks the token characters of RFC 9110 §5.6.2.
var tchar = func() (t [256]bool) {
	for c := 0; c < 256; c++ {
		b := byte(c)
		t[c] = 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' ||
			strings.IndexByte("!#$%&'*+-.^_`|~", b) >= 0
	}
	return t
}()

// TokenByte reports whether b may appear in a token (a field name, a
// method, a transfer coding).
func TokenByte(b byte) bool { return tchar[b] }

// IsToken reports whether s is a non-empty token.
func IsToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !tchar[s[i]] {
			return false
		}
	}
	return true
}

// AppendTrailerNames appends to dst the field names that the values of a
// response's Trailer field declare: tokens, canonicalised, that may be
// sent as trailers (httpguts.ValidTrailerHeader), each once. Anything
// else in the list is skipped.
func AppendTrailerNames(dst []string, decl []string) []string {
	for _, v := range decl {
		for e := range strings.SplitSeq(v, ",") {
			e = strings.Trim(e, " \t")
			if !IsToken(e) {
				continue
			}
			k := http.CanonicalHeaderKey(e)
			if httpguts.ValidTrailerHeader(k) && !slices.Contains(dst, k) {
				dst = append(dst, k)
			}
		}
	}
	return dst
}

// HasTrailerPrefix reports whether h holds a field named with
// http.TrailerPrefix: a trailer the handler did not declare in advance.
func HasTrailerPrefix(h http.Header) bool {
	for k := range h {
		if strings.HasPrefix(k, http.TrailerPrefix) {
			return true
		}
	}
	return false
}
