package h2

import (
	"io"
	"os"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"

	"github.com/mtlsgate/mtlsgate/internal/stall"
)

// onData reads a DATA frame's payload (the Framer has read its header)
// and hands it to the stream's body. The payload is read here, into a
// pooled buffer, so no connection keeps a frame-sized buffer.
func (c *conn) onData(fh http2.FrameHeader) error {
	id := fh.StreamID
	if id == 0 {
		return connError{http2.ErrCodeProtocol, "DATA on stream 0"}
	}
	flen := int(fh.Length)
	var data []byte
	var bp *[]byte
	if flen > 0 {
		bp = getChunk()
		defer putChunk(bp)
		if _, err := io.ReadFull(c.nc, (*bp)[:flen]); err != nil {
			return c.readErr(err)
		}
		data = (*bp)[:flen]
		if fh.Flags.Has(http2.FlagDataPadded) {
			pad := int(data[0])
			if pad >= flen {
				return connError{http2.ErrCodeProtocol, "padding longer than the payload"}
			}
			data = data[1 : flen-pad]
		}
	} else if fh.Flags.Has(http2.FlagDataPadded) {
		return connError{http2.ErrCodeFrameSize, "padded DATA without pad length"}
	}
	endStream := fh.Flags.Has(http2.FlagDataEndStream)

	c.mu.Lock()
	if int64(flen) > int64(c.recvWin) {
		c.mu.Unlock()
		return connError{http2.ErrCodeFlowControl, "connection window exceeded"}
	}
	c.recvWin -= int32(flen)
	st := c.streams[id]
	idle := st == nil && id > c.maxClientID
	var body *reqBody
	halfClosed := false
	if st != nil {
		halfClosed, body = st.remoteClosed, st.body
	}
	c.mu.Unlock()

	if flen == 0 && !endStream && c.useless.hit() {
		return errCalm
	}
	switch {
	case idle:
		return connError{http2.ErrCodeProtocol, "DATA on an idle stream"}
	case st == nil:
		// A closed stream (we may have reset it while the client was
		// sending): ignored, its bytes go back to the connection window.
		c.refund(flen)
		return nil
	case halfClosed || body == nil:
		c.refund(flen)
		c.resetStream(st, http2.ErrCodeStreamClosed, ErrStreamReset)
		return nil
	}
	code, refund := body.push(data, flen, endStream, nil)
	c.refund(refund)
	if code != http2.ErrCodeNo {
		if hook := testBeforeResetPushed.Load(); hook != nil {
			(*hook)()
		}
		c.resetPushed(st, code)
		return nil
	}
	if endStream {
		c.remoteClosed(st)
	}
	return nil
}

// refund gives n consumed bytes back to the connection receive window;
// the client is told once at least half of the window is due.
func (c *conn) refund(n int) {
	if n <= 0 {
		return
	}
	c.mu.Lock()
	c.recvUnacked += int32(n)
	var upd int32
	if c.recvUnacked >= connWindow/2 && !c.closed {
		upd = c.recvUnacked
		c.recvUnacked = 0
		c.recvWin += upd
	}
	c.mu.Unlock()
	if upd > 0 {
		c.writeWindowUpdate(0, upd)
	}
}

// onWindowUpdate adds to a send window (RFC 9113 §6.9.1).
func (c *conn) onWindowUpdate(f *http2.WindowUpdateFrame) error {
	id, inc := f.StreamID, int64(f.Increment)
	c.mu.Lock()
	if id == 0 {
		c.sendWin += inc
		if c.sendWin > maxWindow {
			c.mu.Unlock()
			return connError{http2.ErrCodeFlowControl, "connection window overflow"}
		}
		c.flow.Broadcast()
		c.mu.Unlock()
		return nil
	}
	st := c.streams[id]
	if st == nil {
		idle := id > c.maxClientID
		c.mu.Unlock()
		if idle {
			return connError{http2.ErrCodeProtocol, "WINDOW_UPDATE on an idle stream"}
		}
		return nil // a closed stream: ignored
	}
	st.sendWin += inc
	if st.sendWin > maxWindow {
		c.mu.Unlock()
		c.resetStream(st, http2.ErrCodeFlowControl, ErrStreamReset)
		return nil
	}
	c.flow.Broadcast()
	c.mu.Unlock()
	return nil
}

// reserve waits until the stream may send and takes up to n bytes of
// both send windows. It fails when the stream is reset, the connection
// closing, or the write deadline passed. Unless wait is set, it returns
// 0 at once when no window is open.
func (st *stream) reserve(n int, wait bool) (int, error) {
	c := st.c
	c.mu.Lock()
	defer c.mu.Unlock()
	var stallEnd time.Time // set when the first wait starts
	for {
		if err := st.writableLocked(); err != nil {
			return 0, err
		}
		avail := min(c.sendWin, st.sendWin)
		if avail > 0 {
			k := min(int64(n), avail)
			c.sendWin -= k
			st.sendWin -= k
			return int(k), nil
		}
		if !wait {
			return 0, nil
		}
		dl := stall.WaitDeadline(st.wdl, &stallEnd, c.s.SendStallTimeout)
		if !armWaitTimer(&st.wtimer, dl, c.wakeWriters) {
			return 0, os.ErrDeadlineExceeded
		}
		c.flow.Wait()
	}
}

// unreserve gives back window taken by reserve but not used.
func (st *stream) unreserve(n int) {
	if n == 0 {
		return
	}
	c := st.c
	c.mu.Lock()
	c.sendWin += int64(n)
	st.sendWin += int64(n)
	c.flow.Broadcast()
	c.mu.Unlock()
}

func (c *conn) wakeWriters() {
	c.mu.Lock()
	c.flow.Broadcast()
	c.mu.Unlock()
}

// writableLocked says whether the stream may still send frames.
func (st *stream) writableLocked() error {
	switch {
	case st.c.closed:
		return ErrConnDone
	case st.reset:
		return ErrStreamReset
	}
	return nil
}

// armWaitTimer makes *t call wake at dl (zero: no deadline, nothing to
// arm), so that a goroutine waiting on a condition sees the deadline
// pass; false when it has passed already.
func armWaitTimer(t **time.Timer, dl time.Time, wake func()) bool {
	if dl.IsZero() {
		return true
	}
	left := time.Until(dl)
	if left <= 0 {
		return false
	}
	if *t == nil {
		*t = time.AfterFunc(left, wake)
	} else {
		(*t).Reset(left)
	}
	return true
}

// testBeforeResetPushed, when set by a test, runs between a refused body
// push and the stream's reset (where a handler must not see the error
// yet).
var testBeforeResetPushed atomic.Pointer[func()]
