package certload

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"strings"

	"software.sslmate.com/src/go-pkcs12"
)

// parsePKCS12KeyPair loads a key pair from a PKCS#12 keystore holding one
// private key and its chain. The certificate matching the key becomes the
// leaf wherever it sits in the file.
//
// With an alias, the private key whose friendlyName matches is picked (see
// pkcs12ByAlias). If the file's attributes cannot be read that way (go-pkcs12
// exposes them only through ToPEM, which handles RSA and ECDSA keys in
// OpenSSL/Java-shaped files) and the file holds a single key, that key is
// used: with one key there is nothing to pick.
func parsePKCS12KeyPair(path string, data []byte, pw password, alias string) (*tls.Certificate, error) {
	pws := string(pw.b)
	if alias != "" {
		if c, ok, err := pkcs12ByAlias(path, data, pws, alias, pw); ok {
			return c, err
		}
	}
	var (
		key  any
		leaf *x509.Certificate
		cas  []*x509.Certificate
	)
	err := guard(func() error {
		var err error
		key, leaf, cas, err = pkcs12.DecodeChain(data, pws)
		return err
	})
	if err != nil {
		return nil, pkcs12Err(path, err, pw)
	}
	signer, err := toSigner(key)
	if err != nil {
		return nil, keystoreKeyErr(path, "", err)
	}
	chain, ok := matchLeaf(append([]*x509.Certificate{leaf}, cas...), signer)
	if !ok {
		return nil, fileErr(path, ErrKeyMismatch, nil, "no certificate in the keystore matches its private key")
	}
	return newTLSCertificate(chain, signer), nil
}

// pkcs12ByAlias picks the private key whose friendlyName equals alias
// (case-insensitively), the certificate with the same localKeyId, and the
// issuers of that certificate found in the file. ok is false when the file
// cannot be read this way and the caller should fall back to DecodeChain.
func pkcs12ByAlias(path string, data []byte, pws, alias string, pw password) (c *tls.Certificate, ok bool, err error) {
	var blocks []*pem.Block
	err = guard(func() error {
		var err error
		//nolint:staticcheck // SA1019: ToPEM is the only go-pkcs12 API that exposes friendlyName and localKeyId; we parse its key bytes leniently (parseKeyDER), which is what its deprecation warns about.
		blocks, err = pkcs12.ToPEM(data, pws)
		return err
	})
	if err != nil {
		if isPKCS12PasswordErr(err) {
			return nil, true, pkcs12Err(path, err, pw)
		}
		return nil, false, nil
	}
	var (
		names  []string
		keyBlk *pem.Block
		certs  []*x509.Certificate
		leaf   *x509.Certificate
	)
	for _, b := range blocks {
		if b.Type == "PRIVATE KEY" {
			names = append(names, b.Headers["friendlyName"])
			if keyBlk == nil && strings.EqualFold(b.Headers["friendlyName"], alias) {
				keyBlk = b
			}
		}
	}
	if keyBlk == nil {
		return nil, true, fileErr(path, ErrAlias, nil, "alias %q not found; private key entries: %s", alias, listNames(names))
	}
	key, err := parseKeyDER("", keyBlk.Bytes)
	if err != nil {
		return nil, true, fileErr(path, ErrMalformed, err, "cannot parse the private key of alias %q", alias)
	}
	signer, err := toSigner(key)
	if err != nil {
		return nil, true, keystoreKeyErr(path, alias, err)
	}
	for _, b := range blocks {
		if b.Type != "CERTIFICATE" {
			continue
		}
		x, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, true, fileErr(path, ErrMalformed, err, "cannot parse a certificate")
		}
		if id := keyBlk.Headers["localKeyId"]; id != "" && b.Headers["localKeyId"] == id {
			leaf = x
		} else {
			certs = append(certs, x)
		}
	}
	if leaf == nil || !keyMatches(leaf, signer) {
		return nil, true, fileErr(path, ErrKeyMismatch, nil, "no certificate in the keystore matches the private key of alias %q", alias)
	}
	return newTLSCertificate(issuerChain(leaf, certs), signer), true, nil
}

// issuerChain returns leaf followed by its issuers found among pool, in
// order, by subject/issuer name. It stops at a self-issued certificate, a
// missing issuer or a loop.
func issuerChain(leaf *x509.Certificate, pool []*x509.Certificate) []*x509.Certificate {
	chain := []*x509.Certificate{leaf}
	used := make([]bool, len(pool))
	for cur := leaf; string(cur.RawIssuer) != string(cur.RawSubject); {
		next := -1
		for i, c := range pool {
			if !used[i] && string(c.RawSubject) == string(cur.RawIssuer) {
				next = i
				break
			}
		}
		if next < 0 {
			break
		}
		used[next] = true
		cur = pool[next]
		chain = append(chain, cur)
	}
	return chain
}

