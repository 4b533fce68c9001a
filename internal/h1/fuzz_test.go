package h1

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http/httpguts"
)

// memConn is an in-memory net.Conn: reads come from r in pieces of at
// most chunk bytes, writes are collected. ServeConn runs on it without
// goroutines or sockets.
type memConn struct {
	r     *bytes.Reader
	w     bytes.Buffer
	chunk int
}

func (m *memConn) Read(p []byte) (int, error) {
	if m.chunk > 0 && len(p) > m.chunk {
		p = p[:m.chunk]
	}
	return m.r.Read(p)
}
func (m *memConn) Write(p []byte) (int, error)      { return m.w.Write(p) }
func (m *memConn) Close() error                     { return nil }
func (m *memConn) LocalAddr() net.Addr              { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 443} }
func (m *memConn) RemoteAddr() net.Addr             { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2), Port: 50000} }
func (m *memConn) SetDeadline(time.Time) error      { return nil }
func (m *memConn) SetReadDeadline(time.Time) error  { return nil }
func (m *memConn) SetWriteDeadline(time.Time) error { return nil }

// serveBytes serves data as one connection and returns what the handler
// saw (requests whose body could not be read have BodyErr set).
func serveBytes(data []byte, chunk int) ([]snapshot, []byte) {
	rec := &recorder{}
	srv := &Server{Handler: rec, DisconnectCheckDelay: -1, MaxHeaderBytes: 8 << 10, ErrorLog: discardLogger()}
	mc := &memConn{r: bytes.NewReader(data), chunk: chunk}
	srv.ServeConn(mc)
	return rec.all(), mc.w.Bytes()
}

func fuzzSeeds(f *testing.F) {
	for _, s := range validCorpus {
		f.Add([]byte(s), uint8(0))
	}
	for _, s := range []string{
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG",
		"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3;x=\"y\"\r\nabc\r\n0\r\nX-T: 1\r\n\r\nGET / HTTP/1.1\r\nHost: b\r\n\r\n",
		"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /2 HTTP/1.0\r\n\r\n",
		"\r\n\r\nGET http://a.example/x HTTP/1.1\r\nHost: b\r\n\r\n",
		"CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n",
	} {
		f.Add([]byte(s), uint8(3))
	}
}

// FuzzParseRequest checks, for any input: no panic; every request we
// accepted is parsed identically (method, target, header, body, framing)
// by net/http's http.ReadRequest at the same place in the stream, so the
// two can never disagree on where a request ends; and it survives a
// re-serialisation: written out again and served, it gives the same
// request.
func FuzzParseRequest(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte, chunk uint8) {
		snaps, _ := serveBytes(data, int(chunk%17))
		var ok []snapshot
		for _, s := range snaps {
			if s.BodyErr != "" {
				break
			}
			ok = append(ok, s)
		}
		if len(ok) == 0 {
			return
		}
		compareWithNetHTTP(t, data, ok)
		for _, s := range ok {
			raw := reserialise(s)
			again, _ := serveBytes(raw, 0)
			if len(again) != 1 || !reflect.DeepEqual(again[0], s) {
				t.Fatalf("re-serialised %q\nfrom %q\ngot  %+v\nwant %+v", raw, data, again, s)
			}
		}
	})
}

// compareWithNetHTTP parses data with http.ReadRequest and compares the
// first len(ours) requests.
func compareWithNetHTTP(t *testing.T, data []byte, ours []snapshot) {
	t.Helper()
	br := bufio.NewReader(bytes.NewReader(data))
	for i, s := range ours {
		for range maxLeadingEmptyLines {
			if b, _ := br.Peek(2); string(b) == "\r\n" {
				br.Discard(2)
			}
		}
		r, err := http.ReadRequest(br)
		if err != nil {
			t.Fatalf("request %d accepted by us, refused by net/http (%v): %q", i, err, data)
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Fatalf("request %d: body accepted by us, refused by net/http (%v): %q", i, err, data)
		}
		h := r.Header.Clone()
		delete(h, "Host")
		if len(h) == 0 {
			h = nil
		}
		tr := http.Header{}
		for k, v := range r.Trailer {
			if httpguts.ValidTrailerHeader(k) {
				tr[k] = v
			}
		}
		if len(tr) == 0 {
			tr = nil
		}
		theirs := map[string]any{
			"method": r.Method, "uri": r.RequestURI, "proto": r.Proto, "host": r.Host,
			"cl": r.ContentLength, "te": r.TransferEncoding, "body": string(body),
			"header": h, "trailer": tr, "url": r.URL.String(),
		}
		mine := map[string]any{
			"method": s.Method, "uri": s.RequestURI, "proto": s.Proto, "host": s.Host,
			"cl": s.ContentLength, "te": s.TransferEncoding, "body": s.Body,
			"header": s.Header, "trailer": s.Trailer, "url": s.URL,
		}
		if len(r.TransferEncoding) == 0 {
			theirs["te"] = []string(nil)
		}
		if !reflect.DeepEqual(mine, theirs) {
			t.Fatalf("request %d of %q differs:\nours:     %v\nnet/http: %v", i, data, mine, theirs)
		}
	}
}

