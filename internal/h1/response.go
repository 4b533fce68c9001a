package h1

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/net/http/httpguts"

	"github.com/mtlsgate/mtlsgate/internal/httpfield"
)

// errResponseDone is returned by a ResponseWriter used after its handler
// returned.
var errResponseDone = errors.New("h1: ResponseWriter used after the handler returned")

// response is the http.ResponseWriter of the connection's current request
// (one per connection, reset per request).
//
// The head is rendered when the status is decided (WriteHeader, or the
// first Write): status line and the handler's fields, a snapshot like
// net/http takes. Body bytes written before the response is committed
// collect in pend (up to bufSize); committing (a Write that does not fit,
// Flush, or the handler's return) decides the framing, appends the
// generated fields (Date, Content-Length or Transfer-Encoding,
// Connection), and moves pend behind the head in wbuf. When the handler
// returns with its whole body in pend, the response gets a Content-Length
// and goes out in one write.
type response struct {
	c      *conn
	st     *reqState // nil when no request is being served
	req    *http.Request
	header http.Header

	status      int
	wroteHeader bool // status decided, head fields rendered into wbuf
	committed   bool // framing decided, head complete in wbuf
	handlerDone bool
	hijacked    bool

	clen        int64 // Content-Length of the body (-1 unknown)
	written     int64 // body bytes the handler wrote
	chunked     bool
	closeAfter  bool
	bodyAllowed bool
	isHEAD      bool
	proto11     bool
	keepAlive10 bool
	wantClose   bool
	fullDuplex  bool

	hasDate      bool // the handler set (or suppressed) Date
	handlerClose bool // the handler's Connection lists close
	isSwitch     bool // 101 with Upgrade
	hasTrailers  bool // trailers declared or TrailerPrefix fields present

	wbufp *[]byte // pooled backing of wbuf
	wbuf  []byte  // bytes for the wire
	pendp *[]byte
	pend  []byte // body written before commit
}

func (w *response) reset(st *reqState, req *http.Request, hi headInfo) {
	c := w.c
	*w = response{
		c: c, st: st, req: req, header: st.rheader,
		clen:        -1,
		isHEAD:      req.Method == http.MethodHead,
		proto11:     req.ProtoMinor == 1,
		keepAlive10: hi.keepAlive10,
		wantClose:   hi.wantClose,
	}
}

// Header returns the response header map.
func (w *response) Header() http.Header {
	if w.st == nil {
		return http.Header{}
	}
	return w.header
}

// WriteHeader sends (1xx) or records the status, like net/http: 1xx other
// than 101 go out at once with the current header fields (which stay in
// the map); a final status snapshots the header.
func (w *response) WriteHeader(code int) {
	if w.st == nil {
		return
	}
	if w.hijacked {
		w.c.s.logf("h1: response.WriteHeader on hijacked connection")
		return
	}
	if w.wroteHeader {
		w.c.s.logf("h1: superfluous response.WriteHeader call (status %d after %d)", code, w.status)
		return
	}
	if code < 100 || code > 999 {
		panic(fmt.Sprintf("invalid WriteHeader code %v", code))
	}
	if code < 200 && code != http.StatusSwitchingProtocols {
		w.writeInformational(code)
		return
	}
	w.wroteHeader = true
	w.status = code
	w.renderHead()
}

// writeInformational sends a 1xx response. HTTP/1.0 clients get none
// (RFC 9110 §15.2).
func (w *response) writeInformational(code int) {
	c := w.c
	if !w.proto11 || w.committed || c.werr != nil {
		return
	}
	c.contMu.Lock()
	defer c.contMu.Unlock()
	if code == http.StatusContinue {
		if !c.canContinue && c.expectPending {
			return // already sent
		}
		c.canContinue = false
	}
	bp := getBuf()
	b := appendStatusLine((*bp)[:0], true, code)
	b = w.appendFields(b, true)
	b = append(b, "\r\n"...)
	c.write(b)
	putBuf(bp)
}

// renderHead decides what the header fields mean for the response and
// renders the status line and the handler's fields into wbuf.
func (w *response) renderHead() {
	h := w.header
	st := w.st
	w.bodyAllowed = bodyAllowedForStatus(w.status)
	if w.bodyAllowed {
		if cl := h["Content-Length"]; len(cl) > 0 {
			if n, ok := parseContentLength(strings.Trim(cl[0], " \t")); ok {
				w.clen = n
			} else {
				w.c.s.logf("h1: invalid Content-Length %q ignored", cl[0])
			}
		}
	}
	_, w.hasDate = h["Date"]
	st.conn = append(st.conn[:0], h["Connection"]...)
	w.handlerClose = hasToken(st.conn, "close")
	w.isSwitch = w.status == http.StatusSwitchingProtocols && len(h["Upgrade"]) > 0 && hasToken(st.conn, "upgrade")
	st.trailers = st.trailers[:0]
	if decl, ok := h["Trailer"]; ok {
		w.hasTrailers = true
		st.trailers = httpfield.AppendTrailerNames(st.trailers, decl)
	}
	if !w.hasTrailers {
		w.hasTrailers = httpfield.HasTrailerPrefix(h)
	}
	b := w.getWbuf()
	b = appendStatusLine(b, w.proto11, w.status)
	b = w.appendFields(b, false)
	if len(st.trailers) > 0 {
		// Only the names that may be trailers are announced.
		b = append(b, "Trailer: "...)
		for i, k := range st.trailers {
			if i > 0 {
				b = append(b, ", "...)
			}
			b = append(b, k...)
		}
		b = append(b, "\r\n"...)
	}
	w.wbuf = b
}

