package h2

import (
	"bytes"
	"net/http"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// frameBytes renders frames with a throwaway framer, so a flood can be
// sent in one write.
func frameBytes(write func(fr *http2.Framer)) []byte {
	var b bytes.Buffer
	fr := http2.NewFramer(&b, nil)
	fr.AllowIllegalWrites = true
	write(fr)
	return b.Bytes()
}

// TestFloods: each kind of useless frame beyond floodMax within
// floodWindow ends the connection with GOAWAY(ENHANCE_YOUR_CALM).
func TestFloods(t *testing.T) {
	checkGoroutines(t)
	post := func(rc *rawConn, id uint32) {
		rc.headers(id, false, ":method", "POST", ":scheme", "https", ":path", "/", ":authority", "a")
	}
	cases := []struct {
		name  string
		setup func(rc *rawConn)
		frame func(fr *http2.Framer, i int)
	}{
		{"SETTINGS", nil, func(fr *http2.Framer, i int) { fr.WriteSettings() }},
		{"SETTINGS ack", nil, func(fr *http2.Framer, i int) { fr.WriteSettingsAck() }},
		{"PING", nil, func(fr *http2.Framer, i int) { fr.WritePing(false, [8]byte{}) }},
		{"PING ack", nil, func(fr *http2.Framer, i int) { fr.WritePing(true, [8]byte{}) }},
		{"PRIORITY", nil, func(fr *http2.Framer, i int) { fr.WritePriority(uint32(2*i+1), http2.PriorityParam{Weight: 1}) }},
		{"unknown frames", nil, func(fr *http2.Framer, i int) { fr.WriteRawFrame(0xee, 0, 0, nil) }},
		{"empty DATA", func(rc *rawConn) { post(rc, 1) }, func(fr *http2.Framer, i int) { fr.WriteData(1, false, nil) }},
		{"zero WINDOW_UPDATE", func(rc *rawConn) { rc.get(1) }, func(fr *http2.Framer, i int) { fr.WriteWindowUpdate(1, 0) }},
		{"RST_STREAM on closed stream", func(rc *rawConn) { rc.get(1); rc.response(1) },
			func(fr *http2.Framer, i int) { fr.WriteRSTStream(1, http2.ErrCodeCancel) }},
		{"refused streams", nil, func(fr *http2.Framer, i int) {
			// Malformed heads (reset without a handler).
			fr.WriteHeaders(http2.HeadersFrameParam{StreamID: uint32(2*i + 1), BlockFragment: []byte{0x82}, EndStream: true, EndHeaders: true})
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method == "POST" {
					<-r.Context().Done()
				}
			})}
			rc := newRaw(t, srv)
			if tc.setup != nil {
				tc.setup(rc)
			}
			go rc.write(frameBytes(func(fr *http2.Framer) {
				for i := range floodMax + 10 {
					tc.frame(fr, i)
				}
			}))
			rc.expectGoAway(http2.ErrCodeEnhanceYourCalm)
			rc.c.Close()
			rc.waitDone()
		})
	}
}

// TestRapidReset: streams opened and reset at once (CVE-2023-44487)
// end the connection.
func TestRapidReset(t *testing.T) {
	checkGoroutines(t)
	srv := &Server{Handler: blockHandler}
	rc := newRaw(t, srv)
	go rc.write(frameBytes(func(fr *http2.Framer) {
		enc := rc.block(":method", "GET", ":scheme", "https", ":path", "/", ":authority", "a")
		// Streams beyond MaxConcurrentStreams (their handlers not yet
		// scheduled) are refused instead, and count as useless frames
		// twice (the refusal and the RST_STREAM on a closed stream): with
		// R streams reset while running and F refused, R+F > 1.5*floodMax
		// pairs make R > floodMax or 2F > floodMax.
		for i := range 3*floodMax/2 + 10 {
			id := uint32(2*i + 1)
			fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: enc, EndStream: true, EndHeaders: true})
			fr.WriteRSTStream(id, http2.ErrCodeCancel)
		}
	}))
	rc.expectGoAway(http2.ErrCodeEnhanceYourCalm)
	rc.c.Close()
	rc.waitDone()
}

