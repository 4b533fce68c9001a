package revocation

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"
	"mime"
	"net/http"
	"slices"
	"strings"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
	"golang.org/x/crypto/ocsp"
)

// maxOCSPResponse bounds an OCSP response body.
const maxOCSPResponse = 1 << 20

var recoverOCSPPanics = true

// ocspQuery is what is needed to ask about one certificate and check the
// answer, without keeping the certificate itself.
type ocspQuery struct {
	serial    []byte   // canonical serial octets
	serialBig *big.Int // for x/crypto/ocsp
	issuer    *x509.Certificate
	url       string
	subject   string // of the leaf, for reasons
}

// ocspAnswer is a verified answer.
type ocspAnswer struct {
	status           int // ocsp.Good, ocsp.Revoked, ocsp.Unknown
	revokedAt        time.Time
	reason           int
	thisUpdate       time.Time
	nextUpdate       time.Time // zero when absent
	delegatedSubject string    // delegated responder, if any
}

// buildOCSPRequest writes an OCSPRequest (RFC 6960 §4.1.1) for one
// certificate with a SHA-1 CertID and, when nonce is set, a nonce
// extension (RFC 8954).
func buildOCSPRequest(q *ocspQuery, issuerName []byte, nonce []byte) ([]byte, error) {
	keyBits, ok := subjectPublicKeyBits(q.issuer.RawSubjectPublicKeyInfo)
	if !ok {
		return nil, errors.New("cannot read the issuer's public key")
	}
	h := crypto.SHA1.New()
	h.Write(issuerName)
	nameHash := h.Sum(nil)
	h.Reset()
	h.Write(keyBits)
	keyHash := h.Sum(nil)
	b := cryptobyte.NewBuilder(nil)
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // OCSPRequest
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // TBSRequest
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // requestList
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // Request
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // CertID
						b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
							b.AddASN1(cbasn1.OBJECT_IDENTIFIER, func(b *cryptobyte.Builder) { b.AddBytes(oidSHA1DER) })
							b.AddASN1NULL()
						})
						b.AddASN1OctetString(nameHash)
						b.AddASN1OctetString(keyHash)
						b.AddASN1(cbasn1.INTEGER, func(b *cryptobyte.Builder) { b.AddBytes(q.serial) })
					})
				})
			})
			if nonce != nil {
				b.AddASN1(cbasn1.Tag(2).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
						b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
							b.AddASN1(cbasn1.OBJECT_IDENTIFIER, func(b *cryptobyte.Builder) { b.AddBytes(oidOCSPNonceDER) })
							b.AddASN1(cbasn1.OCTET_STRING, func(b *cryptobyte.Builder) { b.AddASN1OctetString(nonce) })
						})
					})
				})
			}
		})
	})
	return b.Bytes()
}

// queryOCSP asks q.url about q and verifies the answer.
func (c *Checker) queryOCSP(ctx context.Context, q *ocspQuery, issuerName []byte) (ocspAnswer, error) {
	nonce := make([]byte, 16)
	if _, err := rand.Read(nonce); err != nil {
		return ocspAnswer{}, err
	}
	reqDER, err := buildOCSPRequest(q, issuerName, nonce)
	if err != nil {
		return ocspAnswer{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.OCSPTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, q.url, bytes.NewReader(reqDER))
	if err != nil {
		return ocspAnswer{}, err
	}
	req.Header.Set("Content-Type", "application/ocsp-request")
	req.Header.Set("Accept", "application/ocsp-response")
	resp, err := c.ocspClient.Do(req)
	if err != nil {
		if ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return ocspAnswer{}, fmt.Errorf("no answer within %s", c.cfg.OCSPTimeout)
		}
		return ocspAnswer{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return ocspAnswer{}, fmt.Errorf("HTTP %s", resp.Status)
	}
	body, err := readLimited(resp.Body, maxOCSPResponse, "the OCSP response")
	if err != nil {
		if ctx.Err() != nil {
			return ocspAnswer{}, fmt.Errorf("no complete answer within %s", c.cfg.OCSPTimeout)
		}
		return ocspAnswer{}, err
	}
	ans, err := verifyOCSPResponse(body, q, issuerName, nonce, c.cfg.Now(), c.cfg.OCSPMaxTTL)
	if err != nil {
		if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); strings.HasPrefix(mt, "text/") {
			return ocspAnswer{}, fmt.Errorf("%w (the responder sent %s, not application/ocsp-response)", err, mt)
		}
	}
	return ans, err
}

