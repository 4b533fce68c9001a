package est

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mtlsgate/mtlsgate/internal/ca"
)

func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func run(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(name, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return out
}

// TestStrongSwanInterop enrolls and re-enrolls with strongSwan's pki tool.
func TestStrongSwanInterop(t *testing.T) {
	pki, err := exec.LookPath("pki")
	if err != nil {
		t.Skip("strongSwan pki not on PATH (apt-get install strongswan-pki libstrongswan-extra-plugins)")
	}
	a := newAuthority(t)
	srv := tlsServer(t, a, newServer(t, a))
	dir := t.TempDir()
	root := writeFile(t, dir, "root.pem", ca.CertPEM(a.Root()))
	inter := writeFile(t, dir, "inter.pem", ca.CertPEM(a.Intermediate()))
	url := srv.URL // pki appends /.well-known/est/simpleenroll itself

	// pki --estca fetches /cacerts and writes the chain, issuing CA first.
	caout := filepath.Join(dir, "estca.pem")
	run(t, pki, "--estca", "--url", url, "--cacert", root, "--caout", caout, "--outform", "pem")
	files, _ := filepath.Glob(filepath.Join(dir, "estca*.pem"))
	if len(files) != 2 {
		t.Fatalf("pki --estca wrote %v, want the issuing CA and the root", files)
	}

	key := writeFile(t, dir, "key.pem", run(t, pki, "--gen", "--type", "ecdsa", "--size", "256", "--outform", "pem"))
	req := writeFile(t, dir, "req.der", run(t, pki, "--req", "--in", key, "--type", "ecdsa", "--dn", "CN=device-ss", "--san", "device-ss.example"))

	// pki --est writes the certificate to stdout.
	der := run(t, pki, "--est", "--url", url, "--cacert", root, "--cacert", inter, "--in", req, "--userpass", "alice:s3cret")
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	if cert.Subject.CommonName != "device-ss" || cert.CheckSignatureFrom(a.Intermediate()) != nil {
		t.Fatalf("strongSwan got %s", cert.Subject)
	}
	certFile := writeFile(t, dir, "cert.der", der)

	// Re-enrollment: a new key, the same subject and SAN, TLS client auth
	// with the old certificate and key.
	key2 := writeFile(t, dir, "key2.pem", run(t, pki, "--gen", "--type", "ecdsa", "--size", "256", "--outform", "pem"))
	req2 := writeFile(t, dir, "req2.der", run(t, pki, "--req", "--in", key2, "--type", "ecdsa", "--dn", "CN=device-ss", "--san", "device-ss.example"))
	der2 := run(t, pki, "--est", "--url", url, "--cacert", root, "--cacert", inter, "--in", req2, "--cert", certFile, "--key", key)
	cert2, err := x509.ParseCertificate(der2)
	if err != nil {
		t.Fatal(err)
	}
	if cert2.Subject.CommonName != "device-ss" || cert2.SerialNumber.Cmp(cert.SerialNumber) == 0 {
		t.Fatalf("re-enrolled %s serial %s", cert2.Subject, cert2.SerialNumber)
	}
}

// TestCurlOpenSSLInterop posts a base64 CSR with curl and reads the answer
// with openssl pkcs7.
func TestCurlOpenSSLInterop(t *testing.T) {
	curl, err1 := exec.LookPath("curl")
	openssl, err2 := exec.LookPath("openssl")
	if err1 != nil || err2 != nil {
		t.Skip("curl or openssl not on PATH")
	}
	a := newAuthority(t)
	srv := tlsServer(t, a, newServer(t, a))
	dir := t.TempDir()
	root := writeFile(t, dir, "root.pem", ca.CertPEM(a.Root()))
	csr := writeFile(t, dir, "csr.b64", []byte(wrapped(csrFor(t, "device-curl"))))
	body := run(t, curl, "-sS", "--fail", "--cacert", root, "-u", "alice:s3cret", "--data-binary", "@"+csr,
		"-H", "Content-Type: application/pkcs10", srv.URL+"/.well-known/est/simpleenroll")
	der, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	p7 := writeFile(t, dir, "cert.p7", der)
	out := string(run(t, openssl, "pkcs7", "-inform", "DER", "-in", p7, "-print_certs"))
	if !strings.Contains(out, "CN = device-curl") || !strings.Contains(out, "-----BEGIN CERTIFICATE-----") {
		t.Errorf("openssl pkcs7 -print_certs:\n%s", out)
	}
	if blk, _ := pem.Decode([]byte(out[strings.Index(out, "-----BEGIN"):])); blk == nil {
		t.Error("no PEM certificate printed")
	}
	// cacerts through curl too.
	body = run(t, curl, "-sS", "--fail", "--cacert", root, srv.URL+"/.well-known/est/cacerts")
	if der, err = base64.StdEncoding.DecodeString(strings.TrimSpace(string(body))); err != nil {
		t.Fatal(err)
	}
	out = string(run(t, openssl, "pkcs7", "-inform", "DER", "-in", writeFile(t, dir, "ca.p7", der), "-print_certs", "-noout"))
	if strings.Count(out, "subject=") != 2 {
		t.Errorf("cacerts via curl:\n%s", out)
	}
}
