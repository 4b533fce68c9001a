package ca

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"

	"github.com/mtlsgate/mtlsgate/internal/store"
)

// IssueRequest describes a certificate to issue. The profile decides key
// usage, extended key usage, basic constraints (never a CA) and the longest
// lifetime; the request only names the subject, the SANs and a TTL.
type IssueRequest struct {
	Profile string
	CN      string
	O, OU   []string
	SANs    Names
	// TTL is the lifetime; 0 means the profile's default. A TTL beyond the
	// profile's maximum is an error, not silently shortened.
	TTL time.Duration
	// PublicKey certifies an existing key (a CSR's); nil generates a key of
	// KeyType, returned in Issued.Key.
	PublicKey crypto.PublicKey
	KeyType   KeyType
	// Action and Detail go to the audit log (default action "issue").
	Action string
	Detail string
}

// Issued is a new certificate.
type Issued struct {
	Cert  *x509.Certificate
	Key   crypto.Signer       // nil when the request carried a public key
	Chain []*x509.Certificate // leaf, intermediate
}

// Issue checks r against its profile, signs it with the issuing CA and
// stores it. The certificate is durable in the store when Issue returns.
func (a *Authority) Issue(ctx context.Context, r IssueRequest) (*Issued, error) {
	if err := a.checkIssuerUsable(); err != nil {
		return nil, err
	}
	p, err := a.Profile(r.Profile)
	if err != nil {
		return nil, err
	}
	if err := a.checkRequest(p, &r); err != nil {
		return nil, err // classified by checkRequest
	}
	var key crypto.Signer
	pub := r.PublicKey
	if pub == nil {
		if key, err = GenerateKey(r.KeyType); err != nil {
			return nil, err
		}
		pub = key.Public()
	}
	if err := checkPublicKey(pub); err != nil {
		return nil, classify(ErrNotPermitted, err)
	}
	now := a.now()
	tmpl, err := a.template(p, &r, pub, now)
	if err != nil {
		return nil, err
	}
	cert, err := a.signAndStore(ctx, tmpl, pub, p.Name, key, r)
	if err != nil {
		return nil, err
	}
	return &Issued{Cert: cert, Key: key, Chain: []*x509.Certificate{cert, a.inter}}, nil
}

// checkIssuerUsable refuses to sign with an issuing CA that root.crl has
// revoked: its key may be compromised, and clients refuse what it signs.
func (a *Authority) checkIssuerUsable() error {
	a.syncRootCRL()
	if r := a.interRevoked.Load(); r != nil {
		return classify(ErrIssuerRevoked, fmt.Errorf("the issuing CA (serial %s) was revoked by the root at %s (%s): it must not sign anything more; set up a new CA",
			r.Serial, r.RevokedAt.UTC().Format(time.RFC3339), ReasonName(r.Reason)))
	}
	return nil
}

func (a *Authority) checkRequest(p *Profile, r *IssueRequest) error {
	if r.CN == "" && r.SANs.empty() {
		return classify(ErrInvalidRequest, errors.New("a certificate needs a common name (--cn) or at least one SAN"))
	}
	if len(r.CN) > 64 {
		return classify(ErrInvalidRequest, fmt.Errorf("common name is %d characters; X.509 allows at most 64", len(r.CN)))
	}
	if err := r.SANs.check(); err != nil {
		return classify(ErrInvalidRequest, err)
	}
	if err := allowedValues(p.Name, "O", r.O, p.SubjectO); err != nil {
		return classify(ErrNotPermitted, err)
	}
	if err := allowedValues(p.Name, "OU", r.OU, p.SubjectOU); err != nil {
		return classify(ErrNotPermitted, err)
	}
	for _, k := range r.SANs.kinds() {
		if !p.allows(k) {
			return classify(ErrNotPermitted, fmt.Errorf("profile %s does not allow %s SANs (allowed: %s)", p.Name, k, joinKinds(p.SANs)))
		}
	}
	if p.RequireSAN && len(r.SANs.DNS) == 0 && len(r.SANs.IPs) == 0 {
		return classify(ErrNotPermitted, fmt.Errorf("profile %s needs at least one dns: or ip: SAN (TLS clients match servers by SAN, not CN)", p.Name))
	}
	if r.TTL < 0 {
		return classify(ErrInvalidRequest, errors.New("negative TTL"))
	}
	if r.TTL == 0 {
		r.TTL = p.DefaultTTL
	}
	if r.TTL > p.MaxTTL {
		return classify(ErrNotPermitted, fmt.Errorf("TTL %s is beyond profile %s's maximum of %s", r.TTL, p.Name, p.MaxTTL))
	}
	return nil
}

// allowedValues checks subject values against a profile's allow-list.
func allowedValues(profile, attr string, got, allowed []string) error {
	if len(allowed) == 0 {
		return nil
	}
	for _, v := range got {
		if !slices.Contains(allowed, v) {
			return fmt.Errorf("profile %s does not allow %s=%q (allowed: %s)", profile, attr, v, strings.Join(allowed, ", "))
		}
	}
	return nil
}

func joinKinds(k []SANKind) string {
	if len(k) == 0 {
		return "none"
	}
	s := make([]string, len(k))
	for i, v := range k {
		s[i] = string(v)
	}
	return strings.Join(s, ", ")
}

// clockSkew backdates NotBefore so clients with slightly slow clocks accept
// a certificate issued a moment ago.
const clockSkew = time.Minute

