package proxy

import (
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/mtlsgate/mtlsgate/internal/identity"
	"github.com/mtlsgate/mtlsgate/internal/problem"
)

// serveFast proxies a request whose body (if any) is already in memory
// without httputil.ReverseProxy: the
// upstream request is serialised straight from the incoming one into the
// pooled connection's buffer (no Request clone, no header map copy), and the
// response head is moved, not copied, into the client's header map. It
// applies the same rules as the ReverseProxy path: hop-by-hop headers and
// every client-sent identity or forwarding header are dropped, the trusted
// ones are added. It reports whether it handled the request; false means
// nothing was sent and the caller should use the general path.
func (h *routeHandler) serveFast(w http.ResponseWriter, r *http.Request, body []byte, stream bool) {
	ft := h.fast
	bp := requestBufs.Get().(*[]byte)
	head := h.appendRequestHead((*bp)[:0], r)
	if len(body) > 0 && len(head)+len(body) <= cap(head) {
		head = append(head, body...) // one write for small requests
		body = nil
	}
	var (
		resp    *http.Response
		err     error
		bodyErr error
	)
	for attempt := 0; ; attempt++ {
		var pc *fastConn
		var reused bool
		pc, reused, err = ft.get(r.Context())
		if err != nil {
			break
		}
		pc.watch(r.Context())
		_, _ = pc.bw.Write(head)
		if len(body) > 0 {
			_, _ = pc.bw.Write(body)
		}
		if stream {
			// The whole body goes out before the response is read, so the
			// client connection is never written to while its body is
			// still being read.
			cb := &clientBody{ReadCloser: r.Body}
			_, err = io.CopyN(pc.bw, cb, r.ContentLength)
			bodyErr = cb.failed() // the client's body failed
			if bodyErr == nil && cb.n.Load() < r.ContentLength {
				bodyErr = io.ErrUnexpectedEOF // the client sent less than announced
			}
			if bodyErr != nil || err != nil {
				pc.close() // a partial request must never be reused
				break
			}
		}
		resp, err = pc.flushAndRead(r, w)
		if err == nil {
			break
		}
		pc.close()
		if !reused {
			err = onNewConn(err, ft.tlsConfig != nil)
		}
		if r.Context().Err() != nil {
			err = r.Context().Err()
			break
		}
		// A streamed body is gone: only buffered or empty bodies are
		// replayed.
		if stream || !(reused && attempt == 0 && errors.Is(err, errClosedIdle) && replayable(r)) {
			break
		}
	}
	*bp = head
	requestBufs.Put(bp)
	if bodyErr != nil {
		problem.Write(w, clientBodyProblem(bodyErr, r.URL.Path))
		return
	}
	if err != nil {
		h.opts.OnError(w, r, Classify(h.opts.Upstream.Name, err))
		return
	}
	h.writeResponse(w, resp)
}

// clientBodyProblem is the answer when the client did not deliver its
// request body: 408 when a read timed out (the listener's
// body_stall_timeout or read_timeout), 400 when the body ended early or
// was malformed.
func clientBodyProblem(err error, path string) problem.Details {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return problem.Details{Status: http.StatusRequestTimeout, Reason: "request_body_timeout",
			Detail: "the client stopped sending its request body (the listener's body_stall_timeout or read_timeout passed)", Instance: path}
	}
	return problem.Details{Status: http.StatusBadRequest, Reason: "request_body_unreadable",
		Detail: "the request body ended before it was complete, or was malformed", Instance: path}
}

// clientBody counts what is read of a client's request body and records
// the first read error (a transport may read it on another goroutine), so
// that a failed proxy attempt is blamed on the client (a short or stalled
// body) instead of the upstream. Errors after Close (net/http closes the
// body when a round trip fails, and its writer may still read) are not
// the client's.
type clientBody struct {
	io.ReadCloser
	path   string // the request's path, for the problem's instance
	n      atomic.Int64
	err    atomic.Pointer[error]
	closed atomic.Bool
}

func (b *clientBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	if err != nil && err != io.EOF && !b.closed.Load() {
		b.err.CompareAndSwap(nil, &err)
	}
	return n, err
}

func (b *clientBody) Close() error {
	b.closed.Store(true)
	return b.ReadCloser.Close()
}

