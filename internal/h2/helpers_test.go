package h2

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mtlsgate/mtlsgate/internal/testpki"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// testTLS returns mTLS configurations negotiating h2.
func testTLS(t testing.TB) (server, client *tls.Config) {
	ca := testpki.NewRootCA(t, "h2 test CA")
	srvLeaf := ca.Issue(t, testpki.Options{CN: "server", DNS: []string{"localhost"}})
	cliLeaf := ca.Issue(t, testpki.Options{CN: "client"})
	server = &tls.Config{
		Certificates: []tls.Certificate{srvLeaf.TLSCertificate()},
		ClientCAs:    ca.Pool(),
		ClientAuth:   tls.RequireAndVerifyClientCert,
		NextProtos:   []string{"h2"},
		MinVersion:   tls.VersionTLS13,
	}
	client = &tls.Config{
		Certificates: []tls.Certificate{cliLeaf.TLSCertificate()},
		RootCAs:      ca.Pool(),
		ServerName:   "localhost",
		NextProtos:   []string{"h2"},
	}
	return server, client
}

// testServer serves a Server on a loopback listener.
type testServer struct {
	t       testing.TB
	ln      net.Listener
	srv     *Server
	wg      sync.WaitGroup
	addr    string
	cliConf *tls.Config
}

// startServer serves srv on 127.0.0.1 over TLS (mTLS, ALPN h2), or
// plain TCP (prior knowledge) when plain is set.
func startServer(t testing.TB, srv *Server, plain bool) *testServer {
	t.Helper()
	if srv.ErrorLog == nil {
		srv.ErrorLog = log.New(io.Discard, "", 0)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{t: t, ln: ln, srv: srv, addr: ln.Addr().String()}
	var srvConf *tls.Config
	if !plain {
		srvConf, ts.cliConf = testTLS(t)
	}
	ts.wg.Add(1)
	go func() {
		defer ts.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			ts.wg.Add(1)
			go func() {
				defer ts.wg.Done()
				if srvConf != nil {
					tc := tls.Server(c, srvConf)
					if err := tc.Handshake(); err != nil {
						c.Close()
						return
					}
					c = tc
				}
				srv.ServeConn(c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		srv.Close()
		ts.wg.Wait()
	})
	return ts
}

// client returns an http.Client using x/net's HTTP/2 transport.
func (ts *testServer) client() *http.Client {
	tr := &http2.Transport{TLSClientConfig: ts.cliConf}
	ts.t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 20 * time.Second}
}

// stdClient returns net/http's client forced to HTTP/2.
func (ts *testServer) stdClient() *http.Client {
	tr := &http.Transport{TLSClientConfig: ts.cliConf.Clone(), ForceAttemptHTTP2: true}
	ts.t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 20 * time.Second}
}

func (ts *testServer) url(path string) string { return "https://" + ts.addr + path }

// rawConn is a client speaking frames to a Server.
type rawConn struct {
	t      testing.TB
	c      net.Conn
	fr     *http2.Framer
	enc    *hpack.Encoder
	hbuf   bytes.Buffer
	done   chan struct{}
	dec    *hpack.Decoder
	lastID uint32
}

var discardLog = log.New(io.Discard, "", 0)

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t testing.TB) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	return client, server
}

// newRaw starts ServeConn on one end of a loopback TCP connection (prior
// knowledge) and returns the other after the preface exchange (the server's SETTINGS and WINDOW_UPDATE
// read, ours sent and acknowledged). settings are sent in our SETTINGS.
func newRaw(t testing.TB, srv *Server, settings ...http2.Setting) *rawConn {
	t.Helper()
	if srv.ErrorLog == nil {
		srv.ErrorLog = log.New(io.Discard, "", 0)
	}
	cc, sc := tcpPair(t)
	rc := &rawConn{t: t, c: cc, done: make(chan struct{})}
	go func() {
		defer close(rc.done)
		srv.ServeConn(sc)
	}()
	t.Cleanup(func() {
		cc.Close()
		select {
		case <-rc.done:
		case <-time.After(10 * time.Second):
			t.Error("ServeConn did not return")
		}
	})
	cc.SetDeadline(time.Now().Add(10 * time.Second))
	rc.fr = http2.NewFramer(cc, cc)
	rc.fr.AllowIllegalWrites = true
	rc.dec = hpack.NewDecoder(4096, nil)
	rc.fr.ReadMetaHeaders = rc.dec
	rc.enc = hpack.NewEncoder(&rc.hbuf)
	errc := make(chan error, 1)
	go func() {
		if _, err := io.WriteString(cc, clientPreface); err != nil {
			errc <- err
			return
		}
		errc <- rc.fr.WriteSettings(settings...)
	}()
	f := rc.read()
	if sf, ok := f.(*http2.SettingsFrame); !ok || sf.IsAck() {
		t.Fatalf("first server frame %v", f)
	}
	if wu, ok := rc.read().(*http2.WindowUpdateFrame); !ok || wu.Increment != connWindow-initialWindow {
		t.Fatalf("want connection WINDOW_UPDATE")
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if sf, ok := rc.read().(*http2.SettingsFrame); !ok || !sf.IsAck() {
		t.Fatalf("want SETTINGS ack")
	}
	return rc
}

// read returns the next frame (failing the test on error).
func (rc *rawConn) read() http2.Frame {
	rc.t.Helper()
	f, err := rc.fr.ReadFrame()
	if err != nil {
		rc.t.Fatalf("read frame: %v", err)
	}
	return f
}

// readUntil reads frames until one satisfies match (skipping others);
// nil when the connection ended first.
func (rc *rawConn) readUntil(match func(http2.Frame) bool) http2.Frame {
	for {
		f, err := rc.fr.ReadFrame()
		if err != nil {
			return nil
		}
		if match(f) {
			return f
		}
	}
}

// expectGoAway reads until GOAWAY and checks its code.
func (rc *rawConn) expectGoAway(code http2.ErrCode) {
	rc.t.Helper()
	f := rc.readUntil(func(f http2.Frame) bool { _, ok := f.(*http2.GoAwayFrame); return ok })
	if f == nil {
		rc.t.Fatalf("connection ended without GOAWAY(%v)", code)
	}
	if ga := f.(*http2.GoAwayFrame); ga.ErrCode != code {
		rc.t.Fatalf("GOAWAY %v, want %v", ga.ErrCode, code)
	}
}

// expectRST reads until RST_STREAM for id and checks its code.
func (rc *rawConn) expectRST(id uint32, code http2.ErrCode) {
	rc.t.Helper()
	f := rc.readUntil(func(f http2.Frame) bool {
		if ga, ok := f.(*http2.GoAwayFrame); ok {
			rc.t.Fatalf("GOAWAY %v while waiting for RST_STREAM(%v)", ga.ErrCode, code)
		}
		r, ok := f.(*http2.RSTStreamFrame)
		return ok && r.StreamID == id
	})
	if f == nil {
		rc.t.Fatalf("connection ended without RST_STREAM(%v)", code)
	}
	if r := f.(*http2.RSTStreamFrame); r.ErrCode != code {
		rc.t.Fatalf("RST_STREAM %v, want %v", r.ErrCode, code)
	}
}

// block encodes fields (name, value pairs) into a header block.
func (rc *rawConn) block(kv ...string) []byte {
	rc.hbuf.Reset()
	for i := 0; i+1 < len(kv); i += 2 {
		rc.enc.WriteField(hpack.HeaderField{Name: kv[i], Value: kv[i+1]})
	}
	return append([]byte(nil), rc.hbuf.Bytes()...)
}

// headers sends a HEADERS frame (in a goroutine-free way: the server
// reads concurrently, net.Pipe writes block until read).
func (rc *rawConn) headers(id uint32, endStream bool, kv ...string) {
	rc.t.Helper()
	if err := rc.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: rc.block(kv...),
		EndStream: endStream, EndHeaders: true}); err != nil {
		rc.t.Fatal(err)
	}
}

