package certload

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"strings"
	"testing"
)

// encKeyDER builds an EncryptedPrivateKeyInfo with PBES2 and the given KDF
// and cipher, around data. No real encryption: these inputs must be refused
// before any decryption runs.
func encKeyDER(t *testing.T, kdfOID asn1.ObjectIdentifier, kdfParams any, encOID asn1.ObjectIdentifier, iv []byte, data []byte) []byte {
	t.Helper()
	must := func(b []byte, err error) []byte {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	pbes2 := pbes2Params{
		KDF: pkix.AlgorithmIdentifier{Algorithm: kdfOID, Parameters: asn1.RawValue{FullBytes: must(asn1.Marshal(kdfParams))}},
		Enc: pkix.AlgorithmIdentifier{Algorithm: encOID, Parameters: asn1.RawValue{FullBytes: must(asn1.Marshal(iv))}},
	}
	return must(asn1.Marshal(encryptedPrivateKeyInfo{
		Algo: pkix.AlgorithmIdentifier{Algorithm: oidPBES2, Parameters: asn1.RawValue{FullBytes: must(asn1.Marshal(pbes2))}},
		Data: data,
	}))
}

type pbkdf2NoKeyLen struct {
	Salt []byte
	Iter int
	PRF  pkix.AlgorithmIdentifier `asn1:"optional"`
}

func TestCheckEncryptedPKCS8(t *testing.T) {
	salt, iv16, block := make([]byte, 8), make([]byte, 16), make([]byte, 32)
	sha256PRF := pkix.AlgorithmIdentifier{Algorithm: oidHMACSHA256, Parameters: asn1.NullRawValue}
	pbkdf2 := func(iter int) pbkdf2NoKeyLen { return pbkdf2NoKeyLen{Salt: salt, Iter: iter, PRF: sha256PRF} }
	pbes1 := func(t *testing.T) []byte {
		b, err := asn1.Marshal(encryptedPrivateKeyInfo{
			Algo: pkix.AlgorithmIdentifier{Algorithm: asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 1, 3}},
			Data: block,
		})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	oidAES256GCM := asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 46}
	cases := []struct {
		name string
		der  func(t *testing.T) []byte
		err  error
		msg  string
	}{
		{"well-formed passes the check", func(t *testing.T) []byte {
			return encKeyDER(t, oidPBKDF2, pbkdf2(2048), oidAES256CBC, iv16, block)
		}, nil, ""},
		{"not DER", func(*testing.T) []byte { return []byte{0x30, 0x05, 1} }, ErrMalformed, "not a valid PKCS#8"},
		{"trailing data", func(t *testing.T) []byte {
			return append(encKeyDER(t, oidPBKDF2, pbkdf2(2048), oidAES256CBC, iv16, block), 0)
		}, ErrMalformed, "not a valid PKCS#8"},
		{"PBES1", pbes1, ErrUnsupported, "legacy PBES1 scheme 1.2.840.113549.1.12.1.3; re-encrypt it: openssl pkcs8"},
		{"GCM is refused (the library would decrypt it as CBC)", func(t *testing.T) []byte {
			return encKeyDER(t, oidPBKDF2, pbkdf2(2048), oidAES256GCM, make([]byte, 12), block)
		}, ErrUnsupported, "unsupported cipher"},
		{"short IV (the library would panic)", func(t *testing.T) []byte {
			return encKeyDER(t, oidPBKDF2, pbkdf2(2048), oidAES256CBC, iv16[:8], block)
		}, ErrMalformed, "invalid cipher IV"},
		{"partial block (the library would panic)", func(t *testing.T) []byte {
			return encKeyDER(t, oidPBKDF2, pbkdf2(2048), oidAES128CBC, iv16, block[:20])
		}, ErrMalformed, "whole number of cipher blocks"},
		{"empty data", func(t *testing.T) []byte {
			return encKeyDER(t, oidPBKDF2, pbkdf2(2048), oidAES128CBC, iv16, nil)
		}, ErrMalformed, "whole number of cipher blocks"},
		{"3DES wants an 8-byte IV", func(t *testing.T) []byte {
			return encKeyDER(t, oidPBKDF2, pbkdf2(2048), oidDESEDE3CBC, iv16, block)
		}, ErrMalformed, "invalid cipher IV"},
		{"runaway PBKDF2", func(t *testing.T) []byte {
			return encKeyDER(t, oidPBKDF2, pbkdf2(maxPBKDF2Iterations+1), oidAES256CBC, iv16, block)
		}, ErrUnsupported, "iteration count 10000001 is outside 1..10000000"},
		{"zero iterations", func(t *testing.T) []byte {
			return encKeyDER(t, oidPBKDF2, pbkdf2(0), oidAES256CBC, iv16, block)
		}, ErrUnsupported, "iteration count 0"},
		{"unsupported PRF", func(t *testing.T) []byte {
			p := pbkdf2(2048)
			p.PRF.Algorithm = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 11} // hmacWithSHA512
			return encKeyDER(t, oidPBKDF2, p, oidAES256CBC, iv16, block)
		}, ErrUnsupported, "unsupported PBKDF2 PRF 1.2.840.113549.2.11"},
		{"key length with PRF", func(t *testing.T) []byte {
			return encKeyDER(t, oidPBKDF2, pbkdf2Params{Salt: salt, Iter: 2048, KeyLength: 32, PRF: sha256PRF}, oidAES256CBC, iv16, block)
		}, ErrUnsupported, "explicit key length"},
		{"runaway scrypt memory", func(t *testing.T) []byte {
			return encKeyDER(t, oidScrypt, scryptParams{Salt: salt, N: 1 << 20, R: 8, P: 1}, oidAES256CBC, iv16, block)
		}, ErrUnsupported, "scrypt parameters N=1048576 r=8 p=1"},
		{"scrypt N not a power of two", func(t *testing.T) []byte {
			return encKeyDER(t, oidScrypt, scryptParams{Salt: salt, N: 1000, R: 8, P: 1}, oidAES256CBC, iv16, block)
		}, ErrUnsupported, "scrypt parameters"},
		{"unknown KDF", func(t *testing.T) []byte {
			return encKeyDER(t, asn1.ObjectIdentifier{1, 2, 3}, pbkdf2(1), oidAES256CBC, iv16, block)
		}, ErrUnsupported, "unsupported key derivation function 1.2.3"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := checkEncryptedPKCS8(tc.der(t))
			if tc.err == nil {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if !errors.Is(err, tc.err) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("error %v, want %v containing %q", err, tc.err, tc.msg)
			}
		})
	}
}

func TestGuard(t *testing.T) {
	err := guard(func() error { panic("secret bytes") })
	if !errors.Is(err, errDecoderPanic) || strings.Contains(err.Error(), "secret") {
		t.Fatalf("guard = %v", err)
	}
	want := errors.New("plain")
	if err := guard(func() error { return want }); err != want {
		t.Fatalf("guard changed the error: %v", err)
	}
}
