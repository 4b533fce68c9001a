package identity

import "net/http"

// Inbound stripping.
//
// Security: an upstream trusts the identity headers because only the gateway
// sets them. A client that sends its own Client-Cert or X-Client-Cert-Subject
// would otherwise choose its identity. Names are compared ASCII
// case-insensitively with '_' and '-' treated as equal, because CGI, WSGI,
// PHP and Rack upstreams map both to the same variable (HTTP_X_CLIENT_CERT_*),
// and because Go's server canonicalizes "x-client-cert-subject" but keeps
// "X_client_cert_subject" and names it deems invalid as sent.

// Protected names, lower-case with '-' separators; see IsProtectedHeader.
const (
	protClientCert      = "client-cert"
	protClientCertChain = "client-cert-chain"
	protXFCC            = "x-forwarded-client-cert"
	protPrefix          = "x-client-cert"
)

// StripInbound deletes from h, an inbound request's header, every field for
// which IsProtectedHeader is true, whatever its letter case and however many
// values it has, and returns the number of values removed. It allocates
// nothing when there is nothing to remove. It is not safe for concurrent use
// with other users of h.
//
// Call it on every proxied request before SetHeaders, whatever the route's
// header format (a route with FormatNone must not forward a forged header
// either).
func StripInbound(h http.Header) (removed int) {
	for k, vs := range h {
		if IsProtectedHeader(k) {
			removed += len(vs)
			delete(h, k)
		}
	}
	return removed
}

// IsProtectedHeader reports whether name is an identity header that only the
// gateway may set: Client-Cert, Client-Cert-Chain, X-Forwarded-Client-Cert,
// X-Client-Cert and any name starting with X-Client-Cert-. Comparison is
// ASCII case-insensitive and treats '_' as '-'. Safe for concurrent use.
func IsProtectedHeader(name string) bool {
	if name == "" {
		return false
	}
	switch foldByte(name[0]) {
	case 'c':
		return foldEqual(name, protClientCert) || foldEqual(name, protClientCertChain)
	case 'x':
		if foldEqual(name, protXFCC) {
			return true
		}
		n := len(protPrefix)
		return len(name) >= n && foldEqual(name[:n], protPrefix) &&
			(len(name) == n || foldByte(name[n]) == '-')
	}
	return false
}

// foldByte lower-cases an ASCII letter and maps '_' to '-'.
func foldByte(c byte) byte {
	switch {
	case 'A' <= c && c <= 'Z':
		return c + ('a' - 'A')
	case c == '_':
		return '-'
	}
	return c
}

// foldEqual compares s with lower, a lower-case '-'-separated name.
func foldEqual(s, lower string) bool {
	if len(s) != len(lower) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if foldByte(s[i]) != lower[i] {
			return false
		}
	}
	return true
}
