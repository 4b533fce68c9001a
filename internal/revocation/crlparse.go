package revocation

import (
	"bytes"
	"crypto/sha256"
	encasn1 "encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// parsedCRL is a CRL reduced to what Check needs. The revoked entries live
// in a serialIndex keyed by the canonical serial octets, with no pointers
// for the collector to scan, and every value packs the revocation time and
// reason into an int64. For a million entries this is about 41 MiB,
// against several hundred MiB for an x509.RevocationList.
//
// The signature is not checked here: the issuer may not be known yet. The
// digest of the TBSCertList is kept instead of the TBSCertList itself, so a
// signature can be checked later without keeping the CRL's bytes (Ed25519
// signs the message itself, so for Ed25519 the TBSCertList is kept).
type parsedCRL struct {
	issuer     string // RawIssuer (DER Name)
	akid       []byte // authority key identifier, nil if absent
	number     *big.Int
	thisUpdate int64 // Unix seconds
	nextUpdate int64 // Unix seconds, valid when hasNext
	hasNext    bool
	alg        sigAlg
	digest     []byte
	tbs        []byte // Ed25519 only
	sig        []byte
	entries    serialIndex
	count      int
	// Scope from an IssuingDistributionPoint extension.
	idpPresent bool     // a distributionPoint name is present
	idpURIs    []string // its URIs
	onlyUser   bool
	onlyCA     bool
	sum        [sha256.Size]byte // of the DER, to notice an unchanged CRL
}

// packEntry packs a revocation time (Unix seconds) and an RFC 5280 reason
// code into a map value.
func packEntry(at int64, reason int) int64 { return at<<4 | int64(reason&0xf) }

func unpackEntry(v int64) (at int64, reason int) { return v >> 4, int(v & 0xf) }

// maxReason is the largest RFC 5280 CRLReason (aACompromise).
const maxReason = 10

// reasonRemoveFromCRL only appears in delta CRLs; an entry carrying it in a
// full CRL is not a revocation.
const reasonRemoveFromCRL = 8

// decodeCRL accepts a DER CRL or a PEM "X509 CRL" block and returns the DER.
func decodeCRL(data []byte) ([]byte, error) {
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if bytes.HasPrefix(trimmed, []byte("-----BEGIN")) {
		block, _ := pem.Decode(trimmed)
		if block == nil {
			return nil, errors.New("PEM data without a complete block")
		}
		if block.Type != "X509 CRL" {
			return nil, fmt.Errorf("PEM block is %q, not \"X509 CRL\"", block.Type)
		}
		return block.Bytes, nil
	}
	if len(trimmed) > 0 && trimmed[0] == '<' {
		return nil, errors.New("not a CRL: the data looks like HTML or XML")
	}
	if len(data) == 0 {
		return nil, errors.New("empty CRL")
	}
	return data, nil
}

// parseCRL parses a DER CertificateList (RFC 5280 §5.1). It never panics,
// whatever the input.
func parseCRL(der []byte) (*parsedCRL, error) {
	p := &parsedCRL{sum: sha256.Sum256(der)}
	in := cryptobyte.String(der)
	var cl, tbsElem, outerAlg cryptobyte.String
	var sig encasn1.BitString
	if !in.ReadASN1(&cl, cbasn1.SEQUENCE) {
		return nil, errors.New("not a DER CRL (no outer SEQUENCE)")
	}
	if !in.Empty() {
		return nil, errors.New("trailing data after the CRL")
	}
	if !cl.ReadASN1Element(&tbsElem, cbasn1.SEQUENCE) ||
		!cl.ReadASN1Element(&outerAlg, cbasn1.SEQUENCE) ||
		!cl.ReadASN1BitString(&sig) || !cl.Empty() {
		return nil, errors.New("malformed CertificateList (truncated?)")
	}
	alg := outerAlg
	var algBody cryptobyte.String
	alg.ReadASN1(&algBody, cbasn1.SEQUENCE)
	a, err := parseSigAlg(algBody)
	if err != nil {
		return nil, err
	}
	p.alg = a
	p.sig = bytes.Clone(sig.Bytes)

	tbs := tbsElem
	var body cryptobyte.String
	tbs.ReadASN1(&body, cbasn1.SEQUENCE)
	if err := p.parseTBS(body, outerAlg); err != nil {
		return nil, err
	}
	if a.kind == sigEd25519 {
		p.tbs = bytes.Clone(tbsElem)
	} else {
		h := a.hash.New()
		h.Write(tbsElem)
		p.digest = h.Sum(nil)
	}
	return p, nil
}

func (p *parsedCRL) parseTBS(body cryptobyte.String, outerAlg []byte) error {
	v2 := false
	if body.PeekASN1Tag(cbasn1.INTEGER) {
		var ver int64
		if !body.ReadASN1Int64WithTag(&ver, cbasn1.INTEGER) || ver != 1 {
			return errors.New("unsupported CRL version")
		}
		v2 = true
	}
	var innerAlg, issuer cryptobyte.String
	if !body.ReadASN1Element(&innerAlg, cbasn1.SEQUENCE) {
		return errors.New("malformed TBSCertList signature algorithm")
	}
	if !bytes.Equal(innerAlg, outerAlg) {
		return errors.New("the signature algorithm inside the CRL differs from the one outside")
	}
	if !body.ReadASN1Element(&issuer, cbasn1.SEQUENCE) {
		return errors.New("malformed CRL issuer name")
	}
	p.issuer = string(issuer)
	var err error
	if p.thisUpdate, err = readTime(&body); err != nil {
		return fmt.Errorf("CRL thisUpdate: %w", err)
	}
	if body.PeekASN1Tag(cbasn1.UTCTime) || body.PeekASN1Tag(cbasn1.GeneralizedTime) {
		if p.nextUpdate, err = readTime(&body); err != nil {
			return fmt.Errorf("CRL nextUpdate: %w", err)
		}
		p.hasNext = true
	}
	if body.PeekASN1Tag(cbasn1.SEQUENCE) {
		var revoked cryptobyte.String
		body.ReadASN1(&revoked, cbasn1.SEQUENCE)
		if err := p.parseEntries(revoked); err != nil {
			return err
		}
	} else {
		p.entries.build()
	}
	if body.PeekASN1Tag(cbasn1.Tag(0).Constructed().ContextSpecific()) {
		if !v2 {
			return errors.New("a v1 CRL cannot carry extensions")
		}
		var wrapped, exts cryptobyte.String
		if !body.ReadASN1(&wrapped, cbasn1.Tag(0).Constructed().ContextSpecific()) ||
			!wrapped.ReadASN1(&exts, cbasn1.SEQUENCE) || !wrapped.Empty() {
			return errors.New("malformed CRL extensions")
		}
		if err := p.parseExtensions(exts); err != nil {
			return err
		}
	}
	if !body.Empty() {
		return errors.New("trailing data in TBSCertList")
	}
	return nil
}

// parseEntries reads revokedCertificates into the compact index.
func (p *parsedCRL) parseEntries(revoked cryptobyte.String) error {
	// A revoked entry is at least 2+3+15 octets and its serial at most
	// about half of it: size the arrays from the length so that they
	// rarely grow.
	x := &p.entries
	x.keys = make([]byte, 0, len(revoked)/2)
	x.ends = make([]uint32, 0, len(revoked)/32)
	x.vals = make([]int64, 0, len(revoked)/32)
	n := 0
	for !revoked.Empty() {
		n++
		var entry, serial cryptobyte.String
		if !revoked.ReadASN1(&entry, cbasn1.SEQUENCE) || !entry.ReadASN1(&serial, cbasn1.INTEGER) || len(serial) == 0 {
			return fmt.Errorf("malformed revoked certificate entry #%d", n)
		}
		at, err := readTime(&entry)
		if err != nil {
			return fmt.Errorf("revoked certificate entry #%d: revocationDate: %w", n, err)
		}
		reason := 0
		if !entry.Empty() {
			var exts cryptobyte.String
			if !entry.ReadASN1(&exts, cbasn1.SEQUENCE) || !entry.Empty() {
				return fmt.Errorf("revoked certificate entry #%d: malformed extensions", n)
			}
			if reason, err = entryReason(exts); err != nil {
				return fmt.Errorf("revoked certificate entry #%d: %w", n, err)
			}
		}
		if reason == reasonRemoveFromCRL {
			continue
		}
		if err := x.append(canonicalSerial(serial), packEntry(at, reason)); err != nil {
			return err
		}
	}
	x.build()
	p.count = x.len()
	return nil
}

// entryReason reads crlEntryExtensions and returns the reason code (0 when
// absent). Critical extensions other than the reason are refused: the
// certificateIssuer extension of indirect CRLs changes whose serials the
// entries are, and an unknown critical extension must not be ignored.
func entryReason(exts cryptobyte.String) (int, error) {
	reason := 0
	for !exts.Empty() {
		e, ok := readExtension(&exts)
		if !ok {
			return 0, errors.New("malformed entry extension")
		}
		switch {
		case bytes.Equal(e.oid, oidReasonCodeDER):
			v := cryptobyte.String(e.value)
			var r int
			if !v.ReadASN1Enum(&r) || !v.Empty() {
				return 0, errors.New("malformed reason code")
			}
			if r >= 0 && r <= maxReason {
				reason = r
			}
		case bytes.Equal(e.oid, oidCertIssuerDER):
			return 0, errors.New("indirect CRLs (certificateIssuer entry extension) are not supported")
		case bytes.Equal(e.oid, oidInvalidityDER):
		default:
			if e.critical {
				return 0, fmt.Errorf("unsupported critical entry extension (OID %x)", e.oid)
			}
		}
	}
	return reason, nil
}

func (p *parsedCRL) parseExtensions(exts cryptobyte.String) error {
	for !exts.Empty() {
		e, ok := readExtension(&exts)
		if !ok {
			return errors.New("malformed CRL extension")
		}
		v := cryptobyte.String(e.value)
		switch {
		case bytes.Equal(e.oid, oidCRLNumberDER):
			n := new(big.Int)
			if !v.ReadASN1Integer(n) || !v.Empty() || n.Sign() < 0 || n.BitLen() > 20*8 {
				return errors.New("malformed CRL number")
			}
			p.number = n
		case bytes.Equal(e.oid, oidAKIDDER):
			var seq, kid cryptobyte.String
			var present bool
			if !v.ReadASN1(&seq, cbasn1.SEQUENCE) ||
				!seq.ReadOptionalASN1(&kid, &present, cbasn1.Tag(0).ContextSpecific()) {
				return errors.New("malformed authority key identifier")
			}
			if present {
				p.akid = bytes.Clone(kid)
			}
		case bytes.Equal(e.oid, oidDeltaCRLDER):
			return errors.New("delta CRLs are not supported; publish a full CRL")
		case bytes.Equal(e.oid, oidIDPDER):
			if err := p.parseIDP(v); err != nil {
				return err
			}
		case bytes.Equal(e.oid, oidFreshestCRLDER), bytes.Equal(e.oid, oidAuthInfoAccDER):
		default:
			if e.critical {
				return fmt.Errorf("unsupported critical CRL extension (OID %x)", e.oid)
			}
		}
	}
	return nil
}

// parseIDP reads an IssuingDistributionPoint (RFC 5280 §5.2.5). Partitions
// by certificate kind and by distribution point are supported; partitions by
// reason, indirect CRLs and attribute-certificate CRLs are refused.
func (p *parsedCRL) parseIDP(v cryptobyte.String) error {
	bad := errors.New("malformed issuing distribution point")
	var seq cryptobyte.String
	if !v.ReadASN1(&seq, cbasn1.SEQUENCE) || !v.Empty() {
		return bad
	}
	var dp cryptobyte.String
	var present bool
	if !seq.ReadOptionalASN1(&dp, &present, cbasn1.Tag(0).Constructed().ContextSpecific()) {
		return bad
	}
	if present {
		p.idpPresent = true
		var names cryptobyte.String
		var full bool
		if !dp.ReadOptionalASN1(&names, &full, cbasn1.Tag(0).Constructed().ContextSpecific()) {
			return bad
		}
		for full && !names.Empty() {
			var gn cryptobyte.String
			var tag cbasn1.Tag
			if !names.ReadAnyASN1(&gn, &tag) {
				return bad
			}
			if tag == cbasn1.Tag(6).ContextSpecific() && len(p.idpURIs) < 16 {
				p.idpURIs = append(p.idpURIs, string(gn))
			}
		}
	}
	flag := func(n int) (bool, error) {
		var b cryptobyte.String
		var ok bool
		if !seq.ReadOptionalASN1(&b, &ok, cbasn1.Tag(n).ContextSpecific()) {
			return false, bad
		}
		if !ok {
			return false, nil
		}
		if len(b) != 1 || (b[0] != 0 && b[0] != 0xff) {
			return false, bad
		}
		return b[0] == 0xff, nil
	}
	var err error
	if p.onlyUser, err = flag(1); err != nil {
		return err
	}
	if p.onlyCA, err = flag(2); err != nil {
		return err
	}
	if seq.PeekASN1Tag(cbasn1.Tag(3).ContextSpecific()) {
		return errors.New("CRLs partitioned by reason (onlySomeReasons) are not supported")
	}
	indirect, err := flag(4)
	if err != nil {
		return err
	}
	if indirect {
		return errors.New("indirect CRLs are not supported")
	}
	attr, err := flag(5)
	if err != nil {
		return err
	}
	if attr {
		return errors.New("the CRL only covers attribute certificates")
	}
	if !seq.Empty() {
		return bad
	}
	if p.onlyUser && p.onlyCA {
		return errors.New("issuing distribution point is both user-only and CA-only")
	}
	return nil
}
