package h1

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
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mtlsgate/mtlsgate/internal/servertest"
	"github.com/mtlsgate/mtlsgate/internal/testpki"
)

// TestIdleMemory opens N idle mTLS connections (H1_IDLE_CONNS, default
// 2000) to this server and to net/http's, each in a child process of its
// own, after one request per connection, and logs the server's memory per
// idle connection: Go heap in use, goroutine stacks, and RSS. It asserts
// nothing. Run it with -v; it is skipped with -short and under -race.
//
// The handler uses about 8 KiB of stack, like the proxy path does, so the
// serving goroutine's stack grows during the request as it does in the
// gateway.
func TestIdleMemory(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("slow; skipped with -short and -race")
	}
	n := 2000
	if v := os.Getenv("H1_IDLE_CONNS"); v != "" {
		n, _ = strconv.Atoi(v)
	}
	if n <= 0 {
		t.Skip("H1_IDLE_CONNS=0")
	}
	dir := t.TempDir()
	ca := testpki.NewRootCA(t, "idle CA")
	srvLeaf := ca.Issue(t, testpki.Options{CN: "server", DNS: []string{"localhost"}})
	cliLeaf := ca.Issue(t, testpki.Options{CN: "client"})
	testpki.WriteFile(t, dir, "ca.pem", testpki.CertPEM(ca.Cert))
	srvLeaf.WriteLeaf(t, dir, "server")
	cliConf := &tls.Config{
		Certificates: []tls.Certificate{cliLeaf.TLSCertificate()},
		RootCAs:      ca.Pool(),
		ServerName:   "localhost",
		NextProtos:   []string{"http/1.1"},
	}
	raiseFileLimit()
	for _, variant := range []string{"h1", "nethttp"} {
		t.Run(variant, func(t *testing.T) { idleMemory(t, variant, dir, cliConf, n) })
	}
}

type memStats struct {
	heap, stack, rss, goroutines int64
}

func idleMemory(t *testing.T, variant, dir string, cliConf *tls.Config, n int) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestIdleMemoryServer$", "-test.v")
	cmd.Env = append(os.Environ(), "H1_IDLE_SERVER="+variant, "H1_IDLE_DIR="+dir)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close()
		cmd.Wait()
	}()
	out := bufio.NewScanner(stdout)
	line := func(prefix string) string {
		for out.Scan() {
			if s, ok := strings.CutPrefix(out.Text(), prefix); ok {
				return s
			}
		}
		t.Fatalf("child ended before %q", prefix)
		return ""
	}
	addr := line("ADDR ")
	measure := func(gcs int) memStats {
		fmt.Fprintf(stdin, "measure %d\n", gcs)
		f := strings.Fields(line("MEM "))
		var m memStats
		for i, p := range []*int64{&m.heap, &m.stack, &m.rss, &m.goroutines} {
			*p, _ = strconv.ParseInt(f[i], 10, 64)
		}
		return m
	}
	base := measure(2)

	conns := make([]net.Conn, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	errs := make(chan error, n)
	for i := range conns {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := tls.Dial("tcp", addr, cliConf)
			if err != nil {
				errs <- err
				return
			}
			conns[i] = c
			// One request with a small body, then idle.
			io.WriteString(c, "POST /work HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\r\nhello")
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				errs <- err
				return
			}
			io.Copy(io.Discard, resp.Body)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	time.Sleep(200 * time.Millisecond)
	per := func(m memStats) string {
		d := func(a, b int64) float64 { return float64(a-b) / float64(n) / 1024 }
		return fmt.Sprintf("heap %.1f KiB + stacks %.1f KiB = %.1f KiB; RSS %.1f KiB (goroutines %d)",
			d(m.heap, base.heap), d(m.stack, base.stack), d(m.heap+m.stack, base.heap+base.stack), d(m.rss, base.rss), m.goroutines-base.goroutines)
	}
	after1 := measure(1)
	after5 := measure(4)
	t.Logf("%s, %d idle mTLS connections, per connection:\n  after 1 GC:  %s\n  after 5 GCs: %s\n  baseline RSS %.1f MiB, with connections %.1f MiB",
		variant, n, per(after1), per(after5), float64(base.rss)/(1<<20), float64(after5.rss)/(1<<20))
}

// TestIdleMemoryServer is the child process of TestIdleMemory.
func TestIdleMemoryServer(t *testing.T) {
	variant := os.Getenv("H1_IDLE_SERVER")
	if variant == "" {
		t.Skip("child process of TestIdleMemory")
	}
	raiseFileLimit()
	if os.Getenv("H1_IDLE_HEAPPROF") != "" {
		runtime.MemProfileRate = 1
	}
	dir := os.Getenv("H1_IDLE_DIR")
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "server.pem"), filepath.Join(dir, "server.key"))
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	conf := &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		NextProtos:   []string{"http/1.1"},
	}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintf(w, "%d %s", deepStack(64), b)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	switch variant {
	case "h1":
		srv := &Server{Handler: handler, IdleTimeout: 10 * time.Minute}
		servertest.ServeTLS(ln, conf, srv.ServeConn)
	case "nethttp":
		hs := &http.Server{Handler: handler, IdleTimeout: 10 * time.Minute}
		go hs.Serve(tls.NewListener(ln, conf))
	}
	fmt.Printf("ADDR %s\n", ln.Addr())
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		f := strings.Fields(in.Text())
		if len(f) == 2 && f[0] == "measure" {
			gcs, _ := strconv.Atoi(f[1])
			for range gcs {
				runtime.GC()
			}
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			fmt.Printf("MEM %d %d %d %d\n", ms.HeapInuse, ms.StackInuse, rssBytes(), runtime.NumGoroutine())
			if p := os.Getenv("H1_IDLE_HEAPPROF"); p != "" {
				if f, err := os.Create(p + "." + variant); err == nil {
					pprof.WriteHeapProfile(f)
					f.Close()
				}
			}
		}
	}
}

// deepStack uses about 128 bytes of stack per level.
func deepStack(n int) int {
	var pad [96]byte
	pad[n%96] = byte(n)
	if n == 0 {
		return int(pad[0])
	}
	return deepStack(n-1) + int(pad[n%96])
}

func rssBytes() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for l := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// raiseFileLimit lifts the soft open-file limit to the hard one.
func raiseFileLimit() {
	var rl syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl) == nil && rl.Cur < rl.Max {
		rl.Cur = rl.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
	}
}
