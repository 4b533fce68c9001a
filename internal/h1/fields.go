package h1

import (
	"net/http"
	"net/url"
	"strings"

	"golang.org/x/net/http/httpguts"

	"github.com/mtlsgate/mtlsgate/internal/httpfield"
)

// parseContentLength parses 1*DIGIT (RFC 9110 §8.6). Leading zeros are
// allowed, as by net/http and the RFC grammar: the value is re-serialised
// from the number, never forwarded as received, so they cannot confuse a
// next hop. Signs, spaces inside, lists and overflow are rejected.
func parseContentLength(s string) (int64, bool) {
	if s == "" {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return 0, false
		}
	}
	s = strings.TrimLeft(s, "0")
	if len(s) > 19 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		d := int64(s[i] - '0')
		if n > (1<<63-1-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}

// classifyTE explains why a Transfer-Encoding other than a lone "chunked"
// is refused: 501 for a well-formed list whose final coding is chunked
// (another coding we do not implement), 400 for anything else.
func classifyTE(last string, lines int) *httpError {
	if lines != 1 {
		return errBadTE
	}
	elems := strings.Split(last, ",")
	chunked := 0
	for i, e := range elems {
		e = strings.Trim(e, " \t")
		if e == "" || !httpfield.IsToken(e) {
			return errBadTE
		}
		if asciiEqualFold(e, "chunked") {
			chunked++
			if i != len(elems)-1 {
				return errBadTE
			}
		}
	}
	if chunked != 1 {
		return errBadTE
	}
	return errUnsupportedTE
}

// declaredTrailers builds the request's Trailer map from Trailer header
// values, like net/http (declared keys with nil values); framing fields
// cannot be trailers.
func declaredTrailers(decl []string) (http.Header, *httpError) {
	tr := make(http.Header)
	for _, v := range decl {
		for _, e := range strings.Split(v, ",") {
			e = strings.Trim(e, " \t")
			if e == "" {
				continue
			}
			if !httpfield.IsToken(e) {
				return nil, errBadTrailerDecl
			}
			k := http.CanonicalHeaderKey(e)
			switch k {
			case "Transfer-Encoding", "Trailer", "Content-Length":
				return nil, errBadTrailerDecl
			}
			tr[k] = nil
		}
	}
	if len(tr) == 0 {
		return nil, nil
	}
	return tr, nil
}

// connectionTokens reports whether a Connection value lists close and
// keep-alive.
func connectionTokens(v string) (hasClose, hasKeepAlive bool) {
	for v != "" {
		var e string
		e, v, _ = strings.Cut(v, ",")
		e = strings.Trim(e, " \t")
		switch {
		case asciiEqualFold(e, "close"):
			hasClose = true
		case asciiEqualFold(e, "keep-alive"):
			hasKeepAlive = true
		}
	}
	return
}

// hasToken reports whether a comma-separated list contains tok (ASCII
// case-insensitive).
func hasToken(vv []string, tok string) bool {
	for _, v := range vv {
		for v != "" {
			var e string
			e, v, _ = strings.Cut(v, ",")
			if asciiEqualFold(strings.Trim(e, " \t"), tok) {
				return true
			}
		}
	}
	return false
}

func asciiEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// parseOriginForm fills u from an origin-form target ("/path?query") the
// way url.ParseRequestURI does. Paths that url.URL keeps byte for byte
// (the usual case) are sliced from target without allocating; anything
// else (percent-encoding, characters url.URL escapes) goes through
// url.ParseRequestURI itself.
func parseOriginForm(u *url.URL, target string) bool {
	p, q, hasQ := strings.Cut(target, "?")
	for i := 0; i < len(p); i++ {
		if !isPathRaw[p[i]] {
			v, err := url.ParseRequestURI(target)
			if err != nil {
				return false
			}
			*u = *v
			return true
		}
	}
	u.Path = p
	if hasQ {
		if q == "" {
			u.ForceQuery = true
		} else {
			u.RawQuery = q
		}
	}
	return true
}

// parseAbsoluteForm accepts http and https absolute-form targets with a
// non-empty host and no userinfo (RFC 9110 §4.2.4 asks recipients to treat
// userinfo as an error).
func parseAbsoluteForm(u *url.URL, target string) bool {
	scheme, rest, ok := strings.Cut(target, "://")
	if !ok || !(asciiEqualFold(scheme, "http") || asciiEqualFold(scheme, "https")) {
		return false
	}
	authority, _, _ := strings.Cut(rest, "/")
	authority, _, _ = strings.Cut(authority, "?")
	if authority == "" || strings.IndexByte(authority, '@') >= 0 {
		return false
	}
	v, err := url.ParseRequestURI(target)
	if err != nil || v.Host == "" || v.User != nil || v.Opaque != "" {
		return false
	}
	if !httpguts.ValidHostHeader(v.Host) {
		return false
	}
	*u = *v
	return true
}

// validAuthorityForm checks a CONNECT target: uri-host ":" port with a
// non-empty host and a decimal port (RFC 9112 §3.2.3; the port is
// required).
func validAuthorityForm(t string) bool {
	i := strings.LastIndexByte(t, ':')
	if i <= 0 || i == len(t)-1 || len(t)-i-1 > 5 {
		return false
	}
	port := 0
	for _, c := range []byte(t[i+1:]) {
		if !isDigit(c) {
			return false
		}
		port = port*10 + int(c-'0')
	}
	if port > 65535 {
		return false
	}
	host := t[:i]
	if host[0] == '[' {
		if host[len(host)-1] != ']' || len(host) < 3 {
			return false
		}
		for _, c := range []byte(host[1 : len(host)-1]) {
			if !(isHexDigit(c) || c == ':' || c == '.') {
				return false
			}
		}
		return true
	}
	for _, c := range []byte(host) {
		// reg-name / IPv4address: unreserved / sub-delims. Percent-encoding
		// is not accepted (url.URL refuses it for ASCII anyway).
		if !(isPathRaw[c] && c != '/' && c != ':' && c != '@' || strings.IndexByte("!'()*", c) >= 0) {
			return false
		}
	}
	return httpguts.ValidHostHeader(t)
}

func isHexDigit(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}
