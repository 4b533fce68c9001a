package h1

import (
	"bytes"
	"net/http"
	"net/url"
	"strings"

	"golang.org/x/net/http/httpguts"

	"github.com/mtlsgate/mtlsgate/internal/httpfield"
)

// Limits of the request head that are not configurable.
const (
	// maxRequestLine bounds the request line (method, target, version and
	// CRLF). A longer line is answered with 414 (or 400 when the method is
	// what is too long). It is further bounded by MaxHeaderBytes.
	maxRequestLine = 8 << 10
	// maxHeaderFields bounds the number of field lines in a header or
	// trailer section (431 beyond it), so a small MaxHeaderBytes-sized head
	// cannot turn into hundreds of thousands of map entries.
	maxHeaderFields = 512
	// maxLeadingEmptyLines is how many empty lines (CRLF) are ignored before
	// a request line (RFC 9112 §2.2 asks for at least one).
	maxLeadingEmptyLines = 4
	// defaultMaxHeaderBytes is used when Server.MaxHeaderBytes is 0 (the
	// same value as net/http's DefaultMaxHeaderBytes).
	defaultMaxHeaderBytes = 1 << 20
)

// httpError is a request that is answered with an error status and then
// the connection is closed.
type httpError struct {
	code int
	msg  string
}

func (e *httpError) Error() string { return e.msg }

var (
	errBareLF         = &httpError{400, "line not terminated by CRLF"}
	errTooManyEmpty   = &httpError{400, "too many empty lines before the request line"}
	errRequestLine    = &httpError{400, "malformed request line"}
	errMethod         = &httpError{400, "invalid method"}
	errTarget         = &httpError{400, "invalid request target"}
	errVersion        = &httpError{400, "malformed HTTP version"}
	errVersionSupport = &httpError{505, "unsupported HTTP version"}
	errURITooLong     = &httpError{414, "request target too long"}
	errHeaderTooLarge = &httpError{431, "request header section too large"}
	errTooManyFields  = &httpError{431, "too many header fields"}
	errObsFold        = &httpError{400, "obsolete line folding or whitespace before a field name"}
	errFieldName      = &httpError{400, "invalid header field name"}
	errFieldValue     = &httpError{400, "invalid header field value"}
	errNoHost         = &httpError{400, "missing required Host header"}
	errManyHosts      = &httpError{400, "too many Host headers"}
	errBadHost        = &httpError{400, "malformed Host header"}
	errBadCL          = &httpError{400, "invalid Content-Length"}
	errManyCL         = &httpError{400, "conflicting Content-Length headers"}
	errTEAndCL        = &httpError{400, "both Transfer-Encoding and Content-Length"}
	errTE10           = &httpError{400, "Transfer-Encoding in an HTTP/1.0 request"}
	errBadTE          = &httpError{400, "invalid Transfer-Encoding"}
	errUnsupportedTE  = &httpError{501, "unsupported transfer coding"}
	errBadTrailerDecl = &httpError{400, "invalid Trailer header"}
	errExpect         = &httpError{417, "unsupported expectation"}
)

// Character classes.
var (
	isVchar   [256]bool // field-value characters: VCHAR, obs-text, SP, HTAB
	isTarget  [256]bool // request-target characters we accept: VCHAR except '#'
	isPathRaw [256]bool // path bytes url.URL keeps as they are (no RawPath)
	isQdtext  [256]bool // quoted-string text (RFC 9110 §5.6.4)
)

func init() {
	for c := 0; c < 256; c++ {
		b := byte(c)
		alnum := 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9'
		isVchar[c] = b == ' ' || b == '\t' || (b > 0x20 && b < 0x7f) || b >= 0x80
		isTarget[c] = b > 0x20 && b < 0x7f && b != '#'
		isPathRaw[c] = alnum || strings.IndexByte("-_.~$&+,/:;=@", b) >= 0
		isQdtext[c] = b == '\t' || b == ' ' || b == 0x21 || (b >= 0x23 && b <= 0x5b) || (b >= 0x5d && b <= 0x7e) || b >= 0x80
	}
}

// fieldSpan locates one field line in a head: name [ns,ne), value [vs,ve).
type fieldSpan struct{ ns, ne, vs, ve int32 }

