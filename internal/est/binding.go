package est

import (
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// oidChallengePassword is PKCS#9 challengePassword (RFC 2985 §5.4.1).
var oidChallengePassword = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 7}

// ExporterLabel is the RFC 9266 tls-exporter label.
const ExporterLabel = "EXPORTER-Channel-Binding"

// ChannelBinding returns the value an EST client puts, base64-encoded, in
// its CSR's challengePassword to bind the request to the TLS connection
// that carries it (RFC 7030 §3.5): tls-unique for TLS 1.2, tls-exporter
// (RFC 9266: 32 bytes, label EXPORTER-Channel-Binding, no context) for TLS
// 1.3.
func ChannelBinding(cs *tls.ConnectionState) ([]byte, error) {
	if cs == nil {
		return nil, errors.New("not a TLS connection")
	}
	if cs.Version >= tls.VersionTLS13 {
		return cs.ExportKeyingMaterial(ExporterLabel, nil, 32)
	}
	if len(cs.TLSUnique) == 0 {
		return nil, errors.New("this TLS 1.2 connection has no tls-unique value (a resumed session without extended master secret); connect anew")
	}
	return cs.TLSUnique, nil
}

// checkChannelBinding refuses a CSR whose challengePassword is not the
// connection's channel binding. A CSR without one passes; a password of any
// other kind (an account's, a shared secret) is not accepted.
func checkChannelBinding(cs *tls.ConnectionState, csr *x509.CertificateRequest) error {
	pw, ok, err := challengePassword(csr.RawTBSCertificateRequest)
	if err != nil {
		return fmt.Errorf("the CSR's attributes: %w", err)
	}
	if !ok {
		return nil
	}
	want, err := ChannelBinding(cs)
	if err != nil {
		return fmt.Errorf("the CSR carries a challengePassword, which EST reads as a channel binding (RFC 7030 §3.5), but %v", err)
	}
	name := "tls-unique"
	if cs.Version >= tls.VersionTLS13 {
		name = "tls-exporter (RFC 9266)"
	}
	got, err := decodeBinding(pw)
	if err != nil || subtle.ConstantTimeCompare(got, want) != 1 {
		return fmt.Errorf("the CSR's challengePassword is not the base64 %s value of this TLS connection (RFC 7030 §3.5): "+
			"build the CSR after the handshake, on the connection that sends it; a password does not belong there", name)
	}
	return nil
}

// decodeBinding reads base64 with or without padding.
func decodeBinding(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if strings.HasSuffix(s, "=") {
		return base64.StdEncoding.DecodeString(s)
	}
	return base64.RawStdEncoding.DecodeString(s)
}

// challengePassword finds the challengePassword attribute in the DER of a
// CertificationRequestInfo (RFC 2986 §4.1). It reports false when there is
// none, and an error for a malformed attribute list, a repeated or
// multi-valued challengePassword, or one that is not a string.
func challengePassword(tbs []byte) (string, bool, error) {
	in := cryptobyte.String(tbs)
	var info, attrs cryptobyte.String
	var version int64
	if !in.ReadASN1(&info, cbasn1.SEQUENCE) || !info.ReadASN1Integer(&version) ||
		!info.SkipASN1(cbasn1.SEQUENCE) || !info.SkipASN1(cbasn1.SEQUENCE) {
		return "", false, errors.New("malformed CertificationRequestInfo")
	}
	var present bool
	if !info.ReadOptionalASN1(&attrs, &present, cbasn1.Tag(0).Constructed().ContextSpecific()) || !info.Empty() {
		return "", false, errors.New("malformed attributes")
	}
	var pw string
	found := false
	for !attrs.Empty() {
		var attr, values cryptobyte.String
		var oid asn1.ObjectIdentifier
		if !attrs.ReadASN1(&attr, cbasn1.SEQUENCE) || !attr.ReadASN1ObjectIdentifier(&oid) ||
			!attr.ReadASN1(&values, cbasn1.SET) || !attr.Empty() {
			return "", false, errors.New("malformed attribute")
		}
		if !oid.Equal(oidChallengePassword) {
			continue
		}
		if found {
			return "", false, errors.New("more than one challengePassword attribute")
		}
		var raw cryptobyte.String
		var tag cbasn1.Tag
		if !values.ReadAnyASN1(&raw, &tag) || !values.Empty() {
			return "", false, errors.New("challengePassword must have exactly one value")
		}
		s, err := directoryString(tag, raw)
		if err != nil {
			return "", false, fmt.Errorf("challengePassword: %w", err)
		}
		pw, found = s, true
	}
	return pw, found, nil
}

// directoryString decodes the string types challengePassword may use.
// BMPString and UniversalString are refused: a base64 value is ASCII.
func directoryString(tag cbasn1.Tag, b []byte) (string, error) {
	switch tag {
	case cbasn1.PrintableString, cbasn1.IA5String, cbasn1.T61String:
		for _, c := range b {
			if c < 0x20 || c > 0x7e {
				return "", errors.New("not printable ASCII")
			}
		}
	case cbasn1.UTF8String:
		if !utf8.Valid(b) {
			return "", errors.New("invalid UTF-8")
		}
	default:
		return "", fmt.Errorf("unsupported string type (ASN.1 tag %d)", tag)
	}
	return string(b), nil
}
