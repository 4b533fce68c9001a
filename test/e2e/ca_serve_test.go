package e2e

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Tests of `mtlsgate init` and of the built-in CA inside a running gateway:
// statuses, CRL and OCSP publishing checked with openssl. Instant
// revocation and auto-renewal are in ca_revoke_test.go.

// TestInitServeStatuses: `mtlsgate init DIR` scaffolds a setup that
// validates and serves: alice gets 200 from the built-in echo upstream,
// which sees her forwarded identity and the gateway's client certificate;
// no certificate gets 401 and bob 403. init on the same directory reuses
// it untouched, init on a foreign non-empty directory fails and leaves it
// alone, and `init --serve` sets up and serves in one command.
func TestInitServeStatuses(t *testing.T) {
	t.Parallel()
	needTool(t, "curl")
	s := runInit(t)
	for _, f := range []string{"mtlsgate.yaml", "README.md", "gateway.pem", "gateway-upstream.pem", "echo.pem",
		"pki/root.pem", "pki/intermediate.pem", "pki/ca.yaml", "pki/ca.db",
		"clients/alice.pem", "clients/alice-chain.pem", "clients/bob.pem", "clients/bob-chain.pem"} {
		if _, err := os.Stat(s.path(f)); err != nil {
			t.Errorf("init did not write %s: %v", f, err)
		}
	}
	for _, f := range []string{"gateway.key", "gateway-upstream.key", "echo.key", "pki/root.key", "pki/intermediate.key", "clients/alice.key", "clients/bob.key"} {
		checkMode(t, s.path(f), 0o600)
	}
	if readme, _ := os.ReadFile(s.path("README.md")); !strings.Contains(string(readme), "https://"+s.listen+"/api/orders") {
		t.Errorf("README.md does not show the listen address %s:\n%s", s.listen, readme)
	}
	if out := mustRun(t, "validate", "-c", s.path("mtlsgate.yaml")); !strings.Contains(out, "valid") {
		t.Errorf("validate: %s", out)
	}

	cfgBefore, _ := os.ReadFile(s.path("mtlsgate.yaml"))
	rootBefore, _ := os.ReadFile(s.path("pki", "root.pem"))
	out := mustRun(t, "init", s.dir)
	if !strings.Contains(out, "already holds a setup made by mtlsgate init; using it") {
		t.Errorf("init on an init directory:\n%s", out)
	}
	cfgAfter, _ := os.ReadFile(s.path("mtlsgate.yaml"))
	rootAfter, _ := os.ReadFile(s.path("pki", "root.pem"))
	if string(cfgAfter) != string(cfgBefore) || string(rootAfter) != string(rootBefore) {
		t.Error("init on an existing setup rewrote it")
	}
	foreign := t.TempDir()
	if err := os.WriteFile(filepath.Join(foreign, "notes.txt"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, msg := mustFail(t, "init", foreign); !strings.Contains(msg, "not empty") {
		t.Errorf("init on a foreign directory: %s", msg)
	}
	if entries, _ := os.ReadDir(foreign); len(entries) != 1 {
		t.Errorf("init on a foreign directory changed it: %v", entries)
	}

	serveInit(t, s, nil)
	r := s.curlAs(t, "alice", "/api/orders")
	expect(t, "alice", r, 200)
	var echo map[string]any
	if err := json.Unmarshal([]byte(r.body), &echo); err != nil {
		t.Fatalf("echo upstream answer is not JSON: %v\n%s", err, r.body)
	}
	if echo["client_cert_subject (from Client-Cert, RFC 9440)"] != "CN=alice,OU=payments" ||
		echo["gateway_client"] != "CN=mtlsgate-gateway" || echo["path"] != "/api/orders" {
		t.Errorf("echo upstream saw the wrong identity:\n%s", r.body)
	}
	expectProblem(t, "no certificate", s.curlAs(t, "", "/api/orders"), 401, "client_cert_required")
	expectProblem(t, "bob", s.curlAs(t, "bob", "/api/orders"), 403, "not_allowed")

	one, flags := initFlags(t, filepath.Join(t.TempDir(), "one"))
	startProc(t, "public and pki listening", listenersReady("public", "pki"), append([]string{"init", "--serve", one.dir}, flags...)...)
	expect(t, "alice via init --serve", one.curlAs(t, "alice", "/api/orders"), 200)
	expectProblem(t, "bob via init --serve", one.curlAs(t, "bob", "/api/orders"), 403, "not_allowed")
}

// TestRegressionInitPortZero — regression test (usability) for a bug found
// by this suite. `mtlsgate init --upstream 127.0.0.1:0 --pki-listen
// 127.0.0.1:0 DIR` writes the addresses verbatim (cmd/mtlsgate/initcmd.go:
// freeAddr returns "127.0.0.1:0" unchanged because port 0 can always be
// bound): the echo server binds a random port but the upstream URL is
// https://127.0.0.1:0, so every request is a 502; and the CA's publish_url
// http://127.0.0.1:0 is signed into every certificate as CRL distribution
// point and OCSP URL. The same bug was fixed for `mtlsgate demo`
// (TestRegressionDemoListenPortZero).
func TestRegressionInitPortZero(t *testing.T) {
	t.Parallel()
	needTool(t, "curl")
	dir := filepath.Join(t.TempDir(), "demo")
	mustRun(t, "init", dir, "--listen", "127.0.0.1:0", "--pki-listen", "127.0.0.1:0", "--admin", freePort(t), "--upstream", "127.0.0.1:0")
	alice := readCerts(t, filepath.Join(dir, "clients", "alice.pem"))[0]
	if strings.Join(alice.OCSPServer, ",") == "http://127.0.0.1:0/ca/ocsp" {
		t.Errorf("certificates carry the unusable OCSP URL %v", alice.OCSPServer)
	}
	data, err := os.ReadFile(filepath.Join(dir, "mtlsgate.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	g := startGateway(t, dir, string(data), "public", "pki")
	r := runCurl(t, "--cacert", filepath.Join(dir, "pki", "root.pem"), "--cert", filepath.Join(dir, "clients", "alice-chain.pem"),
		"--key", filepath.Join(dir, "clients", "alice.key"), g.URL("/api/orders"))
	if r.status != 200 {
		t.Errorf("alice through a setup made with --upstream 127.0.0.1:0: %s", r)
	}
}

// TestCACRLAndOCSPWithOpenSSL: a gateway with a ca section publishes the
// CA on its plain listener: root and chain files, a CRL that openssl
// verifies against the issuing CA and that lists revocations (by serial in
// openssl's form, with or without colons) with their reasons under an
// increasing CRL number, shared with `ca crl` run offline; and an OCSP
// responder whose answers openssl verifies: good, then revoked with reason
// after `ca revoke`, with and without nonce, over POST and GET; unknown for
// a serial the CA never issued, and never good for another CA's
// certificate.
func TestCACRLAndOCSPWithOpenSSL(t *testing.T) {
	t.Parallel()
	needTool(t, "curl")
	s := runInit(t)
	serveInit(t, s, func(y string) string {
		return strings.Replace(y, "  serve_on: pki\n", "  serve_on: pki\n  revocation_poll: 100ms\n", 1)
	})
	pkiDir, work := s.path("pki"), t.TempDir()
	root, inter := filepath.Join(pkiDir, "root.pem"), filepath.Join(pkiDir, "intermediate.pem")
	rootPEM, _ := os.ReadFile(root)
	interPEM, _ := os.ReadFile(inter)
	both := filepath.Join(work, "root+intermediate.pem")
	if err := os.WriteFile(both, append(append([]byte{}, rootPEM...), interPEM...), 0o644); err != nil {
		t.Fatal(err)
	}
	base := "http://" + s.pki + "/ca/"
	for _, f := range []struct{ path, ctype, body string }{
		{"root.pem", "application/x-pem-file", string(rootPEM)},
		{"chain.pem", "application/x-pem-file", string(interPEM) + string(rootPEM)},
		{"root.crt", "application/pkix-cert", string(readCerts(t, root)[0].Raw)},
		{"intermediate.crt", "application/pkix-cert", string(readCerts(t, inter)[0].Raw)},
	} {
		if r := runCurl(t, base+f.path); r.status != 200 || r.contentType != f.ctype || r.body != f.body {
			t.Errorf("GET /ca/%s: HTTP %d %s, body matches %v", f.path, r.status, r.contentType, r.body == f.body)
		}
	}

	// crl fetches /ca/crl, checks it with openssl and returns its text and
	// number.
	crl := func() (string, int64) {
		t.Helper()
		r := runCurl(t, base+"crl")
		if r.status != 200 || r.contentType != "application/pkix-crl" {
			t.Fatalf("GET /ca/crl: %s", r)
		}
		file := filepath.Join(work, "ca.crl")
		if err := os.WriteFile(file, []byte(r.body), 0o644); err != nil {
			t.Fatal(err)
		}
		text := mustOpenSSL(t, "crl", "-inform", "DER", "-in", file, "-CAfile", both, "-noout", "-text")
		if !strings.Contains(text, "verify OK") {
			t.Fatalf("openssl crl did not verify the CRL:\n%s", text)
		}
		l, err := x509.ParseRevocationList([]byte(r.body))
		if err != nil {
			t.Fatal(err)
		}
		return text, l.Number.Int64()
	}
	// crlListing waits (up to 3s: revocation_poll is 100ms) for the served
	// CRL to list serial.
	crlListing := func(serial string) (string, int64) {
		t.Helper()
		deadline := time.Now().Add(3 * time.Second)
		for {
			text, n := crl()
			if strings.Contains(text, "Serial Number: "+serial) {
				return text, n
			}
			if time.Now().After(deadline) {
				t.Fatalf("the served CRL does not list %s within 3s:\n%s", serial, text)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	ocspURL := base + "ocsp"
	ocsp := func(cert string, extra ...string) string {
		t.Helper()
		out, err := runOpenSSL(t, append([]string{"ocsp", "-issuer", inter, "-cert", cert, "-url", ocspURL, "-CAfile", root}, extra...)...)
		if err != nil || !strings.Contains(out, "Response verify OK") {
			t.Fatalf("openssl ocsp %s %v: %v\n%s", cert, extra, err, out)
		}
		return out
	}
	alice, bob := s.path("clients", "alice.pem"), s.path("clients", "bob.pem")
	aliceSerial, bobSerial := opensslSerial(t, alice), opensslSerial(t, bob)

	text, n0 := crl()
	if !strings.Contains(text, "No Revoked Certificates") {
		t.Errorf("a new CA's CRL lists revocations:\n%s", text)
	}
	for _, nonce := range [][]string{nil, {"-no_nonce"}} {
		if out := ocsp(alice, nonce...); !strings.Contains(out, alice+": good") {
			t.Errorf("OCSP %v for alice before revocation:\n%s", nonce, out)
		}
	}

	out := caRun(t, pkiDir, "revoke", aliceSerial, "--reason", "keyCompromise")
	if !strings.Contains(out, "revoked "+strings.ToLower(aliceSerial)+" (keyCompromise)") {
		t.Errorf("ca revoke %s:\n%s", aliceSerial, out)
	}
	text, n1 := crlListing(aliceSerial)
	if !strings.Contains(text, "Key Compromise") || n1 <= n0 {
		t.Errorf("CRL #%d after revoking alice (before: #%d), want a higher number and reason Key Compromise:\n%s", n1, n0, text)
	}
	for _, nonce := range [][]string{nil, {"-no_nonce"}} {
		out := ocsp(alice, nonce...)
		if !strings.Contains(out, alice+": revoked") || !strings.Contains(out, "Reason: keyCompromise") || !strings.Contains(out, "Revocation Time:") {
			t.Errorf("OCSP %v for alice after revocation:\n%s", nonce, out)
		}
	}

	caRun(t, pkiDir, "revoke", withColons(bobSerial), "--reason", "superseded")
	text, n2 := crlListing(bobSerial)
	if !strings.Contains(text, "Serial Number: "+aliceSerial) || !strings.Contains(text, "Superseded") || n2 <= n1 {
		t.Errorf("CRL #%d after revoking bob (before: #%d), want both and reason Superseded:\n%s", n2, n1, text)
	}
	offline := filepath.Join(work, "offline.crl")
	if out := caRun(t, pkiDir, "crl", "--out", offline); !strings.Contains(out, "with 2 entries") {
		t.Errorf("ca crl --out: %s", out)
	}
	text = mustOpenSSL(t, "crl", "-inform", "DER", "-in", offline, "-CAfile", both, "-noout", "-text")
	offlineCRL, _ := os.ReadFile(offline)
	l, err := x509.ParseRevocationList(offlineCRL)
	if err != nil || !strings.Contains(text, "verify OK") || !strings.Contains(text, aliceSerial) || !strings.Contains(text, bobSerial) || l.Number.Int64() <= n2 {
		t.Errorf("offline CRL (err %v), want it verified, both serials and a number above %d:\n%s", err, n2, text)
	}
	if pemCRL := caRun(t, pkiDir, "crl"); !strings.HasPrefix(pemCRL, "-----BEGIN X509 CRL-----") {
		t.Errorf("ca crl to stdout is not PEM:\n%.80s", pemCRL)
	}

	// A serial this CA never issued is unknown; another CA's certificate
	// is not this responder's to answer, and never good.
	if out := mustOpenSSL(t, "ocsp", "-issuer", inter, "-serial", "0x1234abcd", "-url", ocspURL, "-CAfile", root); !strings.Contains(out, "Response verify OK") || !strings.Contains(out, "0x1234abcd: unknown") {
		t.Errorf("OCSP for a serial never issued:\n%s", out)
	}
	otherDir := filepath.Join(work, "other")
	caRun(t, otherDir, "init", "--name", "Other")
	eve := filepath.Join(work, "eve")
	caRun(t, otherDir, "issue", "--cn", "eve", "--out", eve)
	out, _ = runOpenSSL(t, "ocsp", "-issuer", filepath.Join(otherDir, "intermediate.pem"), "-cert", eve+".pem", "-url", ocspURL, "-CAfile", root)
	if strings.Contains(out, ": good") || !strings.Contains(out, "unauthorized") {
		t.Errorf("OCSP for another CA's certificate, want unauthorized:\n%s", out)
	}

	// GET /ca/ocsp/<url-encoded base64 of the DER request> (RFC 6960 A.1).
	req, resp := filepath.Join(work, "req.der"), filepath.Join(work, "resp.der")
	mustOpenSSL(t, "ocsp", "-reqout", req, "-issuer", inter, "-cert", bob, "-no_nonce")
	der, err := os.ReadFile(req)
	if err != nil {
		t.Fatal(err)
	}
	r := runCurl(t, ocspURL+"/"+url.QueryEscape(base64.StdEncoding.EncodeToString(der)))
	if r.status != 200 || r.contentType != "application/ocsp-response" {
		t.Fatalf("OCSP GET: %s", r)
	}
	if err := os.WriteFile(resp, []byte(r.body), 0o644); err != nil {
		t.Fatal(err)
	}
	out = mustOpenSSL(t, "ocsp", "-respin", resp, "-issuer", inter, "-cert", bob, "-CAfile", root)
	if !strings.Contains(out, "Response verify OK") || !strings.Contains(out, bob+": revoked") || !strings.Contains(out, "Reason: superseded") {
		t.Errorf("OCSP GET response for bob:\n%s", out)
	}
}
