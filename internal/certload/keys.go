package certload

import (
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
)

// parseKeyBlock turns one PEM private key block (classifyBlock said
// blockKey) into a signer. It handles PKCS#1, SEC1, PKCS#8, encrypted PKCS#8
// and legacy OpenSSL-encrypted PEM. Errors name the file and the line, never
// the key bytes or the password.
func parseKeyBlock(path string, b pemBlock, pw password) (crypto.Signer, error) {
	der := b.Bytes
	//nolint:staticcheck // SA1019: legacy "Proc-Type: 4,ENCRYPTED" PEM is insecure (MD5 KDF, no MAC) but still written by `openssl rsa -des3` and old tools; we only read it, never write it.
	legacy := x509.IsEncryptedPEMBlock(b.Block)
	switch {
	case legacy:
		if !pw.set {
			return nil, fileErr(path, ErrNoPassword, nil,
				"private key at line %d is encrypted (Proc-Type: 4,ENCRYPTED) but no password is configured", b.line)
		}
		//nolint:staticcheck // SA1019: see above; decrypting legacy PEM has no non-deprecated API.
		plain, err := x509.DecryptPEMBlock(b.Block, pw.b)
		if err != nil {
			//nolint:staticcheck // SA1019: the error value belongs to the deprecated API above.
			if errors.Is(err, x509.IncorrectPasswordError) {
				return nil, fileErr(path, ErrWrongPassword, nil, "wrong password for the encrypted private key at line %d", b.line)
			}
			return nil, fileErr(path, ErrMalformed, err, "cannot decrypt the private key at line %d", b.line)
		}
		der = plain
	case b.Type == "ENCRYPTED PRIVATE KEY":
		if !pw.set {
			return nil, fileErr(path, ErrNoPassword, nil,
				"private key at line %d is encrypted (ENCRYPTED PRIVATE KEY) but no password is configured", b.line)
		}
		key, err := decryptPKCS8(der, pw)
		if err != nil {
			return nil, wrapKeyErr(path, b.line, err)
		}
		signer, err := toSigner(key)
		if err != nil {
			return nil, wrapKeyErr(path, b.line, err)
		}
		return signer, nil
	}
	key, err := parseKeyDER(b.Type, der)
	if err != nil {
		if legacy {
			// The CBC padding check in DecryptPEMBlock passes for about one
			// wrong password in 256; the garbage then fails to parse.
			return nil, fileErr(path, ErrWrongPassword, nil, "wrong password for the encrypted private key at line %d", b.line)
		}
		return nil, fileErr(path, ErrMalformed, err, "cannot parse the %s at line %d", b.Type, b.line)
	}
	signer, err := toSigner(key)
	if err != nil {
		return nil, wrapKeyErr(path, b.line, err)
	}
	return signer, nil
}

// wrapKeyErr attaches file and line to an error from decryptPKCS8, keeping
// its sentinel.
func wrapKeyErr(path string, line int, err error) error {
	var ke *keyError
	if errors.As(err, &ke) {
		return fileErr(path, ke.reason, ke.cause, "private key at line %d: %s", line, ke.msg)
	}
	return fileErr(path, ErrMalformed, err, "private key at line %d", line)
}

// keyError is a reason without a file, from byte-level helpers that do not
// know the file name.
type keyError struct {
	reason error
	msg    string
	cause  error
}

func (e *keyError) Error() string {
	if e.cause != nil {
		return e.msg + ": " + e.cause.Error()
	}
	return e.msg
}

func (e *keyError) Unwrap() []error {
	if e.cause == nil {
		return []error{e.reason}
	}
	return []error{e.reason, e.cause}
}

func newKeyError(reason, cause error, format string, args ...any) *keyError {
	return &keyError{reason: reason, msg: fmt.Sprintf(format, args...), cause: cause}
}

// parseKeyDER parses an unencrypted private key. The PEM type picks the
// parser tried first; the others are tried after it because mislabelled
// blocks are common (crypto/tls.X509KeyPair is just as lenient). The error
// returned is the one from the parser the type asked for.
func parseKeyDER(typ string, der []byte) (any, error) {
	parsers := []func([]byte) (any, error){
		x509.ParsePKCS8PrivateKey,
		func(b []byte) (any, error) { return x509.ParsePKCS1PrivateKey(b) },
		func(b []byte) (any, error) { return x509.ParseECPrivateKey(b) },
	}
	switch typ {
	case "RSA PRIVATE KEY":
		parsers[0], parsers[1] = parsers[1], parsers[0]
	case "EC PRIVATE KEY":
		parsers[0], parsers[2] = parsers[2], parsers[0]
	}
	var first error
	for _, p := range parsers {
		key, err := p(der)
		if err == nil {
			return key, nil
		}
		if first == nil {
			first = err
		}
	}
	return nil, first
}

// toSigner accepts the key types crypto/tls can sign with. Errors are
// *keyError, for the caller to place.
func toSigner(key any) (crypto.Signer, error) {
	switch k := key.(type) {
	case *rsa.PrivateKey:
		return k, nil
	case *ecdsa.PrivateKey:
		return k, nil
	case ed25519.PrivateKey:
		return k, nil
	case *ecdh.PrivateKey:
		return nil, newKeyError(ErrUnsupported, nil, "it is an X25519 key-agreement key, which cannot sign; use ECDSA, Ed25519 or RSA")
	default:
		return nil, newKeyError(ErrUnsupported, nil, "unsupported key type %T", key)
	}
}

// keyMatches reports whether key is the private half of cert's public key.
func keyMatches(cert *x509.Certificate, key crypto.Signer) bool {
	pub, ok := cert.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	return ok && pub.Equal(key.Public())
}
