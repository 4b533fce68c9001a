package h2

import (
	"net"
	"net/http"
	"net/url"
	"strings"

	"golang.org/x/net/http/httpguts"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/mtlsgate/mtlsgate/internal/httpfield"
)

// headerBlock is the header block being received: a HEADERS frame and its
// CONTINUATION frames, decoded as they arrive (the decoder's emit function
// is onField). Only the connection goroutine uses it.
type headerBlock struct {
	c         *conn
	active    bool
	streamID  uint32
	endStream bool
	trailers  *stream  // the stream whose trailer section this is, or nil
	discard   bool     // decoded for the HPACK state only: a stream we reset
	body      *reqBody // its body
	conts     int      // CONTINUATION frames so far
	encoded   int      // encoded bytes so far

	size       int  // decoded size (RFC 7541 §4.1)
	nfields    int  // regular fields
	truncated  bool // beyond MaxHeaderBytes or maxHeaderFields: 431
	invalid    bool // malformed (RFC 9113 §8.2, §8.3): PROTOCOL_ERROR
	sawRegular bool

	method, scheme, path, authority string
	pseudo                          uint8 // pseudo-header fields seen (bits)
	fields                          []hpack.HeaderField
}

const (
	pMethod = 1 << iota
	pScheme
	pPath
	pAuthority
)

// reset prepares for a new header block.
func (hb *headerBlock) reset(id uint32, endStream bool, trailers *stream, body *reqBody) {
	clear(hb.fields)
	*hb = headerBlock{c: hb.c, active: true, streamID: id, endStream: endStream,
		trailers: trailers, body: body, fields: hb.fields[:0]}
}

// onField receives each decoded field; it validates as it goes and stops
// collecting at the size limit (decoding goes on to keep HPACK state).
func (hb *headerBlock) onField(f hpack.HeaderField) {
	if hb.invalid || hb.truncated || hb.discard {
		return
	}
	hb.size += int(f.Size())
	if hb.size > hb.c.maxHeaderBytes {
		hb.truncated = true
		hb.c.hdec.SetEmitEnabled(false)
		return
	}
	if strings.HasPrefix(f.Name, ":") {
		if hb.sawRegular || hb.trailers != nil {
			hb.invalid = true
			return
		}
		var bit uint8
		switch f.Name {
		case ":method":
			bit, hb.method = pMethod, f.Value
		case ":scheme":
			bit, hb.scheme = pScheme, f.Value
		case ":path":
			bit, hb.path = pPath, f.Value
		case ":authority":
			bit, hb.authority = pAuthority, f.Value
		default:
			// :protocol (extended CONNECT is not offered), :status and
			// unknown pseudo-header fields.
			hb.invalid = true
			return
		}
		if hb.pseudo&bit != 0 {
			hb.invalid = true
		}
		hb.pseudo |= bit
		return
	}
	hb.sawRegular = true
	if !validFieldName(f.Name) || !validFieldValue(f.Value) {
		hb.invalid = true
		return
	}
	switch f.Name {
	case "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade":
		hb.invalid = true // connection-specific (RFC 9113 §8.2.2)
		return
	case "te":
		if !asciiEqualFold(f.Value, "trailers") {
			hb.invalid = true
			return
		}
	}
	hb.nfields++
	if hb.nfields > maxHeaderFields {
		hb.truncated = true
		hb.c.hdec.SetEmitEnabled(false)
		return
	}
	hb.fields = append(hb.fields, f)
}

// validFieldName: a token without uppercase letters (RFC 9113 §8.2.1).
func validFieldName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		if b >= 'A' && b <= 'Z' || !httpguts.IsTokenRune(rune(b)) {
			return false
		}
	}
	return true
}

// validFieldValue: no CR, LF, NUL or other controls but HTAB, and no
// whitespace at either end (RFC 9113 §8.2.1).
func validFieldValue(s string) bool {
	if !httpguts.ValidHeaderFieldValue(s) {
		return false
	}
	if n := len(s); n > 0 && (s[0] == ' ' || s[0] == '\t' || s[n-1] == ' ' || s[n-1] == '\t') {
		return false
	}
	return true
}

