package ocspresp

import (
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/mtlsgate/mtlsgate/internal/testpki"
)

// opensslEnv is a responder served over HTTP on 127.0.0.1 under /ca/ocsp,
// with the PEM files the openssl client needs.
type opensslEnv struct {
	openssl string
	f       *fixture
	url     string
	dir     string
	// PEM paths.
	root, issuer, responder, good, revoked string
}

func newOpenSSLEnv(t *testing.T) *opensslEnv {
	openssl := needOpenSSL(t)
	f := newFixture(t, Options{Now: time.Now})
	// No ServeMux: it would clean a "//" in raw base64 GET paths away, which
	// is why the gateway hands /ca/ocsp/ to the responder before its mux.
	h := http.StripPrefix("/ca/ocsp", f.resp)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)

	dir := t.TempDir()
	e := &opensslEnv{openssl: openssl, f: f, url: srv.URL + "/ca/ocsp", dir: dir}
	e.root = f.root.WriteCA(t, dir, "root")
	e.issuer = f.issuer.WriteCA(t, dir, "issuer")
	e.responder = testpki.WriteFile(t, dir, "responder.pem", testpki.CertPEM(f.delegated.Cert))
	e.good = testpki.WriteFile(t, dir, "good.pem", testpki.CertPEM(f.leaf(t, "good", Status{State: Good})))
	revokedAt := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	e.revoked = testpki.WriteFile(t, dir, "revoked.pem", testpki.CertPEM(f.leaf(t, "revoked",
		Status{State: Revoked, RevokedAt: revokedAt, Reason: ocsp.KeyCompromise})))
	return e
}

// ocsp runs "openssl ocsp" with args and returns its combined output
// (openssl exits 0 whatever the certificate status).
func (e *opensslEnv) ocsp(t *testing.T, args ...string) string {
	t.Helper()
	out := run(t, e.openssl, append([]string{"ocsp"}, args...)...)
	t.Logf("openssl ocsp %s\n%s", strings.Join(args, " "), out)
	return out
}

// wantOutput asserts every want is in out and no nonce warning is.
func wantOutput(t *testing.T, out string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(out, w) {
			t.Errorf("openssl output lacks %q", w)
		}
	}
	if strings.Contains(out, "WARNING") || strings.Contains(out, "rror") {
		t.Errorf("openssl output has a warning or error")
	}
}

func TestOpenSSLClient(t *testing.T) {
	e := newOpenSSLEnv(t)
	va := []string{"-issuer", e.issuer, "-url", e.url, "-VAfile", e.responder}
	chain := []string{"-issuer", e.issuer, "-url", e.url, "-CAfile", e.root, "-verify_other", e.issuer}
	cases := []struct {
		name  string
		args  []string
		wants []string
	}{
		{"good with nonce", append(va, "-cert", e.good), []string{"Response verify OK", e.good + ": good"}},
		{"revoked with nonce", append(va, "-cert", e.revoked), []string{"Response verify OK", e.revoked + ": revoked",
			"Reason: keyCompromise", "Revocation Time: Mar  4 05:06:07 2026 GMT"}},
		{"good without nonce", append(va, "-no_nonce", "-cert", e.good), []string{"Response verify OK", e.good + ": good"}},
		{"revoked without nonce", append(va, "-no_nonce", "-cert", e.revoked), []string{"Response verify OK", e.revoked + ": revoked"}},
		{"chain to root", append(chain, "-cert", e.good), []string{"Response verify OK", e.good + ": good"}},
		{"two certificates", append(chain, "-cert", e.good, "-cert", e.revoked),
			[]string{"Response verify OK", e.good + ": good", e.revoked + ": revoked"}},
		{"SHA-256 CertID", append(va, "-sha256", "-cert", e.good), []string{"Response verify OK", e.good + ": good"}},
		{"request and response text", append(va, "-req_text", "-resp_text", "-cert", e.good),
			[]string{"OCSP Nonce", "Response verify OK", "Responder Id", "Cert Status: good", e.good + ": good"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantOutput(t, e.ocsp(t, c.args...), c.wants...)
		})
	}
	if _, _, errs := e.f.resp.Stats(); errs != 0 {
		t.Errorf("%d requests failed", errs)
	}
}

// TestOpenSSLIssuerSigned checks responses signed by the issuer itself.
func TestOpenSSLIssuerSigned(t *testing.T) {
	e := newOpenSSLEnv(t)
	e.f.resp.SetSigner(Signer{Cert: e.f.issuer.Cert, Key: e.f.issuer.Key})
	out := e.ocsp(t, "-issuer", e.issuer, "-url", e.url, "-CAfile", e.root, "-verify_other", e.issuer, "-cert", e.revoked)
	wantOutput(t, out, "Response verify OK", e.revoked+": revoked")
}

// TestOpenSSLGET sends an openssl-made request (with nonce) by GET, as RFC
// 6960 appendix A.1 describes, and has openssl verify the response.
func TestOpenSSLGET(t *testing.T) {
	e := newOpenSSLEnv(t)
	reqPath := filepath.Join(e.dir, "req.der")
	e.ocsp(t, "-issuer", e.issuer, "-cert", e.revoked, "-reqout", reqPath)
	der, err := os.ReadFile(reqPath)
	if err != nil {
		t.Fatal(err)
	}
	for name, enc := range map[string]string{
		"url-encoded": strings.NewReplacer("+", "%2B", "/", "%2F", "=", "%3D").Replace(base64.StdEncoding.EncodeToString(der)),
		"raw":         base64.StdEncoding.EncodeToString(der),
	} {
		t.Run(name, func(t *testing.T) {
			resp, err := http.Get(e.url + "/" + enc)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("GET: %d, %v", resp.StatusCode, err)
			}
			respPath := testpki.WriteFile(t, e.dir, "resp-"+name+".der", b)
			// With -reqin, openssl checks the response's nonce against the
			// request's; -cert would make it build a fresh request instead, so
			// the status is read from the response text.
			out := e.ocsp(t, "-reqin", reqPath, "-respin", respPath, "-VAfile", e.responder, "-resp_text")
			wantOutput(t, out, "Response verify OK", "Cert Status: revoked", "Revocation Reason: keyCompromise (0x1)", "OCSP Nonce")
		})
	}
}
