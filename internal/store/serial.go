package store

import (
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"strings"
)

// maxSerialBytes caps the serial numbers ParseSerial accepts. RFC 5280 lets
// conforming CAs use at most 20 octets; 32 leaves room for non-conforming
// issuers without accepting unbounded input.
const maxSerialBytes = 32

// maxSerialInput caps the raw text ParseSerial looks at, separators and
// leading zeros included.
const maxSerialInput = 4 * maxSerialBytes * 3

// SerialHex formats a certificate serial number the way the store keys it:
// the content octets of its DER INTEGER in lower-case hex, without
// separators. A positive serial whose top bit is set therefore keeps the
// leading "00" that DER requires ("00ff" for 255); no other padding is added.
// It returns "" for nil. Negative serials, which RFC 5280 forbids, get a
// leading "-" and are refused by ParseSerial and by the store.
func SerialHex(n *big.Int) string {
	if n == nil {
		return ""
	}
	if n.Sign() < 0 {
		return "-" + SerialHex(new(big.Int).Neg(n))
	}
	b := n.Bytes()
	if len(b) == 0 || b[0]&0x80 != 0 {
		b = append([]byte{0}, b...)
	}
	return hex.EncodeToString(b)
}

// ParseSerial parses a serial number written in hex, as operators copy it
// from tools: any case, with or without ':' separators ("0a:1b:2c", as
// openssl x509 -text prints it), with or without the leading "00" of the DER
// encoding ("serial=80A1", as openssl x509 -serial prints it, and "0080a1"
// are the same serial), with an optional "serial=" or "0x" prefix and
// surrounding white space. The result is never negative.
func ParseSerial(s string) (*big.Int, error) {
	if len(s) > maxSerialInput {
		return nil, fmt.Errorf("serial %s: longer than %d characters", quoteShort(s), maxSerialInput)
	}
	t := strings.TrimSpace(s)
	if len(t) >= len("serial=") && strings.EqualFold(t[:len("serial=")], "serial=") {
		t = t[len("serial="):]
	}
	if len(t) >= 2 && t[0] == '0' && (t[1] == 'x' || t[1] == 'X') {
		t = t[2:]
	}
	digits := strings.ReplaceAll(t, ":", "")
	if digits == "" {
		return nil, fmt.Errorf("serial %s: %w", quoteShort(s), errEmptySerial)
	}
	for i := 0; i < len(digits); i++ {
		if !isHexDigit(digits[i]) {
			return nil, fmt.Errorf("serial %s: %q is not a hex digit", quoteShort(s), digits[i])
		}
	}
	if sig := strings.TrimLeft(digits, "0"); len(sig) > 2*maxSerialBytes {
		return nil, fmt.Errorf("serial %s: longer than %d bytes", quoteShort(s), maxSerialBytes)
	}
	n, ok := new(big.Int).SetString(digits, 16)
	if !ok { // unreachable after the checks above; kept so bad input never panics
		return nil, fmt.Errorf("serial %s: not a hex number", quoteShort(s))
	}
	return n, nil
}

var errEmptySerial = errors.New("empty")

// canonicalSerial returns the store's key for a serial written in any form
// ParseSerial accepts.
func canonicalSerial(s string) (string, error) {
	n, err := ParseSerial(s)
	if err != nil {
		return "", err
	}
	return SerialHex(n), nil
}

func isHexDigit(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// quoteShort quotes s for an error message, cut to a readable length.
func quoteShort(s string) string {
	const max = 80
	if len(s) > max {
		return fmt.Sprintf("%q...", s[:max])
	}
	return fmt.Sprintf("%q", s)
}
