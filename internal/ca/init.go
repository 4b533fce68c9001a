package ca

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/mtlsgate/mtlsgate/internal/store"
)

// InitOptions configure a new CA.
type InitOptions struct {
	Name    string // default "mtlsgate CA"
	KeyType KeyType
	// RootPassword encrypts root.key (PKCS#8, AES-256-CBC, PBKDF2). The root
	// key is only needed to sign intermediates, so it can stay encrypted.
	RootPassword []byte
	// PublishURL is written to ca.yaml (see Settings.PublishURL).
	PublishURL string
	// PermittedDNS, when set, puts DNS name constraints on the intermediate.
	PermittedDNS []string
	RootTTL      time.Duration // default 10 years
	InterTTL     time.Duration // default 5 years
	Actor        string
	Now          func() time.Time
}

// Result of Init.
type InitResult struct {
	Root, Intermediate *x509.Certificate
	Files              []string
}

// Init creates a root and an intermediate CA in dir, the settings file and
// the store. It refuses to touch a directory that already holds any of
// those files, and removes what it wrote when a step fails.
func Init(dir string, o InitOptions) (res *InitResult, err error) {
	if o.Name == "" {
		o.Name = "mtlsgate CA"
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.RootTTL == 0 {
		o.RootTTL = 10 * 365 * day
	}
	if o.InterTTL == 0 {
		o.InterTTL = 5 * 365 * day
	}
	if o.InterTTL > o.RootTTL {
		return nil, errors.New("intermediate lifetime is longer than the root's")
	}
	settings := Settings{Name: o.Name, PublishURL: o.PublishURL}
	compiled, err := settings.compile()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating CA directory: %w", err)
	}
	for _, f := range []string{RootCertFile, RootKeyFile, IntermediateCertFile, IntermediateKeyFile, SettingsFile, StoreFile, RootCRLFile} {
		if _, err := os.Lstat(filepath.Join(dir, f)); err == nil {
			return nil, fmt.Errorf("%s already holds a CA (%s exists); refusing to overwrite it", dir, f)
		}
	}
	res = &InitResult{}
	defer func() {
		if err != nil {
			for _, f := range res.Files {
				os.Remove(f)
			}
			res = nil
		}
	}()
	write := func(name string, data []byte, perm os.FileMode) error {
		path := filepath.Join(dir, name)
		if err := WriteNewFile(path, data, perm); err != nil {
			return err
		}
		res.Files = append(res.Files, path)
		return nil
	}
	now := o.Now().UTC().Truncate(time.Second)
	rootKey, err := GenerateKey(o.KeyType)
	if err != nil {
		return res, err
	}
	subject := func(cn string) pkix.Name { return pkix.Name{CommonName: cn, Organization: []string{o.Name}} }
	rootTmpl := &x509.Certificate{
		Subject:   subject(o.Name + " Root"),
		NotBefore: now.Add(-clockSkew), NotAfter: now.Add(o.RootTTL),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true, IsCA: true, MaxPathLen: -1, // no pathLen on roots (RFC 5280 §4.2.1.9 allows it; BR asks it)
	}
	root, err := signCA(rootTmpl, rootTmpl, rootKey.Public(), rootKey)
	if err != nil {
		return res, err
	}
	interKey, err := GenerateKey(o.KeyType)
	if err != nil {
		return res, err
	}
	interTmpl := &x509.Certificate{
		Subject:   subject(o.Name + " Issuing CA"),
		NotBefore: now.Add(-clockSkew), NotAfter: now.Add(o.InterTTL),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true, IsCA: true, MaxPathLenZero: true,
		PermittedDNSDomains:         o.PermittedDNS,
		PermittedDNSDomainsCritical: len(o.PermittedDNS) > 0,
	}
	if compiled.rootURL != "" {
		interTmpl.IssuingCertificateURL = []string{compiled.rootURL}
		interTmpl.CRLDistributionPoints = []string{compiled.rootCRLURL}
	}
	inter, err := signCA(interTmpl, root, interKey.Public(), rootKey)
	if err != nil {
		return res, err
	}
	rootKeyPEM, err := MarshalKeyPEM(rootKey, o.RootPassword)
	if err != nil {
		return res, err
	}
	interKeyPEM, err := MarshalKeyPEM(interKey, nil)
	if err != nil {
		return res, err
	}
	settingsYAML, err := marshalSettings(settings)
	if err != nil {
		return res, err
	}
	// The first root CRL (empty) is signed now, while the root key is at
	// hand: the issuing CA's CRL distribution point names it.
	rootCRL, err := signRootCRL(root, rootKey, 1, now, now.Add(defaultRootCRLValidity), nil)
	if err != nil {
		return res, err
	}
	for _, f := range []struct {
		name string
		data []byte
		perm os.FileMode
	}{
		{RootKeyFile, rootKeyPEM, 0o600},
		{IntermediateKeyFile, interKeyPEM, 0o600},
		{RootCertFile, CertPEM(root), 0o644},
		{IntermediateCertFile, CertPEM(inter), 0o644},
		{SettingsFile, settingsYAML, 0o644},
		{RootCRLFile, rootCRL, 0o644},
	} {
		if err := write(f.name, f.data, f.perm); err != nil {
			return res, err
		}
	}
	dbPath := filepath.Join(dir, StoreFile)
	st, err := store.OpenSQLite(dbPath)
	if err != nil {
		return res, err
	}
	res.Files = append(res.Files, dbPath, dbPath+"-wal", dbPath+"-shm")
	actor := o.Actor
	if actor == "" {
		actor = DefaultActor("cli")
	}
	err = st.AppendAudit(context.Background(), store.Audit{
		Time: o.Now().UTC(), Actor: actor, Action: "init",
		Serial: store.SerialHex(inter.SerialNumber),
		Detail: fmt.Sprintf("root=%s key_type=%s root_key_encrypted=%t", store.SerialHex(root.SerialNumber), keyTypeName(o.KeyType), len(o.RootPassword) > 0),
	})
	if cerr := st.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return res, err
	}
	res.Root, res.Intermediate = root, inter
	return res, nil
}

func keyTypeName(t KeyType) string {
	if t == "" {
		return string(ECDSAP256)
	}
	return string(t)
}

func signCA(tmpl, parent *x509.Certificate, pub crypto.PublicKey, key crypto.Signer) (*x509.Certificate, error) {
	var err error
	if tmpl.SerialNumber, err = newSerial(); err != nil {
		return nil, err
	}
	if tmpl.SubjectKeyId, err = subjectKeyID(pub); err != nil {
		return nil, err
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, key)
	if err != nil {
		return nil, fmt.Errorf("signing %s: %w", tmpl.Subject.CommonName, err)
	}
	return x509.ParseCertificate(der)
}
