package identity

import (
	"strings"
	"time"
)

// The "headers" format: one X-Client-Cert-* field per attribute, for
// upstreams that read plain headers (as behind nginx or HAProxy).
//
//	X-Client-Cert-Subject             RFC 4514 subject
//	X-Client-Cert-Issuer              RFC 4514 issuer
//	X-Client-Cert-Serial              lower-case hex, no separators
//	X-Client-Cert-Fingerprint-Sha256  lower-case hex SHA-256 of the leaf DER
//	X-Client-Cert-San-Dns             DNS SANs, ","-separated
//	X-Client-Cert-San-Uri             URI SANs, ","-separated
//	X-Client-Cert-San-Email           e-mail SANs, ","-separated
//	X-Client-Cert-San-Ip              IP SANs, ","-separated
//	X-Client-Cert-Spiffe-Id           the SPIFFE ID
//	X-Client-Cert-Not-Before          RFC 3339, UTC
//	X-Client-Cert-Not-After           RFC 3339, UTC
//	X-Client-Cert-Verified            SUCCESS
//
// Empty attributes are omitted. Subject and issuer escape control bytes as
// RFC 4514 hex pairs; list items percent-encode control bytes, ',' and SP,
// so an upstream may split a list on ',' safely (see escape.go).

func (id *Identity) plainFields() []headerField {
	var fields []headerField
	add := func(name, v string) {
		if v != "" {
			fields = append(fields, headerField{name, one(v)})
		}
	}
	add(HeaderSubject, escapeDN(id.Subject))
	add(HeaderIssuer, escapeDN(id.Issuer))
	add(HeaderSerial, escapeValue(id.SerialHex))
	add(HeaderFingerprint, escapeValue(id.FingerprintSHA256))
	add(HeaderSANDNS, joinList(id.DNSNames))
	add(HeaderSANURI, joinList(id.URIs))
	add(HeaderSANEmail, joinList(id.Emails))
	add(HeaderSANIP, joinList(id.IPs))
	add(HeaderSPIFFEID, escapeValue(id.SPIFFEID))
	add(HeaderNotBefore, rfc3339(id.NotBefore))
	add(HeaderNotAfter, rfc3339(id.NotAfter))
	add(HeaderVerified, "SUCCESS")
	return fields
}

// joinList joins escaped items with ",", skipping empty ones.
func joinList(items []string) string {
	var b strings.Builder
	for _, it := range items {
		if it == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(escapeListItem(it))
	}
	return b.String()
}

func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}
