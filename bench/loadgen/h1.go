package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http/httputil"
	"strconv"
	"time"
)

// h1Conn is a minimal HTTP/1.1 client over one connection: it writes a
// prebuilt request and reads the status line, headers and body. It costs far
// less CPU than net/http, so the generator sharing a core with the upstream
// stays out of the way.
type h1Conn struct {
	c   net.Conn
	br  *bufio.Reader
	req []byte
}

// client is one connection of either protocol.
type client interface {
	do() (status int, closing bool, err error)
	setDeadline(time.Time)
	close()
}

func (h *h1Conn) setDeadline(t time.Time) { _ = h.c.SetDeadline(t) }
func (h *h1Conn) close()                  { h.c.Close() }

var (
	errBadStatus = errors.New("malformed status line")
	errBadHeader = errors.New("malformed header")
)

// buildRequest returns the bytes of one GET request.
func buildRequest(host, path string, closeConn bool) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: mtlsgate-loadgen\r\nAccept: */*\r\n", path, host)
	if closeConn {
		b.WriteString("Connection: close\r\n")
	}
	b.WriteString("\r\n")
	return b.Bytes()
}

// do sends h.req and reads the whole response. It returns the status code
// and whether the server will close the connection.
func (h *h1Conn) do() (status int, closing bool, err error) {
	if _, err := h.c.Write(h.req); err != nil {
		return 0, true, err
	}
	return readResponse(h.br)
}

// readResponse reads one HTTP/1.x response to a GET and discards the body.
func readResponse(br *bufio.Reader) (status int, closing bool, err error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return 0, true, err
	}
	// "HTTP/1.1 200 OK\r\n"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
		return 0, true, errBadStatus
	}
	status, err = strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, true, errBadStatus
	}
	http10 := line[7] == '0'
	closing = http10
	contentLength := int64(-1)
	chunked := false
	for {
		line, err = br.ReadSlice('\n')
		if err != nil {
			return status, true, err
		}
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			break
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			return status, true, errBadHeader
		}
		name := line[:colon]
		val := bytes.TrimSpace(line[colon+1:])
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			n, perr := strconv.ParseInt(string(val), 10, 64)
			if perr != nil || n < 0 {
				return status, true, errBadHeader
			}
			contentLength = n
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			chunked = bytes.EqualFold(val, []byte("chunked"))
		case bytes.EqualFold(name, []byte("Connection")):
			if bytes.EqualFold(val, []byte("close")) {
				closing = true
			} else if bytes.EqualFold(val, []byte("keep-alive")) {
				closing = false
			}
		}
	}
	switch {
	case status == 204 || status == 304 || (status >= 100 && status < 200):
	case chunked:
		if _, err := io.Copy(io.Discard, httputil.NewChunkedReader(br)); err != nil {
			return status, true, err
		}
		// Trailers end with an empty line.
		for {
			line, err = br.ReadSlice('\n')
			if err != nil {
				return status, true, err
			}
			if len(bytes.TrimRight(line, "\r\n")) == 0 {
				break
			}
		}
	case contentLength >= 0:
		if _, err := br.Discard(int(contentLength)); err != nil {
			return status, true, err
		}
	default: // body delimited by close
		if _, err := io.Copy(io.Discard, br); err != nil {
			return status, true, err
		}
		closing = true
	}
	return status, closing, nil
}
