package revocation

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	// Hash implementations used by CRL signatures.
	_ "crypto/sha1"
	_ "crypto/sha256"
	_ "crypto/sha512"
)

// sigKind is the public-key family of a signature algorithm.
type sigKind uint8

const (
	sigRSA sigKind = iota + 1
	sigRSAPSS
	sigECDSA
	sigEd25519
)

// sigAlg is a parsed AlgorithmIdentifier of a CRL signature.
type sigAlg struct {
	kind sigKind
	hash crypto.Hash // 0 for Ed25519
	salt int         // RSASSA-PSS salt length
	name string
}

// parseSigAlg reads an AlgorithmIdentifier (its content, without the outer
// SEQUENCE) naming a signature algorithm. MD5 and MD2 are not accepted.
func parseSigAlg(alg cryptobyte.String) (sigAlg, error) {
	var oid cryptobyte.String
	if !alg.ReadASN1(&oid, cbasn1.OBJECT_IDENTIFIER) {
		return sigAlg{}, errors.New("malformed signature algorithm")
	}
	// Parameters: absent or NULL, except for RSASSA-PSS.
	onlyNull := func() error {
		if alg.Empty() {
			return nil
		}
		var null cryptobyte.String
		if alg.ReadASN1(&null, cbasn1.NULL) && len(null) == 0 && alg.Empty() {
			return nil
		}
		return errors.New("unexpected signature algorithm parameters")
	}
	var a sigAlg
	switch {
	case bytes.Equal(oid, oidSHA256RSADER):
		a = sigAlg{sigRSA, crypto.SHA256, 0, "SHA256-RSA"}
	case bytes.Equal(oid, oidSHA384RSADER):
		a = sigAlg{sigRSA, crypto.SHA384, 0, "SHA384-RSA"}
	case bytes.Equal(oid, oidSHA512RSADER):
		a = sigAlg{sigRSA, crypto.SHA512, 0, "SHA512-RSA"}
	case bytes.Equal(oid, oidSHA1RSADER):
		a = sigAlg{sigRSA, crypto.SHA1, 0, "SHA1-RSA"}
	case bytes.Equal(oid, oidECDSASHA256DER):
		a = sigAlg{sigECDSA, crypto.SHA256, 0, "ECDSA-SHA256"}
	case bytes.Equal(oid, oidECDSASHA384DER):
		a = sigAlg{sigECDSA, crypto.SHA384, 0, "ECDSA-SHA384"}
	case bytes.Equal(oid, oidECDSASHA512DER):
		a = sigAlg{sigECDSA, crypto.SHA512, 0, "ECDSA-SHA512"}
	case bytes.Equal(oid, oidECDSASHA1DER):
		a = sigAlg{sigECDSA, crypto.SHA1, 0, "ECDSA-SHA1"}
	case bytes.Equal(oid, oidEd25519DER):
		if !alg.Empty() {
			return sigAlg{}, errors.New("unexpected Ed25519 parameters")
		}
		return sigAlg{sigEd25519, 0, 0, "Ed25519"}, nil
	case bytes.Equal(oid, oidRSAPSSDER):
		return parsePSS(alg)
	default:
		return sigAlg{}, fmt.Errorf("unsupported signature algorithm (OID %x)", []byte(oid))
	}
	if a.kind == sigECDSA {
		if !alg.Empty() {
			return sigAlg{}, errors.New("unexpected ECDSA parameters")
		}
		return a, nil
	}
	return a, onlyNull()
}

// parsePSS reads RSASSA-PSS-params (RFC 4055): hash [0], mask generation
// [1] (MGF1 with the same hash), salt length [2], trailer field [3].
func parsePSS(alg cryptobyte.String) (sigAlg, error) {
	bad := errors.New("malformed RSASSA-PSS parameters")
	var params cryptobyte.String
	if !alg.ReadASN1(&params, cbasn1.SEQUENCE) || !alg.Empty() {
		return sigAlg{}, bad
	}
	a := sigAlg{kind: sigRSAPSS, hash: crypto.SHA1, salt: 20}
	hashOf := func(s cryptobyte.String) (crypto.Hash, bool) {
		var ai, oid cryptobyte.String
		if !s.ReadASN1(&ai, cbasn1.SEQUENCE) || !ai.ReadASN1(&oid, cbasn1.OBJECT_IDENTIFIER) {
			return 0, false
		}
		switch {
		case bytes.Equal(oid, oidSHA256DER):
			return crypto.SHA256, true
		case bytes.Equal(oid, oidSHA384DER):
			return crypto.SHA384, true
		case bytes.Equal(oid, oidSHA512DER):
			return crypto.SHA512, true
		case bytes.Equal(oid, oidSHA1DER):
			return crypto.SHA1, true
		}
		return 0, false
	}
	var v cryptobyte.String
	var present bool
	if !params.ReadOptionalASN1(&v, &present, cbasn1.Tag(0).Constructed().ContextSpecific()) {
		return sigAlg{}, bad
	}
	if present {
		h, ok := hashOf(v)
		if !ok {
			return sigAlg{}, bad
		}
		a.hash = h
	}
	if !params.ReadOptionalASN1(&v, &present, cbasn1.Tag(1).Constructed().ContextSpecific()) {
		return sigAlg{}, bad
	}
	if present {
		var mgf, oid cryptobyte.String
		if !v.ReadASN1(&mgf, cbasn1.SEQUENCE) || !mgf.ReadASN1(&oid, cbasn1.OBJECT_IDENTIFIER) || !bytes.Equal(oid, oidMGF1DER) {
			return sigAlg{}, bad
		}
		if h, ok := hashOf(mgf); !ok || h != a.hash {
			return sigAlg{}, errors.New("RSASSA-PSS with a different MGF1 hash is not supported")
		}
	}
	if !params.ReadOptionalASN1(&v, &present, cbasn1.Tag(2).Constructed().ContextSpecific()) {
		return sigAlg{}, bad
	}
	if present {
		var salt int64
		if !v.ReadASN1Int64WithTag(&salt, cbasn1.INTEGER) || salt < 0 || salt > 1024 {
			return sigAlg{}, bad
		}
		a.salt = int(salt)
	}
	a.name = "RSASSA-PSS-" + a.hash.String()
	return a, nil
}

// verifyDigest checks sig over a message whose digest under a.hash is
// digest (msg is the message itself, needed for Ed25519 only) with the
// public key of issuer.
func (a sigAlg) verifyDigest(issuer *x509.Certificate, digest, msg, sig []byte) error {
	switch pub := issuer.PublicKey.(type) {
	case *rsa.PublicKey:
		switch a.kind {
		case sigRSA:
			return rsa.VerifyPKCS1v15(pub, a.hash, digest, sig)
		case sigRSAPSS:
			return rsa.VerifyPSS(pub, a.hash, digest, sig, &rsa.PSSOptions{SaltLength: a.salt, Hash: a.hash})
		}
	case *ecdsa.PublicKey:
		if a.kind == sigECDSA {
			if !ecdsa.VerifyASN1(pub, digest, sig) {
				return errors.New("ECDSA verification failure")
			}
			return nil
		}
	case ed25519.PublicKey:
		if a.kind == sigEd25519 {
			if !ed25519.Verify(pub, msg, sig) {
				return errors.New("Ed25519 verification failure")
			}
			return nil
		}
	}
	return fmt.Errorf("a %s signature cannot come from the issuer's %s key", a.name, issuer.PublicKeyAlgorithm)
}
