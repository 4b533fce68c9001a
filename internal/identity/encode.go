package identity

import (
	"net/http"
	"sync"
	"sync/atomic"
)

// Header names set by SetHeaders, in canonical form. IsProtectedHeader is
// true for every one of them.
const (
	HeaderClientCert      = "Client-Cert"             // RFC 9440
	HeaderClientCertChain = "Client-Cert-Chain"       // RFC 9440
	HeaderXFCC            = "X-Forwarded-Client-Cert" // Envoy

	HeaderSubject     = "X-Client-Cert-Subject"
	HeaderIssuer      = "X-Client-Cert-Issuer"
	HeaderSerial      = "X-Client-Cert-Serial"
	HeaderFingerprint = "X-Client-Cert-Fingerprint-Sha256"
	HeaderSANDNS      = "X-Client-Cert-San-Dns"
	HeaderSANURI      = "X-Client-Cert-San-Uri"
	HeaderSANEmail    = "X-Client-Cert-San-Email"
	HeaderSANIP       = "X-Client-Cert-San-Ip"
	HeaderSPIFFEID    = "X-Client-Cert-Spiffe-Id"
	HeaderNotBefore   = "X-Client-Cert-Not-Before"
	HeaderNotAfter    = "X-Client-Cert-Not-After"
	HeaderVerified    = "X-Client-Cert-Verified"
)

// headerField is one precomputed header: a canonical name and its values.
// values always has len == cap, so that an append by a later handler
// (Header.Add) copies instead of writing into the shared array.
type headerField struct {
	name   string
	values []string
}

// one returns a single-value slice with len == cap.
func one(v string) []string { return []string{v}[:1:1] }

// encodings caches header values per identity, computed on first use of
// each format, so that SetHeaders is only map assignments on the hot path.
// The zero value is ready; it must not be copied after first use.
type encodings struct {
	rfc9440Once sync.Once
	rfc9440     []headerField

	headersOnce sync.Once
	headers     []headerField

	// xfccOnce computes the element without its By pair; xfcc caches the
	// whole header for the last "by" value asked for (in practice one per
	// gateway, so the cache always hits).
	xfccOnce sync.Once
	xfccRest string
	xfcc     atomic.Pointer[xfccCache]
}

type xfccCache struct {
	by     string
	fields []headerField
}

// SetHeaders sets on h, an outgoing (upstream) request's header, the
// identity headers of format f, replacing any value already there. by is the
// gateway's own identity for XFCC's By key (usually its URI SAN); it is
// omitted when empty and ignored by the other formats.
//
// Values are computed once per identity and format and then shared: do not
// modify the value slices of h in place (Header.Set, Add and Del are fine).
// A nil identity, a nil h, FormatNone or an unknown format set nothing.
// SetHeaders is safe for concurrent use, including on the same identity.
//
// Call StripInbound on the request first: SetHeaders replaces only the
// canonical names of its own format.
func (id *Identity) SetHeaders(h http.Header, f Format, by string) {
	if id == nil || h == nil {
		return
	}
	for _, hf := range id.fields(f, by) {
		h[hf.name] = hf.values
	}
}

// fields returns the cached header fields of format f.
func (id *Identity) fields(f Format, by string) []headerField {
	e := &id.enc
	switch f {
	case FormatRFC9440:
		e.rfc9440Once.Do(func() { e.rfc9440 = id.rfc9440Fields() })
		return e.rfc9440
	case FormatHeaders:
		e.headersOnce.Do(func() { e.headers = id.plainFields() })
		return e.headers
	case FormatXFCC:
		if c := e.xfcc.Load(); c != nil && c.by == by {
			return c.fields
		}
		e.xfccOnce.Do(func() { e.xfccRest = id.xfccRest() })
		c := &xfccCache{by: by, fields: []headerField{{HeaderXFCC, one(xfccElement(by, e.xfccRest))}}}
		e.xfcc.Store(c)
		return c.fields
	}
	return nil
}

// AppendHeaders appends the trusted header lines of format f ("Name:
// value\r\n" each) to b, for writers that serialise a request themselves.
// It emits exactly what SetHeaders would set, and nothing for a nil
// identity. Values never contain CR, LF or NUL (see SetHeaders).
func (id *Identity) AppendHeaders(b []byte, f Format, by string) []byte {
	if id == nil {
		return b
	}
	for _, hf := range id.fields(f, by) {
		for _, v := range hf.values {
			b = append(b, hf.name...)
			b = append(b, ": "...)
			b = append(b, v...)
			b = append(b, "\r\n"...)
		}
	}
	return b
}
