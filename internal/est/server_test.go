package est

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

type resp struct {
	code int
	h    http.Header
	body string
}

func do(t *testing.T, h http.Handler, method, path, body string, setup func(*http.Request)) resp {
	t.Helper()
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	if setup != nil {
		setup(r)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return resp{w.Code, w.Header(), w.Body.String()}
}

func basic(user, pass string) func(*http.Request) {
	return func(r *http.Request) {
		r.SetBasicAuth(user, pass)
		r.Header.Set("Content-Type", "application/pkcs10")
		r.Header.Set("Content-Transfer-Encoding", "base64")
	}
}

// certsFrom checks the certs-only response format and returns its certificates.
func certsFrom(t *testing.T, r resp) []*x509.Certificate {
	t.Helper()
	if r.code != http.StatusOK {
		t.Fatalf("status %d: %s", r.code, r.body)
	}
	if ct := r.h.Get("Content-Type"); ct != "application/pkcs7-mime; smime-type=certs-only" {
		t.Errorf("Content-Type %q", ct)
	}
	if cte := r.h.Get("Content-Transfer-Encoding"); cte != "base64" {
		t.Errorf("Content-Transfer-Encoding %q", cte)
	}
	if !strings.HasSuffix(r.body, "\n") || strings.Count(r.body, "\n") != 1 || strings.Contains(r.body, "\r") {
		t.Errorf("body is not one line ending in a newline: %q", r.body)
	}
	der, err := base64.StdEncoding.DecodeString(strings.TrimSuffix(r.body, "\n"))
	if err != nil {
		t.Fatal(err)
	}
	certs, err := ParseCertsOnly(der)
	if err != nil {
		t.Fatal(err)
	}
	return certs
}

func TestCACerts(t *testing.T) {
	a := newAuthority(t)
	s := newServer(t, a)
	for _, p := range []string{"/.well-known/est/cacerts", "/.well-known/est/srv/cacerts"} {
		certs := certsFrom(t, do(t, s, "GET", p, "", nil))
		if len(certs) != 2 || !certs[0].Equal(a.Intermediate()) || !certs[1].Equal(a.Root()) {
			t.Errorf("%s: wrong chain (%d certificates)", p, len(certs))
		}
	}
	r := do(t, s, "POST", "/.well-known/est/cacerts", "", nil)
	if r.code != http.StatusMethodNotAllowed || r.h.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST cacerts: %d Allow=%q", r.code, r.h.Get("Allow"))
	}
}

func TestRouting(t *testing.T) {
	a := newAuthority(t)
	s := newServer(t, a)
	cases := []struct {
		method, path string
		code         int
	}{
		{"GET", "/.well-known/est/csrattrs", http.StatusNoContent},
		{"GET", "/.well-known/est/srv/csrattrs", http.StatusNoContent},
		{"GET", "/.well-known/est/nope/cacerts", http.StatusNotFound},
		{"GET", "/.well-known/est/a/b/cacerts", http.StatusNotFound},
		{"GET", "/.well-known/est/unknown", http.StatusNotFound},
		{"GET", "/.well-known/est/", http.StatusNotFound},
		{"GET", "/elsewhere/cacerts", http.StatusNotFound},
		{"POST", "/.well-known/est/serverkeygen", http.StatusNotImplemented},
		{"GET", "/.well-known/est/simpleenroll", http.StatusMethodNotAllowed},
		{"PUT", "/.well-known/est/simplereenroll", http.StatusMethodNotAllowed},
	}
	for _, c := range cases {
		if r := do(t, s, c.method, c.path, "", nil); r.code != c.code {
			t.Errorf("%s %s: %d, want %d (%s)", c.method, c.path, r.code, c.code, r.body)
		}
	}
	if r := do(t, s, "GET", "/.well-known/est/simpleenroll", "", nil); r.h.Get("Allow") != "POST" {
		t.Errorf("Allow %q", r.h.Get("Allow"))
	}
	// No default profile: only labels work.
	s2, err := NewServer(Options{Signer: FromAuthority(a), Labels: map[string]string{"srv": "server"}})
	if err != nil {
		t.Fatal(err)
	}
	if r := do(t, s2, "GET", "/.well-known/est/cacerts", "", nil); r.code != http.StatusNotFound {
		t.Errorf("no default profile: %d", r.code)
	}
	if r := do(t, s2, "POST", "/.well-known/est/srv/simpleenroll", "x", nil); r.code != http.StatusForbidden {
		t.Errorf("no authenticator: %d", r.code)
	}
	for _, bad := range []string{"cacerts", "a/b", ""} {
		if _, err := NewServer(Options{Signer: FromAuthority(a), Labels: map[string]string{bad: "client"}}); err == nil {
			t.Errorf("label %q accepted", bad)
		}
	}
	if _, err := NewServer(Options{}); err == nil {
		t.Error("no signer accepted")
	}
}

