package identity

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"strings"
	"time"
)

// Identity is what the gateway knows about a client after its certificate
// chain was verified. It is built once per connection (see FromChain) and is
// read-only afterwards, so it is safe for concurrent use by every request
// multiplexed on that connection.
type Identity struct {
	// Subject is the leaf subject in RFC 4514 form ("CN=alice,OU=payments,O=Acme").
	Subject            string
	CommonName         string
	Organization       []string
	OrganizationalUnit []string

	DNSNames []string
	URIs     []string
	Emails   []string
	IPs      []string
	// SPIFFEID is the single spiffe:// URI SAN when the certificate carries
	// exactly one, else empty (a SPIFFE SVID has exactly one URI SAN).
	SPIFFEID string

	// SerialHex is the serial in lowercase hex without separators.
	SerialHex string
	// FingerprintSHA256 is the lowercase hex SHA-256 of the leaf DER.
	FingerprintSHA256 string
	Fingerprint       [sha256.Size]byte

	Issuer   string // RFC 4514 form
	IssuerCN string

	NotBefore time.Time
	NotAfter  time.Time

	// Leaf is the client certificate; Chain is the verified chain from the
	// leaf (index 0) up to and including the trust anchor.
	Leaf  *x509.Certificate
	Chain []*x509.Certificate

	sans []string
	enc  encodings
}

// FromChain builds the identity of a verified chain (leaf first). It returns
// nil for an empty chain. It never fails: every field is read from an already
// parsed and verified certificate.
func FromChain(chain []*x509.Certificate) *Identity {
	if len(chain) == 0 || chain[0] == nil {
		return nil
	}
	leaf := chain[0]
	id := &Identity{
		Subject:            leaf.Subject.String(),
		CommonName:         leaf.Subject.CommonName,
		Organization:       leaf.Subject.Organization,
		OrganizationalUnit: leaf.Subject.OrganizationalUnit,
		DNSNames:           leaf.DNSNames,
		Emails:             leaf.EmailAddresses,
		Issuer:             leaf.Issuer.String(),
		IssuerCN:           leaf.Issuer.CommonName,
		NotBefore:          leaf.NotBefore,
		NotAfter:           leaf.NotAfter,
		Leaf:               leaf,
		Chain:              chain,
		Fingerprint:        sha256.Sum256(leaf.Raw),
	}
	id.FingerprintSHA256 = hex.EncodeToString(id.Fingerprint[:])
	if leaf.SerialNumber != nil {
		id.SerialHex = leaf.SerialNumber.Text(16)
	}
	for _, u := range leaf.URIs {
		id.URIs = append(id.URIs, u.String())
	}
	if len(leaf.URIs) == 1 && strings.EqualFold(leaf.URIs[0].Scheme, "spiffe") {
		id.SPIFFEID = leaf.URIs[0].String()
	}
	for _, ip := range leaf.IPAddresses {
		id.IPs = append(id.IPs, ip.String())
	}
	id.sans = id.buildSANs()
	return id
}

// SANs returns every subject alternative name with its kind prefix
// ("DNS:", "URI:", "email:", "IP:"), in that order, for logs and errors.
// The slice is computed once per identity and shared: do not modify it.
func (id *Identity) SANs() []string {
	if id == nil {
		return nil
	}
	if id.sans == nil {
		return id.buildSANs() // an Identity not made by FromChain
	}
	return id.sans
}

func (id *Identity) buildSANs() []string {
	out := make([]string, 0, len(id.DNSNames)+len(id.URIs)+len(id.Emails)+len(id.IPs))
	for _, v := range id.DNSNames {
		out = append(out, "DNS:"+v)
	}
	for _, v := range id.URIs {
		out = append(out, "URI:"+v)
	}
	for _, v := range id.Emails {
		out = append(out, "email:"+v)
	}
	for _, v := range id.IPs {
		out = append(out, "IP:"+v)
	}
	return out
}
