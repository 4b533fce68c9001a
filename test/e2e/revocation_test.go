package e2e

import (
	"os"
	"path/filepath"
	"strings"
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
`

func newPartnerCA(t testing.TB) *partnerCA {
	t.Helper()
	needTool(t, "openssl")
	p := &partnerCA{t: t, dir: t.TempDir()}
	for name, data := range map[string]string{
		"ca.cnf": strings.ReplaceAll(partnerCnf, "DIR", p.dir), "index.txt": "", "serial": "1000\n", "crlnumber": "01\n",
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
func (p *partnerCA) issue(name string) {
	mustOpenSSL(p.t, "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
		"-keyout", p.path(name+".key"), "-out", p.path(name+".csr"), "-subj", "/CN="+name)
	mustOpenSSL(p.t, "ca", "-batch", "-config", p.path("ca.cnf"), "-extensions", "client",
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
	yaml := fill(`listeners:
  - name: public
    address: 127.0.0.1:0
    tls:
      cert: {{PKI}}/gateway.pem
      key: {{PKI}}/gateway.key
      client_ca: {{CA}}/ca.pem
      revocation:
        crl:
          - file: partner.crl
upstreams:
  - name: up
    url: {{UP}}
    tls: {cert: {{PKI}}/gw-client.pem, key: {{PKI}}/gw-client.key, ca: {{PKI}}/backend-ca.pem, server_name: orders.internal}
routes:
  - name: api
    match: {path_prefix: /}
    upstream: up
`, map[string]string{"PKI": p.dir, "CA": ca.dir, "UP": up.URL()})
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
	// ...then alice is revoked and the CRL file replaced: no restart.
	ca.revoke("alice", "superseded")
	ca.gencrl(crl)
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
