package est

import (
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

var (
	oidSignedData = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	oidData       = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
)

// EncodeCertsOnly returns a degenerate ("certs-only") CMS SignedData
// (RFC 5652 §5, RFC 7030 §4.1.3) carrying certs in the order given: version
// 1, no digest algorithms, id-data without content, the certificates as
// [0] IMPLICIT SET OF Certificate, and no signers. The order is kept (EST
// clients read the issuing CA or the issued certificate first), so the SET
// is not DER-sorted; every parser we know accepts this.
func EncodeCertsOnly(certs []*x509.Certificate) ([]byte, error) {
	if len(certs) == 0 {
		return nil, errors.New("pkcs7: no certificates to encode")
	}
	for i, c := range certs {
		if c == nil || len(c.Raw) == 0 {
			return nil, fmt.Errorf("pkcs7: certificate %d is empty", i)
		}
	}
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(ci *cryptobyte.Builder) { // ContentInfo
		ci.AddASN1ObjectIdentifier(oidSignedData)
		ci.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(exp *cryptobyte.Builder) {
			exp.AddASN1(cbasn1.SEQUENCE, func(sd *cryptobyte.Builder) { // SignedData
				sd.AddASN1Int64(1)
				sd.AddASN1(cbasn1.SET, func(*cryptobyte.Builder) {}) // digestAlgorithms
				sd.AddASN1(cbasn1.SEQUENCE, func(eci *cryptobyte.Builder) {
					eci.AddASN1ObjectIdentifier(oidData)
				})
				sd.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(cs *cryptobyte.Builder) {
					for _, c := range certs {
						cs.AddBytes(c.Raw)
					}
				})
				sd.AddASN1(cbasn1.SET, func(*cryptobyte.Builder) {}) // signerInfos
			})
		})
	})
	return b.Bytes()
}

// ParseCertsOnly reads the certificates of a DER CMS SignedData, in the
// order they appear. It does not check signatures (certs-only messages have
// none); it is meant for tests and clients of this package.
func ParseCertsOnly(der []byte) ([]*x509.Certificate, error) {
	in := cryptobyte.String(der)
	var ci, content, sd cryptobyte.String
	var ct asn1.ObjectIdentifier
	if !in.ReadASN1(&ci, cbasn1.SEQUENCE) || !in.Empty() {
		return nil, errors.New("pkcs7: malformed ContentInfo")
	}
	if !ci.ReadASN1ObjectIdentifier(&ct) || !ct.Equal(oidSignedData) {
		return nil, errors.New("pkcs7: content type is not signedData")
	}
	if !ci.ReadASN1(&content, cbasn1.Tag(0).Constructed().ContextSpecific()) || !ci.Empty() {
		return nil, errors.New("pkcs7: malformed content")
	}
	if !content.ReadASN1(&sd, cbasn1.SEQUENCE) || !content.Empty() {
		return nil, errors.New("pkcs7: malformed SignedData")
	}
	var version int64
	var digestAlgs, eci cryptobyte.String
	if !sd.ReadASN1Integer(&version) || version < 1 || version > 5 {
		return nil, errors.New("pkcs7: malformed SignedData version")
	}
	if !sd.ReadASN1(&digestAlgs, cbasn1.SET) || !sd.ReadASN1(&eci, cbasn1.SEQUENCE) {
		return nil, errors.New("pkcs7: malformed SignedData")
	}
	var certsField cryptobyte.String
	var present bool
	if !sd.ReadOptionalASN1(&certsField, &present, cbasn1.Tag(0).Constructed().ContextSpecific()) {
		return nil, errors.New("pkcs7: malformed certificates")
	}
	var out []*x509.Certificate
	for !certsField.Empty() {
		var raw cryptobyte.String
		var tag cbasn1.Tag
		if !certsField.ReadAnyASN1Element(&raw, &tag) {
			return nil, errors.New("pkcs7: malformed certificate")
		}
		if tag != cbasn1.SEQUENCE {
			continue // other certificate formats (attribute certificates)
		}
		c, err := x509.ParseCertificate(raw)
		if err != nil {
			return nil, fmt.Errorf("pkcs7: certificate %d: %w", len(out), err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("pkcs7: no certificates")
	}
	return out, nil
}
