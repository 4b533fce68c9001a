package h1

import (
	"bytes"
	"errors"
	"io"
	"time"
)

// write sends b; the first error is kept, cancels the connection's context
// and makes the connection close without further writes.
func (c *conn) write(b []byte) {
	for c.werr == nil && len(b) > 0 {
		// In pieces, each with its own stall deadline: a slow client
		// that keeps reading is not cut off by the size of a write.
		n := min(len(b), maxWritePiece)
		c.armSendStall()
		if _, err := c.nc.Write(b[:n]); err != nil {
			c.werr = err
			c.cctx.Cancel(err)
		}
		b = b[n:]
	}
}

// maxWritePiece is the most one socket write of c.write sends.
const maxWritePiece = 64 << 10

var continueLine = []byte("HTTP/1.1 100 Continue\r\n\r\n")

// writeContinue sends "100 Continue" if the response has not started. It
// may run on a goroutine other than the handler's (whoever reads the
// body), so it leaves c.werr alone: a broken connection fails the
// response's next write as well.
func (c *conn) writeContinue() error {
	c.contMu.Lock()
	defer c.contMu.Unlock()
	if !c.canContinue {
		return nil
	}
	c.canContinue = false
	// The socket may keep the stall deadline of the last response, long
	// past on a connection that was idle.
	c.armSendStall()
	if _, err := c.nc.Write(continueLine); err != nil {
		c.cctx.Cancel(err)
		return err
	}
	return nil
}

// disableContinue makes sure no "100 Continue" goes out from now on.
func (c *conn) disableContinue() {
	if c.expectPending {
		c.contMu.Lock()
		c.canContinue = false
		c.contMu.Unlock()
	}
}

// Read buffer management.

func (c *conn) acquireRead() {
	if c.rbuf == nil {
		c.rbufp = getBuf()
		c.rbuf = *c.rbufp
		c.rpos, c.rend = 0, 0
	}
}

// releaseRead returns the read buffer to its pool when nothing is
// buffered.
func (c *conn) releaseRead() {
	if c.rbuf == nil || c.rpos < c.rend {
		return
	}
	if c.rbufp != nil {
		putBuf(c.rbufp)
	}
	c.rbufp, c.rbuf = nil, nil
	c.rpos, c.rend = 0, 0
}

// fill reads more into the buffer (which must have room).
func (c *conn) fill() error {
	for range 100 {
		n, err := c.nc.Read(c.rbuf[c.rend:])
		c.rend += n
		if n > 0 {
			return nil
		}
		if err != nil && !c.headDL.IsZero() && isTimeout(err) {
			// The idle grace's deadline passed while the head was
			// arriving: the head's own deadline applies from now.
			// (A timeout leaves a TLS connection usable.)
			c.setReadDeadline(c.headDL)
			c.headDL = time.Time{}
			continue
		}
		if err != nil {
			return err
		}
	}
	return io.ErrNoProgress
}

// makeRoom makes space at the end of the buffer for at least one more
// byte, moving unread bytes to the front or growing the buffer up to
// maxLen bytes of unread data; false when the unread data already has
// maxLen bytes.
func (c *conn) makeRoom(maxLen int) bool {
	if c.rend < len(c.rbuf) {
		return true
	}
	if c.rpos > 0 {
		n := copy(c.rbuf, c.rbuf[c.rpos:c.rend])
		c.rpos, c.rend = 0, n
		return true
	}
	if len(c.rbuf) >= maxLen {
		return false
	}
	nb := make([]byte, min(2*len(c.rbuf), maxLen+bufSize))
	copy(nb, c.rbuf[:c.rend])
	if c.rbufp != nil {
		putBuf(c.rbufp)
		c.rbufp = nil
	}
	c.rbuf = nb
	return true
}

