package proxy

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/mtlsgate/mtlsgate/internal/identity"
	"github.com/mtlsgate/mtlsgate/internal/testpki"
)

// gatewayFor serves h behind an httptest TLS server, so requests carry
// RemoteAddr, TLS and Host like the gateway's.
func gatewayFor(t *testing.T, up *Upstream, id *identity.Identity, format identity.Format) (*httptest.Server, *[]Failure) {
	t.Helper()
	var failures []Failure
	h := NewHandler(RouteOptions{
		Route: "r", Upstream: up, Format: format,
		IdentityOf: func(*http.Request) (*identity.Identity, string) { return id, "spiffe://gw" },
		OnError: func(w http.ResponseWriter, r *http.Request, f Failure) {
			failures = append(failures, f)
			w.WriteHeader(f.Status)
		},
	})
	srv := httptest.NewTLSServer(h)
	t.Cleanup(srv.Close)
	return srv, &failures
}

func TestFastHandlerRequestRewriting(t *testing.T) {
	seen := make(chan *http.Request, 1)
	back := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- r
		w.Header().Set("Connection", "X-Upstream-Hop")
		w.Header().Set("X-Upstream-Hop", "must not reach the client")
		w.Header().Set("Keep-Alive", "timeout=5")
		w.Header().Add("Set-Cookie", "a=1")
		w.Header().Add("Set-Cookie", "b=2")
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(back.Close)
	up := newTestUpstream(t, back.URL+"/base/", nil)
	leaf := testpki.NewRootCA(t, "Root").Issue(t, testpki.Options{CN: "alice"})
	id := identity.FromChain([]*x509.Certificate{leaf.Cert})
	gw, _ := gatewayFor(t, up, id, identity.FormatRFC9440)

	req, _ := http.NewRequest("GET", gw.URL+"/api/x?q=1&r=%20", nil)
	req.Host = "api.example.com"
	for k, v := range map[string]string{
		"Connection": "X-Secret-Hop, keep-alive", "X-Secret-Hop": "drop me", "Te": "trailers",
		"Client-Cert": ":Zm9yZ2Vk:", "X-Client-Cert-Subject": "CN=admin", "X-Forwarded-For": "6.6.6.6",
		"Forwarded": "for=6.6.6.6", "Accept": "application/json",
	} {
		req.Header.Set(k, v)
	}
	resp, err := gw.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "ok" {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
	if resp.Header.Get("X-Upstream-Hop") != "" || resp.Header.Get("Keep-Alive") != "" {
		t.Errorf("hop-by-hop response headers reached the client: %v", resp.Header)
	}
	if got := resp.Header.Values("Set-Cookie"); len(got) != 2 {
		t.Errorf("Set-Cookie values %v, want both", got)
	}
	r := <-seen
	if r.URL.RequestURI() != "/base/api/x?q=1&r=%20" {
		t.Errorf("upstream request URI %q", r.URL.RequestURI())
	}
	if r.Host != back.Listener.Addr().String() {
		t.Errorf("upstream Host %q, want the upstream's", r.Host)
	}
	if r.Header.Get("X-Secret-Hop") != "" || r.Header.Get("X-Client-Cert-Subject") != "" {
		t.Errorf("dropped headers reached the upstream: %v", r.Header)
	}
	if r.Header.Get("Te") != "trailers" || r.Header.Get("Accept") != "application/json" {
		t.Errorf("end-to-end headers lost: %v", r.Header)
	}
	if got := r.Header.Values("X-Forwarded-For"); len(got) != 1 || got[0] != "127.0.0.1" {
		t.Errorf("X-Forwarded-For %v", got)
	}
	if r.Header.Get("X-Forwarded-Proto") != "https" || r.Header.Get("X-Forwarded-Host") != "api.example.com" ||
		r.Header.Get("Forwarded") != "for=127.0.0.1;host=api.example.com;proto=https" {
		t.Errorf("forwarding headers wrong: %v", r.Header)
	}
	c, err := identity.ParseClientCert(r.Header.Get("Client-Cert"))
	if err != nil || !c.Equal(leaf.Cert) || len(r.Header.Values("Client-Cert")) != 1 {
		t.Errorf("Client-Cert not the verified leaf: %v %v", err, r.Header.Values("Client-Cert"))
	}
}

func TestFastHandlerStreamingTrailersAndAbort(t *testing.T) {
	back := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/trailer":
			w.Header().Set("Trailer", "X-Checksum")
			_, _ = io.WriteString(w, "data")
			w.Header().Set("X-Checksum", "abc")
		case "/abort":
			w.Header().Set("Content-Length", "100")
			_, _ = io.WriteString(w, "short")
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		}
	}))
	t.Cleanup(back.Close)
	up := newTestUpstream(t, back.URL, nil)
	gw, _ := gatewayFor(t, up, nil, identity.FormatNone)
	resp, err := gw.Client().Get(gw.URL + "/trailer")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "data" || resp.Trailer.Get("X-Checksum") != "abc" {
		t.Errorf("body %q trailer %v", body, resp.Trailer)
	}
	resp, err = gw.Client().Get(gw.URL + "/abort")
	if err == nil {
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	if err == nil {
		t.Error("a truncated upstream body reached the client as a complete response")
	}
}

func TestFastHandlerUpstreamErrors(t *testing.T) {
	ca := testpki.NewRootCA(t, "Upstream CA")
	srvLeaf := ca.Issue(t, testpki.Options{CN: "orders.internal", DNS: []string{"orders.internal"}})
	back := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	back.TLS = &tls.Config{Certificates: []tls.Certificate{srvLeaf.TLSCertificate()}}
	back.StartTLS()
	t.Cleanup(back.Close)
	cases := []struct {
		name   string
		mod    func(*UpstreamOptions)
		reason string
	}{
		{"unknown authority", func(o *UpstreamOptions) {
			o.RootCAs = testpki.NewRootCA(t, "Other").Pool()
			o.ServerName = "orders.internal"
		}, ReasonUnknownCA},
		{"name mismatch", func(o *UpstreamOptions) { o.RootCAs = ca.Pool(); o.ServerName = "billing.internal" }, ReasonNameMismatch},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			up := newTestUpstream(t, back.URL, tc.mod)
			gw, failures := gatewayFor(t, up, nil, identity.FormatNone)
			resp, err := gw.Client().Get(gw.URL + "/")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 502 || len(*failures) != 1 || (*failures)[0].Reason != tc.reason {
				t.Fatalf("status %d failures %+v, want 502 %s", resp.StatusCode, *failures, tc.reason)
			}
			if !strings.Contains((*failures)[0].Detail, "upstream up") {
				t.Errorf("detail does not name the upstream: %q", (*failures)[0].Detail)
			}
		})
	}
}
