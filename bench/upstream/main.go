// Command upstream is the benchmark's static backend: a minimal HTTP/1.1
// server (HTTPS with client-certificate verification, or plain HTTP) that
// answers every request with the same small JSON body. It parses just
// enough HTTP to be correct for GET/HEAD (and discards request bodies), so
// it costs little CPU on the core it shares with the load generator.
//
// It answers 400 when the header named by --require-header is missing, so a
// peer that does not forward the verified client certificate shows up as
// errors, and echoes that header's value on --echo-path for sanity checks.
package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http/httputil"
	"os"
	"os/signal"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mtlsgate/mtlsgate/bench/internal/benchtls"
)

// Body is the fixed 64-byte response body.
const Body = `{"ok":true,"service":"bench-upstream","pad":"xxxxxxxxxxxxxxxxx"}` + "\n"

type server struct {
	requireHeader []byte
	echoPath      []byte
	okResp        []byte
	requests      atomic.Int64
	conns         atomic.Int64
	missing       atomic.Int64
}

func main() {
	listen := flag.String("listen", "127.0.0.1:9000", "address to listen on")
	cert := flag.String("cert", "", "server certificate PEM (empty: plain HTTP)")
	key := flag.String("key", "", "server key PEM")
	clientCA := flag.String("client-ca", "", "CA bundle that client certificates must chain to (empty: no client certificate)")
	require := flag.String("require-header", "Client-Cert", "answer 400 when this request header is missing (empty: no check)")
	echo := flag.String("echo-path", "/__bench/echo", "path that answers with the value of --require-header")
	flag.Parse()

	s := &server{requireHeader: []byte(*require), echoPath: []byte(*echo)}
	s.okResp = []byte(fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(Body), Body))

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "upstream:", err)
		os.Exit(1)
	}
	if *cert != "" {
		cfg, err := benchtls.ServerConfig(*cert, *key, *clientCA)
		if err != nil {
			fmt.Fprintln(os.Stderr, "upstream:", err)
			os.Exit(1)
		}
		cfg.NextProtos = []string{"http/1.1"}
		ln = tls.NewListener(ln, cfg)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-sig
		fmt.Fprintf(os.Stderr, "upstream: %d connections, %d requests, %d without %s\n",
			s.conns.Load(), s.requests.Load(), s.missing.Load(), *require)
		os.Exit(0)
	}()
	fmt.Fprintf(os.Stderr, "upstream: listening on %s\n", ln.Addr())
	for {
		c, err := ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(5 * time.Millisecond)
				continue
			}
			fmt.Fprintln(os.Stderr, "upstream: accept:", err)
			time.Sleep(50 * time.Millisecond)
			continue
		}
		s.conns.Add(1)
		go s.serve(c)
	}
}

func (s *server) serve(c net.Conn) {
	defer c.Close()
	br := bufio.NewReaderSize(c, 8<<10)
	bw := bufio.NewWriterSize(c, 4<<10)
	for {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Minute))
		keep, err := s.handle(br, bw)
		if err != nil {
			return
		}
		if br.Buffered() == 0 || !keep {
			if bw.Flush() != nil || !keep {
				return
			}
		}
	}
}

// handle reads one request and writes its response; keep reports whether
// the connection stays open.
func (s *server) handle(br *bufio.Reader, bw *bufio.Writer) (keep bool, err error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return false, err
	}
	sp1 := bytes.IndexByte(line, ' ')
	sp2 := bytes.LastIndexByte(line, ' ')
	if sp1 <= 0 || sp2 <= sp1 {
		bw.WriteString("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
		return false, nil
	}
	method := string(line[:sp1])
	path := string(line[sp1+1 : sp2])
	keep = bytes.HasPrefix(line[sp2+1:], []byte("HTTP/1.1"))
	var length int64
	chunked, found := false, len(s.requireHeader) == 0
	var headerVal string
	for {
		line, err = br.ReadSlice('\n')
		if err != nil {
			return false, err
		}
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			break
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			return false, errors.New("bad header")
		}
		name, val := line[:colon], bytes.TrimSpace(line[colon+1:])
		switch {
		case !found && bytes.EqualFold(name, s.requireHeader):
			found = len(val) > 0
			if path == string(s.echoPath) {
				headerVal = string(val)
			}
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = strconv.ParseInt(string(val), 10, 64); err != nil || length < 0 {
				return false, errors.New("bad content-length")
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			chunked = true
		case bytes.EqualFold(name, []byte("Connection")):
			if bytes.EqualFold(val, []byte("close")) {
				keep = false
			} else if bytes.EqualFold(val, []byte("keep-alive")) {
				keep = true
			}
		}
	}
	if chunked {
		if _, err := io.Copy(io.Discard, httputil.NewChunkedReader(br)); err != nil {
			return false, err
		}
		for { // trailers
			if line, err = br.ReadSlice('\n'); err != nil {
				return false, err
			}
			if len(bytes.TrimRight(line, "\r\n")) == 0 {
				break
			}
		}
	} else if length > 0 {
		if _, err := br.Discard(int(length)); err != nil {
			return false, err
		}
	}
	s.requests.Add(1)
	conn := ""
	if !keep {
		conn = "Connection: close\r\n"
	}
	switch {
	case !found:
		s.missing.Add(1)
		msg := "missing " + string(s.requireHeader) + " header\n"
		fmt.Fprintf(bw, "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n%s\r\n%s", len(msg), conn, msg)
	case path == string(s.echoPath):
		fmt.Fprintf(bw, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n%s\r\n%s\n", len(headerVal)+1, conn, headerVal)
	case !keep:
		fmt.Fprintf(bw, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s\r\n", len(Body), conn)
		if method != "HEAD" {
			bw.WriteString(Body)
		}
	case method == "HEAD":
		fmt.Fprintf(bw, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", len(Body))
	default:
		bw.Write(s.okResp)
	}
	return keep, nil
}
