package h2

import (
	"errors"
	"io"
	"net/http"
	"os"
	"sync"
	"time"

	"golang.org/x/net/http2"

	"github.com/mtlsgate/mtlsgate/internal/stall"
)

// errBodyLength: the DATA frames disagree with content-length.
var errBodyLength = errors.New("h2: request body length differs from content-length")

// chunkSize is the size of the pooled chunks a request body is buffered
// in (one full DATA frame).
const chunkSize = maxReadFrameSize

var chunkPool = sync.Pool{New: func() any { b := make([]byte, chunkSize); return &b }}

func getChunk() *[]byte { return chunkPool.Get().(*[]byte) }

func putChunk(p *[]byte) {
	*p = (*p)[:chunkSize]
	chunkPool.Put(p)
}

// reqBody is a request body (http.Request.Body): the connection
// goroutine pushes DATA payloads into a buffer bounded by the stream's
// receive window; Read takes them out and gives the window back in
// batches (WINDOW_UPDATE once half of a window has been consumed).
//
// A body is allocated per request and never reused: a late reader gets
// http.ErrBodyReadAfterClose, never another request's bytes.
type reqBody struct {
	c   *conn
	st  *stream // valid while the handler runs (100-continue)
	id  uint32
	req *http.Request

	mu      sync.Mutex
	cond    sync.Cond
	chunks  []*[]byte
	r       int // read offset in chunks[0]
	w       int // write offset in the last chunk
	n       int // bytes buffered
	win     int32
	unacked int32
	got     int64 // DATA payload bytes received (connection goroutine)

	declared  int64 // content-length, -1 when absent
	end       bool  // END_STREAM received
	err       error // io.EOF after the data, or the failure
	hardErr   bool  // err is returned before buffered data
	abandoned bool  // closed by the handler, or the handler returned
	trailers  http.Header
	needCont  bool // 100 Continue is due at the first Read
	deadline  time.Time
	timer     *time.Timer
}

// Read reads the body (io.Reader).
func (b *reqBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	if b.abandoned {
		b.mu.Unlock()
		return 0, http.ErrBodyReadAfterClose
	}
	if b.needCont {
		b.needCont = false
		if b.n == 0 && b.err == nil {
			b.mu.Unlock()
			b.st.sendContinue()
			b.mu.Lock()
		}
	}
	var stallEnd time.Time // set when the first wait starts
	for b.n == 0 && b.err == nil && !b.abandoned {
		dl := stall.WaitDeadline(b.deadline, &stallEnd, b.st.c.s.BodyStallTimeout)
		if !armWaitTimer(&b.timer, dl, b.wake) {
			b.mu.Unlock()
			return 0, os.ErrDeadlineExceeded
		}
		b.cond.Wait()
	}
	if b.abandoned {
		b.mu.Unlock()
		return 0, http.ErrBodyReadAfterClose
	}
	if b.err != nil && (b.hardErr || b.n == 0) {
		err := b.err
		if err == io.EOF && b.trailers != nil {
			// Trailers are visible once the body has been read.
			if b.req.Trailer == nil {
				b.req.Trailer = make(http.Header, len(b.trailers))
			}
			for k, v := range b.trailers {
				b.req.Trailer[k] = v
			}
			b.trailers = nil
		}
		b.mu.Unlock()
		return 0, err
	}
	n := 0
	for n < len(p) && b.n > 0 {
		ch := *b.chunks[0]
		end := chunkSize
		if len(b.chunks) == 1 {
			end = b.w
		}
		k := copy(p[n:], ch[b.r:end])
		n += k
		b.r += k
		b.n -= k
		if b.r == end {
			putChunk(b.chunks[0])
			b.chunks[0] = nil
			b.chunks = b.chunks[1:]
			b.r = 0
			if len(b.chunks) == 0 {
				b.chunks, b.w = b.chunks[:0], 0
			}
		}
	}
	upd := b.consumedLocked(int32(n))
	b.mu.Unlock()
	b.c.refund(n)
	if upd > 0 {
		b.c.writeWindowUpdate(b.id, upd)
	}
	return n, nil
}

// consumedLocked accounts for n bytes taken out of the body and returns
// the stream window to give back now (0 while less than half a window is
// due, or when the client will send nothing more).
func (b *reqBody) consumedLocked(n int32) int32 {
	b.unacked += n
	if b.end || b.abandoned || b.unacked < streamWindow/2 {
		return 0
	}
	upd := b.unacked
	b.unacked = 0
	b.win += upd
	return upd
}

func (b *reqBody) wake() {
	b.mu.Lock()
	b.cond.Broadcast()
	b.mu.Unlock()
}

// Close abandons the body: buffered bytes are dropped (and their
// connection window given back), later DATA is dropped as it arrives.
func (b *reqBody) Close() error {
	b.c.refund(b.abandon())
	return nil
}

// abandon drops the buffer and returns how many bytes it held.
func (b *reqBody) abandon() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.abandoned = true
	return b.dropLocked()
}

// fail ends the body with err (returned at once, before buffered data),
// drops the buffer and returns how many bytes it held.
func (b *reqBody) fail(err error) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err == nil || b.err == io.EOF {
		b.err, b.hardErr = err, true
	}
	return b.dropLocked()
}

func (b *reqBody) dropLocked() int {
	n := b.n
	for i, ch := range b.chunks {
		putChunk(ch)
		b.chunks[i] = nil
	}
	b.chunks, b.r, b.w, b.n = b.chunks[:0], 0, 0, 0
	if b.timer != nil {
		b.timer.Stop()
	}
	b.cond.Broadcast()
	return n
}

// setDeadline replaces the read deadline (ResponseController).
func (b *reqBody) setDeadline(t time.Time) {
	b.mu.Lock()
	b.deadline = t
	b.cond.Broadcast()
	b.mu.Unlock()
}

// push adds a DATA frame (flen bytes on the wire, data its payload
// without padding) or the end of the body (end, with trailers) on the
// connection goroutine. It returns a stream error code (ErrCodeNo when
// none; PROTOCOL_ERROR when the body disagrees with content-length, see
// resetPushed) and how many bytes of the connection window to give back
// at once (padding, and data nobody will read).
func (b *reqBody) push(data []byte, flen int, end bool, trailers http.Header) (http2.ErrCode, int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if int64(flen) > int64(b.win) {
		return http2.ErrCodeFlowControl, flen
	}
	b.win -= int32(flen)
	refund := flen - len(data)
	b.unacked += int32(refund)
	b.got += int64(len(data))
	if b.declared >= 0 && (b.got > b.declared || end && b.got != b.declared) {
		// The caller resets the stream, which fails the body with
		// errBodyLength: failing it here first would let the handler
		// see the error and finish before the stream is marked reset.
		return http2.ErrCodeProtocol, refund + len(data)
	}
	if b.abandoned || b.err != nil {
		refund += len(data)
	} else {
		b.append(data)
	}
	if end {
		b.end = true
		b.trailers = trailers
		if b.err == nil {
			b.err = io.EOF
		}
	}
	b.cond.Broadcast()
	return http2.ErrCodeNo, refund
}

// append copies data into the chunk buffer.
func (b *reqBody) append(data []byte) {
	for len(data) > 0 {
		if len(b.chunks) == 0 || b.w == chunkSize {
			b.chunks = append(b.chunks, getChunk())
			b.w = 0
		}
		k := copy((*b.chunks[len(b.chunks)-1])[b.w:], data)
		b.w += k
		b.n += k
		data = data[k:]
	}
}
