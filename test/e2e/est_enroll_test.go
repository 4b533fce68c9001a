package e2e

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/mtlsgate/mtlsgate/internal/testpki"
)

// TestESTBootstrapCertificate: a device certificate from est.bootstrap_ca
// (a manufacturer's CA the gateway does not otherwise trust) enrolls its
// own CN with curl on the EST listener, but the same certificate is no
// identity for the API: the route answers 401 as for no certificate.
func TestESTBootstrapCertificate(t *testing.T) {
	t.Parallel()
	needTool(t, "curl")
	factory := testpki.NewRootCA(t, "Factory CA")
	idev := factory.Issue(t, testpki.Options{CN: "device-boot"})
	s := runInit(t)
	factory.WriteCA(t, s.dir, "factory-ca")
	idev.WriteLeaf(t, s.dir, "idev")
	serveInit(t, s, func(y string) string {
		return y + `
est:
  listener: public
  bootstrap_ca: factory-ca.pem
`
	})
	e := estSetup{initSetup: s, base: "https://" + s.listen + "/.well-known/est/", ca: []string{"--cacert", s.path("pki", "root.pem")}}
	cert := []string{"--cert", s.path("idev.pem"), "--key", s.path("idev.key")}
	r := e.post(t, "simpleenroll", e.csr(t, "device-boot"), cert...)
	expect(t, "bootstrap simpleenroll", r, 200)
	enrolled := e.printCerts(t, "boot", r.body)
	if !strings.Contains(enrolled, "CN = device-boot") || !strings.Contains(enrolled, "Issuing CA") {
		t.Fatalf("issued:\n%s", enrolled)
	}
	if r := e.post(t, "simpleenroll", e.csr(t, "device-other"), cert...); r.status != 403 {
		t.Fatalf("bootstrap certificate asking for another CN: %s", r)
	}
	if r := e.post(t, "simpleenroll", e.csr(t, "device-boot2")); r.status != 401 {
		t.Fatalf("simpleenroll without the bootstrap certificate: %s", r)
	}
	// No identity outside EST: the API route needs a certificate and
	// answers as if none was sent.
	expectProblem(t, "API route with a bootstrap certificate", s.curlAs(t, "", "/api/orders", cert...), 401, "client_cert_required")
	// A certificate from neither CA fails the handshake.
	stranger := testpki.NewRootCA(t, "Stranger").Issue(t, testpki.Options{CN: "device-boot"})
	stranger.WriteLeaf(t, s.dir, "stranger")
	if r := s.curlAs(t, "", "/api/orders", "--cert", s.path("stranger.pem"), "--key", s.path("stranger.key")); r.exit == 0 {
		t.Fatalf("a certificate from an unknown CA passed the handshake: %s", r)
	}
	// The certificate the device enrolled is an identity: the route knows
	// who it is (and refuses it, as it is not OU=payments).
	inter, err := os.ReadFile(s.path("pki", "intermediate.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.path("boot-chain.pem"), append([]byte(enrolled), inter...), 0o644); err != nil {
		t.Fatal(err)
	}
	expectProblem(t, "API route with the enrolled certificate",
		s.curlAs(t, "", "/api/orders", "--cert", s.path("boot-chain.pem"), "--key", s.path("device-boot.key")), 403, "not_allowed")
}

// TestESTServerKeygen: curl posts a CSR to serverkeygen; the multipart
// answer holds a PKCS#8 key and the certificate, and openssl confirms they
// belong together (and the key is not the CSR's).
func TestESTServerKeygen(t *testing.T) {
	t.Parallel()
	needTool(t, "curl")
	s := serveEST(t, `
est:
  listener: public
  server_keygen: true
  accounts:
    - username: estuser
      password_file: est.pw
      allow_cn: ["device-*"]
`)
	csr := s.csr(t, "device-kg")
	r := s.post(t, "serverkeygen", csr, "-u", "estuser:enroll-s3cret")
	expect(t, "serverkeygen", r, 200)
	mt, params, err := mime.ParseMediaType(r.contentType)
	if err != nil || mt != "multipart/mixed" {
		t.Fatalf("Content-Type %q", r.contentType)
	}
	parts := map[string]string{}
	mr := multipart.NewReader(strings.NewReader(r.body), params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if p.Header.Get("Content-Transfer-Encoding") != "base64" {
			t.Errorf("part %s: Content-Transfer-Encoding %q", p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"))
		}
		b, _ := io.ReadAll(p)
		parts[p.Header.Get("Content-Type")] = string(b)
	}
	keyB64, p7 := parts["application/pkcs8"], parts["application/pkcs7-mime; smime-type=certs-only"]
	if keyB64 == "" || p7 == "" || len(parts) != 2 {
		t.Fatalf("parts: %v", keys(parts))
	}
	keyDER, err := base64.StdEncoding.DecodeString(strings.TrimSpace(keyB64))
	if err != nil {
		t.Fatal(err)
	}
	keyFile := s.path("kg.key")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	certFile := s.path("kg.pem")
	if err := os.WriteFile(certFile, []byte(s.printCerts(t, "kg", p7)), 0o644); err != nil {
		t.Fatal(err)
	}
	keyPub := mustOpenSSL(t, "pkey", "-in", keyFile, "-pubout")
	certPub := mustOpenSSL(t, "x509", "-in", certFile, "-pubkey", "-noout")
	csrPub := mustOpenSSL(t, "req", "-inform", "DER", "-in", s.path("device-kg.csr"), "-pubkey", "-noout")
	if keyPub != certPub {
		t.Fatalf("the key does not match the certificate:\n%s\n%s", keyPub, certPub)
	}
	if keyPub == csrPub {
		t.Fatal("serverkeygen certified the CSR's key")
	}
	if out := mustOpenSSL(t, "x509", "-in", certFile, "-noout", "-subject"); !strings.Contains(out, "device-kg") {
		t.Fatalf("subject: %s", out)
	}
	if out := mustOpenSSL(t, "pkey", "-in", keyFile, "-noout", "-text"); !strings.Contains(out, "P-256") {
		t.Fatalf("key type:\n%s", out)
	}
	if r := s.post(t, "serverkeygen", csr); r.status != 401 {
		t.Fatalf("serverkeygen without credentials: %s", r)
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestESTChannelBinding: a Go client opens the TLS connection, then builds
// its CSR with openssl carrying the connection's channel binding in
// challengePassword (tls-unique on TLS 1.2, tls-exporter on TLS 1.3) and
// sends it on that connection. The binding of another connection, or a
// password, is refused with 400.
func TestESTChannelBinding(t *testing.T) {
	t.Parallel()
	s := serveEST(t, `
est:
  listener: public
  accounts:
    - username: estuser
      password_file: est.pw
      allow_cn: ["device-*"]
`)
	roots := x509.NewCertPool()
	for _, c := range readCerts(t, s.path("pki", "root.pem")) {
		roots.AddCert(c)
	}
	mustOpenSSL(t, "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", s.path("cb.key"))
	csrWith := func(name, challenge string) []byte {
		t.Helper()
		cfg := fmt.Sprintf("[req]\nprompt = no\ndistinguished_name = dn\nattributes = attrs\n[dn]\nCN = device-cb\n[attrs]\nchallengePassword = %s\n", challenge)
		if err := os.WriteFile(s.path(name+".cnf"), []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		mustOpenSSL(t, "req", "-new", "-key", s.path("cb.key"), "-config", s.path(name+".cnf"), "-outform", "DER", "-out", s.path(name+".csr"))
		der, err := os.ReadFile(s.path(name + ".csr"))
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		t.Run(tls.VersionName(v), func(t *testing.T) {
			dial := func() (*tls.Conn, string) {
				c, err := tls.Dial("tcp", s.listen, &tls.Config{RootCAs: roots, MinVersion: v, MaxVersion: v, NextProtos: []string{"http/1.1"}})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { c.Close() })
				cs := c.ConnectionState()
				b := cs.TLSUnique
				if v == tls.VersionTLS13 {
					if b, err = cs.ExportKeyingMaterial("EXPORTER-Channel-Binding", nil, 32); err != nil {
						t.Fatal(err)
					}
				}
				return c, base64.StdEncoding.EncodeToString(b)
			}
			send := func(c *tls.Conn, csr []byte) (int, string) {
				t.Helper()
				req, _ := http.NewRequest("POST", "https://"+s.listen+"/.well-known/est/simpleenroll", strings.NewReader(base64.StdEncoding.EncodeToString(csr)))
				req.SetBasicAuth("estuser", "enroll-s3cret")
				req.Header.Set("Content-Type", "application/pkcs10")
				if err := req.Write(c); err != nil {
					t.Fatal(err)
				}
				res, err := http.ReadResponse(bufio.NewReader(c), req)
				if err != nil {
					t.Fatal(err)
				}
				defer res.Body.Close()
				b, _ := io.ReadAll(res.Body)
				return res.StatusCode, string(b)
			}
			c, binding := dial()
			// The CSR is made after the handshake, with this connection's value.
			if code, body := send(c, csrWith("bound", binding)); code != 200 {
				t.Fatalf("bound CSR: %d %s", code, body)
			}
			other, _ := dial()
			for name, challenge := range map[string]string{"another connection's binding": binding, "the account password": "enroll-s3cret"} {
				code, body := send(other, csrWith("wrong", challenge))
				if code != 400 || !strings.Contains(body, "challengePassword") {
					t.Errorf("%s: %d %s", name, code, body)
				}
			}
		})
	}
}
