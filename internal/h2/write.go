package h2

import (
	"bufio"
	"encoding/binary"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/mtlsgate/mtlsgate/internal/stall"
)

// writeBufSize is the size of the pooled buffered writers. A connection
// holds one only while it has something to write.
const writeBufSize = 16 << 10

var writerPool = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, writeBufSize) }}

func getWriter(w io.Writer) *bufio.Writer {
	bw := writerPool.Get().(*bufio.Writer)
	bw.Reset(w)
	return bw
}

func putWriter(bw *bufio.Writer) {
	bw.Reset(nil)
	writerPool.Put(bw)
}

// wlock takes the write lock and a buffered writer, and sets the socket's
// write deadline to dl (zero: none). Everything written before wunlock is
// one section: frames of one section are contiguous on the wire, and
// HPACK encoding happens in wire order.
func (c *conn) wlock(dl time.Time) {
	c.wlockOnly()
	c.setWriteDeadline(dl)
}

// wlockOnly takes the write lock and a buffered writer, leaving the
// socket's write deadline alone.
func (c *conn) wlockOnly() {
	c.wwait.Add(1)
	c.wmu.Lock()
	c.wwait.Add(-1)
	if c.bw == nil {
		c.bw = getWriter(c.nc)
	}
}

// setWriteDeadline sets the socket's write deadline (under wmu).
func (c *conn) setWriteDeadline(dl time.Time) {
	if dl != c.wdl && c.werr == nil {
		c.wdl = dl
		_ = c.nc.SetWriteDeadline(dl)
	}
}

// wlockStream is wlock for a stream's frames. It fails (and leaves the
// socket's deadline alone) when the stream may not send anymore: reset,
// connection ending, or its write deadline passed; a deadline already
// in the past must fail the stream, not every stream of the connection
// through a socket write that cannot succeed. wunlock must be called
// either way.
func (c *conn) wlockStream(st *stream) error {
	c.wlockOnly()
	if c.werr != nil {
		return ErrClientGone
	}
	c.mu.Lock()
	err := st.writableLocked()
	dl := st.wdl // under mu: see SetWriteDeadline
	c.mu.Unlock()
	if err == nil && !dl.IsZero() && !time.Now().Before(dl) {
		err = os.ErrDeadlineExceeded
	}
	if err == nil {
		if d := c.s.SendStallTimeout; d > 0 {
			// The socket write may wait d at most (and not past the
			// stream's own deadline).
			if t, move := stall.Deadline(c.wdl, dl, d); move {
				dl = t
			} else {
				dl = c.wdl
			}
		}
		c.setWriteDeadline(dl)
	}
	return err
}

// wlockCtrl is wlock for control frames written by the connection
// (bounded by WriteTimeout or ctrlWriteTimeout).
func (c *conn) wlockCtrl() {
	d := c.s.WriteTimeout
	if d <= 0 {
		d = ctrlWriteTimeout
	}
	c.wlock(time.Now().Add(d))
}

// wunlock ends a section: the buffer is flushed, unless another writer is
// waiting for the lock (it will flush: concurrent streams share
// flushes), and given back to the pool once empty. It returns the
// connection's write error; the first one ends the connection.
func (c *conn) wunlock() error { return c.wunlockFlush(false) }

// wunlockFlush is wunlock; force flushes even when others wait for the
// lock (a GOAWAY, which the close that follows must not overtake).
func (c *conn) wunlockFlush(force bool) error {
	first := false
	if c.werr == nil && (force || c.wwait.Load() == 0) && c.bw.Buffered() > 0 {
		if err := c.bw.Flush(); err != nil {
			c.werr, first = err, true
			c.wfailed.Store(true)
		}
	}
	if c.werr != nil || c.bw.Buffered() == 0 {
		putWriter(c.bw)
		c.bw = nil
	}
	err := c.werr
	c.wmu.Unlock()
	if first {
		// The byte stream is broken (or jammed past its deadline): the
		// connection cannot go on.
		c.abort(ErrClientGone)
	}
	return err
}

