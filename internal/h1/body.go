package h1

import (
	"errors"
	"io"
	"net/http"
	"sync"

	"golang.org/x/net/http/httpguts"

	"github.com/mtlsgate/mtlsgate/internal/httpfield"
)

// Chunked body errors (the connection is closed after any of them).
var (
	errChunkSyntax   = errors.New("h1: malformed chunked encoding")
	errChunkOverhead = errors.New("h1: chunked encoding contains too much non-data")
	errTrailerSize   = errors.New("h1: trailer section too large")
)

// maxChunkLine bounds a chunk-size line with its extensions and CRLF.
const maxChunkLine = 4096

// Chunked decoder states.
const (
	chSize    = iota // expecting a chunk-size line
	chData           // in chunk data, n bytes left
	chDataEnd        // expecting the CRLF after chunk data
	chTrailer        // expecting the trailer section
	chDone
)

// body is a request body read from the connection, either n bytes
// (Content-Length) or chunked. One is allocated per request that has a
// body: a reader kept by someone past the request (a transport goroutine
// still copying it upstream, say) sees ErrBodyReadAfterClose once the
// request is over and can never read the next request's bytes.
type body struct {
	mu      sync.Mutex
	c       *conn
	req     *http.Request
	chunked bool
	n       int64 // bytes left: of the body, or of the current chunk
	state   int   // chunked decoder state
	excess  int64 // chunked framing overhead not yet paid for by data
	sawEOF  bool
	closed  bool  // closed by the handler
	over    bool  // the request is over: c must not be touched
	err     error // sticky read error
	cont    bool  // send 100 Continue before the first read
}

// Read reads the request body.
func (b *body) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.over || b.closed:
		return 0, http.ErrBodyReadAfterClose
	case b.err != nil:
		return 0, b.err
	case b.sawEOF:
		return 0, io.EOF
	case len(p) == 0:
		return 0, nil
	}
	if b.cont {
		b.cont = false
		if err := b.c.writeContinue(); err != nil {
			b.err = err
			return 0, err
		}
	}
	return b.readLocked(p)
}

// Close marks the body closed for the handler; what is left is dealt with
// when the response is committed or the request ends (read and dropped up
// to maxDrain, else the connection is closed).
func (b *body) Close() error {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	return nil
}

// ended reports whether the whole body has been read.
func (b *body) ended() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.sawEOF
}

// discard reads and drops the rest of the body, at most limit bytes; it
// reports whether the body ended cleanly.
func (b *body) discard(limit int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.sawEOF {
		return true
	}
	if b.over || b.err != nil || (!b.chunked && b.n > limit) {
		return false
	}
	bp := getBuf()
	defer putBuf(bp)
	buf := *bp
	for total := int64(0); total <= limit; {
		n, err := b.readLocked(buf)
		total += int64(n)
		if err == io.EOF {
			return true
		}
		if err != nil {
			return false
		}
	}
	return false
}

// finish ends the body's life: later reads fail without touching the
// connection.
func (b *body) finish() {
	b.mu.Lock()
	b.over = true
	b.mu.Unlock()
}

// readLocked reads body bytes; b.mu is held.
func (b *body) readLocked(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if b.sawEOF {
		return 0, io.EOF
	}
	b.c.armBodyStall()
	var n int
	var err error
	if b.chunked {
		n, err = b.readChunked(p)
	} else {
		n, err = b.readFixed(p)
	}
	if err != nil && err != io.EOF {
		b.err = err
	}
	return n, err
}

func (b *body) readFixed(p []byte) (int, error) {
	if b.n == 0 {
		b.sawEOF = true
		return 0, io.EOF
	}
	if int64(len(p)) > b.n {
		p = p[:b.n]
	}
	n, err := b.c.readInto(p)
	b.n -= int64(n)
	if b.n == 0 {
		// Returning EOF with the last bytes lets a proxy finish without
		// another Read.
		b.sawEOF = true
		return n, io.EOF
	}
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return n, err
	}
	return n, nil
}

func (b *body) readChunked(p []byte) (int, error) {
	if err := b.advance(true); err != nil {
		return 0, noEOF(err)
	}
	if b.state == chDone {
		b.sawEOF = true
		return 0, io.EOF
	}
	if int64(len(p)) > b.n {
		p = p[:b.n]
	}
	n, err := b.c.readInto(p)
	b.n -= int64(n)
	if b.n == 0 {
		b.state = chDataEnd
		// When the end of the chunk (and of the body) is already
		// buffered, report EOF now.
		switch aerr := b.advance(false); {
		case aerr == nil && b.state == chDone:
			b.sawEOF = true
			return n, io.EOF
		case aerr != nil && aerr != errWouldBlock:
			b.err = noEOF(aerr)
		}
	}
	if err != nil {
		return n, noEOF(err)
	}
	return n, nil
}

