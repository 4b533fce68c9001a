package proxy

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/mtlsgate/mtlsgate/internal/identity"
)

// TestSmallBodyLargeResponse is a regression test: with ReverseProxy, a POST
// whose upstream answered before net/http had finished handing over the
// client's body occasionally lost the upstream connection mid-response
// ("use of closed network connection"). Small bodies are now read first.
func TestSmallBodyLargeResponse(t *testing.T) {
	body := bytes.Repeat([]byte("x"), 300000)
	back := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "300000")
		w.Write(body)
	}))
	defer back.Close()
	up := newTestUpstream(t, back.URL, func(o *UpstreamOptions) {
		o.RootCAs = back.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	})
	var fails []Failure
	h := NewHandler(RouteOptions{Route: "r", Upstream: up, Format: identity.FormatNone,
		OnError: func(w http.ResponseWriter, r *http.Request, f Failure) { fails = append(fails, f); w.WriteHeader(502) }})
	gw := httptest.NewServer(h)
	defer gw.Close()
	for i := 0; i < 150; i++ {
		resp, err := http.Post(gw.URL+"/x", "text/plain", strings.NewReader("x"))
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || len(b) != 300000 {
			t.Fatalf("iteration %d: %d bytes, err %v, fails %+v", i, len(b), err, fails)
		}
	}
}

func TestLargeBodiesStreamOnFastPath(t *testing.T) {
	got := make(chan int, 1)
	back := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- len(b)
		_, _ = io.WriteString(w, "ok")
	}))
	defer back.Close()
	up := newTestUpstream(t, back.URL, nil)
	h := NewHandler(RouteOptions{Route: "r", Upstream: up, Format: identity.FormatNone,
		OnError: func(w http.ResponseWriter, r *http.Request, f Failure) { w.WriteHeader(f.Status) }})
	gw := httptest.NewServer(h)
	defer gw.Close()
	for _, size := range []int{0, 1, maxBufferedBody, maxBufferedBody + 1, 1 << 20} {
		resp, err := http.Post(gw.URL+"/x", "application/octet-stream", bytes.NewReader(bytes.Repeat([]byte("y"), size)))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(b) != "ok" || <-got != size {
			t.Fatalf("size %d: %d %q", size, resp.StatusCode, b)
		}
	}
}
