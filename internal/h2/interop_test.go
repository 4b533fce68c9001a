package h2

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mtlsgate/mtlsgate/internal/testpki"
	"golang.org/x/net/http2"
)

// interopHandler: /small answers "hello"; /sum answers the request
// body's length and sha256; /big?n= streams n deterministic bytes;
// /slow streams until the client goes away.
var interopHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/small":
		io.WriteString(w, "hello")
	case "/sum":
		h := sha256.New()
		n, err := io.Copy(h, r.Body)
		if err != nil {
			panic(http.ErrAbortHandler)
		}
		fmt.Fprintf(w, "%d %x", n, h.Sum(nil))
	case "/big":
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		w.Write(pattern(n))
	case "/slow":
		for r.Context().Err() == nil {
			if _, err := w.Write(make([]byte, 1024)); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			time.Sleep(time.Millisecond)
		}
	default:
		http.NotFound(w, r)
	}
})

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('a' + i*7%26)
	}
	return b
}

func sumOf(b []byte) string {
	s := sha256.Sum256(b)
	return fmt.Sprintf("%d %s", len(b), hex.EncodeToString(s[:]))
}

// TestCurlInterop drives the server with curl --http2 over mTLS.
func TestCurlInterop(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl not installed")
	}
	checkGoroutines(t)
	ca := testpki.NewRootCA(t, "curl CA")
	srvLeaf := ca.Issue(t, testpki.Options{CN: "server", DNS: []string{"localhost"}})
	cliLeaf := ca.Issue(t, testpki.Options{CN: "client"})
	dir := t.TempDir()
	caPath := ca.WriteCA(t, dir, "ca")
	certPath, keyPath := cliLeaf.WriteLeaf(t, dir, "client")
	srvConf := &tls.Config{
		Certificates: []tls.Certificate{srvLeaf.TLSCertificate()},
		ClientCAs:    ca.Pool(),
		ClientAuth:   tls.RequireAndVerifyClientCert,
		NextProtos:   []string{"h2"},
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &Server{Handler: interopHandler, ErrorLog: discardLog}
	var wg sync.WaitGroup
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
				srv.ServeConn(tls.Server(c, srvConf))
			}()
		}
	}()
	defer func() {
		ln.Close()
		srv.Close()
		wg.Wait()
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	url := fmt.Sprintf("https://localhost:%d", port)
	run := func(args ...string) []byte {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		base := []string{"--http2", "-sS", "--fail", "--cacert", caPath, "--cert", certPath, "--key", keyPath,
			"--resolve", fmt.Sprintf("localhost:%d:127.0.0.1", port)}
		out, err := exec.CommandContext(ctx, curl, append(base, args...)...).Output()
		if err != nil {
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				t.Fatalf("curl %v: %v\n%s", args, err, ee.Stderr)
			}
			t.Fatalf("curl %v: %v", args, err)
		}
		return out
	}

	if out := run("-w", " %{http_version}", url+"/small"); string(out) != "hello 2" {
		t.Fatalf("GET: %q", out)
	}

	// 3 MB bodies without newlines (-d strips them).
	body := pattern(3 << 20)
	bodyPath := filepath.Join(dir, "body")
	if err := os.WriteFile(bodyPath, body, 0o600); err != nil {
		t.Fatal(err)
	}
	if out := run("-d", "@"+bodyPath, url+"/sum"); string(out) != sumOf(body) {
		t.Fatalf("POST -d: %q, want %q", out, sumOf(body))
	}
	if out := run("--data-binary", "@"+bodyPath, url+"/sum"); string(out) != sumOf(body) {
		t.Fatalf("POST --data-binary: %q", out)
	}
	if out := run(url + "/big?n=" + strconv.Itoa(3<<20)); !bytes.Equal(out, body) {
		t.Fatalf("GET 3 MB: got %d bytes, %q...", len(out), out[:min(len(out), 40)])
	}
	// HEAD, and several transfers on one connection.
	if out := run("-I", url+"/big?n=100"); !strings.Contains(string(out), "content-length: 100") {
		t.Fatalf("HEAD: %q", out)
	}
	if out := run(url+"/small", url+"/big?n=70000", url+"/small"); len(out) != 5+70000+5 {
		t.Fatalf("three transfers: %d bytes", len(out))
	}
}

// TestManyStreamsOneConn: 200 concurrent requests on one connection of
// x/net's Transport, with bodies, large responses and cancellations;
// every response is checked and nothing leaks.
func TestManyStreamsOneConn(t *testing.T) {
	checkGoroutines(t)
	var conns atomic.Int32
	srv := &Server{Handler: interopHandler, MaxConcurrentStreams: 250,
		ConnState: func(_ net.Conn, st http.ConnState) {
			if st == http.StateNew {
				conns.Add(1)
			}
		}}
	ts := startServer(t, srv, false)
	tr := &http2.Transport{TLSClientConfig: ts.cliConf}
	defer tr.CloseIdleConnections()
	cl := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	// One connection first, so that every request shares it.
	if resp, err := cl.Get(ts.url("/small")); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
	}
	const n = 200
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- manyStreamsOne(cl, ts, i)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if c := conns.Load(); c != 1 {
		t.Errorf("%d connections, want 1", c)
	}
	// The connection still works.
	resp, err := cl.Get(ts.url("/small"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "hello" {
		t.Fatalf("after: %q", b)
	}
}

func manyStreamsOne(cl *http.Client, ts *testServer, i int) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	switch i % 5 {
	case 0: // GET
		resp, err := cl.Get(ts.url("/small"))
		if err != nil {
			return err
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "hello" {
			return fmt.Errorf("%d: %q", i, b)
		}
	case 1: // POST with a body
		body := pattern(1000 + i*997)
		resp, err := cl.Post(ts.url("/sum"), "application/octet-stream", bytes.NewReader(body))
		if err != nil {
			return err
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != sumOf(body) {
			return fmt.Errorf("%d: sum %q", i, b)
		}
	case 2: // large response
		size := 100000 + i*1000
		resp, err := cl.Get(ts.url("/big?n=" + strconv.Itoa(size)))
		if err != nil {
			return err
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || !bytes.Equal(b, pattern(size)) {
			return fmt.Errorf("%d: big %d bytes, %v", i, len(b), err)
		}
	case 3: // cancelled while the response streams
		req, _ := http.NewRequestWithContext(ctx, "GET", ts.url("/slow"), nil)
		resp, err := cl.Do(req)
		if err != nil {
			return err
		}
		io.ReadFull(resp.Body, make([]byte, 4096))
		cancel()
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	case 4: // cancelled while uploading (body never finished)
		pr, pw := io.Pipe()
		req, _ := http.NewRequestWithContext(ctx, "POST", ts.url("/sum"), pr)
		go func() {
			pw.Write(make([]byte, 10000))
			time.Sleep(5 * time.Millisecond)
			cancel()
			pw.Close()
		}()
		resp, err := cl.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
	return nil
}