// frameHeader writes a frame header (under wmu).
func (c *conn) frameHeader(t http2.FrameType, flags http2.Flags, id uint32, n int) {
	h := c.fhbuf[:9]
	h[0], h[1], h[2] = byte(n>>16), byte(n>>8), byte(n)
	h[3], h[4] = byte(t), byte(flags)
	binary.BigEndian.PutUint32(h[5:], id)
	_, _ = c.bw.Write(h)
}

// frameUint32 writes a frame with one 32-bit payload (RST_STREAM,
// WINDOW_UPDATE).
func (c *conn) frameUint32(t http2.FrameType, id, v uint32) {
	h := c.fhbuf[:13]
	h[0], h[1], h[2] = 0, 0, 4
	h[3], h[4] = byte(t), 0
	binary.BigEndian.PutUint32(h[5:], id)
	binary.BigEndian.PutUint32(h[9:], v)
	_, _ = c.bw.Write(h)
}

// writePreface sends our SETTINGS and raises the connection receive
// window (RFC 9113 §3.4).
func (c *conn) writePreface() error {
	c.enc = hpack.NewEncoder(&c.hbuf)
	settings := [...]http2.Setting{
		{ID: http2.SettingEnablePush, Val: 0},
		{ID: http2.SettingMaxConcurrentStreams, Val: uint32(c.maxStreams)},
		{ID: http2.SettingInitialWindowSize, Val: streamWindow},
		{ID: http2.SettingMaxHeaderListSize, Val: uint32(c.maxHeaderBytes)},
	}
	c.wlockCtrl()
	c.frameHeader(http2.FrameSettings, 0, 0, 6*len(settings))
	for _, s := range settings {
		var b [6]byte
		binary.BigEndian.PutUint16(b[:], uint16(s.ID))
		binary.BigEndian.PutUint32(b[2:], s.Val)
		_, _ = c.bw.Write(b[:])
	}
	c.frameUint32(http2.FrameWindowUpdate, 0, connWindow-initialWindow)
	c.prefaceSent = true
	c.mu.Lock()
	c.recvWin = connWindow
	c.mu.Unlock()
	return c.wunlock()
}

// writePing acknowledges a PING.
func (c *conn) writePing(data [8]byte) {
	c.wlockCtrl()
	c.frameHeader(http2.FramePing, http2.FlagPingAck, 0, 8)
	_, _ = c.bw.Write(data[:])
	c.wunlock()
}

// writeRST resets a stream.
func (c *conn) writeRST(id uint32, code http2.ErrCode) {
	c.wlockCtrl()
	c.frameUint32(http2.FrameRSTStream, id, uint32(code))
	c.wunlock()
}

// writeWindowUpdate gives window back to the client.
func (c *conn) writeWindowUpdate(id uint32, n int32) {
	c.wlockCtrl()
	c.frameUint32(http2.FrameWindowUpdate, id, uint32(n))
	c.wunlock()
}

// writeGoAway sends GOAWAY (a graceful one only once). It is bounded in time: a client that does not
// read does not hold the closing connection (its socket is closed after
// a second if the write lock or the write is stuck).
func (c *conn) writeGoAway(lastID uint32, code http2.ErrCode) {
	var done atomic.Bool
	t := time.AfterFunc(time.Second, func() {
		if !done.Load() {
			c.rawClose()
		}
	})
	defer t.Stop()
	c.wlock(time.Now().Add(time.Second))
	if c.prefaceSent && c.werr == nil && !(code == http2.ErrCodeNo && c.sentGoAway) {
		c.sentGoAway = true
		c.frameHeader(http2.FrameGoAway, 0, 0, 8)
		binary.BigEndian.PutUint32(c.fhbuf[:4], lastID&0x7fffffff)
		binary.BigEndian.PutUint32(c.fhbuf[4:8], uint32(code))
		_, _ = c.bw.Write(c.fhbuf[:8])
	}
	// Flushed now, whoever waits: the connection may be half-closed as
	// soon as this returns, and a writer left to flush would lose it.
	c.wunlockFlush(true)
	done.Store(true)
}