// readHead reads until a whole request head is buffered at c.rbuf[c.rpos:]
// and returns it (through the CRLF of the empty line). Leading empty lines
// are skipped. Limits: the request line (414), the head (MaxHeaderBytes,
// 431); every line must end in CRLF.
func (c *conn) readHead() ([]byte, error) {
	limit := c.s.maxHeaderBytes()
	lineLimit := min(maxRequestLine, limit)
	empty := 0
	scan, lineStart := 0, 0 // offsets from c.rpos
	inReqLine := true
	for {
		buf := c.rbuf[c.rpos:c.rend]
		for {
			i := bytes.IndexByte(buf[scan:], '\n')
			if i < 0 {
				break
			}
			nl := scan + i
			if nl == lineStart || buf[nl-1] != '\r' {
				return nil, errBareLF
			}
			if inReqLine {
				if nl == lineStart+1 { // an empty line before the request
					empty++
					if empty > maxLeadingEmptyLines {
						return nil, errTooManyEmpty
					}
					c.rpos += 2
					buf = buf[2:]
					scan, lineStart = 0, 0
					continue
				}
				if nl+1 > lineLimit {
					return nil, longLineError(buf[:nl])
				}
				inReqLine = false
			} else if nl == lineStart+1 {
				if nl+1 > limit {
					return nil, errHeaderTooLarge
				}
				return buf[:nl+1], nil
			}
			scan = nl + 1
			lineStart = scan
		}
		scan = len(buf)
		if inReqLine && len(buf) >= lineLimit {
			return nil, longLineError(buf)
		}
		if len(buf) >= limit {
			return nil, errHeaderTooLarge
		}
		if !c.makeRoom(limit) {
			return nil, errHeaderTooLarge
		}
		if err := c.fill(); err != nil {
			return nil, err
		}
	}
}

// longLineError classifies an over-long request line: 414 when the target
// is what is long, 400 otherwise.
func longLineError(line []byte) *httpError {
	sp := bytes.IndexByte(line, ' ')
	if sp > 0 && sp < 64 && bytes.IndexByte(line[sp+1:], ' ') < 0 {
		return errURITooLong
	}
	return errRequestLine
}

// readInto reads body bytes into p: buffered bytes first, then from the
// connection (straight into p when it is large, so big bodies are not
// copied twice; p never extends past the body).
func (c *conn) readInto(p []byte) (int, error) {
	if c.rpos < c.rend {
		n := copy(p, c.rbuf[c.rpos:c.rend])
		c.rpos += n
		return n, nil
	}
	if len(p) >= len(c.rbuf)/2 {
		for range 100 {
			n, err := c.nc.Read(p)
			if n > 0 || err != nil {
				return n, err
			}
		}
		return 0, io.ErrNoProgress
	}
	c.rpos, c.rend = 0, 0
	if err := c.fill(); err != nil {
		return 0, err
	}
	n := copy(p, c.rbuf[c.rpos:c.rend])
	c.rpos += n
	return n, nil
}

// errWouldBlock: the data is not buffered and block was false.
var errWouldBlock = errors.New("h1: would block")

// errLineTooLong: a line exceeds its limit.
var errLineTooLong = errors.New("h1: line too long")

// readLine returns the next CRLF-terminated line (without CRLF) of at
// most maxLen bytes including CRLF. The result aliases the read buffer and
// is valid until the next read. With block false it does not read from the
// connection (errWouldBlock).
func (c *conn) readLine(maxLen int, block bool) ([]byte, error) {
	scan := 0
	for {
		buf := c.rbuf[c.rpos:c.rend]
		if i := bytes.IndexByte(buf[scan:], '\n'); i >= 0 {
			nl := scan + i
			if nl+1 > maxLen {
				return nil, errLineTooLong
			}
			if nl == 0 || buf[nl-1] != '\r' {
				return nil, errChunkSyntax
			}
			c.rpos += nl + 1
			return buf[:nl-1], nil
		}
		scan = len(buf)
		if len(buf) >= maxLen {
			return nil, errLineTooLong
		}
		if !block {
			return nil, errWouldBlock
		}
		if !c.makeRoom(maxLen) {
			return nil, errLineTooLong
		}
		if err := c.fill(); err != nil {
			return nil, err
		}
	}
}

// need makes sure n bytes are buffered.
func (c *conn) need(n int, block bool) error {
	for c.rend-c.rpos < n {
		if !block {
			return errWouldBlock
		}
		if !c.makeRoom(n) {
			return errLineTooLong
		}
		if err := c.fill(); err != nil {
			return err
		}
	}
	return nil
}