// headInfo is what the connection needs from a parsed head besides the
// request itself.
type headInfo struct {
	contentLength int64 // -1: chunked
	chunked       bool
	wantClose     bool // the client asked to close after this response
	keepAlive10   bool // HTTP/1.0 request with Connection: keep-alive
	expectCont    bool // Expect: 100-continue
}

const (
	proto10 = "HTTP/1.0"
	proto11 = "HTTP/1.1"
)

// parseHead parses one request head held completely in b: request line,
// field lines and the empty line, each ending in CRLF and with no other LF
// in it (readHead guarantees that). Field names are canonicalised in place,
// then b is converted into one string that every string of the request
// (method, target, header keys and values) is a substring of: that one
// conversion is the only allocation for a common request.
//
// st.req must hold the connection's template (context); parseHead sets
// Method, URL, Proto*, Header, Host, RequestURI, ContentLength,
// TransferEncoding, Close and Trailer. Body, RemoteAddr and TLS are left to
// the caller.
func parseHead(b []byte, st *reqState) (headInfo, *httpError) {
	var hi headInfo
	// Request line.
	eol := bytes.IndexByte(b, '\n') - 1 // index of its CR
	if eol < 0 {
		return hi, errRequestLine
	}
	line := b[:eol]
	m := 0
	for m < len(line) && httpfield.TokenByte(line[m]) {
		m++
	}
	switch {
	case m == 0:
		return hi, errMethod
	case m == len(line):
		return hi, errRequestLine
	case line[m] != ' ':
		return hi, errMethod
	}
	t0 := m + 1
	t := t0
	for t < len(line) && isTarget[line[t]] {
		t++
	}
	if t == t0 {
		return hi, errTarget
	}
	if t == len(line) {
		return hi, errRequestLine
	}
	if line[t] != ' ' {
		return hi, errTarget
	}
	v := line[t+1:]
	if len(v) != 8 || string(v[:5]) != "HTTP/" || v[6] != '.' || !isDigit(v[5]) || !isDigit(v[7]) {
		return hi, errVersion
	}
	if v[5] != '1' || v[7] > '1' {
		return hi, errVersionSupport
	}
	minor := int(v[7] - '0')

	// Field lines: validate, canonicalise names in place, remember spans.
	spans := st.spans[:0]
	pos := eol + 2
	for {
		nl := pos + bytes.IndexByte(b[pos:], '\n')
		if nl < pos {
			return hi, errRequestLine // cannot happen with readHead's input
		}
		ln := b[pos : nl-1]
		if len(ln) == 0 {
			pos = nl + 1
			break
		}
		fs, err := scanField(ln)
		if err != nil {
			return hi, err
		}
		if len(spans) == maxHeaderFields {
			return hi, errTooManyFields
		}
		p := int32(pos)
		spans = append(spans, fieldSpan{fs.ns + p, fs.ne + p, fs.vs + p, fs.ve + p})
		pos = nl + 1
	}
	st.spans = spans

	s := string(b[:pos])
	r := &st.req
	r.Method = s[:m]
	target := s[t0:t]
	r.RequestURI = target
	r.ProtoMajor, r.ProtoMinor = 1, minor
	if minor == 1 {
		r.Proto = proto11
	} else {
		r.Proto = proto10
	}

	h := st.header
	vals := st.vals[:0]
	var (
		hosts, cls, tes int
		host, cl, te    string
		hasClose, hasKA bool
		expects         int
		expect          string
	)
	for _, sp := range spans {
		name, value := s[sp.ns:sp.ne], s[sp.vs:sp.ve]
		switch name {
		case "Host":
			hosts++
			host = value
			continue // net/http removes Host from the header map too
		case "Content-Length":
			cls++
			if cls > 1 {
				if value != cl {
					return hi, errManyCL
				}
				continue // identical duplicates are collapsed into one
			}
			cl = value
		case "Transfer-Encoding":
			tes++
			te = value
			continue // framing is exposed through TransferEncoding only
		case "Connection":
			c, k := connectionTokens(value)
			hasClose = hasClose || c
			hasKA = hasKA || k
		case "Expect":
			expects++
			expect = value
		}
		if vv, ok := h[name]; ok {
			h[name] = append(vv, value)
			continue
		}
		vals = append(vals, value)
		h[name] = vals[len(vals)-1 : len(vals) : len(vals)]
	}
	st.vals = vals
	r.Header = h

	// Framing (RFC 9112 §6): strict, nothing ambiguous is accepted.
	hi.contentLength = 0
	if cls > 0 {
		n, ok := parseContentLength(cl)
		if !ok {
			return hi, errBadCL
		}
		hi.contentLength = n
	}
	if tes > 0 {
		switch {
		case cls > 0:
			return hi, errTEAndCL
		case minor == 0:
			return hi, errTE10
		case tes == 1 && asciiEqualFold(te, "chunked"):
			hi.chunked = true
			hi.contentLength = -1
		default:
			return hi, classifyTE(te, tes)
		}
	}
	r.ContentLength = hi.contentLength
	r.TransferEncoding = nil
	if hi.chunked {
		st.te[0] = "chunked"
		r.TransferEncoding = st.te[:]
	}

	// Trailer declarations (only meaningful for chunked bodies, like
	// net/http: otherwise the Trailer header stays in Header).
	r.Trailer = nil
	if hi.chunked {
		if decl, ok := h["Trailer"]; ok {
			delete(h, "Trailer")
			tr, err := declaredTrailers(decl)
			if err != nil {
				return hi, err
			}
			r.Trailer = tr
		}
	}

	// Host and target (RFC 9112 §3.2).
	if hosts > 1 {
		return hi, errManyHosts
	}
	if hosts == 0 && minor == 1 {
		return hi, errNoHost
	}
	if hosts == 1 && !httpguts.ValidHostHeader(host) {
		return hi, errBadHost
	}
	u := &st.url
	*u = url.URL{}
	switch {
	case target[0] == '/':
		if r.Method == http.MethodConnect {
			return hi, errTarget
		}
		if !parseOriginForm(u, target) {
			return hi, errTarget
		}
		r.Host = host
	case target == "*":
		if r.Method != http.MethodOptions {
			return hi, errTarget
		}
		u.Path = "*"
		r.Host = host
	case r.Method == http.MethodConnect:
		if !validAuthorityForm(target) {
			return hi, errTarget
		}
		u.Host = target
		r.Host = target
	default:
		if !parseAbsoluteForm(u, target) {
			return hi, errTarget
		}
		r.Host = u.Host // the Host header is ignored (RFC 9112 §3.2.2)
	}
	r.URL = u

	// Connection management (RFC 9112 §9.3).
	if minor == 1 {
		hi.wantClose = hasClose
	} else {
		hi.wantClose = hasClose || !hasKA
		hi.keepAlive10 = hasKA && !hasClose
	}
	r.Close = hi.wantClose

	// Expect (RFC 9110 §10.1.1): only a lone 100-continue is understood.
	if expects > 0 {
		if expects > 1 || !asciiEqualFold(expect, "100-continue") {
			return hi, errExpect
		}
		hi.expectCont = true
	}

	// Like net/http: HTTP/1.0 Pragma: no-cache implies Cache-Control.
	if p, ok := h["Pragma"]; ok && len(p) > 0 && p[0] == "no-cache" {
		if _, ok := h["Cache-Control"]; !ok {
			h["Cache-Control"] = []string{"no-cache"}
		}
	}
	return hi, nil
}

