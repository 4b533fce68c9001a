package ocspresp

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"slices"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Signer is the key that signs responses and its certificate: either a
// delegated responder certificate issued by the issuer (EKU OCSPSigning and
// the id-pkix-ocsp-nocheck extension, RFC 6960 §4.2.2.2), or the issuer
// itself.
type Signer struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

// oidOCSPNoCheck is id-pkix-ocsp-nocheck (RFC 6960 §4.2.2.2.1).
var oidOCSPNoCheck = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 5}

// Signature algorithm OIDs (RFC 5758, RFC 4055, RFC 8410).
var (
	oidECDSAWithSHA256  = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}
	oidECDSAWithSHA384  = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 3}
	oidECDSAWithSHA512  = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 4}
	oidSHA256WithRSA    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 11}
	oidEd25519Signature = asn1.ObjectIdentifier{1, 3, 101, 112}
)

// signerState is a Signer prepared for signing: everything derivable from
// the certificate and key is computed once, when the signer is set.
type signerState struct {
	cert *x509.Certificate
	key  crypto.Signer
	// hash is the digest signed (0 for Ed25519, which signs the message).
	hash crypto.Hash
	// sigAlg is the DER AlgorithmIdentifier of the signature.
	sigAlg []byte
	// responderID is the DER ResponderID, byKey.
	responderID []byte
	// certs is the DER [0] EXPLICIT SEQUENCE OF Certificate carrying the
	// delegated responder certificate, or nil when the issuer signs.
	certs []byte
}

// prepareSigner checks that s is usable at all (certificate and key present
// and matching, supported key type) and precomputes the encodings.
func prepareSigner(issuer *x509.Certificate, s Signer) (*signerState, error) {
	if s.Cert == nil || s.Key == nil {
		return nil, errors.New("ocsp signer: certificate and key are both required")
	}
	pub, ok := s.Key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(s.Cert.PublicKey) {
		return nil, fmt.Errorf("ocsp signer: key does not match certificate %q", s.Cert.Subject)
	}
	hash, sigAlg, err := signatureAlgorithm(s.Key.Public())
	if err != nil {
		return nil, err
	}
	keyBytes, err := subjectPublicKeyBytes(s.Cert.RawSubjectPublicKeyInfo)
	if err != nil {
		return nil, fmt.Errorf("ocsp signer: certificate %q: %w", s.Cert.Subject, err)
	}
	keyHash := sha1.Sum(keyBytes)
	st := &signerState{cert: s.Cert, key: s.Key, hash: hash, sigAlg: sigAlg}
	st.responderID, err = buildDER(func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.Tag(2).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
			b.AddASN1OctetString(keyHash[:])
		})
	})
	if err != nil {
		return nil, err
	}
	if issuer == nil || !bytes.Equal(s.Cert.Raw, issuer.Raw) {
		st.certs, err = buildDER(func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { b.AddBytes(s.Cert.Raw) })
			})
		})
		if err != nil {
			return nil, err
		}
	}
	return st, nil
}

// signatureAlgorithm picks the digest and DER AlgorithmIdentifier for pub:
// ECDSA with the curve's matching SHA-2, RSA PKCS#1 v1.5 with SHA-256, or
// Ed25519.
func signatureAlgorithm(pub crypto.PublicKey) (crypto.Hash, []byte, error) {
	var (
		hash crypto.Hash
		oid  asn1.ObjectIdentifier
		null bool
	)
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			hash, oid = crypto.SHA256, oidECDSAWithSHA256
		case elliptic.P384():
			hash, oid = crypto.SHA384, oidECDSAWithSHA384
		case elliptic.P521():
			hash, oid = crypto.SHA512, oidECDSAWithSHA512
		default:
			return 0, nil, fmt.Errorf("ocsp signer: ECDSA curve %s not supported", k.Curve.Params().Name)
		}
	case *rsa.PublicKey:
		hash, oid, null = crypto.SHA256, oidSHA256WithRSA, true
	case ed25519.PublicKey:
		hash, oid = 0, oidEd25519Signature
	default:
		return 0, nil, fmt.Errorf("ocsp signer: key type %T not supported", pub)
	}
	der, err := buildDER(func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1ObjectIdentifier(oid)
			if null {
				b.AddASN1NULL()
			}
		})
	})
	return hash, der, err
}

// CheckSigner reports whether s can sign responses for issuer's certificates
// at time now in a way clients accept: the key matches the certificate and
// is of a supported type, and the certificate is either issuer itself or is
// signed by issuer, valid at now, and carries EKU OCSPSigning and the
// id-pkix-ocsp-nocheck extension.
func CheckSigner(issuer *x509.Certificate, s Signer, now time.Time) error {
	if issuer == nil {
		return errors.New("ocsp signer: no issuer certificate")
	}
	if _, err := prepareSigner(issuer, s); err != nil {
		return err
	}
	c := s.Cert
	if now.Before(c.NotBefore) || now.After(c.NotAfter) {
		return fmt.Errorf("ocsp signer: certificate %q is valid from %s to %s, not at %s",
			c.Subject, c.NotBefore.UTC().Format(time.RFC3339), c.NotAfter.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	if bytes.Equal(c.Raw, issuer.Raw) {
		return nil
	}
	if err := c.CheckSignatureFrom(issuer); err != nil {
		return fmt.Errorf("ocsp signer: certificate %q is not signed by issuer %q: %w", c.Subject, issuer.Subject, err)
	}
	if !slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageOCSPSigning) {
		return fmt.Errorf("ocsp signer: certificate %q lacks extended key usage OCSPSigning", c.Subject)
	}
	if !slices.ContainsFunc(c.Extensions, func(e pkix.Extension) bool { return e.Id.Equal(oidOCSPNoCheck) }) {
		return fmt.Errorf("ocsp signer: certificate %q lacks the id-pkix-ocsp-nocheck extension", c.Subject)
	}
	return nil
}

// subjectPublicKeyBytes returns the subjectPublicKey BIT STRING contents of a
// DER SubjectPublicKeyInfo: the input to the CertID issuerKeyHash and the
// ResponderID byKey hash.
func subjectPublicKeyBytes(spki []byte) ([]byte, error) {
	s := cryptobyte.String(spki)
	var seq cryptobyte.String
	var bits asn1.BitString
	if !s.ReadASN1(&seq, cbasn1.SEQUENCE) || !seq.SkipASN1(cbasn1.SEQUENCE) || !seq.ReadASN1BitString(&bits) {
		return nil, errors.New("malformed SubjectPublicKeyInfo")
	}
	if bits.BitLength%8 != 0 {
		return nil, errors.New("subjectPublicKey is not a whole number of octets")
	}
	return bits.Bytes, nil
}

// buildDER runs f on a fresh builder and returns the bytes or the builder's
// error.
func buildDER(f cryptobyte.BuilderContinuation) ([]byte, error) {
	b := cryptobyte.NewBuilder(nil)
	f(b)
	return b.Bytes()
}