// reserialise writes a request as a client would send it.
func reserialise(s snapshot) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s %s\r\n", s.Method, s.RequestURI, s.Proto)
	if s.Host != "" || s.ProtoMinor == 1 {
		fmt.Fprintf(&b, "Host: %s\r\n", s.Host)
	}
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range s.Header {
			if !yield(k) {
				return
			}
		}
	})
	for _, k := range keys {
		for _, v := range s.Header[k] {
			fmt.Fprintf(&b, "%s: %s\r\n", k, v)
		}
	}
	if len(s.TransferEncoding) > 0 {
		b.WriteString("Transfer-Encoding: chunked\r\n")
		if len(s.Trailer) > 0 {
			names := slices.Sorted(func(yield func(string) bool) {
				for k := range s.Trailer {
					if !yield(k) {
						return
					}
				}
			})
			fmt.Fprintf(&b, "Trailer: %s\r\n", strings.Join(names, ", "))
		}
		b.WriteString("\r\n")
		if s.Body != "" {
			fmt.Fprintf(&b, "%x\r\n%s\r\n", len(s.Body), s.Body)
		}
		b.WriteString("0\r\n")
		for k, vv := range s.Trailer {
			for _, v := range vv {
				fmt.Fprintf(&b, "%s: %s\r\n", k, v)
			}
		}
		b.WriteString("\r\n")
		return b.Bytes()
	}
	b.WriteString("\r\n")
	b.WriteString(s.Body)
	return b.Bytes()
}

// FuzzChunked feeds arbitrary bytes as a chunked body: no panic, and
// whatever we decode without error, net/http's chunked decoder decodes to
// the same bytes.
func FuzzChunked(f *testing.F) {
	for _, s := range []string{
		"0\r\n\r\n",
		"5\r\nhello\r\n0\r\n\r\n",
		"5;a=b\r\nhello\r\n6;c=\"d e\"\r\n world\r\n0\r\nX-T: 1\r\n\r\n",
		"0005\r\nhello\r\n0\r\n\r\n",
		"A\r\n0123456789\r\n0;z\r\n\r\n",
		"3\r\nabc\n0\r\n\r\n",
		"ffffffffffffffff\r\n",
	} {
		f.Add([]byte(s), uint8(0))
		f.Add([]byte(s), uint8(1))
	}
	const head = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
	f.Fuzz(func(t *testing.T, data []byte, chunk uint8) {
		snaps, _ := serveBytes(append([]byte(head), data...), int(chunk%9))
		if len(snaps) == 0 {
			t.Fatal("head refused")
		}
		s := snaps[0]
		if s.BodyErr != "" {
			return
		}
		ref, err := io.ReadAll(httputil.NewChunkedReader(bytes.NewReader(data)))
		if err != nil {
			t.Fatalf("we decoded %q, net/http failed (%v) on %q", s.Body, err, data)
		}
		if string(ref) != s.Body {
			t.Fatalf("we decoded %q, net/http %q from %q", s.Body, ref, data)
		}
	})
}

// FuzzResponseFields sets arbitrary header and trailer fields and status
// codes from a handler: the output must always parse as exactly the
// responses that were asked for (no response splitting, no broken
// framing).
func FuzzResponseFields(f *testing.F) {
	f.Add("X-Test", "value", "Trailer-Name", "t", 200, []byte("body"), false)
	f.Add("X", "a\r\nInjected: 1\r\n\r\nHTTP/1.1 200 OK", "Content-Length", "5", 204, []byte(""), true)
	f.Add("Content-Length", "1", "X", "\x00", 304, []byte("xx"), true)
	f.Add("Transfer-Encoding", "chunked", "Host", "h", 101, []byte("z"), false)
	f.Fuzz(func(t *testing.T, k, v, tk, tv string, code int, body []byte, flush bool) {
		code = 100 + (code%900+900)%900
		if code >= 100 && code < 200 {
			code = 200 // 1xx are covered by other tests; 101 ends the connection
		}
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/1" {
				io.WriteString(w, "second")
				return
			}
			w.Header()[k] = []string{v}
			w.Header().Set("Trailer", tk)
			w.WriteHeader(code)
			w.Write(body)
			if flush {
				w.(http.Flusher).Flush()
			}
			w.Header()[tk] = []string{tv}
			w.Header()[http.TrailerPrefix+k] = []string{v}
		})
		srv := &Server{Handler: h, DisconnectCheckDelay: -1, ErrorLog: discardLogger()}
		mc := &memConn{r: bytes.NewReader([]byte("GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n"))}
		srv.ServeConn(mc)
		br := bufio.NewReader(bytes.NewReader(mc.w.Bytes()))
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("first response unreadable (%v): %q", err, mc.w.Bytes())
		}
		if resp.StatusCode != code {
			t.Fatalf("status %d, want %d", resp.StatusCode, code)
		}
		if _, err := io.ReadAll(resp.Body); err != nil {
			// Only a handler that wrote less than its own Content-Length
			// gets here: the connection ends inside the body.
			if err != io.ErrUnexpectedEOF || !strings.EqualFold(k, "Content-Length") {
				t.Fatalf("first body (%v): %q", err, mc.w.Bytes())
			}
			return
		}
		if resp.Close {
			if rest, _ := io.ReadAll(br); len(rest) != 0 {
				t.Fatalf("bytes after a closing response: %q", rest)
			}
			return
		}
		resp, err = http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("second response unreadable (%v): %q", err, mc.w.Bytes())
		}
		if b, _ := io.ReadAll(resp.Body); string(b) != "second" {
			t.Fatalf("second body %q: %q", b, mc.w.Bytes())
		}
		if rest, _ := io.ReadAll(br); len(rest) != 0 {
			t.Fatalf("trailing bytes %q", rest)
		}
	})
}