func asciiEqualFold(s, t string) bool {
	if len(s) != len(t) {
		return false
	}
	for i := 0; i < len(s); i++ {
		a, b := s[i], t[i]
		if 'A' <= a && a <= 'Z' {
			a += 'a' - 'A'
		}
		if a != b {
			return false
		}
	}
	return true
}

// onHeaders starts a header block: a new stream's request head or an
// open stream's trailer section.
func (c *conn) onHeaders(f *http2.HeadersFrame) error {
	id := f.StreamID
	if id%2 == 0 {
		return connError{http2.ErrCodeProtocol, "even stream id"}
	}
	c.mu.Lock()
	st := c.streams[id]
	var remoteClosed, discard bool
	var body *reqBody
	switch {
	case st != nil:
		remoteClosed, body = st.remoteClosed, st.body
	case id > c.maxClientID:
		c.maxClientID = id
	case id != 0 && c.resetWhileOpenLocked(id):
		// Trailers the client sent before it saw our RST_STREAM: decoded
		// (the HPACK state is the connection's) and dropped.
		discard = true
	default:
		c.mu.Unlock()
		return connError{http2.ErrCodeProtocol, "stream id reused or lower than a previous one"}
	}
	c.mu.Unlock()
	if discard && c.useless.hit() {
		return errCalm
	}
	if st != nil && remoteClosed {
		// The client's side of the stream is closed: this HEADERS reuses
		// its id (RFC 9113 §5.1.1).
		return connError{http2.ErrCodeProtocol, "stream id reused"}
	}
	c.hb.reset(id, f.StreamEnded(), st, body)
	c.hb.discard = discard
	if f.HasPriority() && f.Priority.StreamDep == id {
		c.hb.invalid = true // a stream cannot depend on itself
	}
	return c.feedBlock(f.HeaderBlockFragment(), f.HeadersEnded())
}

// onContinuation continues a header block (the Framer checks that
// CONTINUATION frames follow their HEADERS without interruption).
func (c *conn) onContinuation(f *http2.ContinuationFrame) error {
	hb := &c.hb
	if !hb.active || f.StreamID != hb.streamID {
		return connError{http2.ErrCodeProtocol, "unexpected CONTINUATION"}
	}
	hb.conts++
	if hb.conts > c.maxContinuations() {
		return errCalm
	}
	return c.feedBlock(f.HeaderBlockFragment(), f.HeadersEnded())
}

// maxContinuations bounds the CONTINUATION frames of one header block:
// enough for MaxHeaderBytes in minimum-size frames, twice over.
func (c *conn) maxContinuations() int {
	return max(32, 2*c.maxHeaderBytes/minMaxFrameSize)
}

// feedBlock decodes a header block fragment; at the end of the block it
// acts on the request (or trailers).
func (c *conn) feedBlock(frag []byte, end bool) error {
	hb := &c.hb
	hb.encoded += len(frag)
	if hb.encoded > 2*c.maxHeaderBytes+minMaxFrameSize {
		// Far beyond the limit: the block is not worth decoding.
		return errCalm
	}
	if _, err := c.hdec.Write(frag); err != nil {
		return connError{http2.ErrCodeCompression, "HPACK"}
	}
	if !end {
		return nil
	}
	hb.active = false
	c.hdec.SetEmitEnabled(true)
	if err := c.hdec.Close(); err != nil {
		return connError{http2.ErrCodeCompression, "HPACK"}
	}
	if hb.discard {
		return nil
	}
	if hb.trailers != nil {
		return c.onTrailers(hb.trailers)
	}
	return c.newStream()
}

