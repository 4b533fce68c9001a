package identity

import (
	"crypto/x509"
	"encoding/base64"
	"strings"
)

// RFC 9440 Client-Cert and Client-Cert-Chain.
//
// Client-Cert is an RFC 8941 Structured Field Byte Sequence holding the DER
// of the leaf: ":" standard base64 with padding ":".
//
// Client-Cert-Chain is an sf-list of byte sequences, the first certifying
// the leaf. It holds the intermediates of the verified chain only: not the
// leaf (it is in Client-Cert) and not the trust anchor, which RFC 9440 §2.3
// allows to omit and which the upstream, trusting this gateway, has no use
// for. The header is omitted when the leaf was issued directly by the
// anchor.

// sfBinary serializes b as an RFC 8941 byte sequence.
func sfBinary(b []byte) string {
	return ":" + base64.StdEncoding.EncodeToString(b) + ":"
}

func (id *Identity) rfc9440Fields() []headerField {
	if id.Leaf == nil {
		return nil
	}
	fields := []headerField{{HeaderClientCert, one(sfBinary(id.Leaf.Raw))}}
	if len(id.Chain) > 2 {
		var b strings.Builder
		for i, c := range id.Chain[1 : len(id.Chain)-1] {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(sfBinary(c.Raw))
		}
		fields = append(fields, headerField{HeaderClientCertChain, one(b.String())})
	}
	return fields
}

// ParseClientCert parses an RFC 9440 Client-Cert value: one byte sequence,
// optionally surrounded by SP or HTAB, holding a DER certificate. Base64 is
// decoded strictly: padding is required and any byte outside the base64
// alphabet (including CR and LF) is an error. Parameters (";key=value") are
// not accepted: RFC 9440 defines none. Errors match ErrSyntax and name the
// byte offset. Safe for concurrent use.
func ParseClientCert(v string) (*x509.Certificate, error) {
	const hdr = "client-cert"
	i := skipOWS(v, 0)
	if i == len(v) {
		return nil, &syntaxError{header: hdr, msg: "empty value", off: i}
	}
	cert, i, err := parseSFCert(hdr, v, i)
	if err != nil {
		return nil, err
	}
	if i = skipOWS(v, i); i != len(v) {
		return nil, trailingError(hdr, v, i)
	}
	return cert, nil
}

// ParseClientCertChain parses an RFC 9440 Client-Cert-Chain value: an
// RFC 8941 list of byte sequences separated by "," with optional SP or HTAB
// around, each holding a DER certificate, in the order sent. An empty value
// returns no certificates and no error, as an absent header would. Each
// member is decoded as ParseClientCert does; errors match ErrSyntax. Safe for
// concurrent use.
func ParseClientCertChain(v string) ([]*x509.Certificate, error) {
	const hdr = "client-cert-chain"
	i := skipOWS(v, 0)
	if i == len(v) {
		return nil, nil
	}
	var certs []*x509.Certificate
	for {
		cert, j, err := parseSFCert(hdr, v, i)
		if err != nil {
			return nil, err
		}
		certs = append(certs, cert)
		i = skipOWS(v, j)
		if i == len(v) {
			return certs, nil
		}
		if v[i] != ',' {
			return nil, trailingError(hdr, v, i)
		}
		i = skipOWS(v, i+1)
		if i == len(v) {
			return nil, &syntaxError{header: hdr, msg: "trailing comma", off: i}
		}
	}
}

// parseSFCert parses the byte sequence starting at v[i] and the certificate
// in it, and returns the offset just after the closing colon.
func parseSFCert(hdr, v string, i int) (*x509.Certificate, int, error) {
	if v[i] != ':' {
		return nil, i, &syntaxError{header: hdr, msg: "expected ':' opening a byte sequence, found " + quoteByte(v[i]), off: i}
	}
	start := i + 1
	end := start
	for end < len(v) && v[end] != ':' {
		if !isBase64(v[end]) {
			return nil, end, &syntaxError{header: hdr, msg: "invalid base64 byte " + quoteByte(v[end]), off: end}
		}
		end++
	}
	if end == len(v) {
		return nil, end, &syntaxError{header: hdr, msg: "unterminated byte sequence", off: i}
	}
	if end == start {
		return nil, end, &syntaxError{header: hdr, msg: "empty byte sequence", off: i}
	}
	der, err := base64.StdEncoding.Strict().DecodeString(v[start:end])
	if err != nil {
		return nil, end, &syntaxError{header: hdr, msg: "invalid base64", off: start, err: err}
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, end, &syntaxError{header: hdr, msg: "byte sequence is not a certificate", off: i, err: err}
	}
	return cert, end + 1, nil
}

func trailingError(hdr, v string, i int) error {
	if v[i] == ';' {
		return &syntaxError{header: hdr, msg: "parameters are not supported", off: i}
	}
	return &syntaxError{header: hdr, msg: "unexpected " + quoteByte(v[i]), off: i}
}

func isBase64(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
		c == '+' || c == '/' || c == '='
}

// skipOWS returns the first offset at or after i that is not SP or HTAB.
func skipOWS(v string, i int) int {
	for i < len(v) && (v[i] == ' ' || v[i] == '\t') {
		i++
	}
	return i
}

// quoteByte renders c for an error message without echoing control bytes.
func quoteByte(c byte) string {
	if c < 0x20 || c >= 0x7f {
		return "byte " + hex2(c)
	}
	if c == '\'' || c == '\\' {
		return "'\\" + string(c) + "'"
	}
	return "'" + string(c) + "'"
}
