package h2

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mtlsgate/mtlsgate/internal/testpki"
	"golang.org/x/net/http2"
)

// The benchmarks compare this server with net/http's HTTP/2 server on the
// same connections, handler and client:
//
//	go test -run '^$' -bench ServerCPU -benchtime 20000x ./internal/h2/
//
// BenchmarkServerCPU measures the server process alone: the load comes
// from a child process (H2_LOAD_CONNS keep-alive mTLS TLS 1.3 HTTP/2
// connections, one x/net http2.Transport each, one stream at a time per
// connection, small GETs), and cpu-ns/op is this process's CPU time
// (user+system) per request: TLS, syscalls, runtime and HTTP/2. allocs/op
// and B/op are this process's, so the server's.

// benchBody is the ~100-byte response body.
var benchBody = []byte("{\"status\":\"ok\",\"service\":\"bench\",\"region\":\"eu-west-1\",\"latency_ms\":1,\"items\":[1,2,3,4,5,6,7,8]}\n")

var ctJSON = []string{"application/json"}

// benchHandler is a tiny handler that allocates nothing itself.
var benchHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.Header()["Content-Type"] = ctJSON
	w.Write(benchBody)
})

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func BenchmarkServerCPU(b *testing.B) {
	for _, server := range []string{"h2", "nethttp"} {
		b.Run(server, func(b *testing.B) { benchServerCPU(b, server, 16) })
	}
}

func benchServerCPU(b *testing.B, server string, conns int) {
	dir := b.TempDir()
	ca := testpki.NewRootCA(b, "bench CA")
	srvLeaf := ca.Issue(b, testpki.Options{CN: "server", DNS: []string{"localhost"}})
	cliLeaf := ca.Issue(b, testpki.Options{CN: "client"})
	testpki.WriteFile(b, dir, "ca.pem", testpki.CertPEM(ca.Cert))
	cliLeaf.WriteLeaf(b, dir, "client")
	srvConf := &tls.Config{
		Certificates: []tls.Certificate{srvLeaf.TLSCertificate()},
		ClientCAs:    ca.Pool(),
		ClientAuth:   tls.RequireAndVerifyClientCert,
		NextProtos:   []string{"h2"},
		MinVersion:   tls.VersionTLS13,
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	switch server {
	case "h2":
		srv := &Server{Handler: benchHandler, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute,
			WriteTimeout: time.Minute, IdleTimeout: time.Minute}
		defer srv.Close()
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() {
					tc := tls.Server(c, srvConf)
					if tc.Handshake() == nil {
						go srv.ServeConn(tc) // fresh goroutine, as the gateway will
					}
				}()
			}
		}()
	case "nethttp":
		hs := &http.Server{Handler: benchHandler, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute,
			WriteTimeout: time.Minute, IdleTimeout: time.Minute, TLSConfig: srvConf}
		hs.ErrorLog = nil
		defer hs.Close()
		go hs.ServeTLS(ln, "", "")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestLoadClient$")
	cmd.Env = append(os.Environ(), "H2_LOAD_ADDR="+ln.Addr().String(), "H2_LOAD_DIR="+dir,
		"H2_LOAD_N="+strconv.Itoa(b.N), "H2_LOAD_CONNS="+strconv.Itoa(conns))
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer cmd.Wait()
	out := bufio.NewScanner(stdout)
	expect := func(s string) {
		for out.Scan() {
			if out.Text() == s {
				return
			}
		}
		b.Fatalf("load client ended before %q", s)
	}
	expect("READY")
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	io.WriteString(stdin, "GO\n")
	expect("DONE")
	cpu := cpuTime() - cpu0
	b.StopTimer()
	stdin.Close()
	b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/op")
}

// TestLoadClient is the child process of BenchmarkServerCPU.
func TestLoadClient(t *testing.T) {
	addr := os.Getenv("H2_LOAD_ADDR")
	if addr == "" {
		t.Skip("child process of BenchmarkServerCPU")
	}
	dir := os.Getenv("H2_LOAD_DIR")
	n, _ := strconv.Atoi(os.Getenv("H2_LOAD_N"))
	conns, _ := strconv.Atoi(os.Getenv("H2_LOAD_CONNS"))
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "client.pem"), filepath.Join(dir, "client.key"))
	if err != nil {
		t.Fatal(err)
	}
	caPEM, _ := os.ReadFile(filepath.Join(dir, "ca.pem"))
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	conf := &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, ServerName: "localhost", NextProtos: []string{"h2"}}
	clients := make([]*http.Client, conns)
	url := "https://" + addr + "/bench/path?x=1"
	get := func(cl *http.Client) {
		req, _ := http.NewRequest("GET", url, nil)
		req.Header.Set("User-Agent", "loadgen/1.0")
		req.Header.Set("X-Request-Id", "5f0c6a3e")
		resp, err := cl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.ProtoMajor != 2 || resp.StatusCode != 200 {
			t.Fatalf("%s %d", resp.Proto, resp.StatusCode)
		}
	}
	for i := range clients {
		tr := &http2.Transport{TLSClientConfig: conf} // one connection each
		defer tr.CloseIdleConnections()
		clients[i] = &http.Client{Transport: tr}
		get(clients[i])
	}
	fmt.Println("READY")
	in := bufio.NewScanner(os.Stdin)
	in.Scan()
	var wg sync.WaitGroup
	for i, cl := range clients {
		k := n / conns
		if i < n%conns {
			k++
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range k {
				get(cl)
			}
		}()
	}
	wg.Wait()
	fmt.Println("DONE")
	in.Scan() // wait for the parent to close stdin
}
