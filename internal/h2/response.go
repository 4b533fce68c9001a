package h2

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"golang.org/x/net/http/httpguts"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/mtlsgate/mtlsgate/internal/httpfield"
)

// errResponseDone is returned by a ResponseWriter used after its handler
// returned.
var errResponseDone = errors.New("h2: ResponseWriter used after the handler returned")

// pendSize bounds the body bytes a response buffers before sending: a
// handler that returns having written at most this much (without
// flushing) gets a content-length, and its HEADERS and DATA go out in one
// write.
const pendSize = 8 << 10

// responseWriter is a stream's http.ResponseWriter.
//
// The status and the handler's fields are snapshotted when the status is
// decided (WriteHeader, or the first Write), like net/http; later changes
// only matter for trailers. Body bytes collect in pend (up to pendSize)
// and are sent, after the HEADERS when they have not gone yet, when pend
// is full, at Flush, or when the handler returns.
type responseWriter struct {
	st     *stream // nil when no handler is running
	header http.Header

	status      int
	wroteHeader bool // status decided, fields snapshotted
	sentHeader  bool // HEADERS sent (handler goroutine's view)
	handlerDone bool
	isHEAD      bool
	bodyAllowed bool
	hasDate     bool
	hasTrailers bool
	clen        int64 // content-length (-1 unknown)
	written     int64 // body bytes the handler wrote
	err         error // sticky: the stream cannot be written anymore

	fields   []hpack.HeaderField // snapshot of the response fields
	trailers []string            // declared trailer names
	keys     []string            // sort scratch
	pendp    *[]byte
	pend     []byte
}

func (w *responseWriter) reset(st *stream) {
	*w = responseWriter{
		st: st, header: w.header, clen: -1,
		isHEAD: st.req.Method == http.MethodHead,
		fields: w.fields[:0], trailers: w.trailers[:0], keys: w.keys[:0],
	}
}

// clearForReuse drops references to the last response.
func (w *responseWriter) clearForReuse() {
	clear(w.fields)
	clear(w.trailers)
	clear(w.keys)
	w.st = nil
	w.err = nil
}

// Header returns the response header map.
func (w *responseWriter) Header() http.Header {
	if w.st == nil {
		return http.Header{}
	}
	return w.header
}

// WriteHeader sends (1xx) or records the status, like net/http: 1xx
// other than 101 go out at once with the current fields; a final status
// snapshots the fields. 101 does not exist in HTTP/2 and is refused.
func (w *responseWriter) WriteHeader(code int) {
	if w.st == nil {
		return
	}
	if w.wroteHeader {
		w.st.c.s.logf("h2: superfluous response.WriteHeader call (status %d after %d)", code, w.status)
		return
	}
	if code < 100 || code > 999 {
		panic(fmt.Sprintf("invalid WriteHeader code %v", code))
	}
	if code == http.StatusSwitchingProtocols {
		w.st.c.s.logf("h2: WriteHeader(101) refused: HTTP/2 has no protocol switch")
		return
	}
	if code < 200 {
		w.writeInformational(code)
		return
	}
	w.wroteHeader = true
	w.status = code
	w.snapshot()
}

// snapshot decides what the header fields mean for the response and
// takes the fields to send.
func (w *responseWriter) snapshot() {
	h := w.header
	w.bodyAllowed = bodyAllowedForStatus(w.status)
	w.clen, w.hasTrailers = -1, false
	if w.bodyAllowed {
		if cl := h["Content-Length"]; len(cl) > 0 {
			if n, ok := parseContentLength(strings.Trim(cl[0], " \t")); ok {
				w.clen = n
			} else {
				w.st.c.s.logf("h2: invalid Content-Length %q ignored", cl[0])
			}
		}
	}
	_, w.hasDate = h["Date"]
	w.trailers = w.trailers[:0]
	if decl, ok := h["Trailer"]; ok {
		w.hasTrailers = true
		w.trailers = httpfield.AppendTrailerNames(w.trailers, decl)
	}
	if !w.hasTrailers {
		w.hasTrailers = httpfield.HasTrailerPrefix(h)
	}
	w.fields = w.appendFields(w.fields[:0], false)
	if !w.hasDate {
		w.fields = append(w.fields, hpack.HeaderField{Name: "date", Value: dateString()})
	}
	if len(w.trailers) > 0 {
		w.fields = append(w.fields, hpack.HeaderField{Name: "trailer", Value: strings.Join(w.trailers, ", ")})
	}
}

