package diagnose

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mtlsgate/mtlsgate/internal/testpki"
)

// connPKI is the upstream tests' PKI: a backend CA and its server
// certificate for orders.internal, the gateway's client CA and certificate,
// and a stranger CA.
type connPKI struct {
	backendCA, gwCA, stranger *testpki.CA
	server                    *testpki.Leaf
	gw, foreign               *testpki.Leaf
}

func newConnPKI(t *testing.T) *connPKI {
	p := &connPKI{
		backendCA: testpki.NewRootCA(t, "Backend Root"),
		gwCA:      testpki.NewRootCA(t, "Gateway Client Root"),
		stranger:  testpki.NewRootCA(t, "Stranger CA"),
	}
	p.server = p.backendCA.Issue(t, testpki.Options{CN: "orders", DNS: []string{"orders.internal"}, EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	p.gw = p.gwCA.Issue(t, testpki.Options{CN: "mtlsgate-gw", NotAfter: time.Now().Add(90 * 24 * time.Hour), EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	p.foreign = p.stranger.Issue(t, testpki.Options{CN: "intruder", NotAfter: time.Now().Add(90 * 24 * time.Hour), EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	return p
}

// serve starts a TLS server on 127.0.0.1 with cert, requiring client
// certificates from clientCA when it is not nil.
func serve(t *testing.T, cert tls.Certificate, clientCA *testpki.CA, maxVersion uint16) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12, MaxVersion: maxVersion}
	if clientCA != nil {
		srv.TLS.ClientAuth, srv.TLS.ClientCAs = tls.RequireAndVerifyClientCert, clientCA.Pool()
	}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func tlsCert(l *testpki.Leaf) *tls.Certificate {
	c := l.TLSCertificate()
	return &c
}

func connText(t *testing.T, r *ConnReport) string {
	t.Helper()
	var b bytes.Buffer
	if err := WriteConnText(&b, r); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestDiagnoseConn(t *testing.T) {
	p := newConnPKI(t)
	mtls := serve(t, p.server.TLSCertificate(), p.gwCA, 0)
	mtls12 := serve(t, p.server.TLSCertificate(), p.gwCA, tls.VersionTLS12)
	open := serve(t, p.server.TLSCertificate(), nil, 0)
	soon := serve(t, p.backendCA.Issue(t, testpki.Options{CN: "orders", DNS: []string{"orders.internal"},
		NotAfter: time.Now().Add(10 * 24 * time.Hour)}).TLSCertificate(), nil, 0)
	expired := serve(t, p.backendCA.Issue(t, testpki.Options{CN: "orders", DNS: []string{"orders.internal"},
		NotBefore: time.Now().Add(-50 * time.Minute), NotAfter: time.Now().Add(-10 * time.Minute)}).TLSCertificate(), nil, 0)
	self := Mint(t, TOpts{CN: "selfie", DNS: []string{"orders.internal"}, Serial: 5,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(365 * 24 * time.Hour), EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, nil)
	selfSrv := serve(t, tls.Certificate{Certificate: [][]byte{self.Cert.Raw}, PrivateKey: self.Key, Leaf: self.Cert}, nil, 0)
	plain := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(plain.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()

	tests := []struct {
		name     string
		url      string
		upstream string
		cert     *testpki.Leaf
		sn       string
		roots    *testpki.CA
		insecure bool
		ok       bool
		accepted *bool // ClientCertAccepted
		want     []string
	}{
		{name: "mtls", url: mtls.URL, upstream: "orders", cert: p.gw, roots: p.backendCA, ok: true, accepted: ptr(true),
			want: []string{"✓ trust: the server's chain verifies against ca backend-ca.pem: CN=orders → CN=Backend Root",
				"✓ name: the server's certificate is valid for orders.internal",
				"the server asks for a client certificate issued by CN=Gateway Client Root",
				"sent CN=mtlsgate-gw, issued by CN=Gateway Client Root, which the server names as acceptable",
				"HEAD / answered 204 No Content: the server accepted the client certificate",
				"OK: upstream orders is reachable, its certificate verifies and it accepted the client certificate"}},
		{name: "refused tls13", url: mtls.URL, cert: p.foreign, roots: p.backendCA, accepted: ptr(false),
			want: []string{"! client certificate: sent CN=intruder, issued by CN=Stranger CA, which is not among the CAs the server names",
				"✗ request: the server refused the client certificate: alert unknown ca (it does not trust the CA that issued CN=intruder)"}},
		{name: "refused tls12", url: mtls12.URL, cert: p.foreign, roots: p.backendCA, accepted: ptr(false),
			want: []string{"✗ tls: the server refused the client certificate: alert unknown ca", "TLS 1.2"}},
		{name: "no client cert", url: mtls.URL, roots: p.backendCA,
			want: []string{"! client certificate: the server asks for a client certificate, but there is none to send; give one with --cert and --key",
				"✗ request: the server requires a client certificate, and none was sent (alert certificate required)"}},
		{name: "no client cert tls12", url: mtls12.URL, upstream: "orders", roots: p.backendCA,
			want: []string{"✗ tls: the server requires a client certificate, and none was sent (alert handshake failure); set tls.cert of upstream orders"}},
		{name: "wrong name", url: open.URL, sn: "billing.internal", roots: p.backendCA,
			want: []string{"✗ name: the server's certificate is not valid for billing.internal: it holds DNS:orders.internal; give a name in its certificate with --server-name"}},
		{name: "wrong name upstream", url: open.URL, upstream: "billing", sn: "billing.internal", roots: p.backendCA,
			want: []string{"set tls.server_name of upstream billing to a name in its certificate"}},
		{name: "expired", url: expired.URL, roots: p.backendCA,
			want: []string{"✗ server certificate expiry: the server's certificate CN=orders expired", "✓ trust"}},
		{name: "expiring soon", url: soon.URL, roots: p.backendCA, ok: true,
			want: []string{"! server certificate expiry: the server's certificate CN=orders expires in 9 days"}},
		{name: "self-signed", url: selfSrv.URL, roots: p.backendCA,
			want: []string{"✗ trust: the server's certificate CN=selfie is self-signed, and it is not in ca backend-ca.pem; give the CA that issued it with --ca"}},
		{name: "system roots", url: open.URL,
			want: []string{"✗ trust: the server's certificate CN=orders is issued by CN=Backend Root, which is not in the system roots"}},
		{name: "insecure", url: selfSrv.URL, upstream: "orders", insecure: true, ok: true,
			want: []string{"! trust: insecure_skip_verify is true", "is self-signed, and it is not in the system roots; set tls.ca of upstream orders to the CA that issued it (ignored: insecure_skip_verify)"}},
		{name: "open upstream", url: open.URL, upstream: "orders", cert: p.gw, roots: p.backendCA, ok: true,
			want: []string{"! client certificate request: the server does not ask for a client certificate, so ours (CN=mtlsgate-gw) was not sent: anyone who can reach it can call it around the gateway"}},
		{name: "open url", url: open.URL, roots: p.backendCA, ok: true,
			want: []string{"✓ client certificate request: the server does not ask for a client certificate", "OK: URL"}},
		{name: "refused connection", url: "https://" + closed,
			want: []string{"✗ connect: connection to " + closed + " refused: nothing listens there"}},
		{name: "not tls", url: strings.Replace(plain.URL, "http:", "https:", 1),
			want: []string{"does not speak TLS (plain HTTP? then the URL must be http://)"}},
		{name: "plain http", url: plain.URL, upstream: "orders", ok: true,
			want: []string{"! tls: the URL is http://", "HEAD / answered 200 OK"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := ConnOptions{Upstream: tc.upstream, URL: mustURL(t, tc.url), ServerName: tc.sn, Insecure: tc.insecure, Timeout: 3 * time.Second}
			if o.ServerName == "" {
				o.ServerName = "orders.internal"
			}
			if tc.roots != nil {
				o.Roots, o.RootsName = tc.roots.Pool(), "ca backend-ca.pem"
			}
			if tc.cert != nil {
				o.ClientCert = tlsCert(tc.cert)
			}
			r := DiagnoseConn(context.Background(), o)
			text := connText(t, r)
			if r.OK != tc.ok {
				t.Errorf("ok = %v, want %v", r.OK, tc.ok)
			}
			if tc.accepted != nil && (r.ClientCertAccepted == nil || *r.ClientCertAccepted != *tc.accepted) {
				t.Errorf("client_cert_accepted = %v, want %v", r.ClientCertAccepted, *tc.accepted)
			}
			for _, s := range tc.want {
				if !strings.Contains(text, s) {
					t.Errorf("output lacks %q", s)
				}
			}
			if t.Failed() {
				t.Logf("output:\n%s", text)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestDiagnoseConnJSON(t *testing.T) {
	p := newConnPKI(t)
	srv := serve(t, p.server.TLSCertificate(), p.gwCA, 0)
	r := DiagnoseConn(context.Background(), ConnOptions{Upstream: "orders", URL: mustURL(t, srv.URL), ServerName: "orders.internal",
		Roots: p.backendCA.Pool(), RootsName: "ca backend-ca.pem", ClientCert: tlsCert(p.gw)})
	var b bytes.Buffer
	if err := WriteJSON(&b, r); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{
		"kind": "upstream", "ok": true, "verified": true, "name_matches": true, "client_cert_requested": true,
		"client_cert_sent": true, "client_cert_accepted": true, "tls_version": "TLS 1.3", "http_status": float64(204),
		"server_name": "orders.internal",
	} {
		if got[k] != want {
			t.Errorf("%s = %v, want %v", k, got[k], want)
		}
	}
	if cas, _ := got["acceptable_cas"].([]any); len(cas) != 1 || cas[0] != "CN=Gateway Client Root" {
		t.Errorf("acceptable_cas = %v", got["acceptable_cas"])
	}
	if chain, _ := got["server_chain"].([]any); len(chain) != 1 {
		t.Errorf("server_chain = %v", got["server_chain"])
	}
	if bytes.Contains(b.Bytes(), []byte("PRIVATE KEY")) {
		t.Error("report holds key material")
	}
}

func TestDecodeName(t *testing.T) {
	p := newConnPKI(t)
	if got := decodeName(p.gwCA.Cert.RawSubject); got != "CN=Gateway Client Root" {
		t.Errorf("decodeName = %q", got)
	}
	if got := decodeName([]byte{1, 2, 3}); !strings.Contains(got, "undecodable") {
		t.Errorf("decodeName(junk) = %q", got)
	}
}