// appendFields appends the handler's header fields in sorted order,
// leaving out what the server generates (framing, Connection, Trailer) and
// TrailerPrefix fields. Invalid names are dropped; control characters in
// values become spaces and surrounding whitespace is trimmed, so a field
// can never split the head.
func (w *response) appendFields(b []byte, informational bool) []byte {
	st := w.st
	keys := st.keys[:0]
	for k := range w.header {
		switch k {
		case "Content-Length", "Transfer-Encoding":
			continue
		case "Connection", "Trailer":
			if !informational {
				continue // generated by commit / renderHead
			}
		case "Content-Type":
			if w.status == http.StatusNotModified && !informational {
				continue
			}
		}
		if strings.HasPrefix(k, http.TrailerPrefix) || !httpfield.IsToken(k) {
			continue
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		for _, v := range w.header[k] {
			b = appendField(b, k, v)
		}
	}
	clear(keys)
	st.keys = keys[:0]
	return b
}

func appendField(b []byte, k, v string) []byte {
	b = append(b, k...)
	b = append(b, ": "...)
	v = strings.Trim(v, " \t\r\n")
	start := len(b)
	b = append(b, v...)
	for i := start; i < len(b); i++ {
		if c := b[i]; c < ' ' && c != '\t' || c == 0x7f {
			b[i] = ' '
		}
	}
	return append(b, "\r\n"...)
}

// Write writes body bytes (see response for buffering).
func (w *response) Write(p []byte) (int, error) {
	if w.st == nil {
		return 0, errResponseDone
	}
	if w.hijacked {
		return 0, http.ErrHijacked
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if len(p) == 0 {
		return 0, nil
	}
	if !w.bodyAllowed {
		return 0, http.ErrBodyNotAllowed
	}
	w.written += int64(len(p))
	if w.clen >= 0 && w.written > w.clen {
		return 0, http.ErrContentLength
	}
	if err := w.c.werr; err != nil {
		return 0, err
	}
	if !w.committed {
		if len(w.pend)+len(p) <= bufSize {
			if w.pend == nil {
				w.pendp = getBuf()
				w.pend = (*w.pendp)[:0]
			}
			w.pend = append(w.pend, p...)
			return len(p), nil
		}
		w.commit()
	}
	return w.writeBody(p)
}

// WriteString is Write without a conversion (io.StringWriter).
func (w *response) WriteString(s string) (int, error) {
	if w.st != nil && !w.hijacked && !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.st != nil && !w.hijacked && !w.committed && w.bodyAllowed && len(s) > 0 &&
		len(w.pend)+len(s) <= bufSize && (w.clen < 0 || w.written+int64(len(s)) <= w.clen) && w.c.werr == nil {
		if w.pend == nil {
			w.pendp = getBuf()
			w.pend = (*w.pendp)[:0]
		}
		w.written += int64(len(s))
		w.pend = append(w.pend, s...)
		return len(s), nil
	}
	return w.Write([]byte(s))
}

// commit decides persistence and framing and completes the head.
func (w *response) commit() {
	c := w.c
	w.committed = true
	hasCL := w.clen >= 0
	if !hasCL && w.handlerDone && !w.hasTrailers && w.bodyAllowed && (!w.isHEAD || len(w.pend) > 0) {
		w.clen = int64(len(w.pend))
		hasCL = true
	}

	// Persistence (RFC 9112 §9.3), as net/http decides it.
	keepAliveField := false
	if w.keepAlive10 && (w.isHEAD || hasCL || !w.bodyAllowed) {
		keepAliveField = len(w.st.conn) == 0
	} else if !w.proto11 || w.wantClose {
		w.closeAfter = true
	}
	if w.handlerClose || c.s.shuttingDown() || c.gone {
		w.closeAfter = true
	}
	c.disableContinue()
	if b := c.body; b != nil {
		if c.expectPending && !b.ended() {
			// The client may or may not send a body it was not asked
			// for: do not guess, close.
			w.closeAfter = true
		}
		// Read what is left of the body before answering (up to
		// maxDrain), like net/http, so a client that sends its whole
		// body before reading is not stuck; EnableFullDuplex skips this.
		// Like net/http, the body is then closed for the handler.
		if !w.closeAfter && !w.fullDuplex {
			if b.discard(maxDrain) {
				_ = b.Close()
			} else {
				w.closeAfter = true
			}
		}
	}

	// Framing (RFC 9112 §6.3).
	switch {
	case !w.bodyAllowed || w.isHEAD:
	case hasCL:
	case w.proto11:
		w.chunked = true
	default:
		w.closeAfter = true // HTTP/1.0: the body ends when the connection does
	}

	b := w.wbuf
	if !w.hasDate {
		b = appendDate(b)
	}
	if hasCL && w.bodyAllowed {
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, w.clen, 10)
		b = append(b, "\r\n"...)
	}
	if w.chunked {
		b = append(b, "Transfer-Encoding: chunked\r\n"...)
	}
	if w.closeAfter && !w.isSwitch {
		if w.proto11 {
			b = append(b, "Connection: close\r\n"...)
		}
	} else {
		for _, v := range w.st.conn {
			b = appendField(b, "Connection", v)
		}
		if keepAliveField {
			b = append(b, "Connection: keep-alive\r\n"...)
		}
	}
	b = append(b, "\r\n"...)
	w.wbuf = b
	if len(w.pend) > 0 {
		p := w.pend
		w.pend = nil
		_, _ = w.writeBody(p)
		putBuf(w.pendp)
		w.pendp = nil
	}
}

// writeBody frames p after the head was committed.
func (w *response) writeBody(p []byte) (int, error) {
	c := w.c
	if w.isHEAD || !w.bodyAllowed {
		return len(p), nil
	}
	if w.chunked {
		w.wbuf = appendChunkSize(w.wbuf, len(p))
		if len(w.wbuf)+len(p)+2 <= cap(w.wbuf) {
			w.wbuf = append(w.wbuf, p...)
			w.wbuf = append(w.wbuf, "\r\n"...)
		} else {
			w.flushBuf()
			c.write(p)
			w.wbuf = append(w.wbuf, "\r\n"...)
		}
	} else {
		switch {
		case len(w.wbuf)+len(p) <= cap(w.wbuf):
			w.wbuf = append(w.wbuf, p...)
		case len(p) >= cap(w.wbuf):
			w.flushBuf()
			c.write(p)
		default:
			w.flushBuf()
			w.wbuf = append(w.wbuf, p...)
		}
	}
	if c.werr != nil {
		return 0, c.werr
	}
	return len(p), nil
}

func (w *response) flushBuf() {
	w.c.write(w.wbuf)
	w.wbuf = w.wbuf[:0]
}

func appendChunkSize(b []byte, n int) []byte {
	b = strconv.AppendUint(b, uint64(n), 16)
	return append(b, "\r\n"...)
}

// finish completes the response after the handler returned.
func (w *response) finish() {
	w.handlerDone = true
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !w.committed {
		w.commit()
	}
	if w.chunked {
		w.wbuf = append(w.wbuf, "0\r\n"...)
		w.wbuf = w.appendTrailers(w.wbuf)
		w.wbuf = append(w.wbuf, "\r\n"...)
	}
	w.flushBuf()
	if w.bodyAllowed && !w.isHEAD && w.clen >= 0 && w.written != w.clen {
		w.closeAfter = true // the body is shorter than announced
	}
	if w.status == http.StatusSwitchingProtocols {
		w.closeAfter = true // switched, but not hijacked
	}
	w.releaseBufs()
}

// appendTrailers appends the trailer section: TrailerPrefix fields and
// the declared trailers' values. Fields that may not be trailers are
// dropped.
func (w *response) appendTrailers(b []byte) []byte {
	for k, vv := range w.header {
		name, ok := strings.CutPrefix(k, http.TrailerPrefix)
		if !ok || !httpfield.IsToken(name) || !httpguts.ValidTrailerHeader(name) {
			continue
		}
		name = http.CanonicalHeaderKey(name)
		for _, v := range vv {
			b = appendField(b, name, v)
		}
	}
	for _, k := range w.st.trailers {
		for _, v := range w.header[k] {
			b = appendField(b, k, v)
		}
	}
	return b
}

func (w *response) getWbuf() []byte {
	if w.wbuf == nil {
		w.wbufp = getBuf()
		w.wbuf = (*w.wbufp)[:0]
	}
	return w.wbuf
}

func (w *response) releaseBufs() {
	if w.wbufp != nil {
		putBuf(w.wbufp)
		w.wbufp = nil
	}
	w.wbuf = nil
	if w.pendp != nil {
		putBuf(w.pendp)
		w.pendp = nil
	}
	w.pend = nil
}
