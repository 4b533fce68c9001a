// Package identity turns a verified client certificate chain into an
// Identity (subject, SANs, SPIFFE ID, serial, fingerprint, issuer, validity)
// once per connection, and encodes it for upstreams in the header formats
// they trust: RFC 9440 Client-Cert / Client-Cert-Chain, Envoy's
// X-Forwarded-Client-Cert, and simple X-Client-Cert-* headers.
//
// It also owns the list of identity headers a client must never be able to
// set: StripInbound removes every inbound copy before a request is proxied.
//
// It does not verify certificates (crypto/tls and the revocation package do)
// and does not decide access (the policy package does).
package identity