// backdate is how far NotBefore is set before now: clockSkew, but at most a
// tenth of a short lifetime, so a certificate's 2/3-of-lifetime renewal
// point stays in its future.
func backdate(ttl time.Duration) time.Duration { return min(clockSkew, ttl/10) }

func (a *Authority) template(p *Profile, r *IssueRequest, pub crypto.PublicKey, now time.Time) (*x509.Certificate, error) {
	notAfter := now.Add(r.TTL).UTC().Truncate(time.Second)
	if notAfter.After(a.inter.NotAfter) {
		return nil, classify(ErrNotPermitted, fmt.Errorf("TTL %s would outlive the issuing CA (valid until %s)", r.TTL, a.inter.NotAfter.UTC().Format(time.RFC3339)))
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	skid, err := subjectKeyID(pub)
	if err != nil {
		return nil, err
	}
	usage := x509.KeyUsageDigitalSignature
	if _, isRSA := pub.(*rsa.PublicKey); isRSA && p.serverAuth() {
		usage |= x509.KeyUsageKeyEncipherment // TLS 1.2 RSA key exchange
	}
	t := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: r.CN, Organization: r.O, OrganizationalUnit: r.OU},
		NotBefore:             now.Add(-backdate(r.TTL)).UTC().Truncate(time.Second),
		NotAfter:              notAfter,
		KeyUsage:              usage,
		ExtKeyUsage:           p.ExtKeyUsage,
		BasicConstraintsValid: true,
		SubjectKeyId:          skid,
		DNSNames:              r.SANs.DNS,
		IPAddresses:           r.SANs.IPs,
		EmailAddresses:        r.SANs.Emails,
		URIs:                  r.SANs.URIs,
	}
	if a.settings.crlURL != "" {
		t.CRLDistributionPoints = []string{a.settings.crlURL}
		t.OCSPServer = []string{a.settings.ocspURL}
		t.IssuingCertificateURL = []string{a.settings.issuerURL}
	}
	return t, nil
}

// signAndStore signs t and records it; a serial collision (2^-150 odds)
// is retried once with a fresh serial.
func (a *Authority) signAndStore(ctx context.Context, t *x509.Certificate, pub crypto.PublicKey, profile string, key crypto.Signer, r IssueRequest) (*x509.Certificate, error) {
	action := r.Action
	if action == "" {
		action = "issue"
	}
	for attempt := 0; ; attempt++ {
		var der []byte
		var err error
		if len(t.ExtraExtensions) == 0 {
			der, err = encodeLeaf(t, pub, a.inter, a.interKey)
		} else {
			der, err = x509.CreateCertificate(rand.Reader, t, a.inter, pub, a.interKey)
		}
		if err != nil {
			return nil, fmt.Errorf("signing certificate: %w", err)
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("signing certificate: %w", err)
		}
		if err := a.checkConstraints(cert); err != nil {
			return nil, err
		}
		rec := store.Certificate{
			Serial: store.SerialHex(cert.SerialNumber), Subject: cert.Subject.String(), CN: cert.Subject.CommonName,
			Profile: profile, NotBefore: cert.NotBefore, NotAfter: cert.NotAfter, DER: der, IssuedAt: a.now().UTC(),
		}
		if key != nil && a.settings.KeepKeys {
			if rec.KeyPEM, err = MarshalKeyPEM(key, nil); err != nil {
				return nil, err
			}
		}
		detail := fmt.Sprintf("profile=%s subject=%q not_after=%s", profile, rec.Subject, cert.NotAfter.Format(time.RFC3339))
		if r.Detail != "" {
			detail += " " + r.Detail
		}
		err = a.st.PutCertificate(ctx, rec, a.audit(action, rec.Serial, detail))
		if errors.Is(err, store.ErrExists) && attempt == 0 {
			if t.SerialNumber, err = newSerial(); err != nil {
				return nil, err
			}
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("storing certificate %s: %w", rec.Serial, err)
		}
		return cert, nil
	}
}

// checkConstraints verifies the new certificate up to the root when the
// issuing CA has name constraints: crypto/x509 does not apply them while
// signing, and a CA must not issue what its own chain forbids.
func (a *Authority) checkConstraints(cert *x509.Certificate) error {
	in := a.inter
	if len(in.PermittedDNSDomains)+len(in.ExcludedDNSDomains)+len(in.PermittedIPRanges)+len(in.ExcludedIPRanges)+
		len(in.PermittedEmailAddresses)+len(in.ExcludedEmailAddresses)+len(in.PermittedURIDomains)+len(in.ExcludedURIDomains) == 0 {
		return nil
	}
	roots := x509.NewCertPool()
	roots.AddCert(a.root)
	inters := x509.NewCertPool()
	inters.AddCert(in)
	_, err := cert.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inters, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}, CurrentTime: a.now()})
	if err != nil {
		return classify(ErrNotPermitted, fmt.Errorf("the issuing CA's name constraints forbid this certificate: %w", err))
	}
	return nil
}

// newSerial returns 20 random octets as a positive integer whose DER
// encoding is exactly 20 octets (RFC 5280 §4.1.2.2 maximum; CA/B Forum asks
// for at least 64 random bits).
func newSerial() (*big.Int, error) {
	var b [20]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, err
	}
	b[0] &= 0x7f
	if b[0] == 0 {
		b[0] = 1
	}
	return new(big.Int).SetBytes(b[:]), nil
}