func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// advance runs the chunked decoder up to chunk data (n > 0) or the end.
// With block false it only uses buffered bytes (errWouldBlock otherwise).
func (b *body) advance(block bool) error {
	c := b.c
	for {
		switch b.state {
		case chData:
			if b.n > 0 {
				return nil
			}
			b.state = chDataEnd
		case chDataEnd:
			if err := c.need(2, block); err != nil {
				return err
			}
			if c.rbuf[c.rpos] != '\r' || c.rbuf[c.rpos+1] != '\n' {
				return errChunkSyntax
			}
			c.rpos += 2
			b.state = chSize
		case chSize:
			line, err := c.readLine(maxChunkLine, block)
			if err != nil {
				if err == errLineTooLong {
					return errChunkSyntax
				}
				return err
			}
			size, ok := parseChunkSize(line)
			if !ok {
				return errChunkSyntax
			}
			if size == 0 {
				b.state = chTrailer
				continue
			}
			// Like net/http: framing may cost at most 16 bytes plus
			// twice the data it frames, with 16 KiB of slack, so that
			// tiny chunks cannot make the server work for nothing.
			b.excess += int64(len(line)) + 4 - 16 - 2*min(size, 1<<40)
			b.excess = max(b.excess, 0)
			if b.excess > 16<<10 {
				return errChunkOverhead
			}
			b.n = size
			b.state = chData
		case chTrailer:
			if !block {
				// The common case, no trailer fields, without blocking.
				if err := c.need(2, false); err != nil {
					return err
				}
				if c.rbuf[c.rpos] != '\r' || c.rbuf[c.rpos+1] != '\n' {
					return errWouldBlock
				}
			}
			if err := b.readTrailer(); err != nil {
				return err
			}
			b.state = chDone
		case chDone:
			return nil
		}
	}
}

// readTrailer reads the trailer section (bounded by MaxHeaderBytes and
// maxHeaderFields) into req.Trailer, parsed like header fields. Fields
// that must not be trailers (framing, routing, authentication: see
// httpguts.ValidTrailerHeader) are dropped.
func (b *body) readTrailer() error {
	c := b.c
	budget := c.s.maxHeaderBytes()
	for fields := 0; ; fields++ {
		line, err := c.readLine(budget, true)
		if err != nil {
			if err == errLineTooLong {
				return errTrailerSize
			}
			return noEOF(err)
		}
		budget -= len(line) + 2
		if len(line) == 0 {
			return nil
		}
		if fields == maxHeaderFields {
			return errTrailerSize
		}
		fs, herr := scanField(line)
		if herr != nil {
			return errChunkSyntax
		}
		name := string(line[fs.ns:fs.ne])
		if !httpguts.ValidTrailerHeader(name) {
			continue
		}
		if b.req.Trailer == nil {
			b.req.Trailer = make(http.Header)
		}
		b.req.Trailer[name] = append(b.req.Trailer[name], string(line[fs.vs:fs.ve]))
	}
}

// parseChunkSize parses chunk-size [ chunk-ext ] (RFC 9112 §7.1): 1 to
// 16 hex digits (like net/http, leading zeros included) without overflow,
// then extensions that must follow the grammar exactly.
func parseChunkSize(line []byte) (int64, bool) {
	var n int64
	i := 0
	for ; i < len(line) && isHexDigit(line[i]); i++ {
		if i == 16 || n >= 1<<59 {
			return 0, false
		}
		n = n<<4 | int64(unhex(line[i]))
	}
	if i == 0 {
		return 0, false
	}
	return n, validChunkExt(line[i:])
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// validChunkExt checks *( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] )
// with ext-val = token / quoted-string.
func validChunkExt(s []byte) bool {
	for len(s) > 0 {
		s = trimBWS(s)
		if len(s) == 0 || s[0] != ';' {
			return false
		}
		s = trimBWS(s[1:])
		n := tokenLen(s)
		if n == 0 {
			return false
		}
		s = s[n:]
		t := trimBWS(s)
		if len(t) == 0 || t[0] != '=' {
			s = t
			continue
		}
		s = trimBWS(t[1:])
		if len(s) > 0 && s[0] == '"' {
			n = quotedLen(s)
		} else {
			n = tokenLen(s)
		}
		if n == 0 {
			return false
		}
		s = s[n:]
	}
	return true
}

func trimBWS(s []byte) []byte {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	return s
}

func tokenLen(s []byte) int {
	n := 0
	for n < len(s) && httpfield.TokenByte(s[n]) {
		n++
	}
	return n
}

// quotedLen returns the length of the quoted-string s starts with, or 0.
func quotedLen(s []byte) int {
	for i := 1; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			return i + 1
		case c == '\\':
			i++
			if i == len(s) || !isVchar[s[i]] {
				return 0
			}
		case !isQdtext[c]:
			return 0
		}
	}
	return 0
}