// headersSplit sends a header block (with END_STREAM) in frames of at
// most 16 KiB.
func (rc *rawConn) headersSplit(id uint32, kv ...string) {
	rc.t.Helper()
	b := rc.block(kv...)
	first := true
	for len(b) > 0 {
		n := min(len(b), 16384)
		var err error
		if first {
			err = rc.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: b[:n], EndStream: true, EndHeaders: n == len(b)})
		} else {
			err = rc.fr.WriteContinuation(id, n == len(b), b[:n])
		}
		if err != nil {
			return // the server may hang up early
		}
		first = false
		b = b[n:]
	}
}

// get sends a valid GET with extra fields.
func (rc *rawConn) get(id uint32, extra ...string) {
	rc.t.Helper()
	kv := append([]string{":method", "GET", ":scheme", "https", ":path", "/", ":authority", "example.com"}, extra...)
	rc.headers(id, true, kv...)
}

// response reads the response to stream id: status and body (until
// END_STREAM).
func (rc *rawConn) response(id uint32) (status string, body string) {
	rc.t.Helper()
	var b strings.Builder
	for {
		f := rc.read()
		switch f := f.(type) {
		case *http2.MetaHeadersFrame:
			if f.StreamID != id {
				continue
			}
			if s := f.PseudoValue("status"); s != "" && s[0] != '1' {
				status = s
			}
			if f.StreamEnded() {
				return status, b.String()
			}
		case *http2.DataFrame:
			if f.StreamID != id {
				continue
			}
			b.Write(f.Data())
			if f.StreamEnded() {
				return status, b.String()
			}
		case *http2.RSTStreamFrame:
			if f.StreamID == id {
				rc.t.Fatalf("stream %d reset: %v", id, f.ErrCode)
			}
		case *http2.GoAwayFrame:
			rc.t.Fatalf("GOAWAY %v", f.ErrCode)
		}
	}
}

// write sends raw bytes.
func (rc *rawConn) write(p []byte) {
	rc.t.Helper()
	if _, err := rc.c.Write(p); err != nil {
		rc.t.Fatal(err)
	}
}

// waitDone waits for ServeConn to return.
func (rc *rawConn) waitDone() {
	rc.t.Helper()
	select {
	case <-rc.done:
	case <-time.After(10 * time.Second):
		rc.t.Fatal("ServeConn did not return")
	}
}

// checkGoroutines fails when goroutines started during the test are
// still running after it (a leak).
func checkGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for {
			n := runtime.NumGoroutine()
			if n <= before {
				return
			}
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				buf = buf[:runtime.Stack(buf, true)]
				t.Errorf("%d goroutines before, %d after:\n%s", before, n, buf)
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

// logSink collects ErrorLog output.
type logSink struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (l *logSink) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logSink) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func isClosedErr(err error) bool {
	return err != nil && (errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || errors.Is(err, io.ErrClosedPipe))
}

type (
	http2Frame       = http2.Frame
	http2MetaHeaders = http2.MetaHeadersFrame
)

const initialWindowSetting = http2.SettingInitialWindowSize

var errDeadline = os.ErrDeadlineExceeded

func http2Setting(id http2.SettingID, v uint32) http2.Setting { return http2.Setting{ID: id, Val: v} }

// fieldValue returns a field of a decoded header block ("" when absent).
func fieldValue(f *http2.MetaHeadersFrame, name string) string {
	for _, hf := range f.Fields {
		if hf.Name == name {
			return hf.Value
		}
	}
	return ""
}
