package h2

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// okHandler answers "ok" after reading the body.
var okHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	io.WriteString(w, "ok")
})

// blockHandler blocks until the request context ends.
var blockHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	<-r.Context().Done()
})

func TestBadPreface(t *testing.T) {
	checkGoroutines(t)
	srv := &Server{ErrorLog: discardLog}
	cc, sc := tcpPair(t)
	defer cc.Close()
	done := make(chan struct{})
	go func() { srv.ServeConn(sc); close(done) }()
	io.WriteString(cc, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	fr := http2.NewFramer(cc, cc)
	cc.SetDeadline(time.Now().Add(5 * time.Second))
	var code http2.ErrCode = 99
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			break
		}
		if ga, ok := f.(*http2.GoAwayFrame); ok {
			code = ga.ErrCode
		}
	}
	if code != http2.ErrCodeProtocol {
		t.Fatalf("GOAWAY code %v", code)
	}
	<-done
}

func TestFirstFrameNotSettings(t *testing.T) {
	checkGoroutines(t)
	srv := &Server{ErrorLog: discardLog}
	cc, sc := tcpPair(t)
	defer cc.Close()
	go srv.ServeConn(sc)
	io.WriteString(cc, clientPreface)
	fr := http2.NewFramer(cc, cc)
	fr.WritePing(false, [8]byte{})
	cc.SetDeadline(time.Now().Add(5 * time.Second))
	rc := &rawConn{t: t, c: cc, fr: fr}
	rc.expectGoAway(http2.ErrCodeProtocol)
}

func TestTLSWithoutH2Refused(t *testing.T) {
	srv := &Server{}
	ts := startServer(t, srv, false)
	conf := ts.cliConf.Clone()
	conf.NextProtos = []string{"http/1.1"}
	tr := &http.Transport{TLSClientConfig: conf}
	defer tr.CloseIdleConnections()
	if _, err := (&http.Client{Transport: tr}).Get(ts.url("/")); err == nil {
		t.Fatal("HTTP/1.1 over the h2 server worked")
	}
}