// parsePKCS12Trust loads a Java-style PKCS#12 truststore: only certificate
// bags, each marked with Java's trusted-certificate attribute. Anything else
// is refused with a message saying what the file is; in particular the chain
// of a keystore (a private key and its certificates) is never trusted.
func parsePKCS12Trust(path string, data []byte, pw password) (*Bundle, error) {
	pws := string(pw.b)
	var certs []*x509.Certificate
	err := guard(func() error {
		var err error
		certs, err = pkcs12.DecodeTrustStore(data, pws)
		return err
	})
	if err == nil {
		if len(certs) == 0 {
			return nil, fileErr(path, ErrNoCertificate, nil, "truststore holds no certificates")
		}
		return newBundle(path, certs), nil
	}
	msg := err.Error()
	if isPKCS12PasswordErr(err) || !(strings.Contains(msg, "not marked as trusted") ||
		strings.Contains(msg, "expected only certificate bags") || strings.Contains(msg, "items in the authenticated safe")) {
		return nil, pkcs12Err(path, err, pw)
	}
	derr := guard(func() error {
		_, _, _, err := pkcs12.DecodeChain(data, pws)
		return err
	})
	if derr == nil || strings.Contains(derr.Error(), "key bag") {
		return nil, fileErr(path, ErrWrongFormat, nil,
			"file holds a private key and its certificate chain: it is a keystore, not a truststore "+
				"(trusting it would trust everything its issuer signs); export the CA certificates to a PEM bundle instead")
	}
	return nil, fileErr(path, ErrUnsupported, nil,
		"file holds certificates that are not marked as trusted (as openssl pkcs12 -export -nokeys writes them); "+
			"use a PEM bundle, or build the truststore with keytool -importcert")
}

// isPKCS12PasswordErr reports a MAC or decryption failure. go-pkcs12 wraps
// some of them as text only, hence the string checks (pinned by tests).
func isPKCS12PasswordErr(err error) bool {
	return errors.Is(err, pkcs12.ErrIncorrectPassword) || errors.Is(err, pkcs12.ErrDecryption) ||
		strings.Contains(err.Error(), "decryption password incorrect") ||
		strings.Contains(err.Error(), "no MAC in data")
}

// pkcs12Err maps a go-pkcs12 error to a FileError. Parse errors come before
// the MAC check, so "malformed" and "wrong password" are told apart; a MAC
// mismatch can still mean a modified file, and the message says so.
func pkcs12Err(path string, err error, pw password) error {
	msg := err.Error()
	var nie pkcs12.NotImplementedError
	switch {
	case errors.Is(err, errDecoderPanic):
		return fileErr(path, ErrMalformed, nil, "cannot decode the PKCS#12 keystore")
	case strings.Contains(msg, "no MAC in data"):
		return fileErr(path, ErrWrongPassword, nil,
			"keystore has no password (no integrity MAC) but a password is configured; remove the password setting or protect the keystore")
	case isPKCS12PasswordErr(err) && !pw.set:
		return fileErr(path, ErrNoPassword, nil, "keystore is password-protected but no password is configured")
	case isPKCS12PasswordErr(err):
		return fileErr(path, ErrWrongPassword, nil, "wrong password or corrupt keystore")
	case strings.Contains(msg, "expected exactly one key bag"):
		return fileErr(path, ErrAlias, nil, "keystore holds several private keys; set alias to pick one")
	case strings.Contains(msg, "private key missing"):
		return fileErr(path, ErrNoPrivateKey, nil, "no private key found: the keystore holds only certificates; is this a truststore?")
	case strings.Contains(msg, "certificate missing"):
		return fileErr(path, ErrNoCertificate, nil, "no certificate found: the keystore holds a private key without its certificate")
	case errors.As(err, &nie):
		return fileErr(path, ErrUnsupported, err, "unsupported PKCS#12 keystore")
	default:
		return fileErr(path, ErrMalformed, err, "cannot decode the PKCS#12 keystore")
	}
}

// keystoreKeyErr places a *keyError about a keystore's private key.
func keystoreKeyErr(path, alias string, err error) error {
	var ke *keyError
	if !errors.As(err, &ke) {
		return fileErr(path, ErrMalformed, err, "private key")
	}
	if alias == "" {
		return fileErr(path, ke.reason, ke.cause, "private key: %s", ke.msg)
	}
	return fileErr(path, ke.reason, ke.cause, "private key of alias %q: %s", alias, ke.msg)
}

// listNames formats keystore aliases for a message: quoted, at most ten.
func listNames(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	var b strings.Builder
	for i, n := range names {
		if i == 10 {
			b.WriteString(", ...")
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		if n == "" {
			b.WriteString("(one without a name)")
			continue
		}
		b.WriteString(quoteType(n))
	}
	return b.String()
}