// verifyOCSPResponse checks a DER OCSPResponse for the certificate of q:
// signed by the issuer or by a responder the issuer delegated to (EKU
// OCSPSigning, valid now), CertID naming this issuer and serial, nonce
// echoed or absent, thisUpdate not in the future, nextUpdate not past.
func verifyOCSPResponse(der []byte, q *ocspQuery, issuerName, nonce []byte, now time.Time, maxTTL time.Duration) (ans ocspAnswer, err error) {
	defer func() {
		// x/crypto/ocsp is well fuzzed, but a panic on a responder's
		// bytes must never reach a handshake. (The fuzz test turns this
		// off to see panics.)
		if !recoverOCSPPanics {
			return
		}
		if r := recover(); r != nil {
			ans, err = ocspAnswer{}, fmt.Errorf("malformed OCSP response (%v)", r)
		}
	}()
	resp, err := ocsp.ParseResponseForCert(der, &x509.Certificate{SerialNumber: q.serialBig}, nil)
	if err != nil {
		var re ocsp.ResponseError
		if errors.As(err, &re) {
			return ocspAnswer{}, fmt.Errorf("the responder answered %q", re.Status.String())
		}
		return ocspAnswer{}, fmt.Errorf("not a valid OCSP response: %v", err)
	}
	issuer := q.issuer
	switch rc := resp.Certificate; {
	case rc == nil:
		if err := resp.CheckSignatureFrom(issuer); err != nil {
			return ocspAnswer{}, fmt.Errorf("the response is not signed by the issuer: %v", err)
		}
	case bytes.Equal(rc.RawSubjectPublicKeyInfo, issuer.RawSubjectPublicKeyInfo):
		// Signed by the issuer's key, which the response also carries (the
		// parser checked the signature with it).
	default:
		if err := checkDelegate(rc, issuer, now); err != nil {
			return ocspAnswer{}, err
		}
		ans.delegatedSubject = rc.Subject.String()
	}
	hashAlg, nameHash, keyHash, respNonce, err := certIDFor(resp.TBSResponseData, q.serial)
	if err != nil {
		return ocspAnswer{}, err
	}
	keyBits, _ := subjectPublicKeyBits(issuer.RawSubjectPublicKeyInfo)
	if !hashAlg.Available() {
		return ocspAnswer{}, errors.New("unsupported CertID hash")
	}
	h := hashAlg.New()
	h.Write(issuerName)
	wantName := h.Sum(nil)
	h.Reset()
	h.Write(keyBits)
	if !bytes.Equal(nameHash, wantName) || !bytes.Equal(keyHash, h.Sum(nil)) {
		return ocspAnswer{}, errors.New("the response is about a certificate of another issuer with the same serial")
	}
	if respNonce != nil && !bytes.Equal(respNonce, nonce) {
		return ocspAnswer{}, errors.New("the response's nonce does not match the request's (replayed response?)")
	}
	if resp.ThisUpdate.After(now.Add(maxSkew)) {
		return ocspAnswer{}, fmt.Errorf("thisUpdate %s is in the future", resp.ThisUpdate.UTC().Format(time.RFC3339))
	}
	if !resp.NextUpdate.IsZero() {
		if !now.Before(resp.NextUpdate) {
			return ocspAnswer{}, fmt.Errorf("the response expired at %s (nextUpdate)", resp.NextUpdate.UTC().Format(time.RFC3339))
		}
	} else if now.Sub(resp.ThisUpdate) > maxTTL {
		return ocspAnswer{}, fmt.Errorf("the response, without nextUpdate, was produced at %s: too old", resp.ThisUpdate.UTC().Format(time.RFC3339))
	}
	ans.status = resp.Status
	ans.thisUpdate, ans.nextUpdate = resp.ThisUpdate, resp.NextUpdate
	if resp.Status == ocsp.Revoked {
		ans.revokedAt, ans.reason = resp.RevokedAt, resp.RevocationReason
	}
	if ans.status != ocsp.Good && ans.status != ocsp.Revoked && ans.status != ocsp.Unknown {
		return ocspAnswer{}, errors.New("unknown certificate status")
	}
	return ans, nil
}