// TestConnectionErrors: frames that end the connection with GOAWAY(code).
func TestConnectionErrors(t *testing.T) {
	checkGoroutines(t)
	get := func(rc *rawConn, id uint32) { rc.get(id) }
	cases := []struct {
		name string
		code http2.ErrCode
		send func(rc *rawConn)
	}{
		{"even stream id", http2.ErrCodeProtocol, func(rc *rawConn) { get(rc, 2) }},
		{"lower stream id", http2.ErrCodeProtocol, func(rc *rawConn) { get(rc, 5); rc.response(5); get(rc, 3) }},
		{"reused stream id", http2.ErrCodeProtocol, func(rc *rawConn) { get(rc, 1); rc.response(1); get(rc, 1) }},
		{"DATA on idle stream", http2.ErrCodeProtocol, func(rc *rawConn) { rc.fr.WriteData(9, false, []byte("x")) }},
		{"DATA on stream 0", http2.ErrCodeProtocol, func(rc *rawConn) { rc.fr.WriteData(0, false, []byte("x")) }},
		{"RST on idle stream", http2.ErrCodeProtocol, func(rc *rawConn) { rc.fr.WriteRSTStream(7, http2.ErrCodeCancel) }},
		{"WINDOW_UPDATE on idle stream", http2.ErrCodeProtocol, func(rc *rawConn) { rc.fr.WriteWindowUpdate(7, 1) }},
		{"zero connection WINDOW_UPDATE", http2.ErrCodeProtocol, func(rc *rawConn) { rc.fr.WriteWindowUpdate(0, 0) }},
		{"connection window overflow", http2.ErrCodeFlowControl, func(rc *rawConn) { rc.fr.WriteWindowUpdate(0, 1<<31-1) }},
		{"PUSH_PROMISE", http2.ErrCodeProtocol, func(rc *rawConn) {
			get(rc, 1)
			rc.fr.WritePushPromise(http2.PushPromiseParam{StreamID: 1, PromiseID: 2, BlockFragment: rc.block(":method", "GET"), EndHeaders: true})
		}},
		{"CONTINUATION without HEADERS", http2.ErrCodeProtocol, func(rc *rawConn) { rc.fr.WriteContinuation(1, true, rc.block("a", "b")) }},
		{"interleaved header block", http2.ErrCodeProtocol, func(rc *rawConn) {
			rc.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: rc.block(":method", "GET"), EndStream: true})
			rc.fr.WritePing(false, [8]byte{})
		}},
		{"frame too large", http2.ErrCodeFrameSize, func(rc *rawConn) {
			rc.headers(1, false, ":method", "POST", ":scheme", "https", ":path", "/", ":authority", "a")
			rc.fr.WriteData(1, false, make([]byte, maxReadFrameSize+1))
		}},
		{"invalid ENABLE_PUSH", http2.ErrCodeProtocol, func(rc *rawConn) { rc.fr.WriteSettings(http2.Setting{ID: http2.SettingEnablePush, Val: 2}) }},
		{"initial window too large", http2.ErrCodeFlowControl, func(rc *rawConn) {
			rc.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 31})
		}},
		{"invalid max frame size", http2.ErrCodeProtocol, func(rc *rawConn) {
			rc.fr.WriteSettings(http2.Setting{ID: http2.SettingMaxFrameSize, Val: 100})
		}},
		{"HEADERS on half-closed stream", http2.ErrCodeProtocol, func(rc *rawConn) {
			rc.headers(1, true, ":method", "GET", ":scheme", "https", ":path", "/slow", ":authority", "a")
			rc.headers(1, true, "x", "y")
		}},
		{"HPACK garbage", http2.ErrCodeCompression, func(rc *rawConn) {
			rc.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, EndHeaders: true, EndStream: true})
		}},
		{"truncated HPACK block", http2.ErrCodeCompression, func(rc *rawConn) {
			b := rc.block(":method", "GET", "x-long", strings.Repeat("v", 100))
			rc.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: b[:len(b)-10], EndHeaders: true, EndStream: true})
		}},
		{"padding longer than DATA", http2.ErrCodeProtocol, func(rc *rawConn) {
			rc.headers(1, false, ":method", "POST", ":scheme", "https", ":path", "/", ":authority", "a")
			rc.write([]byte{0, 0, 2, byte(http2.FrameData), byte(http2.FlagDataPadded), 0, 0, 0, 1, 5, 'x'})
		}},
		{"connection window exceeded", http2.ErrCodeFlowControl, func(rc *rawConn) {
			// Five streams of 256 KiB exceed the 1 MiB connection window
			// (the handlers never read).
			chunk := make([]byte, 16384)
			for id := uint32(1); id <= 9; id += 2 {
				rc.headers(id, false, ":method", "POST", ":scheme", "https", ":path", "/slow", ":authority", "a")
				for range streamWindow / len(chunk) {
					rc.fr.WriteData(id, false, chunk)
				}
			}
			rc.fr.WriteData(11, false, chunk)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/slow" {
					<-r.Context().Done()
					return
				}
				io.WriteString(w, "ok")
			})}
			rc := newRaw(t, srv)
			tc.send(rc)
			rc.expectGoAway(tc.code)
			rc.c.Close() // ends the server's lingering read
			rc.waitDone()
		})
	}
}

