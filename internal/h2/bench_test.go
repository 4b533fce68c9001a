package h2

import (
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/mtlsgate/mtlsgate/internal/servertest"
	"golang.org/x/net/http2"
)

// The benchmarks compare this server with net/http's HTTP/2 server on the
// same connections, handler and client:
//
//	go test -run '^$' -bench ServerCPU -benchtime 20000x ./internal/h2/
//
// BenchmarkServerCPU measures the server process alone: the load comes
// from a child process (16 keep-alive mTLS TLS 1.3 HTTP/2
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

func BenchmarkServerCPU(b *testing.B) {
	for _, server := range []string{"h2", "nethttp"} {
		b.Run(server, func(b *testing.B) { benchServerCPU(b, server, 16) })
	}
}

func benchServerCPU(b *testing.B, server string, conns int) {
	dir := b.TempDir()
	srvConf := servertest.PKI(b, dir, "h2")
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
		servertest.ServeTLS(ln, srvConf, srv.ServeConn)
	case "nethttp":
		hs := &http.Server{Handler: benchHandler, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute,
			WriteTimeout: time.Minute, IdleTimeout: time.Minute, TLSConfig: srvConf}
		hs.ErrorLog = nil
		defer hs.Close()
		go hs.ServeTLS(ln, "", "")
	}
	servertest.MeasureCPU(b, "TestLoadClient", ln.Addr().String(), dir, conns)
}

// TestLoadClient is the child process of BenchmarkServerCPU.
func TestLoadClient(t *testing.T) {
	load := servertest.Child(t, "h2")
	if load == nil {
		t.Skip("child process of BenchmarkServerCPU")
	}
	addr, conf := load.Addr, load.TLS
	clients := make([]*http.Client, load.Conns)
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
	load.Run(func(i int) { get(clients[i]) })
}