// checkDelegate checks a delegated responder certificate (RFC 6960
// §4.2.2.2): issued and signed by the issuer, OCSPSigning EKU, valid now.
func checkDelegate(rc, issuer *x509.Certificate, now time.Time) error {
	if !bytes.Equal(rc.RawIssuer, issuer.RawSubject) {
		return fmt.Errorf("the response is signed by %q, which the issuer did not certify", rc.Subject.String())
	}
	if err := rc.CheckSignatureFrom(issuer); err != nil {
		return fmt.Errorf("the responder certificate %q is not signed by the issuer: %v", rc.Subject.String(), err)
	}
	if !slices.Contains(rc.ExtKeyUsage, x509.ExtKeyUsageOCSPSigning) {
		return fmt.Errorf("the responder certificate %q lacks the OCSPSigning extended key usage", rc.Subject.String())
	}
	if now.Before(rc.NotBefore) || now.After(rc.NotAfter) {
		return fmt.Errorf("the responder certificate %q is not valid now (valid %s to %s)", rc.Subject.String(),
			rc.NotBefore.UTC().Format(time.RFC3339), rc.NotAfter.UTC().Format(time.RFC3339))
	}
	return nil
}

// certIDFor reads the raw ResponseData and returns the CertID of the first
// SingleResponse for serial (the one x/crypto/ocsp reported) and the nonce
// of the response extensions (nil when absent).
func certIDFor(tbs []byte, serial []byte) (h crypto.Hash, nameHash, keyHash, nonce []byte, err error) {
	bad := errors.New("malformed OCSP ResponseData")
	in := cryptobyte.String(tbs)
	var rd, responses, responderID cryptobyte.String
	var tag cbasn1.Tag
	if !in.ReadASN1(&rd, cbasn1.SEQUENCE) ||
		!rd.SkipOptionalASN1(cbasn1.Tag(0).Constructed().ContextSpecific()) ||
		!rd.ReadAnyASN1(&responderID, &tag) ||
		!rd.SkipASN1(cbasn1.GeneralizedTime) ||
		!rd.ReadASN1(&responses, cbasn1.SEQUENCE) {
		return 0, nil, nil, nil, bad
	}
	found := false
	for !responses.Empty() && !found {
		var single, certID, alg, oid, nh, kh, sn cryptobyte.String
		if !responses.ReadASN1(&single, cbasn1.SEQUENCE) || !single.ReadASN1(&certID, cbasn1.SEQUENCE) ||
			!certID.ReadASN1(&alg, cbasn1.SEQUENCE) || !alg.ReadASN1(&oid, cbasn1.OBJECT_IDENTIFIER) ||
			!certID.ReadASN1(&nh, cbasn1.OCTET_STRING) || !certID.ReadASN1(&kh, cbasn1.OCTET_STRING) ||
			!certID.ReadASN1(&sn, cbasn1.INTEGER) || len(sn) == 0 {
			return 0, nil, nil, nil, bad
		}
		if !bytes.Equal(canonicalSerial(sn), serial) {
			continue
		}
		found = true
		nameHash, keyHash = nh, kh
		switch {
		case bytes.Equal(oid, oidSHA1DER):
			h = crypto.SHA1
		case bytes.Equal(oid, oidSHA256DER):
			h = crypto.SHA256
		case bytes.Equal(oid, oidSHA384DER):
			h = crypto.SHA384
		case bytes.Equal(oid, oidSHA512DER):
			h = crypto.SHA512
		default:
			return 0, nil, nil, nil, errors.New("unsupported CertID hash algorithm")
		}
	}
	if !found {
		return 0, nil, nil, nil, errors.New("no answer for this certificate's serial in the response")
	}
	var exts cryptobyte.String
	var present bool
	if !rd.ReadOptionalASN1(&exts, &present, cbasn1.Tag(1).Constructed().ContextSpecific()) {
		return 0, nil, nil, nil, bad
	}
	if present {
		var list cryptobyte.String
		if !exts.ReadASN1(&list, cbasn1.SEQUENCE) {
			return 0, nil, nil, nil, bad
		}
		for !list.Empty() {
			e, ok := readExtension(&list)
			if !ok {
				return 0, nil, nil, nil, bad
			}
			if bytes.Equal(e.oid, oidOCSPNonceDER) {
				// RFC 8954: an OCTET STRING inside extnValue; some responders
				// put the nonce bytes directly.
				v := cryptobyte.String(e.value)
				var inner cryptobyte.String
				if v.ReadASN1(&inner, cbasn1.OCTET_STRING) && v.Empty() {
					nonce = inner
				} else {
					nonce = e.value
				}
				if nonce == nil {
					nonce = []byte{}
				}
			} else if e.critical {
				return 0, nil, nil, nil, errors.New("unsupported critical response extension")
			}
		}
	}
	return h, nameHash, keyHash, nonce, nil
}
