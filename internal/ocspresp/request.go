package ocspresp

import (
	"crypto"
	"encoding/asn1"
	"fmt"
	"math/big"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Parser limits. A request naming more certificates, or carrying a longer
// nonce or serial, is malformed.
const (
	// MaxCertIDs is the most CertIDs one request may name.
	MaxCertIDs = 16
	// MaxNonceLen is the longest nonce accepted, in octets (RFC 8954 §2.1).
	MaxNonceLen = 32
	// maxSerialLen bounds the INTEGER contents of a serial number: 20 octets
	// (RFC 5280 §4.1.2.2) plus one octet of sign.
	maxSerialLen = 21
)

// Object identifiers this package reads or writes.
var (
	oidSHA1   = asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}
	oidSHA256 = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidSHA384 = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 2}
	oidSHA512 = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 3}

	// oidNonce is id-pkix-ocsp-nonce (RFC 6960 §4.4.1).
	oidNonce = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 2}
)

// supportedHashes lists the CertID hash algorithms, in the order the
// responder precomputes issuer hashes.
var supportedHashes = []struct {
	hash crypto.Hash
	oid  asn1.ObjectIdentifier
}{
	{crypto.SHA1, oidSHA1},
	{crypto.SHA256, oidSHA256},
	{crypto.SHA384, oidSHA384},
	{crypto.SHA512, oidSHA512},
}

// hashForOID maps a CertID hashAlgorithm OID to its crypto.Hash (0 when not
// supported).
func hashForOID(oid asn1.ObjectIdentifier) crypto.Hash {
	for _, h := range supportedHashes {
		if h.oid.Equal(oid) {
			return h.hash
		}
	}
	return 0
}

// oidForHash is the inverse of hashForOID (nil when not supported).
func oidForHash(h crypto.Hash) asn1.ObjectIdentifier {
	for _, s := range supportedHashes {
		if s.hash == h {
			return s.oid
		}
	}
	return nil
}

// CertID identifies one certificate in a request (RFC 6960 §4.1.1): hashes of
// its issuer's name and public key, and its serial number.
type CertID struct {
	Hash           crypto.Hash
	IssuerNameHash []byte
	IssuerKeyHash  []byte
	Serial         *big.Int
}

// Request is a parsed OCSPRequest.
type Request struct {
	// IDs are the certificates asked about, in request order (1 to
	// MaxCertIDs).
	IDs []CertID
	// Nonce is the extnValue contents of the id-pkix-ocsp-nonce request
	// extension exactly as sent (for conforming clients, the DER of an OCTET
	// STRING holding the nonce), or nil when the request has none. The
	// responder echoes it verbatim.
	Nonce []byte
	// Signed reports that the request carried an optionalSignature. The
	// signature is not verified.
	Signed bool
}

// errMalformed prefixes every parse error.
func errMalformed(format string, args ...any) error {
	return fmt.Errorf("ocsp request: "+format, args...)
}

// Context-specific tags used by OCSPRequest, all explicit.
var (
	tagVersion       = cbasn1.Tag(0).Constructed().ContextSpecific()
	tagRequestorName = cbasn1.Tag(1).Constructed().ContextSpecific()
	tagRequestExts   = cbasn1.Tag(2).Constructed().ContextSpecific()
	tagSignature     = cbasn1.Tag(0).Constructed().ContextSpecific()
	tagSingleExts    = cbasn1.Tag(0).Constructed().ContextSpecific()
)

// ParseRequest parses a DER OCSPRequest (RFC 6960 §4.1.1). It accepts an
// optional requestorName and optionalSignature (skipped, not verified), reads
// the nonce request extension, ignores per-request extensions and rejects
// unknown critical request extensions, unsupported CertID hash algorithms,
// more than MaxCertIDs CertIDs, oversized nonces or serials, non-DER lengths
// and trailing data. It never panics.
func ParseRequest(der []byte) (*Request, error) {
	if len(der) == 0 {
		return nil, errMalformed("empty")
	}
	input := cryptobyte.String(der)
	var outer, tbs cryptobyte.String
	if !input.ReadASN1(&outer, cbasn1.SEQUENCE) {
		return nil, errMalformed("not a DER SEQUENCE")
	}
	if !input.Empty() {
		return nil, errMalformed("%d bytes of trailing data", len(input))
	}
	if !outer.ReadASN1(&tbs, cbasn1.SEQUENCE) {
		return nil, errMalformed("tbsRequest is not a SEQUENCE")
	}
	req := &Request{}
	if err := parseTBSRequest(tbs, req); err != nil {
		return nil, err
	}
	if outer.PeekASN1Tag(tagSignature) {
		if err := skipSignature(&outer); err != nil {
			return nil, err
		}
		req.Signed = true
	}
	if !outer.Empty() {
		return nil, errMalformed("unexpected data after tbsRequest")
	}
	return req, nil
}