// failed returns the client's body error, if any.
func (b *clientBody) failed() error {
	if e := b.err.Load(); e != nil {
		return *e
	}
	return nil
}

var requestBufs = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// appendRequestHead writes the upstream request line and headers.
func (h *routeHandler) appendRequestHead(b []byte, r *http.Request) []byte {
	t := h.opts.Upstream.Target
	b = append(b, r.Method...)
	b = append(b, ' ')
	b = appendJoinedPath(b, t.EscapedPath(), r.URL.EscapedPath())
	if t.RawQuery != "" || r.URL.RawQuery != "" {
		b = append(b, '?')
		b = appendURIBytes(b, t.RawQuery)
		if t.RawQuery != "" && r.URL.RawQuery != "" {
			b = append(b, '&')
		}
		b = appendURIBytes(b, r.URL.RawQuery)
	}
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, t.Host...)
	b = append(b, "\r\n"...)
	if r.ContentLength > 0 || (r.ContentLength == 0 && methodWantsLength(r.Method)) {
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, max(r.ContentLength, 0), 10)
		b = append(b, "\r\n"...)
	}
	conn := r.Header["Connection"]
	for k, vv := range r.Header {
		if dropRequestHeader(k, conn) {
			continue
		}
		for _, v := range vv {
			b = append(b, k...)
			b = append(b, ": "...)
			b = append(b, v...)
			b = append(b, "\r\n"...)
		}
	}
	// TE: trailers is the one hop-by-hop value that must pass (gRPC).
	for _, v := range r.Header["Te"] {
		if strings.EqualFold(strings.TrimSpace(v), "trailers") {
			b = append(b, "Te: trailers\r\n"...)
			break
		}
	}
	b = appendForwarded(b, r)
	if h.opts.Format != identity.FormatNone && h.opts.IdentityOf != nil {
		if id, by := h.opts.IdentityOf(r); id != nil {
			b = id.AppendHeaders(b, h.opts.Format, by)
		}
	}
	return append(b, "\r\n"...)
}

// methodWantsLength reports whether an empty body must still be announced
// (RFC 9110 §8.6: a user agent SHOULD send Content-Length: 0 for POST/PUT/
// PATCH without a body; some servers answer 411 otherwise).
func methodWantsLength(m string) bool {
	return m == http.MethodPost || m == http.MethodPut || m == http.MethodPatch
}

// appendURIBytes appends s, percent-encoding bytes that may not appear raw
// in a request line (controls, space, DEL, non-ASCII), so no client input
// can change the shape of the upstream request.
func appendURIBytes(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f {
			b = append(b, '%', "0123456789ABCDEF"[c>>4], "0123456789ABCDEF"[c&15])
			continue
		}
		b = append(b, c)
	}
	return b
}

// appendJoinedPath joins the upstream base path and the request path with
// exactly one slash between them, as httputil.ProxyRequest.SetURL does.
func appendJoinedPath(b []byte, base, p string) []byte {
	if base == "" || base == "/" {
		if p == "" {
			return append(b, '/')
		}
		return appendURIBytes(b, p)
	}
	b = appendURIBytes(b, strings.TrimSuffix(base, "/"))
	if !strings.HasPrefix(p, "/") {
		b = append(b, '/')
	}
	return appendURIBytes(b, p)
}

