// Package servertest measures what a server costs per request, for the
// benchmarks of internal/h1 and internal/h2: the load comes from a child
// process (the test binary itself, running one test as the load client),
// so the CPU time and allocations counted in the benchmark's process are
// the server's alone.
//
// The parent calls MeasureCPU; the child test calls RunLoad. They talk
// over the child's stdin and stdout: READY (connections made), GO (start),
// DONE (all requests answered).
package servertest

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	"github.com/mtlsgate/mtlsgate/internal/testpki"
)

// Environment of the child process.
const (
	envAddr  = "SERVERTEST_ADDR"
	envDir   = "SERVERTEST_DIR"
	envN     = "SERVERTEST_N"
	envConns = "SERVERTEST_CONNS"
)

// PKI mints a CA, a server certificate for localhost and a client
// certificate; it writes ca.pem and client.pem/client.key into dir (for the
// child) and returns the server's TLS config, which requires and verifies
// a client certificate and offers alpn.
func PKI(tb testing.TB, dir string, alpn ...string) *tls.Config {
	ca := testpki.NewRootCA(tb, "bench CA")
	srvLeaf := ca.Issue(tb, testpki.Options{CN: "server", DNS: []string{"localhost"}})
	cliLeaf := ca.Issue(tb, testpki.Options{CN: "client"})
	testpki.WriteFile(tb, dir, "ca.pem", testpki.CertPEM(ca.Cert))
	cliLeaf.WriteLeaf(tb, dir, "client")
	return &tls.Config{
		Certificates: []tls.Certificate{srvLeaf.TLSCertificate()},
		ClientCAs:    ca.Pool(),
		ClientAuth:   tls.RequireAndVerifyClientCert,
		NextProtos:   alpn,
		MinVersion:   tls.VersionTLS13,
	}
}

// MeasureCPU runs childTest of this test binary as the load client against
// addr (conns connections, b.N requests in all) and reports the CPU time
// this process used while the load ran, per request, as cpu-ns/op.
func MeasureCPU(b *testing.B, childTest, addr, dir string, conns int) {
	cmd := exec.Command(os.Args[0], "-test.run=^"+childTest+"$")
	cmd.Env = append(os.Environ(), envAddr+"="+addr, envDir+"="+dir,
		envN+"="+strconv.Itoa(b.N), envConns+"="+strconv.Itoa(conns))
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer cmd.Wait()
	defer stdin.Close()
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
	cpu0 := CPUTime()
	fmt.Fprintln(stdin, "GO")
	expect("DONE")
	cpu := CPUTime() - cpu0
	b.StopTimer()
	b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/op")
}

// Load is what the child needs: the server's address, a client TLS config
// (client certificate, the CA, ServerName localhost) and the share of the
// requests each connection sends.
type Load struct {
	Addr  string
	TLS   *tls.Config
	N     int
	Conns int
}

// Child returns the child's load, or nil when this test is not running as
// the child (the caller then skips).
func Child(tb testing.TB, alpn ...string) *Load {
	addr := os.Getenv(envAddr)
	if addr == "" {
		return nil
	}
	dir := os.Getenv(envDir)
	n, _ := strconv.Atoi(os.Getenv(envN))
	conns, _ := strconv.Atoi(os.Getenv(envConns))
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "client.pem"), filepath.Join(dir, "client.key"))
	if err != nil {
		tb.Fatal(err)
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
	if err != nil {
		tb.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	conf := &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, ServerName: "localhost", NextProtos: alpn}
	return &Load{Addr: addr, TLS: conf, N: n, Conns: max(conns, 1)}
}

// Run says READY (the caller has made its connections), waits for GO,
// calls request(i) for connection i as many times as its share of N, all
// connections at once, says DONE and waits for the parent to end.
func (l *Load) Run(request func(conn int)) {
	fmt.Println("READY")
	in := bufio.NewScanner(os.Stdin)
	in.Scan()
	var wg sync.WaitGroup
	for i := 0; i < l.Conns; i++ {
		k := l.N / l.Conns
		if i < l.N%l.Conns {
			k++
		}
		wg.Go(func() {
			for range k {
				request(i)
			}
		})
	}
	wg.Wait()
	fmt.Println("DONE")
	in.Scan() // until the parent closes stdin
}

// ServeTLS accepts connections on ln until it is closed, runs each TLS
// handshake on a goroutine of its own and, when it succeeds, calls serve on
// that same goroutine, as the gateway's listener does.
func ServeTLS(ln net.Listener, conf *tls.Config, serve func(net.Conn)) {
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				tc := tls.Server(c, conf)
				if tc.Handshake() != nil {
					c.Close()
					return
				}
				serve(tc)
			}()
		}
	}()
}
