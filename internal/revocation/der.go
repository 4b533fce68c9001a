package revocation

import (
	"crypto/x509"
	"crypto/x509/pkix"
	encasn1 "encoding/asn1"
	"errors"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Small DER helpers shared by the CRL parser, the OCSP client and the hot
// path. None of them allocates.

// canonicalSerial returns the minimal two's-complement form of a DER
// INTEGER's content octets, so that a serial written with a redundant
// leading 0x00 (or 0xff) by a sloppy encoder still matches. The result
// aliases b.
func canonicalSerial(b []byte) []byte {
	for len(b) > 1 && ((b[0] == 0x00 && b[1]&0x80 == 0) || (b[0] == 0xff && b[1]&0x80 != 0)) {
		b = b[1:]
	}
	return b
}

// certSerial returns the canonical serial octets of cert, read from its raw
// TBSCertificate (x509.Certificate.SerialNumber is a *big.Int whose Bytes
// allocate). ok is false only for a certificate crypto/x509 did not parse.
func certSerial(cert *x509.Certificate) (serial []byte, ok bool) {
	s := cryptobyte.String(cert.RawTBSCertificate)
	var tbs cryptobyte.String
	if !s.ReadASN1(&tbs, cbasn1.SEQUENCE) {
		return nil, false
	}
	if !tbs.SkipOptionalASN1(cbasn1.Tag(0).Constructed().ContextSpecific()) {
		return nil, false
	}
	var n cryptobyte.String
	if !tbs.ReadASN1(&n, cbasn1.INTEGER) || len(n) == 0 {
		return nil, false
	}
	return canonicalSerial(n), true
}

// serialBytesOf is the fallback of certSerial for certificates built by
// hand (tests, fuzzers): it allocates.
func serialBytesOf(cert *x509.Certificate) []byte {
	if s, ok := certSerial(cert); ok {
		return s
	}
	if cert.SerialNumber == nil {
		return []byte{0}
	}
	b := cert.SerialNumber.Bytes()
	if len(b) == 0 {
		return []byte{0}
	}
	if cert.SerialNumber.Sign() > 0 && b[0]&0x80 != 0 {
		b = append([]byte{0}, b...)
	}
	return b
}

var errBadTime = errors.New("malformed time")

// readTime reads an ASN.1 UTCTime or GeneralizedTime from s and returns it
// as Unix seconds. Only the DER forms RFC 5280 allows are accepted
// (YYMMDDHHMMSSZ and YYYYMMDDHHMMSSZ); the parse is done by hand because
// time.Parse is a noticeable share of loading a million-entry CRL.
func readTime(s *cryptobyte.String) (int64, error) {
	var tag cbasn1.Tag
	var v cryptobyte.String
	if !s.ReadAnyASN1(&v, &tag) {
		return 0, errBadTime
	}
	switch tag {
	case cbasn1.UTCTime:
		if len(v) != 13 || v[12] != 'Z' {
			return 0, errBadTime
		}
		yy, ok := digits(v[0:2])
		if !ok {
			return 0, errBadTime
		}
		year := 1900 + yy
		if yy < 50 {
			year = 2000 + yy
		}
		return civil(year, v[2:12])
	case cbasn1.GeneralizedTime:
		if len(v) != 15 || v[14] != 'Z' {
			return 0, errBadTime
		}
		year, ok := digits(v[0:4])
		if !ok {
			return 0, errBadTime
		}
		return civil(year, v[4:14])
	}
	return 0, errBadTime
}

// civil converts MMDDHHMMSS of the given year to Unix seconds.
func civil(year int, v []byte) (int64, error) {
	mon, ok1 := digits(v[0:2])
	day, ok2 := digits(v[2:4])
	hh, ok3 := digits(v[4:6])
	mm, ok4 := digits(v[6:8])
	ss, ok5 := digits(v[8:10])
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 {
		return 0, errBadTime
	}
	if mon < 1 || mon > 12 || day < 1 || day > daysIn(year, mon) || hh > 23 || mm > 59 || ss > 59 {
		return 0, errBadTime
	}
	return daysFromCivil(year, mon, day)*86400 + int64(hh*3600+mm*60+ss), nil
}

func digits(b []byte) (int, bool) {
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func daysIn(year, mon int) int {
	switch mon {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// daysFromCivil is the number of days from 1970-01-01 to y-m-d in the
// proleptic Gregorian calendar (H. Hinnant's algorithm).
func daysFromCivil(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era--
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}

// Object identifiers as DER content octets, compared with bytes.Equal so
// that no asn1.ObjectIdentifier is built while parsing.
var (
	oidCRLNumberDER    = []byte{0x55, 0x1d, 0x14}                               // 2.5.29.20
	oidDeltaCRLDER     = []byte{0x55, 0x1d, 0x1b}                               // 2.5.29.27
	oidAKIDDER         = []byte{0x55, 0x1d, 0x23}                               // 2.5.29.35
	oidIDPDER          = []byte{0x55, 0x1d, 0x1c}                               // 2.5.29.28
	oidReasonCodeDER   = []byte{0x55, 0x1d, 0x15}                               // 2.5.29.21
	oidInvalidityDER   = []byte{0x55, 0x1d, 0x18}                               // 2.5.29.24
	oidCertIssuerDER   = []byte{0x55, 0x1d, 0x1d}                               // 2.5.29.29
	oidFreshestCRLDER  = []byte{0x55, 0x1d, 0x2e}                               // 2.5.29.46
	oidAuthInfoAccDER  = []byte{0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x01, 0x01} // 1.3.6.1.5.5.7.1.1
	oidOCSPNonceDER    = []byte{0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x02}
	oidSHA1DER         = []byte{0x2b, 0x0e, 0x03, 0x02, 0x1a}
	oidSHA256DER       = []byte{0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01}
	oidSHA384DER       = []byte{0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02}
	oidSHA512DER       = []byte{0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03}
	oidRSAPSSDER       = []byte{0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a}
	oidMGF1DER         = []byte{0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x08}
	oidSHA1RSADER      = []byte{0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x05}
	oidSHA256RSADER    = []byte{0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b}
	oidSHA384RSADER    = []byte{0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0c}
	oidSHA512RSADER    = []byte{0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0d}
	oidECDSASHA1DER    = []byte{0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x01}
	oidECDSASHA256DER  = []byte{0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02}
	oidECDSASHA384DER  = []byte{0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03}
	oidECDSASHA512DER  = []byte{0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x04}
	oidEd25519DER      = []byte{0x2b, 0x65, 0x70}
	oidBasicOCSPRspDER = []byte{0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x01}
)

// extension is one parsed X.509 Extension; the slices alias the input.
type extension struct {
	oid      []byte
	critical bool
	value    []byte
}

// readExtension reads one Extension SEQUENCE from exts.
func readExtension(exts *cryptobyte.String) (extension, bool) {
	var ext, oid, val cryptobyte.String
	var e extension
	if !exts.ReadASN1(&ext, cbasn1.SEQUENCE) || !ext.ReadASN1(&oid, cbasn1.OBJECT_IDENTIFIER) {
		return e, false
	}
	if ext.PeekASN1Tag(cbasn1.BOOLEAN) {
		if !ext.ReadASN1Boolean(&e.critical) {
			return e, false
		}
	}
	if !ext.ReadASN1(&val, cbasn1.OCTET_STRING) || !ext.Empty() {
		return e, false
	}
	e.oid, e.value = oid, val
	return e, true
}

// subjectPublicKeyBits returns the BIT STRING content (without the unused
// bits octet) of a SubjectPublicKeyInfo: what OCSP's issuerKeyHash hashes.
func subjectPublicKeyBits(spki []byte) ([]byte, bool) {
	s := cryptobyte.String(spki)
	var seq cryptobyte.String
	var bits encasn1.BitString
	if !s.ReadASN1(&seq, cbasn1.SEQUENCE) || !seq.SkipASN1(cbasn1.SEQUENCE) || !seq.ReadASN1BitString(&bits) {
		return nil, false
	}
	return bits.Bytes, true
}

// parseName renders a DER Name for people.
func parseName(der []byte) (string, bool) {
	var rdn pkix.RDNSequence
	if rest, err := encasn1.Unmarshal(der, &rdn); err != nil || len(rest) > 0 {
		return "", false
	}
	var n pkix.Name
	n.FillFromRDNSequence(&rdn)
	return n.String(), true
}
