package certload

import (
	"crypto/sha1"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/binary"
	"errors"
	"fmt"
)

// JKS layout (big-endian), as written by Java's sun.security.provider
// JavaKeyStore:
//
//	magic u32 (0xFEEDFEED) | version u32 (1 or 2) | count u32 | entries | SHA-1 digest (20 bytes)
//	entry:   tag u32 | alias (u16 length + bytes) | creation time u64 | body
//	tag 1 (private key):  key length u32 + protected key | cert count u32 | certs
//	tag 2 (trusted cert): cert
//	cert:    [version 2: type (u16 length + bytes)] | length u32 + DER
const (
	jksTagPrivateKey  = 1
	jksTagTrustedCert = 2
	jksMinEntrySize   = 4 + 2 + 8 + 4 // tag, alias length, time, smallest body
)

// oidJKSKeyProtector is Sun's proprietary key protection algorithm, the only
// one a JKS private key entry can use.
var oidJKSKeyProtector = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 42, 2, 17, 1, 1}

// walkJKS checks the whole structure of a JKS file against its length
// without allocating, before keystore-go reads it. keystore-go allocates
// every length field before reading (a 20-byte file could ask for 4 GiB) and
// panics on a protected key shorter than 40 bytes; after walkJKS succeeds,
// neither can happen. Trailing bytes after the digest are refused.
func walkJKS(data []byte) error {
	r := &jksReader{b: data}
	magic, err := r.u32("magic")
	if err != nil || magic != jksMagic {
		return errors.New("no JKS magic 0xFEEDFEED")
	}
	version, err := r.u32("version")
	if err != nil {
		return err
	}
	if version != 1 && version != 2 {
		return fmt.Errorf("unknown JKS version %d", version)
	}
	n, err := r.u32("entry count")
	if err != nil {
		return err
	}
	if uint64(n) > uint64(r.left())/jksMinEntrySize {
		return fmt.Errorf("entry count %d does not fit in the file", n)
	}
	for i := uint32(0); i < n; i++ {
		if err := walkJKSEntry(r, version); err != nil {
			return fmt.Errorf("entry %d: %w", i+1, err)
		}
	}
	if r.left() != sha1.Size {
		return fmt.Errorf("expected a %d-byte digest after the entries, found %d bytes", sha1.Size, r.left())
	}
	return nil
}

func walkJKSEntry(r *jksReader, version uint32) error {
	tag, err := r.u32("entry tag")
	if err != nil {
		return err
	}
	if _, err := r.str("alias"); err != nil {
		return err
	}
	if _, err := r.take(8, "creation time"); err != nil {
		return err
	}
	switch tag {
	case jksTagPrivateKey:
		kl, err := r.u32("key length")
		if err != nil {
			return err
		}
		key, err := r.take(uint64(kl), "protected private key")
		if err != nil {
			return err
		}
		if err := checkJKSKeyProtection(key); err != nil {
			return err
		}
		cn, err := r.u32("certificate count")
		if err != nil {
			return err
		}
		if uint64(cn) > uint64(r.left())/jksMinCertSize(version) {
			return fmt.Errorf("certificate count %d does not fit in the file", cn)
		}
		for j := uint32(0); j < cn; j++ {
			if err := walkJKSCert(r, version); err != nil {
				return fmt.Errorf("certificate %d: %w", j+1, err)
			}
		}
		return nil
	case jksTagTrustedCert:
		return walkJKSCert(r, version)
	default:
		return fmt.Errorf("unknown entry tag %d (secret-key entries exist only in JCEKS and PKCS#12)", tag)
	}
}

func jksMinCertSize(version uint32) uint64 {
	if version == 2 {
		return 2 + 5 + 4 + 1 // type "X.509", length, at least one byte
	}
	return 4 + 1
}

func walkJKSCert(r *jksReader, version uint32) error {
	if version == 2 {
		typ, err := r.str("certificate type")
		if err != nil {
			return err
		}
		if string(typ) != "X.509" {
			return fmt.Errorf("certificate type %s is not X.509", quoteType(string(typ)))
		}
	}
	cl, err := r.u32("certificate length")
	if err != nil {
		return err
	}
	if cl == 0 {
		return errors.New("empty certificate")
	}
	_, err = r.take(uint64(cl), "certificate")
	return err
}

// checkJKSKeyProtection checks the wrapper keystore-go's decrypt expects:
// an EncryptedPrivateKeyInfo with Sun's algorithm and at least a 20-byte
// salt and a 20-byte check digest.
func checkJKSKeyProtection(key []byte) error {
	var info struct {
		Algo pkix.AlgorithmIdentifier
		Data []byte
	}
	if rest, err := asn1.Unmarshal(key, &info); err != nil || len(rest) != 0 {
		return errors.New("protected private key is not a valid EncryptedPrivateKeyInfo")
	}
	if !info.Algo.Algorithm.Equal(oidJKSKeyProtector) {
		return fmt.Errorf("private key is protected with unsupported algorithm %s", info.Algo.Algorithm)
	}
	if len(info.Data) < 2*sha1.Size {
		return errors.New("protected private key is too short")
	}
	return nil
}

// jksReader reads big-endian fields with bounds checks and no allocation.
type jksReader struct {
	b   []byte
	off int
}

func (r *jksReader) left() int { return len(r.b) - r.off }

func (r *jksReader) take(n uint64, what string) ([]byte, error) {
	if n > uint64(r.left()) {
		return nil, fmt.Errorf("%s (%d bytes) runs past the end of the file", what, n)
	}
	out := r.b[r.off : r.off+int(n)]
	r.off += int(n)
	return out, nil
}

func (r *jksReader) u32(what string) (uint32, error) {
	b, err := r.take(4, what)
	if err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint32(b), nil
}

// str reads a u16-length-prefixed string (Java's modified UTF-8).
func (r *jksReader) str(what string) ([]byte, error) {
	lb, err := r.take(2, what+" length")
	if err != nil {
		return nil, err
	}
	return r.take(uint64(binary.BigEndian.Uint16(lb)), what)
}
