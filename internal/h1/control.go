package h1

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"
)

// Flush sends what was written so far (http.Flusher).
func (w *response) Flush() { _ = w.FlushError() }

// FlushError is Flush with an error (used by http.ResponseController).
func (w *response) FlushError() error {
	if w.st == nil {
		return errResponseDone
	}
	if w.hijacked {
		return http.ErrHijacked
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !w.committed {
		w.commit()
	}
	w.flushBuf()
	return w.c.werr
}

// SetReadDeadline sets the connection's read deadline (for the request
// body); http.ResponseController.SetReadDeadline.
func (w *response) SetReadDeadline(t time.Time) error {
	if w.st == nil {
		return errResponseDone
	}
	c := w.c
	c.dlMu.Lock()
	defer c.dlMu.Unlock()
	c.rEnd, c.rdl = t, t
	return c.nc.SetReadDeadline(t)
}

// SetWriteDeadline sets the connection's write deadline;
// http.ResponseController.SetWriteDeadline.
func (w *response) SetWriteDeadline(t time.Time) error {
	if w.st == nil {
		return errResponseDone
	}
	c := w.c
	c.dlMu.Lock()
	defer c.dlMu.Unlock()
	c.wEnd, c.wdl = t, t
	return c.nc.SetWriteDeadline(t)
}

// EnableFullDuplex lets the handler read the request body after it
// started the response: the server then does not read the rest of the body
// before sending the head (http.ResponseController.EnableFullDuplex). The
// connection has no background reader, so reading and writing concurrently
// is always safe; it returns nil.
func (w *response) EnableFullDuplex() error {
	if w.st == nil {
		return errResponseDone
	}
	w.fullDuplex = true
	return nil
}

// Hijack hands the connection to the handler (http.Hijacker). The
// returned reader holds any bytes already read past the request head (the
// rest of the body, pipelined data); a head written with WriteHeader is
// flushed first. Deadlines are cleared, as by net/http.
func (w *response) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if w.st == nil || w.handlerDone {
		return nil, nil, errResponseDone
	}
	if w.hijacked {
		return nil, nil, http.ErrHijacked
	}
	c := w.c
	c.stopWatch()
	c.disableContinue()
	if w.wroteHeader {
		if !w.committed {
			w.commit()
		}
		w.flushBuf()
	}
	if c.werr != nil {
		return nil, nil, c.werr
	}
	if b := c.body; b != nil {
		b.finish()
		c.body = nil
	}
	var pending []byte
	if c.pending1 {
		pending = append(pending, c.bgBuf[0])
		c.pending1 = false
	}
	if c.rpos < c.rend {
		pending = append(pending, c.rbuf[c.rpos:c.rend]...)
	}
	c.rpos, c.rend = 0, 0
	_ = c.nc.SetDeadline(time.Time{})
	var br *bufio.Reader
	if len(pending) > 0 {
		br = bufio.NewReaderSize(io.MultiReader(bytes.NewReader(pending), c.nc), max(bufSize, len(pending)))
		_, _ = br.Peek(len(pending)) // into the bufio buffer, so Buffered() shows them
	} else {
		br = bufio.NewReader(c.nc)
	}
	w.hijacked = true
	c.hijacked = true
	c.state.Store(csHijacked)
	w.releaseBufs()
	c.s.untrack(c)
	c.hook(http.StateHijacked)
	return c.nc, bufio.NewReadWriter(br, bufio.NewWriter(c.nc)), nil
}

func bodyAllowedForStatus(code int) bool {
	switch {
	case code >= 100 && code <= 199:
		return false
	case code == http.StatusNoContent, code == http.StatusNotModified:
		return false
	}
	return true
}

func appendStatusLine(b []byte, is11 bool, code int) []byte {
	if is11 {
		b = append(b, "HTTP/1.1 "...)
	} else {
		b = append(b, "HTTP/1.0 "...)
	}
	b = strconv.AppendInt(b, int64(code), 10)
	b = append(b, ' ')
	if text := http.StatusText(code); text != "" {
		b = append(b, text...)
	} else {
		b = append(b, "status code "...)
		b = strconv.AppendInt(b, int64(code), 10)
	}
	return append(b, "\r\n"...)
}