// parseTBSRequest reads version, requestorName, requestList and
// requestExtensions into req.
func parseTBSRequest(tbs cryptobyte.String, req *Request) error {
	if err := parseVersion(&tbs); err != nil {
		return err
	}
	if tbs.PeekASN1Tag(tagRequestorName) {
		if err := skipRequestorName(&tbs); err != nil {
			return err
		}
	}
	var list cryptobyte.String
	if !tbs.ReadASN1(&list, cbasn1.SEQUENCE) {
		return errMalformed("requestList is not a SEQUENCE")
	}
	ids, err := parseRequestList(list)
	if err != nil {
		return err
	}
	req.IDs = ids
	if tbs.PeekASN1Tag(tagRequestExts) {
		var wrapped cryptobyte.String
		if !tbs.ReadASN1(&wrapped, tagRequestExts) {
			return errMalformed("requestExtensions: bad encoding")
		}
		if req.Nonce, err = parseRequestExtensions(wrapped); err != nil {
			return err
		}
	}
	if !tbs.Empty() {
		return errMalformed("unexpected data in tbsRequest")
	}
	return nil
}

// parseVersion reads the optional [0] EXPLICIT version; only v1 (0) exists.
// An explicit v1 is tolerated although DER omits default values.
func parseVersion(tbs *cryptobyte.String) error {
	if !tbs.PeekASN1Tag(tagVersion) {
		return nil
	}
	var wrapped cryptobyte.String
	var v int64
	if !tbs.ReadASN1(&wrapped, tagVersion) || !wrapped.ReadASN1Integer(&v) || !wrapped.Empty() {
		return errMalformed("version: bad encoding")
	}
	if v != 0 {
		return errMalformed("version %d not supported (want v1)", v+1)
	}
	return nil
}

// skipRequestorName reads past [1] EXPLICIT GeneralName, checking only that
// it wraps exactly one element.
func skipRequestorName(tbs *cryptobyte.String) error {
	var wrapped, name cryptobyte.String
	var tag cbasn1.Tag
	if !tbs.ReadASN1(&wrapped, tagRequestorName) || !wrapped.ReadAnyASN1Element(&name, &tag) || !wrapped.Empty() {
		return errMalformed("requestorName: bad encoding")
	}
	return nil
}

// parseRequestList reads the SEQUENCE OF Request contents.
func parseRequestList(list cryptobyte.String) ([]CertID, error) {
	var ids []CertID
	for !list.Empty() {
		if len(ids) == MaxCertIDs {
			return nil, errMalformed("more than %d CertIDs", MaxCertIDs)
		}
		var one cryptobyte.String
		if !list.ReadASN1(&one, cbasn1.SEQUENCE) {
			return nil, errMalformed("request %d is not a SEQUENCE", len(ids)+1)
		}
		id, err := parseSingleRequest(one)
		if err != nil {
			return nil, fmt.Errorf("%w (request %d)", err, len(ids)+1)
		}
		ids = append(ids, id)
	}
	if len(ids) == 0 {
		return nil, errMalformed("requestList is empty")
	}
	return ids, nil
}

