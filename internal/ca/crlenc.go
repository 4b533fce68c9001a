package ca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// crlEncoder writes an RFC 5280 v2 CRL directly with cryptobyte.
// crypto/x509.CreateRevocationList marshals every entry through reflection
// and takes about 20 s for a million entries; a CA that has to publish a
// large CRL at every revocation cannot afford that. This encoder writes the
// same structure in about a twentieth of the time.
type crlEncoder struct {
	issuerRaw []byte // issuer's RawSubject
	akid      []byte // issuer's SubjectKeyId
	key       crypto.Signer
}

// crlEntry is one revoked certificate: serial as big-endian magnitude
// bytes (no sign octet), revocation time, reason (0: no reason extension).
type crlEntry struct {
	serial []byte
	at     time.Time
	reason int
}

var (
	oidCRLNumber       = asn1.ObjectIdentifier{2, 5, 29, 20}
	oidAuthorityKeyID  = asn1.ObjectIdentifier{2, 5, 29, 35}
	oidCRLReason       = asn1.ObjectIdentifier{2, 5, 29, 21}
	oidSigECDSASHA256  = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}
	oidSigECDSASHA384  = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 3}
	oidSigECDSASHA512  = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 4}
	oidSigSHA256RSA    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 11}
	oidSigEd25519      = asn1.ObjectIdentifier{1, 3, 101, 112}
	errUnsupportedSign = errors.New("CRL signing: unsupported CA key type")
)

// sigAlgorithm picks the signature algorithm for the CA key: the one
// crypto/x509 would pick.
func sigAlgorithm(key crypto.Signer) (oid asn1.ObjectIdentifier, hash crypto.Hash, nullParams bool, err error) {
	switch pub := key.Public().(type) {
	case *ecdsa.PublicKey:
		switch pub.Curve {
		case elliptic.P256():
			return oidSigECDSASHA256, crypto.SHA256, false, nil
		case elliptic.P384():
			return oidSigECDSASHA384, crypto.SHA384, false, nil
		case elliptic.P521():
			return oidSigECDSASHA512, crypto.SHA512, false, nil
		}
	case *rsa.PublicKey:
		return oidSigSHA256RSA, crypto.SHA256, true, nil
	case ed25519.PublicKey:
		return oidSigEd25519, 0, false, nil
	}
	return nil, 0, false, errUnsupportedSign
}

func addAlgorithm(b *cryptobyte.Builder, oid asn1.ObjectIdentifier, nullParams bool) {
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(oid)
		if nullParams {
			b.AddASN1NULL()
		}
	})
}

// addTime writes UTCTime for 1950..2049 and GeneralizedTime otherwise
// (RFC 5280 §5.1.2.4).
func addTime(b *cryptobyte.Builder, t time.Time) {
	t = t.UTC().Truncate(time.Second)
	if y := t.Year(); y >= 1950 && y < 2050 {
		b.AddASN1UTCTime(t)
		return
	}
	b.AddASN1GeneralizedTime(t)
}

// addSerial writes a non-negative INTEGER from its magnitude bytes.
func addSerial(b *cryptobyte.Builder, mag []byte) {
	b.AddASN1(cbasn1.INTEGER, func(b *cryptobyte.Builder) {
		for len(mag) > 1 && mag[0] == 0 {
			mag = mag[1:]
		}
		if len(mag) == 0 || mag[0]&0x80 != 0 {
			b.AddUint8(0)
		}
		b.AddBytes(mag)
	})
}

// encode signs a CRL. The result parses with x509.ParseRevocationList and
// verifies with openssl crl.
func (e *crlEncoder) encode(number int64, thisUpdate, nextUpdate time.Time, entries []crlEntry) ([]byte, error) {
	oid, hash, nullParams, err := sigAlgorithm(e.key)
	if err != nil {
		return nil, err
	}
	tb := cryptobyte.NewBuilder(make([]byte, 0, 64*len(entries)+512))
	tb.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1Int64(1) // v2
		addAlgorithm(b, oid, nullParams)
		b.AddBytes(e.issuerRaw)
		addTime(b, thisUpdate)
		addTime(b, nextUpdate)
		if len(entries) > 0 {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				for i := range entries {
					addEntry(b, &entries[i])
				}
			})
		}
		b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				if len(e.akid) > 0 {
					addExtension(b, oidAuthorityKeyID, func(b *cryptobyte.Builder) {
						b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
							b.AddASN1(cbasn1.Tag(0).ContextSpecific(), func(b *cryptobyte.Builder) { b.AddBytes(e.akid) })
						})
					})
				}
				addExtension(b, oidCRLNumber, func(b *cryptobyte.Builder) { b.AddASN1BigInt(big.NewInt(number)) })
			})
		})
	})
	return signTBS("CRL", tb, e.key, oid, hash, nullParams)
}

// signTBS signs the to-be-signed structure built in tb and wraps it with
// the algorithm and signature (the outer SEQUENCE of certificates and
// CRLs alike).
func signTBS(what string, tb *cryptobyte.Builder, key crypto.Signer, oid asn1.ObjectIdentifier, hash crypto.Hash, nullParams bool) ([]byte, error) {
	tbs, err := tb.Bytes()
	if err != nil {
		return nil, fmt.Errorf("encoding %s: %w", what, err)
	}
	digest := tbs
	if hash != 0 {
		h := hash.New()
		h.Write(tbs)
		digest = h.Sum(nil)
	}
	sig, err := key.Sign(rand.Reader, digest, hash)
	if err != nil {
		return nil, fmt.Errorf("signing %s: %w", what, err)
	}
	out := cryptobyte.NewBuilder(make([]byte, 0, len(tbs)+len(sig)+32))
	out.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddBytes(tbs)
		addAlgorithm(b, oid, nullParams)
		b.AddASN1BitString(sig)
	})
	return out.Bytes()
}

func addEntry(b *cryptobyte.Builder, e *crlEntry) {
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		addSerial(b, e.serial)
		addTime(b, e.at)
		if e.reason != 0 {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				addExtension(b, oidCRLReason, func(b *cryptobyte.Builder) { b.AddASN1Enum(int64(e.reason)) })
			})
		}
	})
}

// addExtension writes a non-critical Extension whose extnValue is the DER
// written by value.
func addExtension(b *cryptobyte.Builder, oid asn1.ObjectIdentifier, value func(*cryptobyte.Builder)) {
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(oid)
		b.AddASN1(cbasn1.OCTET_STRING, value)
	})
}

// RevokedEntry is one entry for EncodeCRL.
type RevokedEntry struct {
	Serial *big.Int
	At     time.Time
	Reason int // 0: no reason extension
}

// EncodeCRL signs a v2 CRL for issuer with key (any CA, not only this
// package's): the encoder the CA uses, for tools such as the benchmark's
// CRL generator.
func EncodeCRL(issuer *x509.Certificate, key crypto.Signer, number int64, thisUpdate, nextUpdate time.Time, entries []RevokedEntry) ([]byte, error) {
	list := make([]crlEntry, len(entries))
	for i, e := range entries {
		list[i] = crlEntry{serial: e.Serial.Bytes(), at: e.At, reason: e.Reason}
	}
	enc := crlEncoder{issuerRaw: issuer.RawSubject, akid: issuer.SubjectKeyId, key: key}
	return enc.encode(number, thisUpdate, nextUpdate, list)
}