// TestMalformedRequests: heads that are reset with PROTOCOL_ERROR
// without calling the handler; the connection goes on.
func TestMalformedRequests(t *testing.T) {
	checkGoroutines(t)
	base := []string{":method", "GET", ":scheme", "https", ":path", "/", ":authority", "a"}
	with := func(kv ...string) []string { return append(append([]string(nil), base...), kv...) }
	cases := []struct {
		name string
		kv   []string
	}{
		{"uppercase name", with("X-Foo", "1")},
		{"connection", with("connection", "close")},
		{"keep-alive", with("keep-alive", "1")},
		{"proxy-connection", with("proxy-connection", "1")},
		{"transfer-encoding", with("transfer-encoding", "chunked")},
		{"upgrade", with("upgrade", "h2c")},
		{"te gzip", with("te", "gzip")},
		{"NUL in value", with("x-a", "a\x00b")},
		{"LF in value", with("x-a", "a\nb")},
		{"leading space", with("x-a", " a")},
		{"invalid name", with("x a", "1")},
		{"empty name", with("", "1")},
		{"pseudo after regular", []string{":method", "GET", ":scheme", "https", "x-a", "1", ":path", "/"}},
		{"unknown pseudo", with(":foo", "1")},
		{":protocol", with(":protocol", "websocket")},
		{":status in request", with(":status", "200")},
		{"duplicate :method", []string{":method", "GET", ":method", "GET", ":scheme", "https", ":path", "/"}},
		{"missing :path", []string{":method", "GET", ":scheme", "https", ":authority", "a"}},
		{"missing :scheme", []string{":method", "GET", ":path", "/", ":authority", "a"}},
		{"missing :method", []string{":scheme", "https", ":path", "/", ":authority", "a"}},
		{"empty :path", []string{":method", "GET", ":scheme", "https", ":path", "", ":authority", "a"}},
		{"* with GET", []string{":method", "GET", ":scheme", "https", ":path", "*", ":authority", "a"}},
		{"absolute :path", []string{":method", "GET", ":scheme", "https", ":path", "https://a/", ":authority", "a"}},
		{"fragment in :path", []string{":method", "GET", ":scheme", "https", ":path", "/a#b", ":authority", "a"}},
		{"space in :path", []string{":method", "GET", ":scheme", "https", ":path", "/a b", ":authority", "a"}},
		{"bad escape", []string{":method", "GET", ":scheme", "https", ":path", "/%zz", ":authority", "a"}},
		{"bad method", []string{":method", "GE T", ":scheme", "https", ":path", "/", ":authority", "a"}},
		{"bad scheme", []string{":method", "GET", ":scheme", "ftp", ":path", "/", ":authority", "a"}},
		{"userinfo", []string{":method", "GET", ":scheme", "https", ":path", "/", ":authority", "u@a"}},
		{"host differs", with("host", "b")},
		{"two hosts", []string{":method", "GET", ":scheme", "https", ":path", "/", "host", "a", "host", "a"}},
		{"CONNECT with :path", []string{":method", "CONNECT", ":authority", "a:443", ":path", "/"}},
		{"CONNECT without port", []string{":method", "CONNECT", ":authority", "a"}},
		{"content-length list", with("content-length", "0, 0")},
		{"content-length sign", with("content-length", "+0")},
		{"two content-lengths", with("content-length", "0", "content-length", "0")},
		{"content-length with END_STREAM", with("content-length", "3")},
		{"bad trailer declaration", with("trailer", "content-length")},
	}
	var called int
	srv := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/ok" {
			called++
		}
		io.WriteString(w, "ok")
	})}
	rc := newRaw(t, srv)
	id := uint32(1)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rc.t = t
			rc.headers(id, true, tc.kv...)
			rc.expectRST(id, http2.ErrCodeProtocol)
			id += 2
			rc.headers(id, true, ":method", "GET", ":scheme", "https", ":path", "/ok", ":authority", "a")
			if st, body := rc.response(id); st != "200" || body != "ok" {
				t.Fatalf("connection broken: %s %q", st, body)
			}
			id += 2
		})
	}
	if called != 0 {
		t.Fatalf("handler called %d times", called)
	}
}

func TestValidEdgeRequests(t *testing.T) {
	got := make(chan string, 1)
	srv := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Method + " " + r.URL.String() + " " + r.Host + " " + r.RequestURI
	})}
	rc := newRaw(t, srv)
	cases := []struct {
		kv   []string
		want string
	}{
		{[]string{":method", "OPTIONS", ":scheme", "https", ":path", "*", ":authority", "a"}, "OPTIONS * a *"},
		{[]string{":method", "CONNECT", ":authority", "b:443"}, "CONNECT //b:443 b:443 b:443"},
		{[]string{":method", "GET", ":scheme", "https", ":path", "/x?", "host", "h"}, "GET /x? h /x?"},
		{[]string{":method", "GET", ":scheme", "http", ":path", "/%41?a=%20", ":authority", "A", "host", "a"}, "GET /%41?a=%20 A /%41?a=%20"},
		{[]string{":method", "GET", ":scheme", "https", ":path", "/", ":authority", "a", "te", "Trailers", "content-length", "0"}, "GET / a /"},
	}
	for i, tc := range cases {
		id := uint32(2*i + 1)
		rc.headers(id, true, tc.kv...)
		if st, _ := rc.response(id); st != "200" {
			t.Fatalf("%v: status %s", tc.kv, st)
		}
		if g := <-got; g != tc.want {
			t.Errorf("got %q, want %q", g, tc.want)
		}
	}
}

