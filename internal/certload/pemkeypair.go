package certload

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"strconv"
	"strings"
)

// pemKeyPairInput is a PEM key pair as bytes, after the files were read.
type pemKeyPairInput struct {
	certPath string
	certData []byte
	keyPath  string // "" means the key is in the certificate file
	keyData  []byte
	pw       password
}

// parsePEMKeyPair parses a PEM chain (leaf first) and a PEM private key and
// checks that the key belongs to the leaf. In the certificate file, private
// keys are used only when there is no separate key file; in the key file,
// certificates are ignored.
func parsePEMKeyPair(in pemKeyPairInput) (*tls.Certificate, error) {
	blocks, err := decodePEM(in.certPath, in.certData)
	if err != nil {
		return nil, err
	}
	certBlocks, keysInCert, err := splitBlocks(in.certPath, blocks)
	if err != nil {
		return nil, err
	}
	if len(certBlocks) == 0 {
		if len(keysInCert) > 0 {
			return nil, fileErr(in.certPath, ErrNoCertificate, nil, "no certificate found: the file holds only a private key; is this the key file?")
		}
		return nil, fileErr(in.certPath, ErrNoCertificate, nil, "no certificate found (no -----BEGIN CERTIFICATE----- block)")
	}
	chain, err := parseCertBlocks(in.certPath, certBlocks)
	if err != nil {
		return nil, err
	}

	keyPath, keyBlocks, keyFileHasCerts := in.certPath, keysInCert, false
	if in.keyPath != "" {
		keyPath = in.keyPath
		kb, err := decodePEM(keyPath, in.keyData)
		if err != nil {
			return nil, err
		}
		var certsInKey []pemBlock
		if certsInKey, keyBlocks, err = splitBlocks(keyPath, kb); err != nil {
			return nil, err
		}
		keyFileHasCerts = len(certsInKey) > 0
	}
	key, err := pickKey(keyPath, keyBlocks, in.keyPath == "", keyFileHasCerts, in.pw)
	if err != nil {
		return nil, err
	}
	if !keyMatches(chain[0], key) {
		return nil, mismatchErr(in, chain, key)
	}
	return newTLSCertificate(chain, key), nil
}

// splitBlocks sorts blocks by classifyBlock: certificates and private keys
// are returned, public non-certificate blocks are dropped, and unsupported
// or unknown types are errors.
func splitBlocks(path string, blocks []pemBlock) (certs, keys []pemBlock, err error) {
	for _, b := range blocks {
		kind, hint := classifyBlock(b.Type)
		switch kind {
		case blockCert:
			certs = append(certs, b)
		case blockKey:
			keys = append(keys, b)
		case blockPublic:
		case blockUnsupported:
			return nil, nil, fileErr(path, ErrUnsupported, nil, "line %d: %s", b.line, hint)
		default:
			return nil, nil, fileErr(path, ErrUnsupported, nil, "line %d: unknown PEM block type %s", b.line, quoteType(b.Type))
		}
	}
	return certs, keys, nil
}

func parseCertBlocks(path string, blocks []pemBlock) ([]*x509.Certificate, error) {
	certs := make([]*x509.Certificate, 0, len(blocks))
	for _, b := range blocks {
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fileErr(path, ErrMalformed, err, "cannot parse the certificate at line %d", b.line)
		}
		certs = append(certs, c)
	}
	return certs, nil
}

// pickKey parses the single private key of a key file. combined says the key
// file is the certificate file.
func pickKey(path string, keys []pemBlock, combined, hasCerts bool, pw password) (crypto.Signer, error) {
	switch {
	case len(keys) == 1:
		return parseKeyBlock(path, keys[0], pw)
	case len(keys) > 1:
		lines := make([]string, len(keys))
		for i, k := range keys {
			lines[i] = strconv.Itoa(k.line)
		}
		return nil, fileErr(path, ErrMalformed, nil, "file holds %d private keys (at lines %s); expected one", len(keys), strings.Join(lines, ", "))
	case combined:
		return nil, fileErr(path, ErrNoPrivateKey, nil, "no private key found: no key file is configured and this file holds none")
	case hasCerts:
		return nil, fileErr(path, ErrNoPrivateKey, nil, "no private key found: the file holds only certificates; is this the certificate file?")
	default:
		return nil, fileErr(path, ErrNoPrivateKey, nil, "no private key found (no -----BEGIN ... PRIVATE KEY----- block)")
	}
}

// mismatchErr explains a key that does not belong to the leaf, pointing at
// the certificate it does belong to when that is later in the file (a chain
// in the wrong order).
func mismatchErr(in pemKeyPairInput, chain []*x509.Certificate, key crypto.Signer) error {
	what := "private key " + in.keyPath
	if in.keyPath == "" {
		what = "the private key in the same file"
	}
	for i, c := range chain[1:] {
		if keyMatches(c, key) {
			return fileErr(in.certPath, ErrKeyMismatch, nil,
				"certificate does not match %s; the key matches certificate %d (%s): put the leaf certificate first",
				what, i+2, describeCert(c))
		}
	}
	return fileErr(in.certPath, ErrKeyMismatch, nil, "certificate does not match %s", what)
}

// describeCert names a certificate in messages: its subject, quoted so that
// control bytes in a name cannot forge log lines.
func describeCert(c *x509.Certificate) string {
	return fmt.Sprintf("subject %s", strconv.Quote(c.Subject.String()))
}
