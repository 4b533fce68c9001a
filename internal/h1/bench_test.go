package h1

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/mtlsgate/mtlsgate/internal/servertest"
)

// The benchmarks compare this server with net/http's on the same
// connections, handler and client:
//
//	go test -run '^$' -bench . -benchmem ./internal/h1/
//
// BenchmarkServeKeepAlive: one keep-alive connection on loopback (TLS 1.3
// with client certificates, and plain TCP), a minimal client doing one
// request per round trip. "raw" is a server that only reads the request
// and writes a canned response: the client's and the kernel's share.
// cpu-ns/op is the process's CPU time (user+system) per request.
//
// BenchmarkServeInMemory: an in-memory connection (no syscalls) that hands
// the server the next request once it answered the previous one, so
// ns/op is the server's own cost per request (net/http's background read
// and its wake-up included).

var (
	benchRequest = []byte("GET /bench/path?x=1 HTTP/1.1\r\nHost: bench.example\r\nUser-Agent: loadgen/1.0\r\nAccept: */*\r\nX-Request-Id: 5f0c6a3e\r\n\r\n")
	ctPlain      = []string{"text/plain; charset=utf-8"}
	okBody       = []byte("ok")
)

// benchHandler is a trivial handler that allocates nothing itself.
var benchHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.Header()["Content-Type"] = ctPlain
	w.Write(okBody)
})

func BenchmarkServeKeepAlive(b *testing.B) {
	for _, transport := range []string{"tls", "tcp"} {
		for _, server := range []string{"h1", "nethttp", "raw"} {
			b.Run(server+"/"+transport, func(b *testing.B) {
				benchKeepAlive(b, server, transport == "tls")
			})
		}
	}
}

func benchKeepAlive(b *testing.B, server string, useTLS bool) {
	var srvConf, cliConf *tls.Config
	if useTLS {
		srvConf, cliConf = testTLS(b)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	var h1srv *Server
	var hs *http.Server
	switch server {
	case "h1":
		h1srv = &Server{Handler: benchHandler, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: time.Minute}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					if srvConf != nil {
						tc := tls.Server(c, srvConf)
						if tc.Handshake() != nil {
							c.Close()
							return
						}
						c = tc
					}
					h1srv.ServeConn(c)
				}()
			}
		}()
	case "nethttp":
		hs = &http.Server{Handler: benchHandler, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: time.Minute, ErrorLog: discardLogger()}
		var l net.Listener = ln
		if srvConf != nil {
			l = tls.NewListener(ln, srvConf)
		}
		wg.Add(1)
		go func() { defer wg.Done(); hs.Serve(l) }()
	case "raw":
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if srvConf != nil {
				c = tls.Server(c, srvConf)
			}
			rawServe(c)
		}()
	}

	var c net.Conn
	c, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	if cliConf != nil {
		tc := tls.Client(c, cliConf)
		if err := tc.Handshake(); err != nil {
			b.Fatal(err)
		}
		c = tc
	}
	cl := &rawClient{c: c, buf: make([]byte, 4096)}
	cl.roundTrip(b) // warm up pools and the connection

	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := servertest.CPUTime()
	for b.Loop() {
		cl.roundTrip(b)
	}
	b.ReportMetric(float64(servertest.CPUTime()-cpu0)/float64(b.N), "cpu-ns/op")
	b.StopTimer()
	c.Close()
	ln.Close()
	if h1srv != nil {
		h1srv.Close()
	}
	if hs != nil {
		hs.Close()
	}
	wg.Wait()
}

// rawClient sends benchRequest and reads one Content-Length response.
type rawClient struct {
	c   net.Conn
	buf []byte
}

func (rc *rawClient) roundTrip(b *testing.B) {
	if _, err := rc.c.Write(benchRequest); err != nil {
		b.Fatal(err)
	}
	n := 0
	for {
		m, err := rc.c.Read(rc.buf[n:])
		n += m
		if err != nil {
			b.Fatal(err)
		}
		head := bytes.Index(rc.buf[:n], []byte("\r\n\r\n"))
		if head < 0 {
			continue
		}
		i := bytes.Index(rc.buf[:head], []byte("Content-Length: "))
		if i < 0 {
			b.Fatalf("no Content-Length in %q", rc.buf[:head])
		}
		j := i + len("Content-Length: ")
		cl := 0
		for ; rc.buf[j] >= '0' && rc.buf[j] <= '9'; j++ {
			cl = cl*10 + int(rc.buf[j]-'0')
		}
		if n >= head+4+cl {
			return
		}
	}
}

var rawResponse = []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nDate: Mon, 23 Nov 2026 21:58:00 GMT\r\nContent-Length: 2\r\n\r\nok")

