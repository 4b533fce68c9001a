package diagnose

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/mtlsgate/mtlsgate/internal/certload"
)

// maxCertFile bounds the certificate file read: a chain is a few KiB.
const maxCertFile = 8 << 20

// LoadCertFile reads the client certificate to diagnose and the certificates
// sent with it: a PEM file (the leaf, then intermediates; private key blocks
// are skipped and never kept), a DER certificate, or a .p12/.pfx/.jks
// keystore (then passwordFile names the file holding its password). The
// leaf comes first in the result.
func LoadCertFile(path, passwordFile string) ([]*x509.Certificate, error) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".p12", ".pfx", ".jks":
		return loadKeystoreChain(path, passwordFile)
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.Size() > maxCertFile {
		return nil, fmt.Errorf("%s: %d bytes is too large for a certificate file", path, st.Size())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var certs []*x509.Certificate
	if bytes.Contains(data, []byte("-----BEGIN")) {
		rest := data
		for {
			var b *pem.Block
			b, rest = pem.Decode(rest)
			if b == nil {
				break
			}
			if b.Type != "CERTIFICATE" {
				continue // keys, CRLs, parameters: not what is diagnosed
			}
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				return nil, fmt.Errorf("%s: certificate %d: %w", path, len(certs)+1, err)
			}
			certs = append(certs, c)
		}
	} else if cs, err := x509.ParseCertificates(data); err == nil {
		certs = cs
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("%s: no certificate found (want PEM, DER, .p12/.pfx or .jks)", path)
	}
	return leafFirst(certs), nil
}

func loadKeystoreChain(path, passwordFile string) ([]*x509.Certificate, error) {
	kp, err := certload.LoadKeyPair(certload.KeyPairSpec{Cert: path, PasswordFile: passwordFile})
	if err == nil {
		var certs []*x509.Certificate
		for _, der := range kp.Certificate {
			c, err := x509.ParseCertificate(der)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
			certs = append(certs, c)
		}
		return certs, nil
	}
	switch {
	case errors.Is(err, certload.ErrNoPassword):
		return nil, fmt.Errorf("%w (give the keystore password with --password-file)", err)
	case errors.Is(err, certload.ErrNoPrivateKey), errors.Is(err, certload.ErrAlias):
		// A keystore of trusted certificate entries only.
		if b, terr := certload.LoadTrustBundle(certload.TrustSpec{File: path, PasswordFile: passwordFile}); terr == nil {
			return leafFirst(b.Certs), nil
		}
	}
	return nil, err
}

// leafFirst moves the first certificate that is not a CA to the front,
// for files that list the intermediates first.
func leafFirst(certs []*x509.Certificate) []*x509.Certificate {
	if !certs[0].IsCA {
		return certs
	}
	for i, c := range certs {
		if !c.IsCA {
			out := append([]*x509.Certificate{c}, certs[:i]...)
			return append(out, certs[i+1:]...)
		}
	}
	return certs
}
