package certload

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
)

// LoadKeyPair reads the certificate chain and private key named by spec and
// returns them as a tls.Certificate with Leaf set and the whole chain, leaf
// first, in Certificate. The private key is checked against the leaf.
//
// The format follows the certificate file's name (.p12/.pfx PKCS#12, .jks
// JKS, anything else PEM), and the content is sniffed so that a mis-named
// file gets an error saying what it really is. Every error is a *FileError
// or wraps ErrInvalidSpec or ErrPasswordSource; none contains key material
// or the password. It never panics.
//
// It reads the files once and keeps nothing: it is safe for concurrent use,
// and reloading is the caller's business (call it again and swap the result
// in atomically; on error keep the old certificate).
func LoadKeyPair(spec KeyPairSpec) (*tls.Certificate, error) {
	if err := spec.validate(); err != nil {
		return nil, err
	}
	certData, want, pw, err := openMaterial(spec.Cert, spec.PasswordFile, spec.PasswordEnv)
	if err != nil {
		return nil, err
	}
	defer pw.wipe()
	switch want {
	case fmtPKCS12:
		return parsePKCS12KeyPair(spec.Cert, certData, pw, spec.Alias)
	case fmtJKS:
		return parseJKSKeyPair(spec.Cert, certData, pw, spec.Alias)
	}
	if spec.Alias != "" {
		return nil, specErr(ErrInvalidSpec, "alias %q applies only to .p12, .pfx and .jks keystores, and %s is PEM", spec.Alias, spec.Cert)
	}
	in := pemKeyPairInput{certPath: spec.Cert, certData: certData, pw: pw}
	if spec.Key != "" && spec.Key != spec.Cert {
		keyData, err := readFile(spec.Key)
		if err != nil {
			return nil, err
		}
		if err := checkFormat(spec.Key, keyData, fmtPEM); err != nil {
			return nil, err
		}
		in.keyPath, in.keyData = spec.Key, keyData
	}
	return parsePEMKeyPair(in)
}

// openMaterial resolves the password, reads path and decides its format
// (by name, corrected by content), refusing content that does not fit. The
// caller wipes the password.
func openMaterial(path, pwFile, pwEnv string) ([]byte, format, password, error) {
	pw, err := resolvePassword(pwFile, pwEnv)
	if err != nil {
		return nil, 0, pw, err
	}
	data, err := readFile(path)
	if err == nil {
		want := keystoreFormat(path, data)
		if err = checkFormat(path, data, want); err == nil {
			return data, want, pw, nil
		}
	}
	pw.wipe()
	return nil, 0, password{}, err
}

// newTLSCertificate assembles the result: the leaf is chain[0] and must
// match key (the caller has checked).
func newTLSCertificate(chain []*x509.Certificate, key crypto.Signer) *tls.Certificate {
	c := &tls.Certificate{PrivateKey: key, Leaf: chain[0]}
	for _, x := range chain {
		c.Certificate = append(c.Certificate, x.Raw)
	}
	return c
}

// matchLeaf puts the certificate that matches key first. Keystores do not
// promise that the first certificate is the leaf, so this searches; the
// remaining certificates keep their order. It returns false if none matches.
func matchLeaf(certs []*x509.Certificate, key crypto.Signer) ([]*x509.Certificate, bool) {
	for i, c := range certs {
		if keyMatches(c, key) {
			out := make([]*x509.Certificate, 0, len(certs))
			out = append(out, c)
			out = append(out, certs[:i]...)
			return append(out, certs[i+1:]...), true
		}
	}
	return nil, false
}