func TestSimpleEnroll(t *testing.T) {
	a := newAuthority(t)
	s := newServer(t, a)
	const p = "/.well-known/est/simpleenroll"
	der := csrFor(t, "device-7")

	bodies := map[string]string{
		"one line": base64.StdEncoding.EncodeToString(der) + "\n",
		"wrapped":  wrapped(der),
		"PEM":      string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})),
	}
	for name, body := range bodies {
		t.Run(name, func(t *testing.T) {
			certs := certsFrom(t, do(t, s, "POST", p, body, basic("alice", "s3cret")))
			if len(certs) != 1 || certs[0].Subject.CommonName != "device-7" {
				t.Fatalf("got %d certificates", len(certs))
			}
			if err := certs[0].CheckSignatureFrom(a.Intermediate()); err != nil {
				t.Error(err)
			}
			if len(certs[0].ExtKeyUsage) != 1 || certs[0].ExtKeyUsage[0] != x509.ExtKeyUsageClientAuth {
				t.Errorf("not issued under the client profile: %v", certs[0].ExtKeyUsage)
			}
		})
	}
	t.Run("no CTE header", func(t *testing.T) {
		r := do(t, s, "POST", p, wrapped(der), func(r *http.Request) { r.SetBasicAuth("alice", "s3cret") })
		certsFrom(t, r)
	})
	t.Run("label selects profile", func(t *testing.T) {
		d := csrFor(t, "device-web", "device-web.example.com")
		certs := certsFrom(t, do(t, s, "POST", "/.well-known/est/srv/simpleenroll", wrapped(d), basic("alice", "s3cret")))
		if certs[0].ExtKeyUsage[0] != x509.ExtKeyUsageServerAuth {
			t.Errorf("label srv did not use the server profile")
		}
	})

	for name, setup := range map[string]func(*http.Request){
		"no credentials": nil,
		"wrong password": basic("alice", "nope"),
		"unknown user":   basic("mallory", "s3cret"),
		"empty":          basic("", ""),
	} {
		r := do(t, s, "POST", p, wrapped(der), setup)
		if r.code != http.StatusUnauthorized || r.h.Get("WWW-Authenticate") != `Basic realm="mtlsgate EST"` {
			t.Errorf("%s: %d WWW-Authenticate=%q", name, r.code, r.h.Get("WWW-Authenticate"))
		}
	}
	if r := do(t, s, "POST", p, wrapped(der), basic("bob", "hunter2")); r.code != http.StatusForbidden {
		t.Errorf("bob enrolling device-7: %d %s", r.code, r.body)
	}
	if r := do(t, s, "POST", p, wrapped(csrFor(t, "")), basic("alice", "s3cret")); r.code != http.StatusForbidden {
		t.Errorf("empty CN: %d %s", r.code, r.body)
	}
	for name, body := range map[string]string{
		"empty":      "",
		"not base64": "this is not base64!",
		"not a CSR":  base64.StdEncoding.EncodeToString([]byte("hello world")),
		"truncated":  base64.StdEncoding.EncodeToString(der[:len(der)/2]),
	} {
		r := do(t, s, "POST", p, body, basic("alice", "s3cret"))
		if r.code != http.StatusBadRequest || !strings.HasPrefix(r.h.Get("Content-Type"), "text/plain") || len(r.body) < 10 {
			t.Errorf("%s: %d %q", name, r.code, r.body)
		}
	}
	// Profile refusal (server profile needs a DNS/IP SAN) is a 403 with the reason.
	r := do(t, s, "POST", "/.well-known/est/srv/simpleenroll", wrapped(der), basic("alice", "s3cret"))
	if r.code != http.StatusForbidden || !strings.Contains(r.body, "SAN") {
		t.Errorf("profile refusal: %d %q", r.code, r.body)
	}
	big := strings.Repeat("A", MaxBodySize+10)
	if r := do(t, s, "POST", p, big, basic("alice", "s3cret")); r.code != http.StatusRequestEntityTooLarge {
		t.Errorf("large body: %d", r.code)
	}
}