func TestContentLengthMismatch(t *testing.T) {
	checkGoroutines(t)
	// A handler that could see the body's error before the stream is
	// marked reset would answer, and the server would end the stream
	// with RST_STREAM(NO_ERROR) instead of PROTOCOL_ERROR.
	pause := func() { time.Sleep(20 * time.Millisecond) }
	testBeforeResetPushed.Store(&pause)
	defer testBeforeResetPushed.Store(nil)
	errs := make(chan error, 2)
	srv := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		errs <- err
	})}
	rc := newRaw(t, srv)
	post := func(id uint32, clen string) {
		rc.headers(id, false, ":method", "POST", ":scheme", "https", ":path", "/", ":authority", "a", "content-length", clen)
	}
	post(1, "5")
	rc.fr.WriteData(1, true, []byte("abc"))
	rc.expectRST(1, http2.ErrCodeProtocol)
	post(3, "2")
	rc.fr.WriteData(3, false, []byte("abcde"))
	rc.expectRST(3, http2.ErrCodeProtocol)
	for range 2 {
		if err := <-errs; !errors.Is(err, errBodyLength) {
			t.Fatalf("handler read a mismatched body with error %v, want errBodyLength", err)
		}
	}
}

func TestStreamFlowControl(t *testing.T) {
	checkGoroutines(t)
	release := make(chan struct{})
	srv := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
		io.Copy(io.Discard, r.Body)
	})}
	rc := newRaw(t, srv)
	defer close(release)
	rc.headers(1, false, ":method", "POST", ":scheme", "https", ":path", "/", ":authority", "a")
	chunk := make([]byte, 16384)
	for range streamWindow / len(chunk) {
		rc.fr.WriteData(1, false, chunk)
	}
	rc.fr.WriteData(1, false, []byte{1}) // one byte beyond the stream window
	rc.expectRST(1, http2.ErrCodeFlowControl)
	// The connection window was given back: another stream can use it.
	rc.headers(3, false, ":method", "POST", ":scheme", "https", ":path", "/", ":authority", "a")
	for range 3 {
		rc.fr.WriteData(3, false, chunk)
	}
	rc.fr.WriteData(3, true, nil)
	rc.fr.WritePing(false, [8]byte{7})
	if rc.readUntil(func(f http2.Frame) bool { p, ok := f.(*http2.PingFrame); return ok && p.Data[0] == 7 }) == nil {
		t.Fatal("connection broken")
	}
}

func TestStreamWindowOverflow(t *testing.T) {
	srv := &Server{Handler: blockHandler}
	rc := newRaw(t, srv)
	rc.get(1)
	rc.fr.WriteWindowUpdate(1, 1<<31-1)
	rc.expectRST(1, http2.ErrCodeFlowControl)
}

// TestSendFlowControl: the server honours the client's windows, including
// a SETTINGS_INITIAL_WINDOW_SIZE change that makes a window negative,
// and its SETTINGS_MAX_FRAME_SIZE.
func TestSendFlowControl(t *testing.T) {
	checkGoroutines(t)
	body := bytes.Repeat([]byte("0123456789abcdef"), 4096) // 64 KiB
	srv := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(body)
	})}
	rc := newRaw(t, srv, http2Setting(initialWindowSetting, 1000))
	rc.get(1)
	var got []byte
	read := func(want int) {
		t.Helper()
		for len(got) < want {
			f := rc.read()
			if d, ok := f.(*http2.DataFrame); ok {
				if len(d.Data()) > minMaxFrameSize {
					t.Fatalf("DATA frame of %d bytes", len(d.Data()))
				}
				got = append(got, d.Data()...)
			}
		}
		if len(got) != want {
			t.Fatalf("got %d bytes, want %d", len(got), want)
		}
	}
	read(1000)
	// Shrink the window by 1500: it becomes -500.
	rc.fr.WriteSettings(http2Setting(initialWindowSetting, 500))
	rc.fr.WriteWindowUpdate(1, 400) // still negative: nothing may be sent
	rc.fr.WritePing(false, [8]byte{1})
	for {
		f := rc.read()
		if _, ok := f.(*http2.DataFrame); ok {
			t.Fatal("DATA sent on a negative window")
		}
		if p, ok := f.(*http2.PingFrame); ok && p.IsAck() {
			break
		}
	}
	rc.fr.WriteWindowUpdate(1, 600) // +500... now 500
	read(1500)
	rc.fr.WriteSettings(http2Setting(initialWindowSetting, 1<<20))
	rc.fr.WriteWindowUpdate(0, 1<<20)
	read(len(body))
}