// encodeHeaders HPACK-encodes a header block into c.hbuf (under wmu).
func (c *conn) encodeHeaders(status int, fields []hpack.HeaderField, clen int64) {
	c.hbuf.Reset()
	_ = c.enc.WriteField(hpack.HeaderField{Name: ":status", Value: statusString(status)})
	for _, f := range fields {
		_ = c.enc.WriteField(f)
	}
	if clen >= 0 {
		if clen != c.lastCL || c.lastCLs == "" {
			c.lastCL, c.lastCLs = clen, strconv.FormatInt(clen, 10)
		}
		_ = c.enc.WriteField(hpack.HeaderField{Name: "content-length", Value: c.lastCLs})
	}
}

// encodeTrailers HPACK-encodes a trailer section into c.hbuf.
func (c *conn) encodeTrailers(fields []hpack.HeaderField) {
	c.hbuf.Reset()
	for _, f := range fields {
		_ = c.enc.WriteField(f)
	}
}

// writeBlock writes the header block in c.hbuf as HEADERS and, beyond the
// client's frame size, CONTINUATION frames.
func (c *conn) writeBlock(id uint32, endStream bool) {
	block := c.hbuf.Bytes()
	maxFrame := int(c.peerMaxFrame.Load())
	var flags http2.Flags
	if endStream {
		flags |= http2.FlagHeadersEndStream
	}
	typ := http2.FrameHeaders
	for {
		frag := block
		if len(frag) > maxFrame {
			frag = frag[:maxFrame]
		}
		block = block[len(frag):]
		if len(block) == 0 {
			flags |= http2.FlagHeadersEndHeaders
		}
		c.frameHeader(typ, flags, id, len(frag))
		_, _ = c.bw.Write(frag)
		if len(block) == 0 {
			return
		}
		typ, flags = http2.FrameContinuation, 0
	}
}

// writeData writes p as DATA frames, END_STREAM on the last when end.
func (c *conn) writeData(id uint32, p []byte, end bool) {
	maxFrame := min(int(c.peerMaxFrame.Load()), maxWriteFrame)
	for {
		n := min(len(p), maxFrame)
		var flags http2.Flags
		if end && n == len(p) {
			flags = http2.FlagDataEndStream
		}
		c.frameHeader(http2.FrameData, flags, id, n)
		_, _ = c.bw.Write(p[:n])
		p = p[n:]
		if len(p) == 0 {
			return
		}
	}
}

// replyStatus answers a request without calling the handler (431, 417):
// HEADERS with the status and END_STREAM, then RST_STREAM(NO_ERROR) when
// the client may still be sending a body.
func (c *conn) replyStatus(id uint32, code int, endStream bool) {
	if !endStream {
		c.noteResetOpen(id)
	}
	c.wlockCtrl()
	c.encodeHeaders(code, nil, 0)
	c.writeBlock(id, true)
	if !endStream {
		c.frameUint32(http2.FrameRSTStream, id, uint32(http2.ErrCodeNo))
	}
	c.wunlock()
}

// statusStrings holds the :status values of the registered codes.
var statusStrings = func() (s [600]string) {
	for i := 100; i < len(s); i++ {
		s[i] = strconv.Itoa(i)
	}
	return s
}()

func statusString(code int) string {
	if code >= 0 && code < len(statusStrings) && statusStrings[code] != "" {
		return statusStrings[code]
	}
	return strconv.Itoa(code)
}

// The Date field value is formatted once per second.
type dateValue struct {
	sec int64
	s   string
}

var curDate atomic.Pointer[dateValue]

func dateString() string {
	now := time.Now()
	sec := now.Unix()
	d := curDate.Load()
	if d == nil || d.sec != sec {
		d = &dateValue{sec: sec, s: now.UTC().Format(http.TimeFormat)}
		curDate.Store(d)
	}
	return d.s
}
