package proxy

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"net/textproto"

	"github.com/mtlsgate/mtlsgate/internal/httpfield"
)

// readSimpleResponse parses the common upstream answer without net/http:
// an HTTP/1.1 final response (200-599 but 204 and 304) to a request other
// than HEAD, whose whole head is already buffered in br, framed by a
// single Content-Length, with no Transfer-Encoding, Connection or Trailer
// field and nothing net/http would read differently (field names are
// tokens, values free of control characters, no obs-fold). For that
// subset it yields what http.ReadResponse would (the differential fuzz
// target checks it) at a fraction of the allocations: the head becomes one
// string, every name and value a substring of it, and the response, its
// body reader and (up to 8) values share one allocation.
//
// ok false means "not this subset": nothing was consumed and the caller
// reads the response with http.ReadResponse, which then applies its own
// rules and errors.
func readSimpleResponse(br *bufio.Reader, req *http.Request) (sr *simpleResponse, bodyLen int64, ok bool) {
	if req.Method == http.MethodHead {
		return nil, 0, false
	}
	buf, _ := br.Peek(br.Buffered())
	end := bytes.Index(buf, []byte("\r\n\r\n"))
	if end < 0 {
		return nil, 0, false
	}
	raw := buf[:end+2] // every line with its CRLF
	lines := bytes.Count(raw, []byte("\r\n"))
	head := string(raw)

	// Status line: "HTTP/1.1 ddd" then end of line or " reason".
	nl := indexCRLF(head)
	line := head[:nl]
	if len(line) < 12 || line[:9] != "HTTP/1.1 " || !digit(line[9]) || !digit(line[10]) || !digit(line[11]) {
		return nil, 0, false
	}
	code := int(line[9]-'0')*100 + int(line[10]-'0')*10 + int(line[11]-'0')
	if code < 200 || code > 599 || code == http.StatusNoContent || code == http.StatusNotModified {
		return nil, 0, false
	}
	if len(line) > 12 && (line[12] != ' ' || !fieldText(line[13:])) {
		return nil, 0, false
	}

	sr = new(simpleResponse)
	h := make(http.Header, lines-1)
	vals := sr.vals[:]
	if lines-1 > len(vals) {
		vals = make([]string, lines-1)
	}
	nv := 0
	bodyLen = -1
	for rest := head[nl+2:]; rest != ""; {
		nl := indexCRLF(rest)
		line, next := rest[:nl], rest[nl+2:]
		rest = next
		colon := -1
		for i := 0; i < len(line); i++ {
			if line[i] == ':' {
				colon = i
				break
			}
			if !httpfield.TokenByte(line[i]) {
				return nil, 0, false
			}
		}
		if colon <= 0 {
			return nil, 0, false
		}
		v := trimOWS(line[colon+1:])
		if !fieldText(v) {
			return nil, 0, false
		}
		k := textproto.CanonicalMIMEHeaderKey(line[:colon])
		switch k {
		case "Transfer-Encoding", "Connection", "Trailer":
			return nil, 0, false
		case "Content-Length":
			if bodyLen >= 0 {
				return nil, 0, false
			}
			if bodyLen = parseLength(v); bodyLen < 0 {
				return nil, 0, false
			}
		}
		vals[nv] = v
		if old, dup := h[k]; dup {
			h[k] = append(old, v)
		} else {
			h[k] = vals[nv : nv+1 : nv+1]
		}
		nv++
	}
	if bodyLen < 0 {
		return nil, 0, false // delimited by the connection's end
	}
	_, _ = br.Discard(len(raw) + 2)
	sr.resp = http.Response{
		Status: line[9:], StatusCode: code,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: h, ContentLength: bodyLen, Request: req, Body: http.NoBody,
	}
	return sr, bodyLen, true
}

// simpleResponse is a response read by readSimpleResponse together with
// its body reader and the backing of its field values: one allocation.
type simpleResponse struct {
	resp http.Response
	body fastBody
	vals [8]string
}

// indexCRLF returns the index of the first CRLF in s, which has one.
func indexCRLF(s string) int {
	for i := 0; ; i++ {
		if s[i] == '\r' && s[i+1] == '\n' {
			return i
		}
	}
}

func digit(b byte) bool { return '0' <= b && b <= '9' }

// fieldText reports whether s is free of control characters other than
// HTAB (and of DEL): a bare CR or LF, NUL and the like send the response
// to net/http, which refuses or keeps them by its own rules.
func fieldText(s string) bool {
	for i := 0; i < len(s); i++ {
		if b := s[i]; b < ' ' && b != '\t' || b == 0x7f {
			return false
		}
	}
	return true
}

func trimOWS(s string) string {
	for s != "" && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for s != "" && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// parseLength parses 1 to 18 decimal digits, or returns -1.
func parseLength(s string) int64 {
	if s == "" || len(s) > 18 {
		return -1
	}
	var n int64
	for i := 0; i < len(s); i++ {
		if !digit(s[i]) {
			return -1
		}
		n = n*10 + int64(s[i]-'0')
	}
	return n
}

// lengthBody reads exactly n bytes of a response body from br.
type lengthBody struct {
	br *bufio.Reader
	n  int64
}

func (b *lengthBody) Read(p []byte) (int, error) {
	if b.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.n {
		p = p[:b.n]
	}
	n, err := b.br.Read(p)
	b.n -= int64(n)
	if b.n == 0 {
		return n, io.EOF
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

func (b *lengthBody) Close() error { return nil }