// rawServe answers every request head with rawResponse: the floor.
func rawServe(c net.Conn) {
	defer c.Close()
	buf := make([]byte, 4096)
	n := 0
	for {
		m, err := c.Read(buf[n:])
		n += m
		if err != nil {
			return
		}
		if i := bytes.Index(buf[:n], []byte("\r\n\r\n")); i >= 0 {
			n = copy(buf, buf[i+4:n])
			if _, err := c.Write(rawResponse); err != nil {
				return
			}
		}
	}
}

// pingConn is an in-memory connection that yields request n+1 only after
// response n was written, like a client doing one request per round trip.
// Reads block until then (or until a past read deadline aborts them, as
// net/http's background read needs).
type pingConn struct {
	mu       sync.Mutex
	cond     *sync.Cond
	left     int  // requests still to send
	due      bool // the next request may be read
	pending  []byte
	aborted  bool
	closed   bool
	done     chan struct{}
	doneOnce sync.Once
}

func newPingConn(n int) *pingConn {
	pc := &pingConn{left: n, due: true, done: make(chan struct{})}
	pc.cond = sync.NewCond(&pc.mu)
	return pc
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func (pc *pingConn) Read(p []byte) (int, error) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	for {
		if pc.closed {
			return 0, net.ErrClosed
		}
		if len(pc.pending) > 0 {
			n := copy(p, pc.pending)
			pc.pending = pc.pending[n:]
			return n, nil
		}
		if pc.due {
			if pc.left == 0 {
				return 0, io.EOF
			}
			pc.left--
			pc.due = false
			pc.pending = benchRequest
			continue
		}
		if pc.aborted {
			return 0, timeoutErr{}
		}
		pc.cond.Wait()
	}
}

func (pc *pingConn) Write(p []byte) (int, error) {
	if bytes.HasSuffix(p, okBody) {
		pc.mu.Lock()
		pc.due = true
		pc.cond.Broadcast()
		pc.mu.Unlock()
	}
	return len(p), nil
}

func (pc *pingConn) Close() error {
	pc.mu.Lock()
	pc.closed = true
	pc.cond.Broadcast()
	pc.mu.Unlock()
	pc.doneOnce.Do(func() { close(pc.done) })
	return nil
}

func (pc *pingConn) LocalAddr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 443} }
func (pc *pingConn) RemoteAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2), Port: 50000}
}
func (pc *pingConn) SetDeadline(t time.Time) error {
	return pc.SetReadDeadline(t)
}
func (pc *pingConn) SetWriteDeadline(time.Time) error { return nil }
func (pc *pingConn) SetReadDeadline(t time.Time) error {
	pc.mu.Lock()
	pc.aborted = !t.IsZero() && t.Before(time.Now())
	pc.cond.Broadcast()
	pc.mu.Unlock()
	return nil
}

// oneConnListener hands out one connection, then blocks until closed.
type oneConnListener struct {
	c    chan net.Conn
	done chan struct{}
	once sync.Once
}

func (l *oneConnListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.c:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}
func (l *oneConnListener) Close() error   { l.once.Do(func() { close(l.done) }); return nil }
func (l *oneConnListener) Addr() net.Addr { return &net.TCPAddr{} }

func BenchmarkServeInMemory(b *testing.B) {
	b.Run("h1", func(b *testing.B) {
		srv := &Server{Handler: benchHandler, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: time.Minute}
		srv.ServeConn(newPingConn(100)) // warm up pools
		b.ReportAllocs()
		b.ResetTimer()
		srv.ServeConn(newPingConn(b.N))
	})
	b.Run("nethttp", func(b *testing.B) {
		hs := &http.Server{Handler: benchHandler, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: time.Minute, ErrorLog: discardLogger()}
		l := &oneConnListener{c: make(chan net.Conn, 2), done: make(chan struct{})}
		go hs.Serve(l)
		defer hs.Close()
		warm := newPingConn(100)
		l.c <- warm
		<-warm.done
		pc := newPingConn(b.N)
		b.ReportAllocs()
		b.ResetTimer()
		l.c <- pc
		<-pc.done
	})
}

// BenchmarkParseHead measures parsing one request head into a pooled
// request.
func BenchmarkParseHead(b *testing.B) {
	var tmpl http.Request
	buf := make([]byte, len(benchRequest))
	b.ReportAllocs()
	b.SetBytes(int64(len(benchRequest)))
	for b.Loop() {
		copy(buf, benchRequest)
		st := getReqState()
		st.req = tmpl
		if _, err := parseHead(buf, st); err != nil {
			b.Fatal(err)
		}
		putReqState(st)
	}
}

