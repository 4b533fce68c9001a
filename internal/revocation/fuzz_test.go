package revocation

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"math/big"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/mtlsgate/mtlsgate/internal/testpki"
)

// FuzzParseCRL feeds arbitrary bytes to the CRL decoder, parser and
// signature check. It must never panic, and when crypto/x509 also accepts
// the input, both must agree on the issuer and on every revoked serial.
func FuzzParseCRL(f *testing.F) {
	ca := testpki.NewRootCA(f, "Fuzz CA")
	now := time.Now()
	f.Add(goCRL(f, ca.Cert, ca.Key, x509.RevocationList{}))
	f.Add(goCRL(f, ca.Cert, ca.Key, x509.RevocationList{RevokedCertificateEntries: []x509.RevocationListEntry{
		{SerialNumber: big.NewInt(1), RevocationTime: now, ReasonCode: 1},
		{SerialNumber: big.NewInt(255), RevocationTime: now.AddDate(40, 0, 0)},
		{SerialNumber: big.NewInt(3), RevocationTime: now, ReasonCode: 8},
		{SerialNumber: big.NewInt(-5), RevocationTime: now, ExtraExtensions: []pkix.Extension{
			{Id: asn1.ObjectIdentifier{2, 5, 29, 24}, Value: []byte{0x18, 0x0f, '2', '0', '2', '0', '0', '1', '0', '1', '0', '0', '0', '0', '0', '0', 'Z'}}}},
	}}))
	f.Add(goCRL(f, ca.Cert, ca.Key, x509.RevocationList{ExtraExtensions: []pkix.Extension{idpExt(f, []string{"http://x/a.crl"}, true, false, false)}}))
	der := goCRL(f, ca.Cert, ca.Key, x509.RevocationList{Number: big.NewInt(7)})
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der}))
	f.Add([]byte("<html></html>"))
	f.Fuzz(func(t *testing.T, data []byte) {
		raw, err := decodeCRL(data)
		if err != nil {
			return
		}
		p, err := parseCRL(raw)
		if err != nil {
			return
		}
		if p.count != p.entries.len() {
			t.Fatalf("count %d, index %d", p.count, p.entries.len())
		}
		p.entries.each(func(k []byte, v int64) {
			if string(canonicalSerial(k)) != string(k) {
				t.Fatalf("non-canonical key %x", k)
			}
			if got, ok := p.entries.get(k); !ok || got != v {
				t.Fatalf("key %x: get = %d, %v; each gave %d", k, got, ok, v)
			}
		})
		l := &crl{parsedCRL: p}
		_ = l.checkSignature(ca.Cert)
		_ = l.covers(ca.Cert)
		rl, err := x509.ParseRevocationList(raw)
		if err != nil {
			return
		}
		if string(rl.RawIssuer) != p.issuer || rl.ThisUpdate.Unix() != p.thisUpdate {
			t.Fatalf("header disagrees with crypto/x509")
		}
		seen := map[string]bool{}
		for _, e := range rl.RevokedCertificateEntries {
			if e.ReasonCode == reasonRemoveFromCRL {
				continue
			}
			k := string(canonicalSerial(intContent(e.SerialNumber)))
			v, ok := p.entries.get([]byte(k))
			if !ok {
				t.Fatalf("serial %x missing", e.SerialNumber)
			}
			if seen[k] {
				continue
			}
			seen[k] = true
			if at, _ := unpackEntry(v); at != e.RevocationTime.Unix() {
				t.Fatalf("serial %x: time %d, crypto/x509 %d", e.SerialNumber, at, e.RevocationTime.Unix())
			}
		}
	})
}

// intContent returns the DER INTEGER content octets of n.
func intContent(n *big.Int) []byte {
	b, _ := asn1.Marshal(n)
	s := b[1:]
	if s[0]&0x80 == 0 {
		return s[1:]
	}
	return s[1+int(s[0]&0x7f):]
}

// FuzzOCSPResponse feeds arbitrary bytes, as a responder's answer, through
// the response verification. It must never panic (panics are not
// recovered here), and an accepted answer must be about the asked
// certificate.
func FuzzOCSPResponse(f *testing.F) {
	ca := testpki.NewRootCA(f, "Fuzz OCSP CA")
	leaf := ca.Issue(f, testpki.Options{CN: "leaf"})
	deleg := ca.Issue(f, testpki.Options{CN: "responder", EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageOCSPSigning}})
	sn := leaf.Cert.SerialNumber
	mk := func(signer *testpki.Leaf, tmpl ocsp.Response) []byte {
		tmpl.SerialNumber = sn
		tmpl.ThisUpdate, tmpl.NextUpdate = time.Now().Add(-time.Minute), time.Now().Add(time.Hour)
		cert, key := ca.Cert, ca.Key
		if signer != nil {
			cert, key = signer.Cert, signer.Key
			tmpl.Certificate = signer.Cert
		}
		der, err := ocsp.CreateResponse(ca.Cert, cert, tmpl, key)
		if err != nil {
			f.Fatal(err)
		}
		return der
	}
	f.Add(mk(nil, ocsp.Response{Status: ocsp.Good}))
	f.Add(mk(nil, ocsp.Response{Status: ocsp.Revoked, RevokedAt: time.Now(), RevocationReason: 1}))
	f.Add(mk(deleg, ocsp.Response{Status: ocsp.Unknown}))
	f.Add(ocsp.TryLaterErrorResponse)
	serial := serialOf(leaf.Cert)
	q := &ocspQuery{serial: serial, serialBig: sn, issuer: ca.Cert, url: "http://127.0.0.1/"}
	nonce := []byte("0123456789abcdef")
	recoverOCSPPanics = false
	f.Cleanup(func() { recoverOCSPPanics = true })
	f.Fuzz(func(t *testing.T, data []byte) {
		ans, err := verifyOCSPResponse(data, q, leaf.Cert.RawIssuer, nonce, time.Now(), time.Hour)
		if err != nil {
			return
		}
		if ans.status != ocsp.Good && ans.status != ocsp.Revoked && ans.status != ocsp.Unknown {
			t.Fatalf("status %d", ans.status)
		}
		resp, err := ocsp.ParseResponseForCert(data, leaf.Cert, nil)
		if err != nil || resp.SerialNumber.Cmp(sn) != 0 {
			t.Fatalf("accepted a response that is not about the certificate: %v", err)
		}
	})
}