func TestMaxConcurrentStreams(t *testing.T) {
	checkGoroutines(t)
	release := make(chan struct{})
	srv := &Server{MaxConcurrentStreams: 2, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release // ignores the context: a reset stream keeps its slot
	})}
	rc := newRaw(t, srv)
	rc.get(1)
	rc.get(3)
	rc.get(5)
	rc.expectRST(5, http2.ErrCodeRefusedStream)
	// Resetting stream 1 does not free its slot while its handler runs.
	rc.fr.WriteRSTStream(1, http2.ErrCodeCancel)
	rc.get(7)
	rc.expectRST(7, http2.ErrCodeRefusedStream)
	close(release)
	rc.response(3)
	waitFor(t, "slots", func() bool {
		rc.get(rc.nextID())
		f := rc.readUntil(func(f http2.Frame) bool {
			_, rst := f.(*http2.RSTStreamFrame)
			_, hdr := f.(*http2.MetaHeadersFrame)
			return rst || hdr
		})
		_, ok := f.(*http2.MetaHeadersFrame)
		return ok
	})
}

func TestHeaderListTooLarge(t *testing.T) {
	srv := &Server{MaxHeaderBytes: 4096, Handler: okHandler}
	rc := newRaw(t, srv)
	rc.get(1, "x-big1", strings.Repeat("a", 3000), "x-big2", strings.Repeat("a", 3000))
	if st, _ := rc.response(1); st != "431" {
		t.Fatalf("status %s", st)
	}
	rc.get(3)
	if st, _ := rc.response(3); st != "200" {
		t.Fatalf("status %s", st)
	}
	many := make([]string, 0, 2*(maxHeaderFields+1))
	for i := range maxHeaderFields + 1 {
		many = append(many, "x", strconv.Itoa(i%10))
	}
	rc = newRaw(t, &Server{Handler: okHandler})
	rc.get(1, many...)
	if st, _ := rc.response(1); st != "431" {
		t.Fatalf("%d fields: status %s", len(many)/2, st)
	}
	// One string longer than the limit cannot even be decoded: the HPACK
	// state is lost, the connection ends (as with net/http).
	rc.headersSplit(3, ":method", "GET", ":scheme", "https", ":path", "/", "x-huge", strings.Repeat("a", defaultMaxHeaderBytes+1))
	rc.expectGoAway(http2.ErrCodeCompression)
}

// TestHPACKBomb: a small block that expands beyond MaxHeaderBytes (a
// large dynamic table entry referenced many times) is answered 431
// without being expanded in memory.
func TestHPACKBomb(t *testing.T) {
	srv := &Server{Handler: okHandler}
	rc := newRaw(t, srv)
	var b []byte
	b = append(b, rc.block(":method", "GET", ":scheme", "https", ":path", "/", ":authority", "a")...)
	// Literal with incremental indexing, new name "x", 4000-byte value.
	b = append(b, 0x40, 1, 'x')
	b = appendHPACKInt(b, 0, 7, 4000)
	b = append(b, bytes.Repeat([]byte{'v'}, 4000)...)
	for range 400 { // 400 × 4 KB = 1.6 MB decoded from 400 bytes
		b = append(b, 0x80|62)
	}
	rc.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: b, EndStream: true, EndHeaders: true})
	if st, _ := rc.response(1); st != "431" {
		t.Fatalf("status %s", st)
	}
}

// appendHPACKInt appends an HPACK integer with an n-bit prefix whose
// first byte is first (with the prefix bits already set to all ones when
// needed).
func appendHPACKInt(b []byte, first byte, n uint, v uint64) []byte {
	max := uint64(1)<<n - 1
	if v < max {
		return append(b, first&^byte(max)|byte(v))
	}
	b = append(b, first|byte(max))
	v -= max
	for v >= 128 {
		b = append(b, byte(v&0x7f|0x80))
		v >>= 7
	}
	return append(b, byte(v))
}

func TestPingAndIgnoredFrames(t *testing.T) {
	srv := &Server{Handler: okHandler}
	rc := newRaw(t, srv)
	rc.fr.WritePriority(1, http2.PriorityParam{StreamDep: 0, Weight: 10})
	rc.fr.WriteRawFrame(0xfa, 0, 0, []byte("unknown extension frame"))
	rc.fr.WritePing(false, [8]byte{1, 2, 3, 4, 5, 6, 7, 8})
	f := rc.read().(*http2.PingFrame)
	if !f.IsAck() || f.Data != [8]byte{1, 2, 3, 4, 5, 6, 7, 8} {
		t.Fatalf("PING reply %v", f)
	}
	rc.get(1)
	if st, body := rc.response(1); st != "200" || body != "ok" {
		t.Fatalf("%s %q", st, body)
	}
	// A padded request body and a trailer section.
	rc.headers(3, false, ":method", "POST", ":scheme", "https", ":path", "/", ":authority", "a")
	rc.fr.WriteDataPadded(3, false, []byte("body"), make([]byte, 20))
	rc.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: rc.block("x-t", "v"), EndStream: true, EndHeaders: true})
	if st, body := rc.response(3); st != "200" || body != "ok" {
		t.Fatalf("%s %q", st, body)
	}
}

