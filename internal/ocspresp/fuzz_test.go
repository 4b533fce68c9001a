package ocspresp

import (
	"bytes"
	"crypto"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"testing"

	"golang.org/x/crypto/ocsp"
)

// FuzzParseRequest checks that ParseRequest never panics, that what it
// accepts respects its limits, re-encodes to a request that parses to the
// same value, and agrees with x/crypto/ocsp on the first CertID when both
// accept.
func FuzzParseRequest(f *testing.F) {
	fx := newFixture(f, Options{})
	a := fx.leaf(f, "a", Status{State: Good})
	b := fx.leaf(f, "b", Status{State: Revoked})
	for _, h := range []crypto.Hash{crypto.SHA1, crypto.SHA256, crypto.SHA384, crypto.SHA512} {
		f.Add(fx.request(f, a, h))
	}
	idA, idB := fx.certID(f, a, crypto.SHA1), fx.certID(f, b, crypto.SHA256)
	f.Add(encodeRequest(f, &Request{IDs: []CertID{idA}, Nonce: wrappedNonce([]byte("0123456789abcdef"))}, encOpts{}))
	f.Add(encodeRequest(f, &Request{IDs: []CertID{idA, idB}, Nonce: wrappedNonce(make([]byte, 32)), Signed: true},
		encOpts{requestorName: true, explicitVersion: true, singleExts: true}))
	f.Add(encodeRequest(f, &Request{IDs: repeatID(idA, 16)}, encOpts{
		extraExts: []pkix.Extension{{Id: asn1.ObjectIdentifier{1, 2, 3}, Value: []byte{5, 0}}},
	}))
	f.Add(encodeRequest(f, &Request{IDs: []CertID{withSerial(idB, big.NewInt(-1))}, Nonce: []byte("raw")}, encOpts{}))

	f.Fuzz(func(t *testing.T, der []byte) {
		req, err := ParseRequest(der)
		if err != nil {
			if req != nil {
				t.Fatalf("error %v with non-nil request", err)
			}
			return
		}
		checkLimits(t, req)
		again, err := ParseRequest(encodeRequest(t, req, encOpts{}))
		if err != nil {
			t.Fatalf("re-encoded request does not parse: %v", err)
		}
		if !requestEqual(req, again) {
			t.Fatalf("round trip changed the request:\n%+v\n%+v", req, again)
		}
		if theirs, err := ocsp.ParseRequest(der); err == nil && !req.Signed {
			if theirs.HashAlgorithm != req.IDs[0].Hash || theirs.SerialNumber.Cmp(req.IDs[0].Serial) != 0 ||
				!bytes.Equal(theirs.IssuerKeyHash, req.IDs[0].IssuerKeyHash) {
				t.Fatalf("x/crypto/ocsp reads the first CertID differently: %+v vs %+v", theirs, req.IDs[0])
			}
		}
	})
}

// checkLimits asserts the invariants of an accepted request.
func checkLimits(t *testing.T, req *Request) {
	t.Helper()
	if len(req.IDs) == 0 || len(req.IDs) > MaxCertIDs {
		t.Fatalf("%d CertIDs accepted", len(req.IDs))
	}
	for _, id := range req.IDs {
		if oidForHash(id.Hash) == nil || id.Serial == nil ||
			len(id.IssuerNameHash) != id.Hash.Size() || len(id.IssuerKeyHash) != id.Hash.Size() {
			t.Fatalf("bad CertID accepted: %+v", id)
		}
		if id.Serial.BitLen() > 8*maxSerialLen {
			t.Fatalf("serial of %d bits accepted", id.Serial.BitLen())
		}
	}
	if req.Nonce != nil && (len(req.Nonce) == 0 || len(req.Nonce) > MaxNonceLen+2) {
		t.Fatalf("nonce extnValue of %d octets accepted", len(req.Nonce))
	}
}

func requestEqual(a, b *Request) bool {
	if len(a.IDs) != len(b.IDs) || a.Signed != b.Signed || !bytes.Equal(a.Nonce, b.Nonce) || (a.Nonce == nil) != (b.Nonce == nil) {
		return false
	}
	for i := range a.IDs {
		if !certIDEqual(a.IDs[i], b.IDs[i]) {
			return false
		}
	}
	return true
}
