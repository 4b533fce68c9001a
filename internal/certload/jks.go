package certload

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"strings"
	"unicode/utf8"

	"github.com/pavlo-v-chernykh/keystore-go/v4"
)

// loadJKS verifies and reads a JKS file. The store password is required: it
// keys the SHA-1 integrity digest over the whole file, and the same password
// is used for private key entries (keytool's default, and the only setup
// mtlsgate supports).
func loadJKS(path string, data []byte, pw password) (keystore.KeyStore, []byte, error) {
	if !pw.set {
		return keystore.KeyStore{}, nil, fileErr(path, ErrNoPassword, nil,
			"JKS keystore needs a password: it checks the file's integrity and protects the keys")
	}
	jpw, err := jksPassword(pw.b)
	if err != nil {
		return keystore.KeyStore{}, nil, fileErr(path, ErrUnsupported, nil, "%s", err.Error())
	}
	if err := walkJKS(data); err != nil {
		return keystore.KeyStore{}, nil, fileErr(path, ErrMalformed, err, "malformed JKS keystore")
	}
	ks := keystore.New(keystore.WithCaseExactAliases(), keystore.WithOrderedAliases())
	err = guard(func() error { return ks.Load(bytes.NewReader(data), jpw) })
	switch {
	case err == nil:
		return ks, jpw, nil
	case strings.Contains(err.Error(), "invalid digest"):
		// The digest covers password and content alike: after walkJKS
		// accepted the structure, this is a wrong password or a
		// modified file, and nothing can tell which.
		return keystore.KeyStore{}, nil, fileErr(path, ErrWrongPassword, nil, "wrong password or corrupt keystore")
	default:
		return keystore.KeyStore{}, nil, fileErr(path, ErrMalformed, nil, "malformed JKS keystore")
	}
}

// jksPassword converts a UTF-8 password to what keystore-go expects. Java
// hashes a JKS password as UTF-16 code units, while keystore-go widens each
// byte; the two agree exactly for characters up to U+00FF, so those are
// passed as one byte each. Invalid UTF-8 is taken as Latin-1 bytes as is.
func jksPassword(pw []byte) ([]byte, error) {
	if !utf8.Valid(pw) {
		return pw, nil
	}
	out := make([]byte, 0, len(pw))
	for _, r := range string(pw) {
		if r > 0xFF {
			return nil, errors.New("JKS passwords with characters beyond U+00FF are not supported; convert the keystore to PKCS#12")
		}
		out = append(out, byte(r))
	}
	return out, nil
}

// parseJKSKeyPair loads a private key entry and its chain from a JKS file.
// Without alias there must be exactly one private key entry.
func parseJKSKeyPair(path string, data []byte, pw password, alias string) (*tls.Certificate, error) {
	ks, jpw, err := loadJKS(path, data, pw)
	if err != nil {
		return nil, err
	}
	defer wipeBytes(jpw)
	var keyAliases, trusted []string
	for _, a := range ks.Aliases() {
		if ks.IsPrivateKeyEntry(a) {
			keyAliases = append(keyAliases, a)
		} else {
			trusted = append(trusted, a)
		}
	}
	name, err := pickJKSAlias(path, alias, keyAliases, trusted)
	if err != nil {
		return nil, err
	}
	var entry keystore.PrivateKeyEntry
	err = guard(func() error {
		var err error
		entry, err = ks.GetPrivateKeyEntry(name, jpw)
		return err
	})
	if err != nil {
		return nil, fileErr(path, ErrWrongPassword, nil,
			"the store password opens the keystore but does not decrypt key entry %s; mtlsgate needs the key password to equal the store password (keytool's default)",
			quoteType(name))
	}
	key, err := x509.ParsePKCS8PrivateKey(entry.PrivateKey)
	if err != nil {
		return nil, fileErr(path, ErrMalformed, err, "cannot parse the private key of alias %s", quoteType(name))
	}
	signer, err := toSigner(key)
	if err != nil {
		return nil, keystoreKeyErr(path, name, err)
	}
	certs := make([]*x509.Certificate, 0, len(entry.CertificateChain))
	for _, c := range entry.CertificateChain {
		x, err := x509.ParseCertificate(c.Content)
		if err != nil {
			return nil, fileErr(path, ErrMalformed, err, "cannot parse a certificate of alias %s", quoteType(name))
		}
		certs = append(certs, x)
	}
	if len(certs) == 0 {
		return nil, fileErr(path, ErrNoCertificate, nil, "no certificate found: key entry %s has no certificate chain", quoteType(name))
	}
	chain, ok := matchLeaf(certs, signer)
	if !ok {
		return nil, fileErr(path, ErrKeyMismatch, nil, "no certificate of alias %s matches its private key", quoteType(name))
	}
	return newTLSCertificate(chain, signer), nil
}

// pickJKSAlias resolves the alias to load: the requested one (matched
// case-insensitively, as keytool lowercases aliases; an exact match wins), or
// the only private key entry.
func pickJKSAlias(path, alias string, keyAliases, trusted []string) (string, error) {
	if alias == "" {
		switch len(keyAliases) {
		case 1:
			return keyAliases[0], nil
		case 0:
			return "", fileErr(path, ErrNoPrivateKey, nil,
				"no private key found: the keystore holds only trusted certificates; is this a truststore?")
		default:
			return "", fileErr(path, ErrAlias, nil,
				"keystore holds %d private key entries (%s); set alias to pick one", len(keyAliases), listNames(keyAliases))
		}
	}
	found := ""
	for _, a := range keyAliases {
		if a == alias {
			return a, nil
		}
		if found == "" && strings.EqualFold(a, alias) {
			found = a
		}
	}
	if found != "" {
		return found, nil
	}
	for _, a := range trusted {
		if strings.EqualFold(a, alias) {
			return "", fileErr(path, ErrAlias, nil, "alias %q is a trusted certificate entry, not a private key entry", alias)
		}
	}
	return "", fileErr(path, ErrAlias, nil, "alias %q not found; private key entries: %s", alias, listNames(keyAliases))
}

// parseJKSTrust loads the trusted certificate entries of a JKS file.
// Private key entries are skipped, never trusted: see LoadTrustBundle.
func parseJKSTrust(path string, data []byte, pw password) (*Bundle, error) {
	ks, jpw, err := loadJKS(path, data, pw)
	if err != nil {
		return nil, err
	}
	wipeBytes(jpw)
	var (
		certs []*x509.Certificate
		keys  []string
	)
	for _, a := range ks.Aliases() {
		if ks.IsPrivateKeyEntry(a) {
			keys = append(keys, a)
			continue
		}
		e, err := ks.GetTrustedCertificateEntry(a)
		if err != nil {
			return nil, fileErr(path, ErrMalformed, err, "cannot read entry %s", quoteType(a))
		}
		x, err := x509.ParseCertificate(e.Certificate.Content)
		if err != nil {
			return nil, fileErr(path, ErrMalformed, err, "cannot parse the certificate of alias %s", quoteType(a))
		}
		certs = append(certs, x)
	}
	if len(certs) == 0 {
		if len(keys) > 0 {
			return nil, fileErr(path, ErrNoCertificate, nil,
				"no trusted certificate entries, only private key entries (%s): this is a keystore, not a truststore", listNames(keys))
		}
		return nil, fileErr(path, ErrNoCertificate, nil, "truststore holds no certificates")
	}
	return newBundle(path, certs), nil
}
