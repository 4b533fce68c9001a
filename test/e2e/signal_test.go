package e2e

import (
	"net"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/mtlsgate/mtlsgate/internal/testpki"
)

// TestSIGTERMDrainsAndExits: on SIGTERM the gateway finishes the request in
// flight, closes idle HTTP/1.1 and HTTP/2 connections, stops listening and
// exits 0 promptly.
func TestSIGTERMDrainsAndExits(t *testing.T) {
	t.Parallel()
	e := newEnv(t, baseConfig, nil)
	alice := e.p.client(t, "alice", testpki.Options{CN: "alice", OU: []string{"payments"}})
	// Idle keep-alive connections, one per protocol.
	for _, h2 := range []bool{false, true} {
		tr := &http.Transport{TLSClientConfig: e.p.tlsClientConfig(alice.leaf, "localhost"), ForceAttemptHTTP2: h2}
		t.Cleanup(tr.CloseIdleConnections)
		resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get(e.g.URL("/api/secure/idle"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if want := map[bool]int{false: 1, true: 2}[h2]; resp.ProtoMajor != want {
			t.Fatalf("idle client speaks %s, want HTTP/%d", resp.Proto, want)
		}
	}
	// A request in flight: the upstream answers after a second.
	inflight := make(chan curlResult, 1)
	go func() { inflight <- e.curl(&alice, "/api/secure/slow") }()
	deadline := time.Now().Add(10 * time.Second)
	for last := e.up.Last(); last == nil || last.Path != "/api/secure/slow"; last = e.up.Last() {
		if time.Now().After(deadline) {
			t.Fatal("the slow request did not reach the upstream")
		}
		time.Sleep(10 * time.Millisecond)
	}

	e.g.Signal(syscall.SIGTERM)
	code, exited := e.g.Wait(8 * time.Second)
	if !exited {
		t.Fatalf("gateway still running 8s after SIGTERM; stderr:\n%s", e.g.stderr.String())
	}
	if code != 0 {
		t.Errorf("exit status %d after SIGTERM, want 0; stderr:\n%s", code, e.g.stderr.String())
	}
	r := <-inflight
	expect(t, "request in flight during SIGTERM", r, 200)
	if r.body != "upstream ok /api/secure/slow\n" {
		t.Errorf("in-flight response body %q", r.body)
	}
	e.g.waitLog(time.Second, "mtlsgate stopped", func(m map[string]any) bool { return m["msg"] == "mtlsgate stopped" })
	if c, err := net.DialTimeout("tcp", e.g.Addr("public"), 2*time.Second); err == nil {
		c.Close()
		t.Errorf("%s still accepts connections after exit", e.g.Addr("public"))
	}
}