// onTrailers ends a request body with a trailer section.
func (c *conn) onTrailers(st *stream) error {
	hb := &c.hb
	if hb.invalid || hb.truncated || !hb.endStream || hb.body == nil {
		// Trailers must end the stream (RFC 9113 §8.1).
		c.resetStream(st, http2.ErrCodeProtocol, errMalformed)
		return nil
	}
	var tr http.Header
	for _, f := range hb.fields {
		k := c.canonical(f.Name)
		if !httpguts.ValidTrailerHeader(k) {
			continue
		}
		if tr == nil {
			tr = make(http.Header)
		}
		tr[k] = append(tr[k], f.Value)
	}
	clear(hb.fields)
	code, refund := hb.body.push(nil, 0, true, tr)
	c.refund(refund)
	if code != http2.ErrCodeNo {
		c.resetPushed(st, code)
		return nil
	}
	c.remoteClosed(st)
	return nil
}

// newStream acts on a complete request head: the stream is refused,
// answered without a handler (431, 417), reset as malformed, or started.
func (c *conn) newStream() error {
	hb := &c.hb
	id := hb.streamID
	defer clear(hb.fields)
	c.mu.Lock()
	if c.goAwaySent && id > c.goAwayID || c.closed {
		// After GOAWAY, streams above its last id are ignored: the client
		// retries them elsewhere. Their trailers are ignored too.
		if !hb.endStream {
			c.noteResetOpenLocked(id)
		}
		c.mu.Unlock()
		return nil
	}
	full := c.nActive >= c.maxStreams
	c.mu.Unlock()
	switch {
	case hb.invalid:
		return c.refuse(id, hb.endStream, http2.ErrCodeProtocol, &c.useless)
	case hb.truncated:
		// Answered without a handler, but each one cost a header-block
		// decode: counted like a refused stream.
		if c.useless.hit() {
			return errCalm
		}
		c.replyStatus(id, http.StatusRequestHeaderFieldsTooLarge, hb.endStream)
		return nil
	case full:
		return c.refuse(id, hb.endStream, http2.ErrCodeRefusedStream, &c.useless)
	}
	st := c.getStream()
	st.id = id
	if !c.buildRequest(st, hb) {
		c.putStream(st)
		return c.refuse(id, hb.endStream, http2.ErrCodeProtocol, &c.useless)
	}
	if st.expectFail {
		c.putStream(st)
		if c.useless.hit() {
			return errCalm
		}
		c.replyStatus(id, http.StatusExpectationFailed, hb.endStream)
		return nil
	}
	c.startStream(st, hb.endStream)
	return nil
}

// refuse resets a stream that was never started; too many of them is a
// flood. endStream tells whether the client's side was already closed.
func (c *conn) refuse(id uint32, endStream bool, code http2.ErrCode, fc *floodCounter) error {
	if fc.hit() {
		return errCalm
	}
	if !endStream {
		c.noteResetOpen(id)
	}
	c.writeRST(id, code)
	return nil
}

