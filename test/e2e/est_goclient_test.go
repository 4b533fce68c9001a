package e2e

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"
)

// No maintained Go EST client library is served by the module proxy
// (github.com/globalsign/est is refused), so this is a minimal client of
// its own, written from RFC 7030 and RFC 5652 and sharing no code with the
// server: it reads PKCS#7 with encoding/asn1 only.

// estClient speaks EST over one HTTP client.
type estClient struct {
	base string
	hc   *http.Client
	user string
	pass string
}

func (c *estClient) do(method, op string, body []byte) ([]byte, error) {
	req, err := http.NewRequest(method, c.base+op, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if c.user != "" {
		req.SetBasicAuth(c.user, c.pass)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/pkcs10")
		req.Header.Set("Content-Transfer-Encoding", "base64")
	}
	res, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s %s: HTTP %d: %s", method, op, res.StatusCode, b)
	}
	if ct := res.Header.Get("Content-Type"); op != "csrattrs" && ct != "application/pkcs7-mime; smime-type=certs-only" {
		return nil, fmt.Errorf("%s: Content-Type %q", op, ct)
	}
	der, err := base64.StdEncoding.DecodeString(string(bytes.TrimSpace(b)))
	if err != nil {
		return nil, fmt.Errorf("%s: body is not base64: %v", op, err)
	}
	return der, nil
}

// certsOnly reads the certificates of a degenerate PKCS#7 SignedData.
func certsOnly(der []byte) ([]*x509.Certificate, error) {
	var ci struct {
		Type    asn1.ObjectIdentifier
		Content asn1.RawValue `asn1:"explicit,tag:0"`
	}
	if _, err := asn1.Unmarshal(der, &ci); err != nil {
		return nil, fmt.Errorf("ContentInfo: %v", err)
	}
	if !ci.Type.Equal(asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}) {
		return nil, fmt.Errorf("content type %v is not signedData", ci.Type)
	}
	var sd struct {
		Version          int
		DigestAlgorithms asn1.RawValue
		EncapContentInfo asn1.RawValue
		Certificates     asn1.RawValue `asn1:"optional,tag:0"`
		CRLs             asn1.RawValue `asn1:"optional,tag:1"`
		SignerInfos      asn1.RawValue
	}
	if _, err := asn1.Unmarshal(ci.Content.Bytes, &sd); err != nil {
		return nil, fmt.Errorf("SignedData: %v", err)
	}
	if len(sd.SignerInfos.Bytes) != 0 {
		return nil, fmt.Errorf("certs-only SignedData has signers")
	}
	return x509.ParseCertificates(sd.Certificates.Bytes)
}

func newCSR(t *testing.T, cn string) (*ecdsa.PrivateKey, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn}}, key)
	if err != nil {
		t.Fatal(err)
	}
	return key, []byte(base64.StdEncoding.EncodeToString(der))
}

// TestESTGoClient: cacerts, simpleenroll with HTTP Basic and
// simplereenroll with the new certificate, from a Go client; every
// certificate verifies against the root cacerts returned.
func TestESTGoClient(t *testing.T) {
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
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}
	t.Cleanup(tr.CloseIdleConnections)
	c := &estClient{base: s.base, hc: &http.Client{Transport: tr, Timeout: 10 * time.Second}, user: "estuser", pass: "enroll-s3cret"}

	der, err := c.do("GET", "cacerts", nil)
	if err != nil {
		t.Fatal(err)
	}
	chain, err := certsOnly(der)
	if err != nil || len(chain) < 2 {
		t.Fatalf("cacerts: %d certificates, %v", len(chain), err)
	}
	estRoots, inters := x509.NewCertPool(), x509.NewCertPool()
	var interDER [][]byte
	for _, ca := range chain {
		if bytes.Equal(ca.RawIssuer, ca.RawSubject) {
			estRoots.AddCert(ca)
		} else {
			inters.AddCert(ca)
			interDER = append(interDER, ca.Raw)
		}
	}
	verify := func(cert *x509.Certificate) {
		t.Helper()
		if _, err := cert.Verify(x509.VerifyOptions{Roots: estRoots, Intermediates: inters,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
			t.Fatalf("%s does not verify against cacerts: %v", cert.Subject, err)
		}
	}

	key, csr := newCSR(t, "device-go")
	der, err = c.do("POST", "simpleenroll", csr)
	if err != nil {
		t.Fatal(err)
	}
	issued, err := certsOnly(der)
	if err != nil || len(issued) != 1 || issued[0].Subject.CommonName != "device-go" {
		t.Fatalf("simpleenroll: %v %v", issued, err)
	}
	verify(issued[0])

	// Re-enroll with the certificate just issued (and the issuing CA from
	// cacerts, so the chain reaches a CA the server asks for), over TLS
	// client auth.
	tr2 := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots,
		Certificates: []tls.Certificate{{Certificate: append([][]byte{issued[0].Raw}, interDER...), PrivateKey: key}}}}
	t.Cleanup(tr2.CloseIdleConnections)
	re := &estClient{base: s.base, hc: &http.Client{Transport: tr2, Timeout: 10 * time.Second}}
	_, csr2 := newCSR(t, "device-go")
	der, err = re.do("POST", "simplereenroll", csr2)
	if err != nil {
		t.Fatal(err)
	}
	renewed, err := certsOnly(der)
	if err != nil || len(renewed) != 1 || renewed[0].SerialNumber.Cmp(issued[0].SerialNumber) == 0 {
		t.Fatalf("simplereenroll: %v %v", renewed, err)
	}
	verify(renewed[0])
	// A re-enrollment that changes the subject is refused.
	_, other := newCSR(t, "device-other")
	if _, err := re.do("POST", "simplereenroll", other); err == nil {
		t.Fatal("simplereenroll with another subject was accepted")
	}
}
