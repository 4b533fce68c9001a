// Package identity turns a verified client certificate chain into an
// Identity (subject, SANs, SPIFFE ID, serial, fingerprint, issuer, validity)
// once per connection, and encodes it for upstreams in the header formats
// they trust (see Format):
//
//   - "rfc9440": RFC 9440 Client-Cert and Client-Cert-Chain (the default);
//   - "xfcc": Envoy's X-Forwarded-Client-Cert, one fresh element;
//   - "headers": simple X-Client-Cert-* fields;
//   - "none": nothing.
//
// Identity.SetHeaders computes each format's values once per identity and
// then only assigns them, so the per-request cost is a few map writes.
//
// It also owns the list of identity headers a client must never be able to
// set: StripInbound removes every inbound copy before a request is proxied,
// whatever its case and with '_' read as '-'. And it parses the three
// formats (ParseClientCert, ParseClientCertChain, ParseXFCC) for upstreams
// and tests.
//
// Security: every value written is free of control bytes, even for a
// certificate whose subject or SANs hold CR, LF or NUL, and list items
// cannot be split in two by a comma inside a SAN; see escape.go.
//
// It does not verify certificates (crypto/tls and the revocation package do)
// and does not decide access (the policy package does).
package identity
