package ca

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"time"

	"github.com/mtlsgate/mtlsgate/internal/certload"
	"github.com/mtlsgate/mtlsgate/internal/store"
)

// RootCRLFile is the root-signed CRL in the CA directory: it lists the
// issuing CA when that has been revoked. serve publishes it at
// /ca/root.crl, the issuing CA's CRL distribution point.
const RootCRLFile = "root.crl"

// defaultRootCRLValidity suits an offline root: re-sign it (mtlsgate ca
// root-crl) well before a year has passed.
const defaultRootCRLValidity = 365 * day

// RootCRLOptions configure SignRootCRL.
type RootCRLOptions struct {
	// PasswordFile holds the root key's password ("" when not encrypted).
	PasswordFile string
	// RevokeIntermediate lists the issuing CA as revoked with Reason.
	RevokeIntermediate bool
	Reason             int
	Validity           time.Duration // default 365 days
}

// loadRootKey decrypts root.key. A wrong password is an error that says so.
func loadRootKey(dir, passwordFile string) (crypto.Signer, error) {
	kp, err := certload.LoadKeyPair(certload.KeyPairSpec{
		Cert: filepath.Join(dir, RootCertFile), Key: filepath.Join(dir, RootKeyFile), PasswordFile: passwordFile,
	})
	if err != nil {
		return nil, err
	}
	s, ok := kp.PrivateKey.(crypto.Signer)
	if !ok {
		return nil, errors.New("root key cannot sign")
	}
	return s, nil
}

// SignRootCRL signs root.crl with the root key: empty, or listing the
// issuing CA as revoked. Its number is one more than the current file's.
// A revocation of the issuing CA, once signed, stays listed in later root
// CRLs.
func (a *Authority) SignRootCRL(o RootCRLOptions) (*x509.RevocationList, error) {
	key, err := loadRootKey(a.dir, o.PasswordFile)
	if err != nil {
		return nil, err
	}
	if o.Validity == 0 {
		o.Validity = defaultRootCRLValidity
	}
	number := int64(1)
	var entries []crlEntry
	if prev, err := a.readRootCRL(); err == nil {
		number = prev.Number.Int64() + 1
		for _, e := range prev.RevokedCertificateEntries {
			entries = append(entries, crlEntry{serial: e.SerialNumber.Bytes(), at: e.RevocationTime, reason: e.ReasonCode})
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	now := a.now().UTC().Truncate(time.Second)
	if o.RevokeIntermediate && !listed(entries, a.inter.SerialNumber) {
		entries = append(entries, crlEntry{serial: a.inter.SerialNumber.Bytes(), at: now, reason: o.Reason})
	}
	der, err := signRootCRL(a.root, key, number, now, now.Add(o.Validity), entries)
	if err != nil {
		return nil, err
	}
	if err := WriteFileAtomic(filepath.Join(a.dir, RootCRLFile), der, 0o644); err != nil {
		return nil, err
	}
	detail := fmt.Sprintf("root CRL #%d, entries=%d", number, len(entries))
	serial := ""
	if o.RevokeIntermediate {
		serial = store.SerialHex(a.inter.SerialNumber)
		detail += ", issuing CA revoked (" + ReasonName(o.Reason) + ")"
	}
	if err := a.st.AppendAudit(context.Background(), a.audit("root-crl", serial, detail)); err != nil {
		return nil, err
	}
	return x509.ParseRevocationList(der)
}

func signRootCRL(root *x509.Certificate, key crypto.Signer, number int64, this, next time.Time, entries []crlEntry) ([]byte, error) {
	enc := crlEncoder{issuerRaw: root.RawSubject, akid: root.SubjectKeyId, key: key}
	return enc.encode(number, this, next, entries)
}

func listed(entries []crlEntry, serial *big.Int) bool {
	for _, e := range entries {
		if new(big.Int).SetBytes(e.serial).Cmp(serial) == 0 {
			return true
		}
	}
	return false
}

// readRootCRL reads and verifies root.crl (DER or PEM) against the root.
func (a *Authority) readRootCRL() (*x509.RevocationList, error) {
	data, err := os.ReadFile(filepath.Join(a.dir, RootCRLFile))
	if err != nil {
		return nil, err
	}
	if b, _ := pem.Decode(data); b != nil && b.Type == "X509 CRL" {
		data = b.Bytes
	}
	crl, err := x509.ParseRevocationList(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", RootCRLFile, err)
	}
	if err := crl.CheckSignatureFrom(a.root); err != nil {
		return nil, fmt.Errorf("%s is not signed by the root: %w", RootCRLFile, err)
	}
	if !bytes.Equal(crl.RawIssuer, a.root.RawSubject) {
		return nil, fmt.Errorf("%s is not issued by the root", RootCRLFile)
	}
	return crl, nil
}

// RootCRL returns root.crl's DER when the CA has one that verifies.
func (a *Authority) RootCRL() ([]byte, bool) {
	crl, err := a.readRootCRL()
	if err != nil {
		return nil, false
	}
	return crl.Raw, true
}

// checkIntermediateRevoked reports whether root.crl revokes the issuing CA.
func (a *Authority) checkIntermediateRevoked() (time.Time, int, bool) {
	crl, err := a.readRootCRL()
	if err != nil {
		return time.Time{}, 0, false
	}
	for _, e := range crl.RevokedCertificateEntries {
		if e.SerialNumber.Cmp(a.inter.SerialNumber) == 0 {
			return e.RevocationTime, e.ReasonCode, true
		}
	}
	return time.Time{}, 0, false
}
