package certload

import (
	"bytes"
	"crypto/x509"
	"fmt"
)

// Bundle is a loaded set of trusted certificates. It is not modified after
// LoadTrustBundle returns it and is safe for concurrent use; callers must not
// modify its fields or the certificates.
type Bundle struct {
	// Pool holds Certs, for tls.Config.ClientCAs or RootCAs.
	Pool *x509.CertPool
	// Certs are the certificates in file order, duplicates removed.
	Certs []*x509.Certificate
	// Source is the file path as configured, for messages such as
	// "not in client_ca clients-ca.pem".
	Source string
	// Ignored describes PEM blocks that were skipped because they are
	// public material that is clearly not a certificate (for example
	// "X509 CRL at line 40"), for the caller to log. Nil for keystores.
	Ignored []string
}

// LoadTrustBundle reads the trust bundle named by spec: a PEM file of
// certificates, a PKCS#12 truststore (.p12/.pfx, as made by keytool
// -importcert or go-pkcs12 EncodeTrustStore) or a JKS truststore (.jks,
// trusted certificate entries). At least one certificate is required.
//
// The rule for PEM blocks is classifyBlock's: CERTIFICATE blocks are used;
// CRLs, CSRs, public keys and parameters are skipped and listed in
// Bundle.Ignored; a private key, a TRUSTED CERTIFICATE block or an unknown
// block type is an error, because each means the file is not what the
// operator thinks it is. Text outside PEM blocks (comments) is ignored.
//
// A keystore's private key entries and their chains are never trusted: a
// PKCS#12 file holding a key is refused, and a JKS file's private key
// entries are skipped. Trusting a server's own chain as client CAs would
// trust everything its issuer signs.
//
// Errors are as for LoadKeyPair. It keeps no state and is safe for
// concurrent use.
func LoadTrustBundle(spec TrustSpec) (*Bundle, error) {
	if err := spec.validate(); err != nil {
		return nil, err
	}
	data, want, pw, err := openMaterial(spec.File, spec.PasswordFile, spec.PasswordEnv)
	if err != nil {
		return nil, err
	}
	defer pw.wipe()
	switch want {
	case fmtPKCS12:
		return parsePKCS12Trust(spec.File, data, pw)
	case fmtJKS:
		return parseJKSTrust(spec.File, data, pw)
	default:
		return parsePEMTrust(spec.File, data)
	}
}

// parsePEMTrust parses a PEM trust bundle; see LoadTrustBundle for the rule.
func parsePEMTrust(path string, data []byte) (*Bundle, error) {
	blocks, err := decodePEM(path, data)
	if err != nil {
		return nil, err
	}
	var (
		certs   []*x509.Certificate
		ignored []string
	)
	for _, b := range blocks {
		kind, hint := classifyBlock(b.Type)
		switch kind {
		case blockCert:
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				return nil, fileErr(path, ErrMalformed, err, "cannot parse the certificate at line %d", b.line)
			}
			certs = append(certs, c)
		case blockPublic:
			ignored = append(ignored, fmt.Sprintf("%s at line %d", b.Type, b.line))
		case blockKey:
			return nil, fileErr(path, ErrWrongFormat, nil,
				"line %d: a trust bundle must hold only certificates, but this one holds a private key; is this the right file?", b.line)
		case blockUnsupported:
			return nil, fileErr(path, ErrUnsupported, nil, "line %d: %s", b.line, hint)
		default:
			return nil, fileErr(path, ErrUnsupported, nil, "line %d: unknown PEM block type %s", b.line, quoteType(b.Type))
		}
	}
	if len(certs) == 0 {
		if len(blocks) == 0 {
			return nil, fileErr(path, ErrNoCertificate, nil, "no certificate found (no -----BEGIN CERTIFICATE----- block)")
		}
		return nil, fileErr(path, ErrNoCertificate, nil, "no certificate found: the file holds only %v", ignored)
	}
	b := newBundle(path, certs)
	b.Ignored = ignored
	return b, nil
}

// newBundle builds a Bundle from at least one certificate, dropping exact
// duplicates.
func newBundle(path string, certs []*x509.Certificate) *Bundle {
	b := &Bundle{Pool: x509.NewCertPool(), Source: path}
	seen := make(map[string]bool, len(certs))
	for _, c := range certs {
		if seen[string(c.Raw)] {
			continue
		}
		seen[string(c.Raw)] = true
		b.Certs = append(b.Certs, c)
		b.Pool.AddCert(c)
	}
	return b
}

// HasIssuerOf reports whether cert is itself one of the bundle's
// certificates (same raw bytes) or the bundle holds a certificate whose
// subject equals cert's issuer (raw DER comparison). It is a diagnostic
// helper for messages such as "issuer not in client_ca"; it checks no
// signature and proves nothing about trust. A nil bundle or certificate
// gives false. Safe for concurrent use.
func (b *Bundle) HasIssuerOf(cert *x509.Certificate) bool {
	if b == nil || cert == nil {
		return false
	}
	for _, c := range b.Certs {
		if bytes.Equal(c.Raw, cert.Raw) || bytes.Equal(c.RawSubject, cert.RawIssuer) {
			return true
		}
	}
	return false
}
