package h2

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"runtime"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// fuzzHandler echoes the body and the trailers, and sometimes flushes,
// informs, or panics, to exercise the response paths.
var fuzzHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/panic":
		panic("fuzz")
	case "/abort":
		panic(http.ErrAbortHandler)
	case "/103":
		w.WriteHeader(http.StatusEarlyHints)
	case "/flush":
		io.WriteString(w, "x")
		w.(http.Flusher).Flush()
	}
	w.Header().Set("Trailer", "X-Sum")
	n, _ := io.Copy(w, r.Body)
	if n > 0 {
		w.Header().Set("X-Sum", "1")
	}
	for k, v := range r.Trailer {
		w.Header()[http.TrailerPrefix+k] = v
	}
})

// fuzzSeeds are valid exchanges (after the preface and SETTINGS).
func fuzzSeeds() [][]byte {
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	block := func(kv ...string) []byte {
		hb.Reset()
		for i := 0; i+1 < len(kv); i += 2 {
			enc.WriteField(hpack.HeaderField{Name: kv[i], Value: kv[i+1]})
		}
		return append([]byte(nil), hb.Bytes()...)
	}
	req := func(path, method string) []byte {
		return block(":method", method, ":scheme", "https", ":path", path, ":authority", "a", "user-agent", "fuzz")
	}
	var seeds [][]byte
	seeds = append(seeds, frameBytes(func(fr *http2.Framer) {
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: req("/", "GET"), EndStream: true, EndHeaders: true})
	}))
	seeds = append(seeds, frameBytes(func(fr *http2.Framer) {
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: req("/flush", "POST"), EndHeaders: true})
		fr.WriteData(1, false, []byte("hello"))
		fr.WriteDataPadded(1, false, []byte("world"), []byte{0, 0})
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block("x-t", "v"), EndStream: true, EndHeaders: true})
		fr.WritePing(false, [8]byte{1})
		fr.WriteWindowUpdate(0, 1000)
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: req("/panic", "GET"), EndStream: true, EndHeaders: true})
	}))
	seeds = append(seeds, frameBytes(func(fr *http2.Framer) {
		b := req("/103", "PUT")
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 5, BlockFragment: b[:3], Priority: http2.PriorityParam{StreamDep: 1, Weight: 3}})
		fr.WriteContinuation(5, true, b[3:])
		fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1}, http2.Setting{ID: http2.SettingHeaderTableSize, Val: 0})
		fr.WriteData(5, true, []byte("body"))
		fr.WriteRSTStream(5, http2.ErrCodeCancel)
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 7, BlockFragment: req("/abort", "GET"), EndStream: true, EndHeaders: true})
		fr.WriteGoAway(0, http2.ErrCodeNo, nil)
	}))
	return seeds
}

func FuzzServeConn(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	prefix := append([]byte(clientPreface), frameBytes(func(fr *http2.Framer) { fr.WriteSettings() })...)
	f.Fuzz(func(t *testing.T, data []byte) {
		before := runtime.NumGoroutine()
		srv := &Server{Handler: fuzzHandler, ErrorLog: discardLog, ReadHeaderTimeout: time.Second,
			WriteTimeout: time.Second, ReadTimeout: time.Second, IdleTimeout: time.Second}
		cc, sc := net.Pipe()
		done := make(chan struct{})
		go func() {
			srv.ServeConn(sc)
			close(done)
		}()
		drained := make(chan struct{})
		go func() {
			io.Copy(io.Discard, cc) // net.Pipe is synchronous: always read
			close(drained)
		}()
		cc.SetWriteDeadline(time.Now().Add(2 * time.Second))
		cc.Write(prefix)
		cc.Write(data)
		select {
		case <-done:
		case <-time.After(5 * time.Millisecond):
		}
		cc.Close()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			buf := make([]byte, 1<<20)
			t.Fatalf("ServeConn did not return:\n%s", buf[:runtime.Stack(buf, true)])
		}
		<-drained
		deadline := time.Now().Add(2 * time.Second)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				t.Fatalf("goroutines leaked:\n%s", buf[:runtime.Stack(buf, true)])
			}
			time.Sleep(time.Millisecond)
		}
	})
}