func TestTrailersWithoutEndStream(t *testing.T) {
	srv := &Server{Handler: blockHandler}
	rc := newRaw(t, srv)
	rc.headers(1, false, ":method", "POST", ":scheme", "https", ":path", "/", ":authority", "a")
	rc.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: rc.block("x-t", "v"), EndHeaders: true})
	rc.expectRST(1, http2.ErrCodeProtocol)
	rc.headers(3, false, ":method", "POST", ":scheme", "https", ":path", "/", ":authority", "a")
	rc.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: rc.block(":path", "/"), EndStream: true, EndHeaders: true})
	rc.expectRST(3, http2.ErrCodeProtocol)
}

func TestExpectContinue(t *testing.T) {
	srv := &Server{Handler: okHandler}
	rc := newRaw(t, srv)
	rc.headers(1, false, ":method", "POST", ":scheme", "https", ":path", "/", ":authority", "a", "expect", "100-continue")
	f := rc.read().(*http2.MetaHeadersFrame)
	if f.PseudoValue("status") != "100" || f.StreamEnded() {
		t.Fatalf("want 100 Continue, got %v", f.Fields)
	}
	rc.fr.WriteData(1, true, []byte("x"))
	if st, _ := rc.response(1); st != "200" {
		t.Fatal(st)
	}
	rc.headers(3, true, ":method", "GET", ":scheme", "https", ":path", "/", ":authority", "a", "expect", "something")
	if st, _ := rc.response(3); st != "417" {
		t.Fatal(st)
	}
}

func (rc *rawConn) nextID() uint32 {
	rc.lastID += 2
	if rc.lastID < 101 {
		rc.lastID = 101
	}
	return rc.lastID
}

// TestTrailersAfterReset: a client may send a trailer section on a stream
// the server has reset (answered early, or refused) before it saw the
// RST_STREAM. It is ignored (RFC 9113 §5.1), not taken for a reused
// stream id, and still decoded: the field it adds to the HPACK dynamic
// table is referenced by the next request.
func TestTrailersAfterReset(t *testing.T) {
	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Header.Get("X-Check")) // the body is never read
	})
	for _, tc := range []struct {
		name  string
		extra []string
		want  string // status of the first stream
	}{
		{"answered before the body", nil, "200"},
		{"refused with 417", []string{"expect", "something"}, "417"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := newRaw(t, &Server{Handler: echo})
			kv := append([]string{":method", "POST", ":scheme", "https", ":path", "/", ":authority", "a"}, tc.extra...)
			rc.headers(1, false, kv...)
			if st, _ := rc.response(1); st != tc.want {
				t.Fatalf("stream 1: %s, want %s", st, tc.want)
			}
			rc.expectRST(1, http2.ErrCodeNo)
			rc.fr.WriteData(1, false, []byte("late body"))
			rc.headers(1, true, "x-check", "from-trailers")
			rc.get(3, "x-check", "from-trailers")
			if st, body := rc.response(3); st != "200" || body != "from-trailers" {
				t.Fatalf("stream 3: %s %q", st, body)
			}
		})
	}
}

// TestTrailersAfterManyResets: trailers for the first of many streams
// answered early (fewer than resetOpenLen) are still ignored.
func TestTrailersAfterManyResets(t *testing.T) {
	early := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "early") })
	rc := newRaw(t, &Server{Handler: early, MaxConcurrentStreams: 8})
	const n = resetOpenLen - 4
	for i := range n {
		id := uint32(2*i + 1)
		rc.headers(id, false, ":method", "POST", ":scheme", "https", ":path", "/", ":authority", "a")
		if st, _ := rc.response(id); st != "200" {
			t.Fatalf("stream %d: %s", id, st)
		}
		rc.expectRST(id, http2.ErrCodeNo)
	}
	rc.headers(1, true, "x-late", "trailer")
	rc.get(2*n + 1)
	if st, _ := rc.response(2*n + 1); st != "200" {
		t.Fatalf("after late trailers: %s", st)
	}
}