// buildRequest validates the head (RFC 9113 §8.3.1) and fills st's
// request; false when it is malformed.
func (c *conn) buildRequest(st *stream, hb *headerBlock) bool {
	isConnect := hb.method == http.MethodConnect
	if hb.pseudo&pMethod == 0 || !httpfield.IsToken(hb.method) {
		return false
	}
	if isConnect {
		// CONNECT: :method and :authority only, authority host:port.
		if hb.pseudo != pMethod|pAuthority {
			return false
		}
		h, p, err := net.SplitHostPort(hb.authority)
		if err != nil || h == "" || p == "" {
			return false
		}
	} else if hb.pseudo&(pScheme|pPath) != pScheme|pPath {
		return false
	}
	if hb.pseudo&pScheme != 0 && hb.scheme != "https" && hb.scheme != "http" {
		return false
	}
	host := hb.authority
	if hb.pseudo&pAuthority != 0 && (host == "" || strings.IndexByte(host, '@') >= 0) {
		return false
	}

	h := st.header
	st.vals = st.vals[:0]
	var cookies []string
	clen := int64(-1)
	var hostField string
	hosts := 0
	var trailerDecl []string
	for _, f := range hb.fields {
		switch f.Name {
		case "cookie":
			// Cookie crumbs are joined again (RFC 9113 §8.2.3).
			cookies = append(cookies, f.Value)
			continue
		case "host":
			hostField = f.Value
			hosts++
			continue
		case "content-length":
			if clen >= 0 {
				return false // a single field only
			}
			n, ok := parseContentLength(f.Value)
			if !ok {
				return false
			}
			clen = n
		case "trailer":
			trailerDecl = append(trailerDecl, f.Value)
			continue
		case "expect":
			if asciiEqualFold(f.Value, "100-continue") {
				st.expectCont = true
			} else {
				st.expectFail = true
			}
		}
		k := c.canonical(f.Name)
		if vv, ok := h[k]; ok {
			h[k] = append(vv, f.Value)
			continue
		}
		st.vals = append(st.vals, f.Value)
		n := len(st.vals)
		h[k] = st.vals[n-1 : n : n]
	}
	if len(cookies) > 0 {
		h["Cookie"] = []string{strings.Join(cookies, "; ")}
	}
	if hosts > 1 || hosts == 1 && !httpguts.ValidHostHeader(hostField) {
		return false
	}
	if host == "" {
		host = hostField
	} else if hosts == 1 && !strings.EqualFold(host, hostField) {
		return false // Host must agree with :authority (RFC 9113 §8.3.1)
	}
	if host != "" && !httpguts.ValidHostHeader(host) {
		return false
	}
	if hb.endStream && clen > 0 {
		return false // announces a body that cannot come
	}

	r := &st.reqTmpl
	u := &st.url
	*u = url.URL{}
	if isConnect {
		u.Host = host
		r.RequestURI = host
	} else {
		if !parsePath(u, hb.path, hb.method) {
			return false
		}
		r.RequestURI = hb.path
	}
	r.Method = hb.method
	r.URL = u
	r.Proto, r.ProtoMajor, r.ProtoMinor = "HTTP/2.0", 2, 0
	r.Header = h
	r.Host = host
	r.RemoteAddr = c.remoteAddr
	r.TLS = c.tlsState
	r.Trailer = nil
	if len(trailerDecl) > 0 {
		tr, ok := declaredTrailers(trailerDecl)
		if !ok {
			return false
		}
		r.Trailer = tr
	}
	switch {
	case hb.endStream:
		r.ContentLength = 0
		r.Body = http.NoBody
	default:
		r.ContentLength = clen
	}
	st.declared = clen
	return true
}

// parsePath sets u from a :path value: origin-form, or "*" for OPTIONS.
// Like h1, only visible ASCII without '#' is accepted.
func parsePath(u *url.URL, p, method string) bool {
	if p == "" {
		return false
	}
	if p == "*" {
		if method != http.MethodOptions {
			return false
		}
		u.Path = "*"
		return true
	}
	if p[0] != '/' {
		return false
	}
	escaped := false
	for i := 0; i < len(p); i++ {
		b := p[i]
		if b <= ' ' || b >= 0x7f || b == '#' {
			return false
		}
		if b == '%' {
			escaped = true
		}
	}
	if escaped {
		pu, err := url.ParseRequestURI(p)
		if err != nil {
			return false
		}
		*u = *pu
		return true
	}
	path, query, hasQuery := strings.Cut(p, "?")
	u.Path = path
	u.RawQuery = query
	u.ForceQuery = hasQuery && query == ""
	return true
}

// parseContentLength parses 1*DIGIT without overflow.
func parseContentLength(s string) (int64, bool) {
	if s == "" || len(s) > 18 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		b := s[i]
		if b < '0' || b > '9' {
			return 0, false
		}
		n = n*10 + int64(b-'0')
	}
	return n, true
}

// declaredTrailers parses Trailer field values into Request.Trailer's
// keys, like h1: names that may not be trailers make it malformed.
func declaredTrailers(decl []string) (http.Header, bool) {
	tr := make(http.Header)
	for _, v := range decl {
		for e := range strings.SplitSeq(v, ",") {
			e = strings.Trim(e, " \t")
			if e == "" {
				continue
			}
			if !httpfield.IsToken(e) {
				return nil, false
			}
			k := http.CanonicalHeaderKey(e)
			switch k {
			case "Transfer-Encoding", "Trailer", "Content-Length":
				return nil, false
			}
			tr[k] = nil
		}
	}
	if len(tr) == 0 {
		return nil, true
	}
	return tr, true
}