// BenchmarkServeKeepAliveParallel runs 16 keep-alive TLS connections at
// once, so the server is CPU-bound (closer to the load test).
func BenchmarkServeKeepAliveParallel(b *testing.B) {
	for _, server := range []string{"h1", "nethttp", "raw"} {
		b.Run(server, func(b *testing.B) {
			srvConf, cliConf := testTLS(b)
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			defer ln.Close()
			switch server {
			case "raw":
				go func() {
					for {
						c, err := ln.Accept()
						if err != nil {
							return
						}
						go rawServe(tls.Server(c, srvConf))
					}
				}()
			case "h1":
				srv := &Server{Handler: benchHandler, IdleTimeout: time.Minute}
				defer srv.Close()
				servertest.ServeTLS(ln, srvConf, srv.ServeConn)
			case "nethttp":
				hs := &http.Server{Handler: benchHandler, IdleTimeout: time.Minute, ErrorLog: discardLogger()}
				defer hs.Close()
				go hs.Serve(tls.NewListener(ln, srvConf))
			}
			b.ReportAllocs()
			b.SetParallelism(8)
			cpu0 := servertest.CPUTime()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				c, err := tls.Dial("tcp", ln.Addr().String(), cliConf)
				if err != nil {
					b.Error(err)
					return
				}
				defer c.Close()
				cl := &rawClient{c: c, buf: make([]byte, 4096)}
				for pb.Next() {
					cl.roundTrip(b)
				}
			})
			b.ReportMetric(float64(servertest.CPUTime()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}

// BenchmarkServerCPU measures the server process alone: the load (16
// keep-alive mTLS connections, one request per round trip each) comes from
// a child process, and cpu-ns/op is this process's CPU time per request,
// so it is the server's cost: TLS, syscalls, runtime and HTTP. "raw" is
// the floor (TLS and syscalls, no HTTP processing).
func BenchmarkServerCPU(b *testing.B) {
	for _, server := range []string{"h1", "nethttp", "raw"} {
		b.Run(server, func(b *testing.B) { benchServerCPU(b, server) })
	}
}

func benchServerCPU(b *testing.B, server string) {
	dir := b.TempDir()
	srvConf := servertest.PKI(b, dir, "http/1.1")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	switch server {
	case "raw":
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go rawServe(tls.Server(c, srvConf))
			}
		}()
	case "h1":
		srv := &Server{Handler: benchHandler, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute,
			WriteTimeout: time.Minute, IdleTimeout: time.Minute}
		defer srv.Close()
		servertest.ServeTLS(ln, srvConf, srv.ServeConn)
	case "nethttp":
		hs := &http.Server{Handler: benchHandler, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute,
			WriteTimeout: time.Minute, IdleTimeout: time.Minute, ErrorLog: discardLogger()}
		defer hs.Close()
		go hs.Serve(tls.NewListener(ln, srvConf))
	}
	servertest.MeasureCPU(b, "TestLoadClient", ln.Addr().String(), dir, 16)
}

// TestLoadClient is the child process of BenchmarkServerCPU.
func TestLoadClient(t *testing.T) {
	load := servertest.Child(t, "http/1.1")
	if load == nil {
		t.Skip("child process of BenchmarkServerCPU")
	}
	clients := make([]*rawClient, load.Conns)
	tb := &testing.B{}
	for i := range clients {
		c, err := tls.Dial("tcp", load.Addr, load.TLS)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		clients[i] = &rawClient{c: c, buf: make([]byte, 4096)}
		clients[i].roundTrip(tb)
	}
	load.Run(func(i int) { clients[i].roundTrip(tb) })
}

// TestServeForeground serves the benchmark handler until stdin is closed,
// for outside tools (strace -c, perf) driven by TestLoadClient (with
// SERVERTEST_ADDR, SERVERTEST_DIR, SERVERTEST_N and SERVERTEST_CONNS set):
//
//	H1_SERVE=h1 H1_LOAD_DIR=dir go test -run '^TestServeForeground$' ./internal/h1/
//
// dir must hold ca.pem, server.pem, server.key and client.pem, client.key;
// the address is printed as "ADDR host:port".
func TestServeForeground(t *testing.T) {
	server := os.Getenv("H1_SERVE")
	if server == "" {
		t.Skip("tool for profiling; see the comment")
	}
	dir := os.Getenv("H1_LOAD_DIR")
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "server.pem"), filepath.Join(dir, "server.key"))
	if err != nil {
		t.Fatal(err)
	}
	caPEM, _ := os.ReadFile(filepath.Join(dir, "ca.pem"))
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	srvConf := &tls.Config{Certificates: []tls.Certificate{cert}, ClientCAs: pool,
		ClientAuth: tls.RequireAndVerifyClientCert, NextProtos: []string{"http/1.1"}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	switch server {
	case "h1":
		srv := &Server{Handler: benchHandler, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: time.Minute}
		servertest.ServeTLS(ln, srvConf, srv.ServeConn)
	case "nethttp":
		hs := &http.Server{Handler: benchHandler, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: time.Minute}
		go hs.Serve(tls.NewListener(ln, srvConf))
	}
	fmt.Printf("ADDR %s\n", ln.Addr())
	io.Copy(io.Discard, os.Stdin)
}
