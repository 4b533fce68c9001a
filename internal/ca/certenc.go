package ca

import (
	"crypto"
	"crypto/x509"
	"encoding/asn1"
	"fmt"
	"math/bits"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// encodeLeaf signs an end-entity certificate for template t (the fields
// template sets: serial, subject, validity, key usage, EKU, basic
// constraints CA:false, SKID, SANs, CRL distribution point, AIA), issued by
// issuer with key.
//
// It writes the TBSCertificate byte for byte as crypto/x509.CreateCertificate
// does (TestLeafEncoderMatchesCryptoX509 holds it to that), but without
// CreateCertificate's reflection-based ASN.1 and without its re-verification
// of the signature it just made, which costs as much as the signature: the
// signer here is the CA's own software key, not an external device that
// could return a bad signature. Issuance is the CA's hot path (EST fleets).
func encodeLeaf(t *x509.Certificate, pub crypto.PublicKey, issuer *x509.Certificate, key crypto.Signer) ([]byte, error) {
	oid, hash, nullParams, err := sigAlgorithm(key)
	if err != nil {
		return nil, err
	}
	spki, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	subject, err := asn1.Marshal(t.Subject.ToRDNSequence())
	if err != nil {
		return nil, err
	}
	sans, err := marshalSANs(t)
	if err != nil {
		return nil, err
	}
	tb := cryptobyte.NewBuilder(make([]byte, 0, 1024))
	tb.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) { b.AddASN1Int64(2) })
		b.AddASN1BigInt(t.SerialNumber)
		addAlgorithm(b, oid, nullParams)
		b.AddBytes(issuer.RawSubject)
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			addTime(b, t.NotBefore)
			addTime(b, t.NotAfter)
		})
		b.AddBytes(subject)
		b.AddBytes(spki)
		b.AddASN1(cbasn1.Tag(3).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				addLeafExtensions(b, t, issuer.SubjectKeyId, sans, len(subject) == 2)
			})
		})
	})
	return signTBS("certificate", tb, key, oid, hash, nullParams)
}

var (
	oidExtKeyUsage         = asn1.ObjectIdentifier{2, 5, 29, 15}
	oidExtExtKeyUsage      = asn1.ObjectIdentifier{2, 5, 29, 37}
	oidExtBasicConstraints = asn1.ObjectIdentifier{2, 5, 29, 19}
	oidExtSubjectKeyID     = asn1.ObjectIdentifier{2, 5, 29, 14}
	oidExtAIA              = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 1, 1}
	oidExtSAN              = asn1.ObjectIdentifier{2, 5, 29, 17}
	oidExtCRLDP            = asn1.ObjectIdentifier{2, 5, 29, 31}
	oidAIAOCSP             = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1}
	oidAIAIssuers          = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 2}
	oidEKUServerAuth       = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 1}
	oidEKUClientAuth       = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 2}
	oidEKUOCSPSigning      = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 9}
)

// addLeafExtensions writes the extensions in crypto/x509's order: key
// usage, EKU, basic constraints, SKID, AKID, AIA, SAN, CRL DP.
func addLeafExtensions(b *cryptobyte.Builder, t *x509.Certificate, akid, sans []byte, subjectEmpty bool) {
	if t.KeyUsage != 0 {
		addCriticalExtension(b, oidExtKeyUsage, true, func(b *cryptobyte.Builder) { addKeyUsage(b, t.KeyUsage) })
	}
	if len(t.ExtKeyUsage) > 0 {
		addExtension(b, oidExtExtKeyUsage, func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				for _, u := range t.ExtKeyUsage {
					oid := ekuOID(u)
					if oid == nil {
						b.SetError(fmt.Errorf("extended key usage %d is not supported here", u))
						return
					}
					b.AddASN1ObjectIdentifier(oid)
				}
			})
		})
	}
	addCriticalExtension(b, oidExtBasicConstraints, true, func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(*cryptobyte.Builder) {}) // CA:false, no pathLen
	})
	if len(t.SubjectKeyId) > 0 {
		addExtension(b, oidExtSubjectKeyID, func(b *cryptobyte.Builder) { b.AddASN1OctetString(t.SubjectKeyId) })
	}
	if len(akid) > 0 {
		addExtension(b, oidAuthorityKeyID, func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1(cbasn1.Tag(0).ContextSpecific(), func(b *cryptobyte.Builder) { b.AddBytes(akid) })
			})
		})
	}
	if len(t.OCSPServer) > 0 || len(t.IssuingCertificateURL) > 0 {
		addExtension(b, oidExtAIA, func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				for _, u := range t.OCSPServer {
					addAccess(b, oidAIAOCSP, u)
				}
				for _, u := range t.IssuingCertificateURL {
					addAccess(b, oidAIAIssuers, u)
				}
			})
		})
	}
	if sans != nil {
		addCriticalExtension(b, oidExtSAN, subjectEmpty, func(b *cryptobyte.Builder) { b.AddBytes(sans) })
	}
	if len(t.CRLDistributionPoints) > 0 {
		addExtension(b, oidExtCRLDP, func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				for _, u := range t.CRLDistributionPoints {
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
						b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
							b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
								b.AddASN1(cbasn1.Tag(6).ContextSpecific(), func(b *cryptobyte.Builder) { b.AddBytes([]byte(u)) })
							})
						})
					})
				}
			})
		})
	}
}

