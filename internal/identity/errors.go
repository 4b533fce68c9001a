package identity

import (
	"errors"
	"fmt"
)

// Sentinel errors. Match them with errors.Is.
var (
	// ErrUnknownFormat is returned by ParseFormat for a name it does not know.
	ErrUnknownFormat = errors.New("identity: unknown header format")
	// ErrSyntax is matched by every error from ParseClientCert,
	// ParseClientCertChain and ParseXFCC about a malformed header value,
	// including a byte sequence that is not a DER certificate.
	ErrSyntax = errors.New("identity: malformed header value")
)

// syntaxError says what is wrong with a header value and at which byte
// offset (0-based) of the value. It unwraps to ErrSyntax and, for a
// certificate that does not parse, to the x509 error.
type syntaxError struct {
	header string // "client-cert", "client-cert-chain" or "xfcc"
	msg    string
	off    int
	err    error
}

func (e *syntaxError) Error() string {
	s := fmt.Sprintf("identity: %s: %s at byte %d", e.header, e.msg, e.off)
	if e.err != nil {
		s += ": " + e.err.Error()
	}
	return s
}

func (e *syntaxError) Unwrap() []error {
	if e.err != nil {
		return []error{ErrSyntax, e.err}
	}
	return []error{ErrSyntax}
}
