package e2e

import (
	"encoding/base64"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestESTThroughGateway: an init setup with an est section enrolls with
// curl and with strongSwan's `pki --est` through the gateway's TLS
// listener: cacerts, simpleenroll with HTTP Basic (401 without, 403 for a
// name the account may not ask for), and simplereenroll with the
// certificate just issued.
func TestESTThroughGateway(t *testing.T) {
	t.Parallel()
	needTool(t, "curl")
	s := runInit(t)
	if err := os.WriteFile(s.path("est.pw"), []byte("enroll-s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	serveInit(t, s, func(y string) string {
		return y + `
est:
  listener: public
  revoke_superseded: true
  accounts:
    - username: estuser
      password_file: est.pw
      allow_cn: ["device-*"]
`
	})
	base := "https://" + s.listen + "/.well-known/est/"
	ca := []string{"--cacert", s.path("pki", "root.pem")}

	r := runCurl(t, append(ca, base+"cacerts")...)
	expect(t, "cacerts", r, 200)
	if der, err := base64.StdEncoding.DecodeString(strings.TrimSpace(r.body)); err != nil || len(der) == 0 {
		t.Fatalf("cacerts body is not base64: %v", err)
	}

	// useCSR makes a CSR for cn (openssl) the body enroll sends, as
	// base64 DER.
	useCSR := func(cn string) {
		t.Helper()
		mustOpenSSL(t, "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
			"-keyout", s.path(cn+".key"), "-subj", "/CN="+cn, "-outform", "DER", "-out", s.path(cn+".csr"))
		der, _ := os.ReadFile(s.path(cn + ".csr"))
		if err := os.WriteFile(s.path("dev17.b64"), []byte(base64.StdEncoding.EncodeToString(der)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	useCSR("device-17")
	enroll := func(extra ...string) curlResult {
		args := append(append([]string{}, ca...), extra...)
		return runCurl(t, append(args, "-H", "Content-Type: application/pkcs10", "--data-binary", "@"+s.path("dev17.b64"), base+"simpleenroll")...)
	}
	if r := enroll(); r.status != 401 || !strings.HasPrefix(r.header.Get("WWW-Authenticate"), `Basic realm=`) {
		t.Fatalf("simpleenroll without credentials: %s", r)
	}
	if r := enroll("-u", "estuser:wrong"); r.status != 401 {
		t.Fatalf("simpleenroll with a wrong password: %s", r)
	}
	r = enroll("-u", "estuser:enroll-s3cret")
	expect(t, "simpleenroll", r, 200)
	der, err := base64.StdEncoding.DecodeString(strings.TrimSpace(r.body))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.path("dev17.p7"), der, 0o644); err != nil {
		t.Fatal(err)
	}
	if out := mustOpenSSL(t, "pkcs7", "-inform", "DER", "-in", s.path("dev17.p7"), "-print_certs"); !strings.Contains(out, "CN = device-17") {
		t.Fatalf("issued certificate:\n%s", out)
	}
	// A name outside allow_cn: 403.
	useCSR("server-1")
	if r := enroll("-u", "estuser:enroll-s3cret"); r.status != 403 {
		t.Fatalf("simpleenroll for CN=server-1: %s", r)
	}
	if out := caRun(t, s.path("pki"), "list"); !strings.Contains(out, "device-17") || strings.Contains(out, "server-1") {
		t.Fatalf("ca list:\n%s", out)
	}

	// One-time tokens: a token for device-18 enrolls device-18 once; it
	// cannot enroll another name (and is not used up by trying), and it
	// cannot be used twice.
	token := strings.TrimSpace(mustRun(t, "est", "token", "create", "--dir", s.path("pki"), "--cn", "device-18", "--ttl", "1h"))
	useCSR("device-17b")
	if r := enroll("-u", "device:"+token); r.status != 403 {
		t.Fatalf("token for device-18 enrolling device-17b: %s", r)
	}
	useCSR("device-18")
	expect(t, "token enrollment of device-18", enroll("-u", "device:"+token), 200)
	if r := enroll("-u", "device:"+token); r.status != 401 {
		t.Fatalf("second use of a one-time token: %s", r)
	}

	// strongSwan: enroll, then re-enroll with the certificate it got.
	if _, err := exec.LookPath("pki"); err != nil {
		t.Skip("strongSwan pki not installed (scripts/test installs it)")
	}
	url := "https://" + s.listen
	cas := []string{"--cacert", s.path("pki", "root.pem"), "--cacert", s.path("pki", "intermediate.pem")}
	runPKI := func(args ...string) []byte {
		t.Helper()
		out, err := exec.Command("pki", args...).Output()
		if err != nil {
			var stderr string
			if ee, ok := err.(*exec.ExitError); ok {
				stderr = string(ee.Stderr)
			}
			t.Fatalf("pki %v: %v\n%s", args, err, stderr)
		}
		return out
	}
	key := runPKI("--gen", "--type", "ecdsa", "--size", "256", "--outform", "pem")
	os.WriteFile(s.path("ss.key"), key, 0o600)
	req := runPKI("--req", "--in", s.path("ss.key"), "--type", "ecdsa", "--dn", "CN=device-ss")
	os.WriteFile(s.path("ss.csr"), req, 0o644)
	cert := runPKI(append(append([]string{"--est", "--url", url}, cas...), "--in", s.path("ss.csr"), "--userpass", "estuser:enroll-s3cret")...)
	os.WriteFile(s.path("ss.der"), cert, 0o644)
	if out := mustOpenSSL(t, "x509", "-inform", "DER", "-in", s.path("ss.der"), "-noout", "-subject"); !strings.Contains(out, "device-ss") {
		t.Fatalf("strongSwan enrolled: %s", out)
	}
	key2 := runPKI("--gen", "--type", "ecdsa", "--size", "256", "--outform", "pem")
	os.WriteFile(s.path("ss2.key"), key2, 0o600)
	req2 := runPKI("--req", "--in", s.path("ss2.key"), "--type", "ecdsa", "--dn", "CN=device-ss")
	os.WriteFile(s.path("ss2.csr"), req2, 0o644)
	cert2 := runPKI(append(append([]string{"--est", "--url", url}, cas...), "--in", s.path("ss2.csr"), "--cert", s.path("ss.der"), "--key", s.path("ss.key"))...)
	if len(cert2) == 0 {
		t.Fatal("strongSwan re-enroll returned nothing")
	}
	// revoke_superseded: the replaced certificate is revoked.
	oldSerial := strings.ToLower(strings.TrimPrefix(strings.TrimSpace(mustOpenSSL(t, "x509", "-inform", "DER", "-in", s.path("ss.der"), "-noout", "-serial")), "serial="))
	if out := caRun(t, s.path("pki"), "list", "--revoked"); !strings.Contains(strings.ToLower(out), strings.TrimLeft(oldSerial, "0")) || !strings.Contains(out, "device-ss") {
		t.Fatalf("the re-enrolled certificate %s is not revoked:\n%s", oldSerial, out)
	}
}