// parseSingleRequest reads reqCert and skips singleRequestExtensions.
func parseSingleRequest(one cryptobyte.String) (CertID, error) {
	var certID cryptobyte.String
	if !one.ReadASN1(&certID, cbasn1.SEQUENCE) {
		return CertID{}, errMalformed("reqCert is not a SEQUENCE")
	}
	id, err := parseCertID(certID)
	if err != nil {
		return CertID{}, err
	}
	if one.PeekASN1Tag(tagSingleExts) {
		var wrapped cryptobyte.String
		if !one.ReadASN1(&wrapped, tagSingleExts) {
			return CertID{}, errMalformed("singleRequestExtensions: bad encoding")
		}
		if err := walkExtensions(wrapped, func(ext extension) error { return nil }); err != nil {
			return CertID{}, err
		}
	}
	if !one.Empty() {
		return CertID{}, errMalformed("unexpected data after reqCert")
	}
	return id, nil
}

// parseCertID reads hashAlgorithm, issuerNameHash, issuerKeyHash and
// serialNumber.
func parseCertID(s cryptobyte.String) (CertID, error) {
	h, err := parseHashAlgorithm(&s)
	if err != nil {
		return CertID{}, err
	}
	id := CertID{Hash: h}
	if !s.ReadASN1Bytes(&id.IssuerNameHash, cbasn1.OCTET_STRING) {
		return CertID{}, errMalformed("issuerNameHash is not an OCTET STRING")
	}
	if !s.ReadASN1Bytes(&id.IssuerKeyHash, cbasn1.OCTET_STRING) {
		return CertID{}, errMalformed("issuerKeyHash is not an OCTET STRING")
	}
	if len(id.IssuerNameHash) != h.Size() || len(id.IssuerKeyHash) != h.Size() {
		return CertID{}, errMalformed("issuer hashes are %d and %d bytes, want %d for %v",
			len(id.IssuerNameHash), len(id.IssuerKeyHash), h.Size(), h)
	}
	if id.Serial, err = parseSerial(&s); err != nil {
		return CertID{}, err
	}
	if !s.Empty() {
		return CertID{}, errMalformed("unexpected data after serialNumber")
	}
	return id, nil
}

// parseHashAlgorithm reads an AlgorithmIdentifier naming a supported hash.
// Parameters must be absent or NULL.
func parseHashAlgorithm(s *cryptobyte.String) (crypto.Hash, error) {
	var alg cryptobyte.String
	var oid asn1.ObjectIdentifier
	if !s.ReadASN1(&alg, cbasn1.SEQUENCE) || !alg.ReadASN1ObjectIdentifier(&oid) {
		return 0, errMalformed("hashAlgorithm: bad encoding")
	}
	if alg.PeekASN1Tag(cbasn1.NULL) {
		var null cryptobyte.String
		if !alg.ReadASN1(&null, cbasn1.NULL) || !null.Empty() {
			return 0, errMalformed("hashAlgorithm: bad NULL parameters")
		}
	}
	if !alg.Empty() {
		return 0, errMalformed("hashAlgorithm %v: unexpected parameters", oid)
	}
	h := hashForOID(oid)
	if h == 0 {
		return 0, errMalformed("hashAlgorithm %v not supported (want SHA-1, SHA-256, SHA-384 or SHA-512)", oid)
	}
	return h, nil
}

// parseSerial reads a minimally encoded INTEGER of at most maxSerialLen
// content octets.
func parseSerial(s *cryptobyte.String) (*big.Int, error) {
	var elem, content cryptobyte.String
	if !s.ReadASN1Element(&elem, cbasn1.INTEGER) {
		return nil, errMalformed("serialNumber is not an INTEGER")
	}
	check := elem
	if !check.ReadASN1(&content, cbasn1.INTEGER) {
		return nil, errMalformed("serialNumber: bad encoding")
	}
	if len(content) > maxSerialLen {
		return nil, errMalformed("serialNumber is %d octets, at most %d allowed", len(content), maxSerialLen)
	}
	n := new(big.Int)
	if !elem.ReadASN1Integer(n) {
		return nil, errMalformed("serialNumber: not a minimal DER INTEGER")
	}
	return n, nil
}

// extension is one parsed Extension.
type extension struct {
	id       asn1.ObjectIdentifier
	critical bool
	value    []byte // extnValue contents
}

