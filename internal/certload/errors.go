package certload

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error returned by this package wraps exactly one of
// them, so callers can classify a failure with errors.Is (for metrics or an
// exit code) while logging err.Error() for people. The texts below are what a
// sentinel prints alone; errors from LoadKeyPair and LoadTrustBundle carry a
// fuller sentence naming the file (see FileError).
var (
	// ErrInvalidSpec: the KeyPairSpec or TrustSpec itself is inconsistent
	// (no file named, a key file next to a keystore, both password sources).
	ErrInvalidSpec = errors.New("certload: invalid spec")
	// ErrUnreadable: the file is missing, unreadable, not a regular file or
	// larger than the size limit.
	ErrUnreadable = errors.New("certload: cannot read file")
	// ErrEmptyFile: the file has zero bytes.
	ErrEmptyFile = errors.New("certload: file is empty")
	// ErrWrongFormat: the content is not what the file name says (a JKS file
	// named .pem, a DER certificate where PEM is expected, ...).
	ErrWrongFormat = errors.New("certload: wrong file format")
	// ErrUnsupported: a recognised but unsupported format or algorithm
	// (JCEKS, OpenSSH keys, PBES1-encrypted keys, ...).
	ErrUnsupported = errors.New("certload: unsupported format")
	// ErrMalformed: the file is of the expected format but cannot be parsed.
	ErrMalformed = errors.New("certload: malformed file")
	// ErrNoCertificate: no certificate was found where one is required.
	ErrNoCertificate = errors.New("certload: no certificate found")
	// ErrNoPrivateKey: no private key was found where one is required.
	ErrNoPrivateKey = errors.New("certload: no private key found")
	// ErrKeyMismatch: the private key does not belong to the leaf certificate.
	ErrKeyMismatch = errors.New("certload: certificate does not match private key")
	// ErrNoPassword: the key or keystore is encrypted but no password is
	// configured.
	ErrNoPassword = errors.New("certload: no password configured")
	// ErrWrongPassword: the configured password does not decrypt or verify
	// the key or keystore (for keystores this cannot always be told apart
	// from a corrupt file; the message says so).
	ErrWrongPassword = errors.New("certload: wrong password")
	// ErrPasswordSource: the configured password file or environment
	// variable is unset, empty or unreadable.
	ErrPasswordSource = errors.New("certload: password unavailable")
	// ErrAlias: the requested keystore alias does not exist or is of the
	// wrong kind, or several private keys exist and no alias was given.
	ErrAlias = errors.New("certload: alias problem")
)

// FileError is the error type returned for a problem with one configured
// file. Its message reads "certload: <path>: <reason>[: <cause>]", where path
// is the file as configured. It never contains key material or passwords.
//
// errors.Is matches Reason (one of the Err* sentinels) and the underlying
// cause, if any (for example fs.ErrNotExist for a missing file).
type FileError struct {
	// Path is the file as it was configured.
	Path string
	// Reason is one of the package's sentinel errors.
	Reason error

	msg   string // the sentence after the path
	cause error  // underlying library or OS error; may be nil
}

// Error implements error.
func (e *FileError) Error() string {
	s := "certload: " + e.Path + ": " + e.msg
	if e.cause != nil {
		s += ": " + e.cause.Error()
	}
	return s
}

// Unwrap returns the sentinel reason and, when there is one, the cause.
func (e *FileError) Unwrap() []error {
	if e.cause == nil {
		return []error{e.Reason}
	}
	return []error{e.Reason, e.cause}
}

// fileErr builds a *FileError. The message must never include key bytes or a
// password; callers pass only fixed sentences, names and library errors that
// are known not to echo their input.
func fileErr(path string, reason error, cause error, format string, args ...any) error {
	return &FileError{Path: path, Reason: reason, msg: fmt.Sprintf(format, args...), cause: cause}
}

// specErr builds an error about the spec rather than one file:
// "certload: invalid spec: <detail>".
func specErr(reason error, format string, args ...any) error {
	return fmt.Errorf("%w: %s", reason, fmt.Sprintf(format, args...))
}
