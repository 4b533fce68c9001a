package ocspresp

import (
	"crypto"
	"crypto/rand"
	"encoding/asn1"
	"fmt"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// oidOCSPBasic is id-pkix-ocsp-basic, the only response type produced.
var oidOCSPBasic = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 1}

// Response tags (RFC 6960 §4.2.1; the module uses explicit tagging except for
// the CertStatus choices, which are IMPLICIT).
var (
	tagResponseBytes = cbasn1.Tag(0).Constructed().ContextSpecific()
	tagCerts         = cbasn1.Tag(0).Constructed().ContextSpecific()
	tagResponseExts  = cbasn1.Tag(1).Constructed().ContextSpecific()
	tagNextUpdate    = cbasn1.Tag(0).Constructed().ContextSpecific()
	tagGood          = cbasn1.Tag(0).ContextSpecific()
	tagRevoked       = cbasn1.Tag(1).Constructed().ContextSpecific()
	tagUnknown       = cbasn1.Tag(2).ContextSpecific()
	tagReason        = cbasn1.Tag(0).Constructed().ContextSpecific()
)

// Non-successful OCSPResponse bodies (RFC 6960 §4.2.1): a SEQUENCE holding
// only the responseStatus ENUMERATED.
var (
	malformedResponse    = []byte{0x30, 0x03, 0x0a, 0x01, 0x01}
	internalErrResponse  = []byte{0x30, 0x03, 0x0a, 0x01, 0x02}
	tryLaterResponse     = []byte{0x30, 0x03, 0x0a, 0x01, 0x03}
	unauthorizedResponse = []byte{0x30, 0x03, 0x0a, 0x01, 0x06}
)

// singleAnswer is what one SingleResponse says about one CertID.
type singleAnswer struct {
	id     CertID
	status Status
}

// validity is the time window of a signed response.
type validity struct {
	thisUpdate, nextUpdate time.Time
}

// sign builds, signs and encodes an OCSPResponse (status successful) holding
// a BasicOCSPResponse with one SingleResponse per answer, and the nonce
// extension echoed verbatim when nonce is non-nil. producedAt is
// v.thisUpdate.
func (st *signerState) sign(answers []singleAnswer, nonce []byte, v validity) ([]byte, error) {
	tbs, err := buildDER(func(b *cryptobyte.Builder) { addResponseData(b, st.responderID, answers, nonce, v) })
	if err != nil {
		return nil, fmt.Errorf("ocsp response: encoding ResponseData: %w", err)
	}
	sig, err := st.signBytes(tbs)
	if err != nil {
		return nil, fmt.Errorf("ocsp response: signing with %q: %w", st.cert.Subject, err)
	}
	basic, err := buildDER(func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddBytes(tbs)
			b.AddBytes(st.sigAlg)
			b.AddASN1BitString(sig)
			b.AddBytes(st.certs)
		})
	})
	if err != nil {
		return nil, fmt.Errorf("ocsp response: encoding BasicOCSPResponse: %w", err)
	}
	return buildDER(func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1Enum(0) // successful
			b.AddASN1(tagResponseBytes, func(b *cryptobyte.Builder) {
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
					b.AddASN1ObjectIdentifier(oidOCSPBasic)
					b.AddASN1OctetString(basic)
				})
			})
		})
	})
}

// signBytes signs the DER ResponseData with the signer's key.
func (st *signerState) signBytes(tbs []byte) ([]byte, error) {
	if st.hash == 0 { // Ed25519 signs the message itself
		return st.key.Sign(rand.Reader, tbs, crypto.Hash(0))
	}
	h := st.hash.New()
	h.Write(tbs)
	return st.key.Sign(rand.Reader, h.Sum(nil), st.hash)
}

// addResponseData appends the DER ResponseData (version omitted: v1 is the
// default).
func addResponseData(b *cryptobyte.Builder, responderID []byte, answers []singleAnswer, nonce []byte, v validity) {
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddBytes(responderID)
		b.AddASN1GeneralizedTime(v.thisUpdate.UTC())
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			for _, a := range answers {
				addSingleResponse(b, a, v)
			}
		})
		if nonce != nil {
			b.AddASN1(tagResponseExts, func(b *cryptobyte.Builder) {
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
						b.AddASN1ObjectIdentifier(oidNonce)
						b.AddASN1OctetString(nonce)
					})
				})
			})
		}
	})
}

// addSingleResponse appends one SingleResponse. The CertID echoes the
// request's, with NULL hash parameters.
func addSingleResponse(b *cryptobyte.Builder, a singleAnswer, v validity) {
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		addCertID(b, a.id)
		addCertStatus(b, a.status)
		b.AddASN1GeneralizedTime(v.thisUpdate.UTC())
		b.AddASN1(tagNextUpdate, func(b *cryptobyte.Builder) {
			b.AddASN1GeneralizedTime(v.nextUpdate.UTC())
		})
	})
}

// addCertID appends a CertID.
func addCertID(b *cryptobyte.Builder, id CertID) {
	oid := oidForHash(id.Hash)
	if oid == nil || id.Serial == nil {
		b.SetError(fmt.Errorf("CertID with hash %v and serial %v cannot be encoded", id.Hash, id.Serial))
		return
	}
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1ObjectIdentifier(oid)
			b.AddASN1NULL()
		})
		b.AddASN1OctetString(id.IssuerNameHash)
		b.AddASN1OctetString(id.IssuerKeyHash)
		b.AddASN1BigInt(id.Serial)
	})
}

// addCertStatus appends the CertStatus CHOICE. The revocation reason is
// omitted when it is unspecified (0) or not a valid CRLReason.
func addCertStatus(b *cryptobyte.Builder, s Status) {
	switch s.State {
	case Good:
		b.AddASN1(tagGood, func(*cryptobyte.Builder) {})
	case Revoked:
		b.AddASN1(tagRevoked, func(b *cryptobyte.Builder) {
			b.AddASN1GeneralizedTime(s.RevokedAt.UTC().Truncate(time.Second))
			if s.Reason != 0 && validReason(s.Reason) {
				b.AddASN1(tagReason, func(b *cryptobyte.Builder) { b.AddASN1Enum(int64(s.Reason)) })
			}
		})
	default:
		b.AddASN1(tagUnknown, func(*cryptobyte.Builder) {})
	}
}

// validReason reports whether r is an RFC 5280 §5.3.1 CRLReason (7 is
// unused).
func validReason(r int) bool {
	return r >= 0 && r <= 10 && r != 7
}