// addCriticalExtension writes an Extension with the critical flag when set.
func addCriticalExtension(b *cryptobyte.Builder, oid asn1.ObjectIdentifier, critical bool, value func(*cryptobyte.Builder)) {
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(oid)
		if critical {
			b.AddASN1Boolean(true)
		}
		b.AddASN1(cbasn1.OCTET_STRING, value)
	})
}

func addAccess(b *cryptobyte.Builder, method asn1.ObjectIdentifier, url string) {
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(method)
		b.AddASN1(cbasn1.Tag(6).ContextSpecific(), func(b *cryptobyte.Builder) { b.AddBytes([]byte(url)) })
	})
}

// addKeyUsage writes the key usage BIT STRING with trailing zero bits
// dropped (DER), as crypto/x509 does.
func addKeyUsage(b *cryptobyte.Builder, ku x509.KeyUsage) {
	a := [2]byte{bits.Reverse8(byte(ku)), bits.Reverse8(byte(ku >> 8))}
	n := 1
	if a[1] != 0 {
		n = 2
	}
	unused := bits.TrailingZeros8(a[n-1])
	b.AddASN1(cbasn1.BIT_STRING, func(b *cryptobyte.Builder) {
		b.AddUint8(uint8(unused))
		b.AddBytes(a[:n])
	})
}

func ekuOID(u x509.ExtKeyUsage) asn1.ObjectIdentifier {
	switch u {
	case x509.ExtKeyUsageServerAuth:
		return oidEKUServerAuth
	case x509.ExtKeyUsageClientAuth:
		return oidEKUClientAuth
	case x509.ExtKeyUsageOCSPSigning:
		return oidEKUOCSPSigning
	}
	return nil // profiles only offer the three above
}

// marshalSANs encodes GeneralNames in crypto/x509's order (DNS, e-mail, IP,
// URI), or nil when there are none.
func marshalSANs(t *x509.Certificate) ([]byte, error) {
	if len(t.DNSNames)+len(t.EmailAddresses)+len(t.IPAddresses)+len(t.URIs) == 0 {
		return nil, nil
	}
	for _, s := range append(append([]string(nil), t.DNSNames...), t.EmailAddresses...) {
		if err := checkIA5(s); err != nil {
			return nil, err
		}
	}
	for _, u := range t.URIs {
		if err := checkIA5(u.String()); err != nil {
			return nil, err
		}
	}
	b := cryptobyte.NewBuilder(nil)
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		for _, d := range t.DNSNames {
			b.AddASN1(cbasn1.Tag(2).ContextSpecific(), func(b *cryptobyte.Builder) { b.AddBytes([]byte(d)) })
		}
		for _, e := range t.EmailAddresses {
			b.AddASN1(cbasn1.Tag(1).ContextSpecific(), func(b *cryptobyte.Builder) { b.AddBytes([]byte(e)) })
		}
		for _, ip := range t.IPAddresses {
			if v4 := ip.To4(); v4 != nil {
				ip = v4
			}
			b.AddASN1(cbasn1.Tag(7).ContextSpecific(), func(b *cryptobyte.Builder) { b.AddBytes(ip) })
		}
		for _, u := range t.URIs {
			b.AddASN1(cbasn1.Tag(6).ContextSpecific(), func(b *cryptobyte.Builder) { b.AddBytes([]byte(u.String())) })
		}
	})
	return b.Bytes()
}

// checkIA5 refuses names that are not IA5String (ASCII), as SANs must be.
func checkIA5(s string) error {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return fmt.Errorf("SAN %q has non-ASCII characters (use punycode / percent-encoding)", s)
		}
	}
	return nil
}
