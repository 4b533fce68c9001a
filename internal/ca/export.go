package ca

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	keystore "github.com/pavlo-v-chernykh/keystore-go/v4"
	"software.sslmate.com/src/go-pkcs12"
)

// MinKeystorePassword is keytool's minimum store password length.
const MinKeystorePassword = 6

// CheckKeystorePassword says whether keytool would accept pw.
func CheckKeystorePassword(pw []byte) error { return checkKeystorePassword(pw) }

func checkKeystorePassword(pw []byte) error {
	if len(pw) < MinKeystorePassword {
		return fmt.Errorf("keystore password must be at least %d characters (keytool refuses shorter ones)", MinKeystorePassword)
	}
	return nil
}

// EncodePKCS12 builds a PKCS#12 file with key and chain (leaf first). With
// legacy, certificates are encrypted with RC2-40 and the key with 3DES, which
// old Java (before 8u301) and Windows need; otherwise AES-256 and PBKDF2
// (what OpenSSL 3 and current Java write). With a nil key it is a trust
// store holding the chain.
func EncodePKCS12(key crypto.Signer, chain []*x509.Certificate, password []byte, legacy bool) ([]byte, error) {
	if err := checkKeystorePassword(password); err != nil {
		return nil, err
	}
	if len(chain) == 0 {
		return nil, errors.New("PKCS#12: no certificate")
	}
	enc := pkcs12.Modern
	if legacy {
		enc = pkcs12.LegacyRC2
	}
	if key == nil {
		return enc.EncodeTrustStore(chain, string(password))
	}
	return enc.Encode(key, chain[0], chain[1:], string(password))
}

// EncodeJKS builds a Java KeyStore with a private-key entry under alias
// (key and chain), or, with a nil key, trusted-certificate entries for the
// chain.
func EncodeJKS(key crypto.Signer, chain []*x509.Certificate, alias string, password []byte) ([]byte, error) {
	if err := checkKeystorePassword(password); err != nil {
		return nil, err
	}
	if len(chain) == 0 {
		return nil, errors.New("JKS: no certificate")
	}
	ks := keystore.New(keystore.WithOrderedAliases(), keystore.WithCustomRandomNumberGenerator(rand.Reader))
	now := time.Now()
	if key != nil {
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return nil, err
		}
		entry := keystore.PrivateKeyEntry{CreationTime: now, PrivateKey: der}
		for _, c := range chain {
			entry.CertificateChain = append(entry.CertificateChain, keystore.Certificate{Type: "X509", Content: c.Raw})
		}
		if err := ks.SetPrivateKeyEntry(alias, entry, password); err != nil {
			return nil, fmt.Errorf("JKS: %w", err)
		}
	} else {
		for i, c := range chain {
			name := alias
			if i > 0 {
				name = fmt.Sprintf("%s-ca%d", alias, i)
			}
			e := keystore.TrustedCertificateEntry{CreationTime: now, Certificate: keystore.Certificate{Type: "X509", Content: c.Raw}}
			if err := ks.SetTrustedCertificateEntry(name, e); err != nil {
				return nil, fmt.Errorf("JKS: %w", err)
			}
		}
	}
	var buf bytes.Buffer
	if err := ks.Store(&buf, password); err != nil {
		return nil, fmt.Errorf("JKS: %w", err)
	}
	return buf.Bytes(), nil
}
