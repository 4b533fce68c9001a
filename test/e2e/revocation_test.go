package e2e

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// partnerCA is a CA run with `openssl ca`, as a partner's PKI would be.
type partnerCA struct {
	t   testing.TB
	dir string
}

const partnerCnf = `[ca]
default_ca = partner
[partner]
dir = DIR
database = $dir/index.txt
new_certs_dir = $dir
serial = $dir/serial
crlnumber = $dir/crlnumber
certificate = $dir/ca.pem
private_key = $dir/ca.key
default_md = sha256
default_days = 2
default_crl_days = 1
policy = any
copy_extensions = none
unique_subject = no
[any]
commonName = supplied
[client]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
[client_ocsp]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
authorityInfoAccess = OCSP;URI:OCSPURL
`

func newPartnerCA(t testing.TB) *partnerCA { return newPartnerCAWithOCSP(t, "http://127.0.0.1:1") }

// newPartnerCAWithOCSP is a partner CA whose certificates (issueOCSP) name
// the OCSP responder at url.
func newPartnerCAWithOCSP(t testing.TB, url string) *partnerCA {
	t.Helper()
	needTool(t, "openssl")
	p := &partnerCA{t: t, dir: t.TempDir()}
	cnf := strings.ReplaceAll(strings.ReplaceAll(partnerCnf, "DIR", p.dir), "OCSPURL", url)
	for name, data := range map[string]string{
		"ca.cnf": cnf, "index.txt": "", "serial": "1000\n", "crlnumber": "01\n",
	} {
		if err := os.WriteFile(p.path(name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	mustOpenSSL(t, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
		"-keyout", p.path("ca.key"), "-out", p.path("ca.pem"), "-subj", "/CN=Partner CA", "-days", "2",
		"-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
	return p
}

func (p *partnerCA) path(name string) string { return filepath.Join(p.dir, name) }

// issue makes name.pem / name.key for CN=name.
func (p *partnerCA) issue(name string) { p.issueWith(name, "client") }

// issueWith issues with an extension section of the config.
func (p *partnerCA) issueWith(name, extensions string) {
	mustOpenSSL(p.t, "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
		"-keyout", p.path(name+".key"), "-out", p.path(name+".csr"), "-subj", "/CN="+name)
	mustOpenSSL(p.t, "ca", "-batch", "-config", p.path("ca.cnf"), "-extensions", extensions,
		"-in", p.path(name+".csr"), "-out", p.path(name+".pem"), "-notext")
}

func (p *partnerCA) revoke(name, reason string) {
	mustOpenSSL(p.t, "ca", "-config", p.path("ca.cnf"), "-revoke", p.path(name+".pem"), "-crl_reason", reason)
}

// gencrl writes the CRL (PEM) to out, replacing it atomically.
func (p *partnerCA) gencrl(out string) {
	tmp := out + ".tmp"
	mustOpenSSL(p.t, "ca", "-config", p.path("ca.cnf"), "-gencrl", "-out", tmp)
	if err := os.Rename(tmp, out); err != nil {
		p.t.Fatal(err)
	}
}

// partnerGatewayYAML is a gateway trusting the partner CA ({{CA}}) with the
// given revocation block (indented keys), one catch-all route and extra
// routes; {{PKI}} and {{UP}} are the e2e PKI and upstream.
func partnerGatewayYAML(revocation, extraRoutes string) string {
	return `listeners:
  - name: public
    address: 127.0.0.1:0
    tls:
      cert: {{PKI}}/gateway.pem
      key: {{PKI}}/gateway.key
      client_ca: {{CA}}/ca.pem
      revocation:` + revocation + `
upstreams:
  - name: up
    url: {{UP}}
    tls: {cert: {{PKI}}/gw-client.pem, key: {{PKI}}/gw-client.key, ca: {{PKI}}/backend-ca.pem, server_name: orders.internal}
routes:
  - name: api
    match: {path_prefix: /}
    upstream: up` + extraRoutes + "\n"
}

// TestExternalCRL: a listener trusting a partner CA run with `openssl ca`
// checks client certificates against the partner's CRL file: a revoked
// client is refused at the handshake with the reason in the log; a CRL
// re-generated after another revocation is picked up without a restart,
// and applies to resumed TLS sessions too (openssl s_client -sess_in).
func TestExternalCRL(t *testing.T) {
	t.Parallel()
	needTool(t, "curl")
	ca := newPartnerCA(t)
	for _, n := range []string{"alice", "bob"} {
		ca.issue(n)
	}
	ca.revoke("bob", "keyCompromise")
	dir := t.TempDir()
	crl := filepath.Join(dir, "partner.crl")
	ca.gencrl(crl)
	p := newPKI(t)
	up := newUpstream(t, p, p.gwClientCA)
	yaml := fill(partnerGatewayYAML(`
        crl:
          - file: partner.crl`, ""), map[string]string{"PKI": p.dir, "CA": ca.dir, "UP": up.URL()})
	g := startGateway(t, dir, yaml)
	curlAs := func(name string) curlResult {
		return runCurl(t, "--cacert", p.path("server-ca.pem"), "--cert", ca.path(name+".pem"), "--key", ca.path(name+".key"), g.URL("/x"))
	}
	expect(t, "alice (not revoked)", curlAs("alice"), 200)
	if r := curlAs("bob"); r.status == 200 {
		t.Fatalf("bob (revoked in the CRL) got 200")
	}
	g.waitLog(5*time.Second, "bob's refusal with reason revoked", func(m map[string]any) bool {
		return m["reason_code"] == "revoked" && strings.Contains(m["reason"].(string), "keyCompromise")
	})

	// diagnose explains both, from the same CRL.
	cfgPath := filepath.Join(dir, "mtlsgate.yaml")
	if code, out, errOut := runBinary(t, 30*time.Second, "diagnose", "cert", ca.path("bob.pem"), "-c", cfgPath); code != 1 || !strings.Contains(out, "revoked") || !strings.Contains(out, "keyCompromise") {
		t.Errorf("diagnose cert bob: exit %d\n%s%s", code, out, errOut)
	}
	if code, out, errOut := runBinary(t, 30*time.Second, "diagnose", "cert", ca.path("alice.pem"), "-c", cfgPath); code != 0 || !strings.Contains(out, "not revoked according to") {
		t.Errorf("diagnose cert alice: exit %d\n%s%s", code, out, errOut)
	}

	// A TLS session made while alice was good...
	sess := filepath.Join(dir, "alice.sess")
	out, _ := runOpenSSL(t, "s_client", "-connect", g.Addr("public"), "-CAfile", p.path("server-ca.pem"),
		"-cert", ca.path("alice.pem"), "-key", ca.path("alice.key"), "-sess_out", sess, "-tls1_2")
	if !strings.Contains(out, "Verify return code: 0") {
		t.Fatalf("s_client as alice:\n%s", out)
	}
	// A keep-alive connection open as alice...
	cfg := tlsConfigFor(t, p.path("server-ca.pem"), ca.path("alice.pem"), ca.path("alice.key"))
	cfg.ServerName = "localhost"
	ct := &connTracker{}
	open := trackedClient(cfg, false, ct)
	get := func() (int, string) {
		resp, err := open.Get("https://localhost:" + g.Port() + "/x")
		if err != nil {
			return -1, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get(); code != 200 {
		t.Fatalf("alice on a keep-alive connection: %d %s", code, body)
	}
	// ...then alice is revoked and the CRL file replaced: no restart.
	ca.revoke("alice", "superseded")
	ca.gencrl(crl)
	// The open connection's next request is refused with the reason.
	var code int
	var body string
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if code, body = get(); code != 200 {
			break
		}
	}
	if code != 403 || !strings.Contains(body, "client_cert_revoked") || ct.dials() != 1 {
		t.Fatalf("open connection after the CRL change: %d %s (dials %d)", code, body, ct.dials())
	}
	deadline := time.Now().Add(10 * time.Second)
	for curlAs("alice").status == 200 {
		if time.Now().After(deadline) {
			t.Fatalf("alice still accepted 10 s after the CRL file changed\n%s", g.stderr.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	out, _ = runOpenSSL(t, "s_client", "-connect", g.Addr("public"), "-CAfile", p.path("server-ca.pem"),
		"-cert", ca.path("alice.pem"), "-key", ca.path("alice.key"), "-sess_in", sess, "-tls1_2")
	if !strings.Contains(out, "alert") {
		t.Fatalf("the resumed session of revoked alice was not refused:\n%s", out)
	}
	g.waitLog(5*time.Second, "alice's refusal with reason revoked", func(m map[string]any) bool {
		return m["reason_code"] == "revoked" && strings.Contains(m["reason"].(string), "CN=alice")
	})
}

// startOCSP runs `openssl ocsp -index` for the partner CA on addr and
// returns a function that stops it. openssl serves one connection at a
// time, so readiness is its banner, not a probe.
func (p *partnerCA) startOCSP(addr string) (stop func()) {
	t := p.t
	_, port, _ := net.SplitHostPort(addr)
	var out logLines
	cmd := exec.Command("openssl", "ocsp", "-index", p.path("index.txt"), "-port", port,
		"-rsigner", p.path("ca.pem"), "-rkey", p.path("ca.key"), "-CA", p.path("ca.pem"), "-ignore_err", "-nmin", "5")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	stop = sync.OnceFunc(func() { _ = cmd.Process.Kill(); <-exited })
	t.Cleanup(stop)
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(out.String(), "waiting for OCSP client connections"); time.Sleep(20 * time.Millisecond) {
		select {
		case <-exited:
			t.Fatalf("openssl ocsp exited: %s", out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("openssl ocsp did not start: %s", out.String())
		}
	}
	return stop
}

// TestExternalOCSP: with ocsp: require, the gateway asks the partner's
// responder (openssl ocsp -index) about each client: good passes, revoked
// is refused with the reason; with the responder stopped, a client never
// asked about is refused under fail_closed and let through, logged, under
// fail_open.
func TestExternalOCSP(t *testing.T) {
	t.Parallel()
	needTool(t, "curl")
	ocspAddr := freePort(t)
	ca := newPartnerCAWithOCSP(t, "http://"+ocspAddr)
	for _, n := range []string{"alice", "bob", "carol", "dave"} {
		ca.issueWith(n, "client_ocsp")
	}
	ca.revoke("bob", "keyCompromise")
	stopOCSP := ca.startOCSP(ocspAddr)
	p := newPKI(t)
	up := newUpstream(t, p, p.gwClientCA)
	tmpl := partnerGatewayYAML(`
        ocsp: require
        on_unavailable: {{MODE}}`, `
  - name: strict
    match: {path_prefix: /strict/}
    upstream: up
    revocation: {on_unavailable: fail_closed}`)
	kv := map[string]string{"PKI": p.dir, "CA": ca.dir, "UP": up.URL(), "MODE": "fail_closed"}
	dir := t.TempDir()
	g := startGateway(t, dir, fill(tmpl, kv))
	curlAs := func(name string) curlResult {
		return runCurl(t, "--cacert", p.path("server-ca.pem"), "--cert", ca.path(name+".pem"), "--key", ca.path(name+".key"), g.URL("/x"))
	}
	expect(t, "alice (good)", curlAs("alice"), 200)
	if r := curlAs("bob"); r.status == 200 {
		t.Fatal("bob (revoked at the responder) got 200")
	}
	g.waitLog(5*time.Second, "bob refused as revoked", func(m map[string]any) bool {
		return m["reason_code"] == "revoked" && strings.Contains(fmt.Sprint(m["reason"]), "CN=bob")
	})

	stopOCSP()
	if r := curlAs("carol"); r.status == 200 {
		t.Fatal("carol got 200 with the responder down under fail_closed")
	}
	g.waitLog(5*time.Second, "carol refused, responder unavailable", func(m map[string]any) bool {
		return m["reason_code"] == "ocsp_unavailable" && strings.Contains(fmt.Sprint(m["reason"]), "CN=carol")
	})
	expect(t, "alice (cached good answer)", curlAs("alice"), 200)

	kv["MODE"] = "fail_open"
	writeConfig(t, dir, fill(tmpl, kv))
	deadline := time.Now().Add(10 * time.Second)
	for curlAs("dave").status != 200 {
		if time.Now().After(deadline) {
			t.Fatalf("dave still refused 10 s after switching to fail_open\n%s", g.stderr.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	g.waitLog(5*time.Second, "fail-open admission logged", func(m map[string]any) bool {
		return m["revocation_fail_open"] == "ocsp_unavailable"
	})
	// A route that insists on a known status refuses the fail-open client.
	r := runCurl(t, "--cacert", p.path("server-ca.pem"), "--cert", ca.path("dave.pem"), "--key", ca.path("dave.key"), g.URL("/strict/x"))
	expectProblem(t, "dave on the strict route", r, 403, "revocation_unavailable")
}