// scanField validates one field line (without CRLF), canonicalises its name
// in place and returns the spans of name and value (OWS trimmed), relative
// to ln.
func scanField(ln []byte) (fieldSpan, *httpError) {
	if ln[0] == ' ' || ln[0] == '\t' {
		return fieldSpan{}, errObsFold
	}
	// Validate the name and canonicalise it in one pass (like
	// canonicalise).
	k := 0
	upper := true
	for ; k < len(ln); k++ {
		c := ln[k]
		if !httpfield.TokenByte(c) {
			break
		}
		if upper && 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
			ln[k] = c
		} else if !upper && 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
			ln[k] = c
		}
		upper = c == '-'
	}
	if k == 0 || k == len(ln) || ln[k] != ':' {
		return fieldSpan{}, errFieldName
	}
	vs := k + 1
	for vs < len(ln) && (ln[vs] == ' ' || ln[vs] == '\t') {
		vs++
	}
	ve := len(ln)
	for ve > vs && (ln[ve-1] == ' ' || ln[ve-1] == '\t') {
		ve--
	}
	for _, c := range ln[vs:ve] {
		if !isVchar[c] {
			return fieldSpan{}, errFieldValue
		}
	}
	return fieldSpan{0, int32(k), int32(vs), int32(ve)}, nil
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