// TestResetsEarnedBack: resets interleaved with normal exchanges are
// fine.
func TestResetsEarnedBack(t *testing.T) {
	srv := &Server{Handler: okHandler}
	rc := newRaw(t, srv)
	block := func(id uint32) {
		rc.get(id)
	}
	for i := range floodMax + 100 {
		id := uint32(4*i + 1)
		block(id)
		rc.fr.WriteRSTStream(id, http2.ErrCodeCancel)
		block(id + 2)
		rc.response(id + 2)
	}
}

// TestContinuationFlood: a header block that never ends is cut off.
func TestContinuationFlood(t *testing.T) {
	checkGoroutines(t)
	srv := &Server{Handler: okHandler}
	rc := newRaw(t, srv)
	go rc.write(frameBytes(func(fr *http2.Framer) {
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: rc.block(":method", "GET")})
		for range 10000 {
			fr.WriteContinuation(1, false, nil)
		}
	}))
	rc.expectGoAway(http2.ErrCodeEnhanceYourCalm)
	rc.c.Close()
	rc.waitDone()
}

// TestContinuationBytes: a header block far beyond MaxHeaderBytes is cut
// off before it is decoded.
func TestContinuationBytes(t *testing.T) {
	srv := &Server{MaxHeaderBytes: 16 << 10, Handler: okHandler}
	rc := newRaw(t, srv)
	junk := bytes.Repeat([]byte{0x80 | 2}, 16384) // ":method: GET" over and over
	go rc.write(frameBytes(func(fr *http2.Framer) {
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: junk})
		for range 10 {
			fr.WriteContinuation(1, false, junk)
		}
	}))
	rc.expectGoAway(http2.ErrCodeEnhanceYourCalm)
}

// TestClientNeverReads: a handler writing to a client that reads nothing
// and opens no window is bounded by flow control (no buffering beyond
// the window); Close frees it.
func TestClientNeverReads(t *testing.T) {
	checkGoroutines(t)
	wrote := make(chan int64, 1)
	srv := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var n int64
		for {
			k, err := w.Write(make([]byte, 16<<10))
			n += int64(k)
			if err != nil {
				break
			}
		}
		wrote <- n
	})}
	rc := newRaw(t, srv)
	rc.get(1)
	time.Sleep(100 * time.Millisecond)
	srv.Close()
	select {
	case n := <-wrote:
		if n > initialWindow+2*pendSize+16<<10 {
			t.Fatalf("accepted %d bytes for a 64 KiB window", n)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("handler blocked after Close")
	}
	rc.waitDone()
}

// TestAnswerFlood: requests answered without a handler (431 for a head
// beyond MaxHeaderBytes, 417 for an unsupported expectation) cost a
// header-block decode each; beyond floodMax of them the connection ends.
func TestAnswerFlood(t *testing.T) {
	checkGoroutines(t)
	v80 := string(bytes.Repeat([]byte("a"), 80))
	for _, tc := range []struct {
		name  string
		extra []string
	}{
		{"431", []string{"x-a", v80, "x-b", v80, "x-c", v80, "x-d", v80}}, // each string under the limit
		{"417", []string{"expect", "bogus"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := &Server{Handler: okHandler, MaxHeaderBytes: 256}
			rc := newRaw(t, srv)
			kv := append([]string{":method", "GET", ":scheme", "https", ":path", "/", ":authority", "a"}, tc.extra...)
			enc := rc.block(kv...)
			go rc.write(frameBytes(func(fr *http2.Framer) {
				for i := range floodMax + 10 {
					fr.WriteHeaders(http2.HeadersFrameParam{StreamID: uint32(2*i + 1), BlockFragment: enc, EndStream: true, EndHeaders: true})
				}
			}))
			rc.expectGoAway(http2.ErrCodeEnhanceYourCalm)
			rc.c.Close()
			rc.waitDone()
		})
	}
}
