package certload

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"strings"

	"github.com/youmark/pkcs8"
)

// Limits on the key-derivation work an encrypted PKCS#8 key may ask for.
// The parameters come from the file, so without limits a file could make a
// load (and every reload) take minutes or gigabytes. Common tools stay far
// below: OpenSSL 3 uses 2048 PBKDF2 iterations, Java 10000, OWASP suggests
// 600000; OpenSSL's scrypt default is N=2^14, r=8.
const (
	maxPBKDF2Iterations = 10_000_000
	maxScryptN          = 1 << 20
	maxScryptMemory     = 256 << 20 // bytes: 128 * r * N
	maxScryptP          = 16
)

var (
	oidPBES2      = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 13}
	oidPBKDF2     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 12}
	oidScrypt     = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 11591, 4, 11}
	oidHMACSHA1   = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 7}
	oidHMACSHA256 = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 9}
	oidAES128CBC  = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 2}
	oidAES192CBC  = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 22}
	oidAES256CBC  = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 42}
	oidDESEDE3CBC = asn1.ObjectIdentifier{1, 2, 840, 113549, 3, 7}

	// PBES1 (PKCS#5 v1.5) and PKCS#12 PBE schemes live under these arcs.
	oidPKCS5Arc       = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5}
	oidPKCS12PBEArc   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 1}
	reencryptAdvice   = "re-encrypt it: openssl pkcs8 -topk8 -v2 aes-256-cbc -in KEY -out NEW.key"
	errBadEncryptedPK = errors.New("bad encrypted private key")
)

type encryptedPrivateKeyInfo struct {
	Algo pkix.AlgorithmIdentifier
	Data []byte
}

type pbes2Params struct {
	KDF pkix.AlgorithmIdentifier
	Enc pkix.AlgorithmIdentifier
}

type pbkdf2Params struct {
	Salt      []byte
	Iter      int
	KeyLength int                      `asn1:"optional"`
	PRF       pkix.AlgorithmIdentifier `asn1:"optional"`
}

type scryptParams struct {
	Salt      []byte
	N, R, P   int
	KeyLength int `asn1:"optional"`
}

// decryptPKCS8 decrypts an "ENCRYPTED PRIVATE KEY" (PKCS#8 with PBES2).
// pw must be set. Errors are *keyError.
//
// It checks the structure and bounds the KDF parameters itself before
// handing the DER to github.com/youmark/pkcs8, because that library panics on
// an IV or ciphertext of the wrong length, decrypts its "GCM" OIDs as CBC,
// and runs whatever KDF work the file asks for.
func decryptPKCS8(der []byte, pw password) (any, error) {
	if err := checkEncryptedPKCS8(der); err != nil {
		return nil, err
	}
	var key any
	err := guard(func() error {
		var err error
		key, err = pkcs8.ParsePKCS8PrivateKey(der, pw.b)
		return err
	})
	if err != nil {
		if strings.Contains(err.Error(), "incorrect password") {
			return nil, newKeyError(ErrWrongPassword, nil, "wrong password for the encrypted private key")
		}
		return nil, newKeyError(ErrMalformed, err, "cannot decrypt")
	}
	return key, nil
}

// checkEncryptedPKCS8 validates an EncryptedPrivateKeyInfo enough that
// decrypting it cannot panic or run away. Errors are *keyError.
func checkEncryptedPKCS8(der []byte) error {
	var info encryptedPrivateKeyInfo
	if rest, err := asn1.Unmarshal(der, &info); err != nil || len(rest) != 0 {
		return newKeyError(ErrMalformed, errBadEncryptedPK, "not a valid PKCS#8 EncryptedPrivateKeyInfo")
	}
	alg := info.Algo.Algorithm
	if !alg.Equal(oidPBES2) {
		if hasArc(alg, oidPKCS5Arc) || hasArc(alg, oidPKCS12PBEArc) {
			return newKeyError(ErrUnsupported, nil, "encrypted with legacy PBES1 scheme %s; %s", alg, reencryptAdvice)
		}
		return newKeyError(ErrUnsupported, nil, "unsupported encryption scheme %s; %s", alg, reencryptAdvice)
	}
	var params pbes2Params
	if rest, err := asn1.Unmarshal(info.Algo.Parameters.FullBytes, &params); err != nil || len(rest) != 0 {
		return newKeyError(ErrMalformed, errBadEncryptedPK, "invalid PBES2 parameters")
	}
	keyLen, blockSize, err := checkCipher(params.Enc)
	if err != nil {
		return err
	}
	if err := checkKDF(params.KDF, keyLen); err != nil {
		return err
	}
	if len(info.Data) == 0 || len(info.Data)%blockSize != 0 {
		return newKeyError(ErrMalformed, errBadEncryptedPK, "encrypted data is not a whole number of cipher blocks")
	}
	return nil
}