// walkExtensions parses the contents of an Extensions wrapper (the SEQUENCE
// OF Extension) and calls fn for each. It rejects an empty list and an
// extension that appears twice (RFC 5280 §4.2).
func walkExtensions(wrapped cryptobyte.String, fn func(extension) error) error {
	var exts cryptobyte.String
	if !wrapped.ReadASN1(&exts, cbasn1.SEQUENCE) || !wrapped.Empty() {
		return errMalformed("extensions: not a SEQUENCE")
	}
	if exts.Empty() {
		return errMalformed("extensions: empty list")
	}
	var seen []asn1.ObjectIdentifier
	for !exts.Empty() {
		ext, err := readExtension(&exts)
		if err != nil {
			return err
		}
		for _, s := range seen {
			if s.Equal(ext.id) {
				return errMalformed("extension %v appears twice", ext.id)
			}
		}
		seen = append(seen, ext.id)
		if err := fn(ext); err != nil {
			return err
		}
	}
	return nil
}

// readExtension reads one Extension. An explicit critical FALSE is tolerated
// (as crypto/x509 does) although DER omits it.
func readExtension(exts *cryptobyte.String) (extension, error) {
	var one cryptobyte.String
	var ext extension
	if !exts.ReadASN1(&one, cbasn1.SEQUENCE) || !one.ReadASN1ObjectIdentifier(&ext.id) {
		return ext, errMalformed("extension: bad encoding")
	}
	if one.PeekASN1Tag(cbasn1.BOOLEAN) && !one.ReadASN1Boolean(&ext.critical) {
		return ext, errMalformed("extension %v: bad critical flag", ext.id)
	}
	if !one.ReadASN1Bytes(&ext.value, cbasn1.OCTET_STRING) || !one.Empty() {
		return ext, errMalformed("extension %v: bad extnValue", ext.id)
	}
	return ext, nil
}

// parseRequestExtensions returns the nonce extension value (nil when absent)
// and rejects unknown critical extensions (RFC 6960 §4.4).
func parseRequestExtensions(wrapped cryptobyte.String) ([]byte, error) {
	var nonce []byte
	err := walkExtensions(wrapped, func(ext extension) error {
		switch {
		case ext.id.Equal(oidNonce):
			if err := checkNonce(ext.value); err != nil {
				return err
			}
			nonce = ext.value
		case ext.critical:
			return errMalformed("unsupported critical request extension %v", ext.id)
		}
		return nil
	})
	return nonce, err
}

// checkNonce validates a nonce extnValue. RFC 6960 §4.4.1 defines the value as
// the DER of Nonce ::= OCTET STRING, which openssl and most clients send;
// some older clients put the raw nonce octets there instead, which is
// tolerated. Either way the nonce proper must be 1 to MaxNonceLen octets
// (RFC 8954 §2.1).
func checkNonce(value []byte) error {
	nonce := value
	s := cryptobyte.String(value)
	var inner []byte
	if s.ReadASN1Bytes(&inner, cbasn1.OCTET_STRING) && s.Empty() {
		nonce = inner
	}
	switch {
	case len(nonce) == 0:
		return errMalformed("nonce is empty")
	case len(nonce) > MaxNonceLen:
		return errMalformed("nonce is %d octets, at most %d allowed (RFC 8954)", len(nonce), MaxNonceLen)
	}
	return nil
}

// skipSignature reads past optionalSignature ([0] EXPLICIT Signature),
// checking its outline: a SEQUENCE of AlgorithmIdentifier, BIT STRING and
// optional [0] EXPLICIT certs.
func skipSignature(outer *cryptobyte.String) error {
	var wrapped, sig, alg cryptobyte.String
	var bits asn1.BitString
	if !outer.ReadASN1(&wrapped, tagSignature) || !wrapped.ReadASN1(&sig, cbasn1.SEQUENCE) || !wrapped.Empty() {
		return errMalformed("optionalSignature: bad encoding")
	}
	if !sig.ReadASN1(&alg, cbasn1.SEQUENCE) || !sig.ReadASN1BitString(&bits) {
		return errMalformed("optionalSignature: bad algorithm or signature")
	}
	if sig.PeekASN1Tag(tagSignature) && !sig.SkipASN1(tagSignature) {
		return errMalformed("optionalSignature: bad certs")
	}
	if !sig.Empty() {
		return errMalformed("optionalSignature: unexpected data")
	}
	return nil
}