// appendFields appends the handler's fields in sorted order, without
// what the server generates or HTTP/2 forbids (connection-specific
// fields), TrailerPrefix fields and invalid names; values are cleaned of
// control characters like h1 does.
func (w *responseWriter) appendFields(dst []hpack.HeaderField, informational bool) []hpack.HeaderField {
	keys := w.keys[:0]
	for k := range w.header {
		switch k {
		case "Content-Length", "Transfer-Encoding", "Connection", "Keep-Alive",
			"Proxy-Connection", "Upgrade":
			continue
		case "Trailer":
			if !informational {
				continue // rewritten by snapshot
			}
		case "Content-Type":
			if w.status == http.StatusNotModified && !informational {
				continue
			}
		}
		if strings.HasPrefix(k, http.TrailerPrefix) || !httpguts.ValidHeaderFieldName(k) {
			continue
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		name := lowerName(k)
		for _, v := range w.header[k] {
			dst = append(dst, hpack.HeaderField{Name: name, Value: cleanValue(v)})
		}
	}
	clear(keys)
	w.keys = keys[:0]
	return dst
}

// cleanValue trims a value and replaces control characters by spaces.
func cleanValue(v string) string {
	v = strings.Trim(v, " \t\r\n")
	if httpguts.ValidHeaderFieldValue(v) {
		return v
	}
	b := []byte(v)
	for i, c := range b {
		if c < ' ' && c != '\t' || c == 0x7f {
			b[i] = ' '
		}
	}
	return string(b)
}

func bodyAllowedForStatus(code int) bool {
	switch {
	case code >= 100 && code <= 199:
		return false
	case code == http.StatusNoContent, code == http.StatusNotModified:
		return false
	}
	return true
}

// writeInformational sends a 1xx response with the current fields.
func (w *responseWriter) writeInformational(code int) {
	st := w.st
	c := st.c
	if w.sentHeader || w.err != nil {
		return
	}
	saved := w.status
	w.status = code
	w.fields = w.appendFields(w.fields[:0], true)
	w.status = saved
	if err := c.wlockStream(st); err == nil && !st.hdrSent {
		if code == http.StatusContinue {
			st.contSent = true
		}
		c.encodeHeaders(code, w.fields, -1)
		c.writeBlock(st.id, false)
	}
	c.wunlock()
	clear(w.fields)
	w.fields = w.fields[:0]
}

// sendContinue sends "100 Continue" before the first body read, unless a
// response has started (called from Request.Body.Read).
func (st *stream) sendContinue() {
	c := st.c
	if err := c.wlockStream(st); err == nil && !st.hdrSent && !st.contSent {
		st.contSent = true
		c.encodeHeaders(http.StatusContinue, nil, -1)
		c.writeBlock(st.id, false)
	}
	c.wunlock()
}

// Write writes body bytes (see responseWriter for buffering).
func (w *responseWriter) Write(p []byte) (int, error) {
	if w.st == nil {
		return 0, errResponseDone
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
	if w.clen >= 0 && w.written+int64(len(p)) > w.clen {
		return 0, http.ErrContentLength
	}
	if w.err != nil {
		return 0, w.err
	}
	w.written += int64(len(p))
	if w.isHEAD && w.sentHeader {
		return len(p), nil
	}
	if len(w.pend)+len(p) <= pendSize {
		if w.pend == nil {
			w.pendp = getChunk()
			w.pend = (*w.pendp)[:0]
		}
		w.pend = append(w.pend, p...)
		return len(p), nil
	}
	if err := w.send(w.pend, false); err != nil {
		return 0, err
	}
	w.pend = w.pend[:0]
	if len(p) > pendSize {
		if err := w.send(p, false); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	if w.pend == nil {
		w.pendp = getChunk()
		w.pend = (*w.pendp)[:0]
	}
	w.pend = append(w.pend, p...)
	return len(p), nil
}

// WriteString is Write without a conversion (io.StringWriter).
func (w *responseWriter) WriteString(s string) (int, error) {
	if w.st != nil && !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.st != nil && w.wroteHeader && w.bodyAllowed && w.err == nil && len(s) > 0 &&
		len(w.pend)+len(s) <= pendSize && (w.clen < 0 || w.written+int64(len(s)) <= w.clen) {
		if w.pend == nil {
			w.pendp = getChunk()
			w.pend = (*w.pendp)[:0]
		}
		w.written += int64(len(s))
		w.pend = append(w.pend, s...)
		return len(s), nil
	}
	return w.Write([]byte(s))
}

// Flush sends what was written so far (http.Flusher).
func (w *responseWriter) Flush() { _ = w.FlushError() }

// FlushError is Flush with an error (http.ResponseController).
func (w *responseWriter) FlushError() error {
	if w.st == nil {
		return errResponseDone
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.err != nil {
		return w.err
	}
	if w.sentHeader && len(w.pend) == 0 {
		return nil
	}
	err := w.send(w.pend, false)
	w.pend = w.pend[:0]
	return err
}

// SetWriteDeadline replaces the stream's write deadline
// (http.ResponseController); see Server.WriteTimeout.
func (w *responseWriter) SetWriteDeadline(t time.Time) error {
	if w.st == nil {
		return errResponseDone
	}
	// Under mu: the handler may call this from another goroutine to
	// unblock a Write waiting for window (reserve reads it under mu).
	c := w.st.c
	c.mu.Lock()
	w.st.wdl = t
	c.flow.Broadcast()
	c.mu.Unlock()
	return nil
}

// SetReadDeadline replaces the request body's read deadline
// (http.ResponseController); see Server.ReadTimeout.
func (w *responseWriter) SetReadDeadline(t time.Time) error {
	if w.st == nil {
		return errResponseDone
	}
	if b := w.st.body; b != nil {
		b.setDeadline(t)
	}
	return nil
}

// EnableFullDuplex is accepted (http.ResponseController): HTTP/2 streams
// are always full duplex.
func (w *responseWriter) EnableFullDuplex() error {
	if w.st == nil {
		return errResponseDone
	}
	return nil
}

// send writes the HEADERS (when not sent yet), then data as DATA frames
// within the flow-control windows, and ends the stream when end is set
// (with the trailers when there are any). Each window's worth goes out in
// one locked section and one flush.
func (w *responseWriter) send(data []byte, end bool) error {
	st := w.st
	c := st.c
	if w.err != nil {
		return w.err
	}
	if w.isHEAD || !w.bodyAllowed {
		data = data[:0]
	}
	var trailers []hpack.HeaderField
	if end && w.hasTrailers {
		trailers = w.trailerFields()
	}
	for {
		n := 0
		if len(data) > 0 {
			var err error
			// HEADERS are not flow-controlled: without window they go
			// out alone first, so the client sees the response head.
			if n, err = st.reserve(len(data), w.sentHeader); err != nil {
				return w.fail(err)
			}
		}
		last := end && n == len(data)
		if err := c.wlockStream(st); err != nil {
			c.wunlock()
			st.unreserve(n)
			return w.fail(err)
		}
		if !w.sentHeader {
			w.sentHeader = true
			st.hdrSent = true
			clen := int64(-1)
			if w.bodyAllowed {
				clen = w.clen
			}
			c.encodeHeaders(w.status, w.fields, clen)
			c.writeBlock(st.id, last && n == 0 && trailers == nil)
		} else if n == 0 && last && trailers == nil {
			c.writeData(st.id, nil, true)
		}
		if n > 0 {
			c.writeData(st.id, data[:n], last && trailers == nil)
		}
		if last && trailers != nil {
			c.encodeTrailers(trailers)
			c.writeBlock(st.id, true)
		}
		if last {
			c.mu.Lock()
			st.localClosed = true
			c.mu.Unlock()
		}
		if err := c.wunlock(); err != nil {
			return w.fail(err)
		}
		data = data[n:]
		if len(data) == 0 {
			return nil
		}
	}
}

// fail records that the stream cannot be written: after a deadline the
// stream is reset with INTERNAL_ERROR.
func (w *responseWriter) fail(err error) error {
	if w.err == nil {
		w.err = err
	}
	if err != ErrStreamReset && err != ErrConnDone && err != ErrClientGone {
		w.st.c.resetStream(w.st, http2.ErrCodeInternal, err)
	}
	return w.err
}

// trailerFields collects the trailers to send: TrailerPrefix fields and
// the declared trailers' values, without fields that may not be
// trailers.
func (w *responseWriter) trailerFields() []hpack.HeaderField {
	var out []hpack.HeaderField
	for k, vv := range w.header {
		name, ok := strings.CutPrefix(k, http.TrailerPrefix)
		if !ok || !httpfield.IsToken(name) {
			continue
		}
		name = http.CanonicalHeaderKey(name)
		if !httpguts.ValidTrailerHeader(name) {
			continue
		}
		for _, v := range vv {
			out = append(out, hpack.HeaderField{Name: strings.ToLower(name), Value: cleanValue(v)})
		}
	}
	for _, k := range w.trailers {
		for _, v := range w.header[k] {
			out = append(out, hpack.HeaderField{Name: lowerName(k), Value: cleanValue(v)})
		}
	}
	return out
}

// finish completes the response after the handler returned normally.
func (w *responseWriter) finish() {
	w.handlerDone = true
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !w.hasTrailers {
		// TrailerPrefix fields are meant to be set after the body was
		// written, so after the snapshot.
		w.hasTrailers = httpfield.HasTrailerPrefix(w.header)
	}
	if !w.sentHeader && w.clen < 0 && w.bodyAllowed && !w.hasTrailers && (!w.isHEAD || len(w.pend) > 0) {
		w.clen = int64(len(w.pend)) // all of the body is here
	}
	if w.bodyAllowed && !w.isHEAD && w.clen >= 0 && w.written != w.clen {
		// Shorter than announced: the client must not take it for a
		// complete response.
		if w.send(w.pend, false) == nil {
			w.st.c.resetStream(w.st, http2.ErrCodeInternal, http.ErrContentLength)
		}
	} else {
		_ = w.send(w.pend, true)
	}
	w.release()
}

// abort ends the response of a handler that panicked: a 500 when nothing
// was sent yet (and internalError is set), RST_STREAM(INTERNAL_ERROR)
// otherwise.
func (w *responseWriter) abort(internalError bool) {
	w.handlerDone = true
	st := w.st
	if internalError && !w.sentHeader && w.err == nil {
		clear(w.header)
		w.header["Content-Length"] = []string{"0"}
		w.wroteHeader = false
		w.status = 0
		w.WriteHeader(http.StatusInternalServerError)
		w.pend = w.pend[:0]
		w.written = 0
		_ = w.send(nil, true)
	} else {
		st.c.resetStream(st, http2.ErrCodeInternal, http.ErrAbortHandler)
	}
	w.release()
}

func (w *responseWriter) release() {
	if w.pendp != nil {
		putChunk(w.pendp)
		w.pendp = nil
	}
	w.pend = nil
	w.st = nil
}