// hopHeaders are removed from both directions (RFC 9110 §7.6.1).
var hopHeaders = []string{"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

// dropRequestHeader reports whether an incoming header must not reach the
// upstream: hop-by-hop headers (also those the client named in
// Connection), Host (rewritten), forwarding headers (set from the
// connection) and identity headers (set from the verified certificate).
func dropRequestHeader(k string, conn []string) bool {
	// Expect: the body is read (and 100 Continue sent by net/http) before
	// the upstream request goes out. Content-Length is written by
	// appendRequestHead from what was actually read.
	if k == "Host" || k == "Expect" || k == "Content-Length" || isForwardingHeader(k) || isFramingLookalike(k) {
		return true
	}
	for _, h := range hopHeaders {
		if k == h {
			return true
		}
	}
	return identity.IsProtectedHeader(k) || listedIn(conn, k)
}

// forwardingHeaders are set by the gateway from the connection.
var forwardingHeaders = []string{"forwarded", "x-forwarded-for", "x-forwarded-host", "x-forwarded-proto"}

// framingHeaders decide how a message is delimited or routed hop by hop;
// their '_' spellings are dropped too, in case an upstream folds them.
var framingHeaders = []string{"host", "content-length", "transfer-encoding", "connection", "proxy-connection",
	"keep-alive", "te", "trailer", "upgrade", "expect"}

// isForwardingHeader reports whether name is one of forwardingHeaders in
// any letter case and with '_' for '-': upstreams behind CGI, WSGI or PHP
// see X_Forwarded_For and X-Forwarded-For as the same variable, so a
// client must not be able to send either.
func isForwardingHeader(name string) bool { return foldedIn(name, forwardingHeaders) }

// isFramingLookalike reports whether name spells a framing header with '_'.
func isFramingLookalike(name string) bool {
	return strings.IndexByte(name, '_') >= 0 && foldedIn(name, framingHeaders)
}

// foldedIn reports whether name, lower-cased with '_' read as '-', is in
// list (lower case).
func foldedIn(name string, list []string) bool {
	for _, f := range list {
		if len(name) != len(f) {
			continue
		}
		eq := true
		for i := 0; i < len(name); i++ {
			c := name[i]
			switch {
			case c >= 'A' && c <= 'Z':
				c += 'a' - 'A'
			case c == '_':
				c = '-'
			}
			if c != f[i] {
				eq = false
				break
			}
		}
		if eq {
			return true
		}
	}
	return false
}

// listedIn reports whether name is one of the comma-separated tokens of
// the Connection header values (case-insensitive), without allocating.
func listedIn(values []string, name string) bool {
	for _, v := range values {
		for v != "" {
			var tok string
			if i := strings.IndexByte(v, ','); i >= 0 {
				tok, v = v[:i], v[i+1:]
			} else {
				tok, v = v, ""
			}
			if strings.EqualFold(strings.TrimSpace(tok), name) {
				return true
			}
		}
	}
	return false
}

// appendForwarded adds X-Forwarded-For/-Host/-Proto and Forwarded from the
// connection, never from what the client sent.
func appendForwarded(b []byte, r *http.Request) []byte {
	ip, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		ip = r.RemoteAddr
	}
	proto := "http"
	if r.TLS != nil {
		proto = "https"
	}
	b = append(b, "X-Forwarded-For: "...)
	b = append(b, ip...)
	b = append(b, "\r\nX-Forwarded-Host: "...)
	b = append(b, r.Host...)
	b = append(b, "\r\nX-Forwarded-Proto: "...)
	b = append(b, proto...)
	b = append(b, "\r\nForwarded: "...)
	b = appendForwardedValue(b, ip, r.Host, proto)
	return append(b, "\r\n"...)
}

// writeResponse sends the upstream response to the client.
func (h *routeHandler) writeResponse(w http.ResponseWriter, resp *http.Response) {
	defer resp.Body.Close()
	dst := w.Header()
	conn := resp.Header["Connection"]
	for k, vv := range resp.Header {
		if dropResponseHeader(k, conn) {
			continue
		}
		if old, ok := dst[k]; ok {
			dst[k] = append(old, vv...)
		} else {
			dst[k] = vv
		}
	}
	if len(resp.Trailer) > 0 {
		names := make([]string, 0, len(resp.Trailer))
		for k := range resp.Trailer {
			names = append(names, k)
		}
		dst["Trailer"] = []string{strings.Join(names, ", ")}
	}
	w.WriteHeader(resp.StatusCode)
	if resp.Body == http.NoBody {
		return
	}
	buf := sharedBuffers.Get()
	defer sharedBuffers.Put(buf)
	flush := resp.ContentLength < 0 // streamed: pass each chunk on at once
	var rc *http.ResponseController
	if flush {
		rc = http.NewResponseController(w)
	}
	for {
		n, rerr := resp.Body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return // client went away; fastBody.Close drops the connection
			}
			if flush {
				_ = rc.Flush()
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			// The upstream broke off mid-body: abort the client's response
			// so it cannot mistake a truncated body for a complete one.
			panic(http.ErrAbortHandler)
		}
	}
	for k, vv := range resp.Trailer {
		dst[http.TrailerPrefix+k] = vv
	}
}

func dropResponseHeader(k string, conn []string) bool {
	for _, h := range hopHeaders {
		if k == h {
			return true
		}
	}
	return listedIn(conn, k)
}
