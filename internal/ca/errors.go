package ca

import "errors"

// Classes of signing errors, for callers that answer a remote client (EST)
// and must tell a bad request from a refusal from their own failure. Test
// with errors.Is; the error's text stays the specific reason ("profile
// server needs at least one dns: or ip: SAN ..."), which is safe to show
// to the requester: it never contains key material. An error in none of
// these classes is an internal failure (store, randomness, signing) whose
// details belong in the log, not in an answer.
var (
	// ErrMalformedCSR: the request is not a PKCS#10 CSR, or its signature
	// does not verify.
	ErrMalformedCSR = errors.New("ca: malformed certificate request")
	// ErrInvalidRequest: well-formed, but what it asks for is not a valid
	// certificate (no subject, an over-long CN, a SAN that is not a valid
	// name, a negative lifetime).
	ErrInvalidRequest = errors.New("ca: invalid certificate request")
	// ErrNotPermitted: valid, but the profile or the CA's policy refuses it
	// (SAN kind, subject O/OU, key type or size, a CA certificate, a
	// lifetime beyond the profile's, the issuing CA's name constraints).
	ErrNotPermitted = errors.New("ca: certificate request not permitted")
	// ErrIssuerRevoked: the issuing CA was revoked by the root; it signs
	// nothing more.
	ErrIssuerRevoked = errors.New("ca: the issuing CA is revoked")
)

// classified puts err in class without changing its text.
type classified struct {
	class error
	err   error
}

func (e *classified) Error() string   { return e.err.Error() }
func (e *classified) Unwrap() []error { return []error{e.class, e.err} }

// classify returns err in class (nil stays nil).
func classify(class, err error) error {
	if err == nil {
		return nil
	}
	return &classified{class: class, err: err}
}