func TestSimpleReenroll(t *testing.T) {
	a := newAuthority(t)
	s := newServer(t, a)
	srv := tlsServer(t, a, s)
	url := srv.URL + "/.well-known/est/"

	// First enrollment over TLS with Basic auth.
	key, der := makeCSR(t, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "device-9"}, DNSNames: []string{"device-9.example"}})
	req, _ := http.NewRequest("POST", url+"simpleenroll", strings.NewReader(wrapped(der)))
	req.SetBasicAuth("alice", "s3cret")
	old := certsFrom(t, send(t, tlsClient(a, nil), req))[0]
	tlsCert := &tls.Certificate{Certificate: [][]byte{old.Raw, a.Intermediate().Raw}, PrivateKey: key}
	client := tlsClient(a, tlsCert)

	post := func(c *http.Client, csr []byte) resp {
		req, _ := http.NewRequest("POST", url+"simplereenroll", strings.NewReader(wrapped(csr)))
		req.Header.Set("Content-Type", "application/pkcs10")
		return send(t, c, req)
	}
	_, same := makeCSR(t, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "device-9"}, DNSNames: []string{"device-9.example"}})
	certs := certsFrom(t, post(client, same))
	if certs[0].Subject.CommonName != "device-9" || certs[0].SerialNumber.Cmp(old.SerialNumber) == 0 {
		t.Errorf("reenroll returned %s serial %s", certs[0].Subject, certs[0].SerialNumber)
	}
	_, otherCN := makeCSR(t, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "device-10"}, DNSNames: []string{"device-9.example"}})
	if r := post(client, otherCN); r.code != http.StatusForbidden {
		t.Errorf("changed subject: %d %s", r.code, r.body)
	}
	_, otherSAN := makeCSR(t, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "device-9"}, DNSNames: []string{"evil.example"}})
	if r := post(client, otherSAN); r.code != http.StatusForbidden {
		t.Errorf("changed SANs: %d %s", r.code, r.body)
	}
	if r := post(tlsClient(a, nil), same); r.code != http.StatusForbidden {
		t.Errorf("no client certificate: %d %s", r.code, r.body)
	}
	if r := post(client, []byte("junk")); r.code != http.StatusBadRequest {
		t.Errorf("junk: %d %s", r.code, r.body)
	}
}

func send(t *testing.T, c *http.Client, req *http.Request) resp {
	t.Helper()
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{res.StatusCode, res.Header, string(b)}
}

func TestCredentialAndIssuer(t *testing.T) {
	c := &Credential{Name: "x", AllowCN: []string{"device-*", "[bad"}}
	for cn, want := range map[string]bool{"device-1": true, "device-": true, "gateway": false, "": false, "device-1/x": false} {
		if got := c.AllowsCN(cn); got != want {
			t.Errorf("AllowsCN(%q) = %v", cn, got)
		}
	}
	if (&Credential{}).AllowsCN("anything") {
		t.Error("empty AllowCN allowed a name")
	}
	a := newAuthority(t)
	s := newServer(t, a)
	if s.issuedHere(a.Root()) {
		t.Error("the root counts as issued by the issuing CA")
	}
	other := newAuthority(t)
	if s.issuedHere(other.Intermediate()) || !s.issuedHere(tlsServer(t, a, s).Certificate()) {
		t.Error("issuedHere is wrong")
	}
}

// The names a credential may ask for bind the SANs too.
func TestSimpleEnrollSANsBoundToCredential(t *testing.T) {
	a := newAuthority(t)
	s := newServer(t, a)
	auth := basic("alice", "s3cret")
	if r := do(t, s, "POST", PathPrefix+"simpleenroll", wrapped(csrFor(t, "device-1", "device-1")), auth); r.code != http.StatusOK {
		t.Fatalf("DNS SAN matching allow_cn: %d %s", r.code, r.body)
	}
	if r := do(t, s, "POST", PathPrefix+"simpleenroll", wrapped(csrFor(t, "device-1", "api.example.com")), auth); r.code != http.StatusForbidden {
		t.Fatalf("DNS SAN outside allow_cn: %d %s", r.code, r.body)
	}
	_, der := makeCSR(t, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "device-2"}, IPAddresses: []net.IP{net.ParseIP("10.0.0.1")}})
	if r := do(t, s, "POST", PathPrefix+"simpleenroll", wrapped(der), auth); r.code != http.StatusForbidden {
		t.Fatalf("IP SAN: %d %s", r.code, r.body)
	}
}