// checkCipher accepts the CBC ciphers the library implements correctly and
// checks the IV length. It returns the key and block sizes.
func checkCipher(enc pkix.AlgorithmIdentifier) (keyLen, blockSize int, err error) {
	switch {
	case enc.Algorithm.Equal(oidAES128CBC):
		keyLen, blockSize = 16, 16
	case enc.Algorithm.Equal(oidAES192CBC):
		keyLen, blockSize = 24, 16
	case enc.Algorithm.Equal(oidAES256CBC):
		keyLen, blockSize = 32, 16
	case enc.Algorithm.Equal(oidDESEDE3CBC):
		keyLen, blockSize = 24, 8
	default:
		return 0, 0, newKeyError(ErrUnsupported, nil, "unsupported cipher %s; %s", enc.Algorithm, reencryptAdvice)
	}
	var iv []byte
	if rest, err := asn1.Unmarshal(enc.Parameters.FullBytes, &iv); err != nil || len(rest) != 0 || len(iv) != blockSize {
		return 0, 0, newKeyError(ErrMalformed, errBadEncryptedPK, "invalid cipher IV")
	}
	return keyLen, blockSize, nil
}

// checkKDF accepts PBKDF2 (HMAC-SHA1 or HMAC-SHA256) and scrypt within the
// limits above.
func checkKDF(kdf pkix.AlgorithmIdentifier, keyLen int) error {
	switch {
	case kdf.Algorithm.Equal(oidPBKDF2):
		var p pbkdf2Params
		if rest, err := asn1.Unmarshal(kdf.Parameters.FullBytes, &p); err != nil || len(rest) != 0 {
			return newKeyError(ErrMalformed, errBadEncryptedPK, "invalid PBKDF2 parameters")
		}
		if p.Iter < 1 || p.Iter > maxPBKDF2Iterations {
			return newKeyError(ErrUnsupported, nil, "PBKDF2 iteration count %d is outside 1..%d", p.Iter, maxPBKDF2Iterations)
		}
		prf := p.PRF.Algorithm
		if p.KeyLength != 0 && (p.KeyLength != keyLen || len(prf) != 0) {
			// youmark/pkcs8 has no keyLength field: with one present it
			// would read the PRF as absent and derive with HMAC-SHA1.
			return newKeyError(ErrUnsupported, nil, "PBKDF2 parameters with an explicit key length are not supported; %s", reencryptAdvice)
		}
		if len(prf) != 0 && !prf.Equal(oidHMACSHA1) && !prf.Equal(oidHMACSHA256) {
			return newKeyError(ErrUnsupported, nil, "unsupported PBKDF2 PRF %s (need hmacWithSHA256 or hmacWithSHA1); %s", prf, reencryptAdvice)
		}
		return nil
	case kdf.Algorithm.Equal(oidScrypt):
		var p scryptParams
		if rest, err := asn1.Unmarshal(kdf.Parameters.FullBytes, &p); err != nil || len(rest) != 0 {
			return newKeyError(ErrMalformed, errBadEncryptedPK, "invalid scrypt parameters")
		}
		if p.N < 2 || p.N > maxScryptN || p.N&(p.N-1) != 0 || p.R < 1 || p.P < 1 || p.P > maxScryptP ||
			p.R > maxScryptMemory/128/p.N {
			return newKeyError(ErrUnsupported, nil, "scrypt parameters N=%d r=%d p=%d are outside the supported limits", p.N, p.R, p.P)
		}
		if p.KeyLength != 0 && p.KeyLength != keyLen {
			return newKeyError(ErrUnsupported, nil, "scrypt parameters with an explicit key length are not supported; %s", reencryptAdvice)
		}
		return nil
	default:
		return newKeyError(ErrUnsupported, nil, "unsupported key derivation function %s; %s", kdf.Algorithm, reencryptAdvice)
	}
}

func hasArc(oid, arc asn1.ObjectIdentifier) bool {
	return len(oid) > len(arc) && oid[:len(arc)].Equal(arc)
}
