package store_test

import (
	"encoding/asn1"
	"encoding/hex"
	"math/big"
	"strings"
	"testing"

	"github.com/mtlsgate/mtlsgate/internal/store"
)

func TestSerialHex(t *testing.T) {
	for _, tc := range []struct {
		n    *big.Int
		want string
	}{
		{nil, ""},
		{big.NewInt(0), "00"},
		{big.NewInt(1), "01"},
		{big.NewInt(0x7f), "7f"},
		{big.NewInt(0x80), "0080"},
		{big.NewInt(0x80a1), "0080a1"},
		{big.NewInt(0x0a1b2c), "0a1b2c"},
		{big.NewInt(-5), "-05"},
	} {
		if got := store.SerialHex(tc.n); got != tc.want {
			t.Errorf("SerialHex(%v) = %q, want %q", tc.n, got, tc.want)
		}
	}
}

func TestParseSerial(t *testing.T) {
	for in, want := range map[string]int64{
		"80A1":           0x80a1, // openssl x509 -serial
		"serial=80A1":    0x80a1,
		"0080a1":         0x80a1,
		"00:80:a1":       0x80a1, // openssl x509 -text
		"0x80a1":         0x80a1,
		"  0X80A1\n":     0x80a1,
		"a":              10,
		"0":              0,
		"00:00":          0,
		"7fffffffffffff": 0x7fffffffffffff,
	} {
		n, err := store.ParseSerial(in)
		if err != nil || n.Cmp(big.NewInt(want)) != 0 {
			t.Errorf("ParseSerial(%q) = %v, %v; want %#x", in, n, err, want)
		}
	}
	for _, in := range []string{"", " ", ":", "0x", "serial=", "-1", "+1", "12 34", "0g", "ä",
		strings.Repeat("ab", 33), strings.Repeat("x", 100000)} {
		if n, err := store.ParseSerial(in); err == nil {
			t.Errorf("ParseSerial(%.20q) = %v, want an error", in, n)
		}
	}
	// 32 significant bytes are accepted, leading zeros do not count.
	if _, err := store.ParseSerial("0000" + strings.Repeat("ab", 32)); err != nil {
		t.Errorf("32-byte serial: %v", err)
	}
}

// FuzzParseSerial checks that ParseSerial never panics and that what it
// accepts round-trips through SerialHex in every spelling.
func FuzzParseSerial(f *testing.F) {
	for _, s := range []string{"80A1", "serial=0A1B", "00:80:a1", "0x1", "", ":", "zz", "-0", "0000000000000000000000000000000000000000000001"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := store.ParseSerial(s)
		if err != nil {
			return
		}
		if n.Sign() < 0 {
			t.Fatalf("ParseSerial(%q) = %v, negative", s, n)
		}
		checkCanonical(t, n)
		if m, err := store.ParseSerial(strings.ToUpper(s)); err != nil || m.Cmp(n) != 0 {
			t.Fatalf("ParseSerial(upper(%q)) = %v, %v; want %v", s, m, err, n)
		}
	})
}

// FuzzSerialHex checks SerialHex against encoding/asn1's DER INTEGER and
// that ParseSerial reads it back, with and without colons.
func FuzzSerialHex(f *testing.F) {
	for _, b := range [][]byte{{}, {0}, {0x80}, {0, 0, 1}, {0x7f, 0xff}, make([]byte, 32)} {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 32 {
			b = b[:32]
		}
		checkCanonical(t, new(big.Int).SetBytes(b))
	})
}

func checkCanonical(t *testing.T, n *big.Int) {
	t.Helper()
	h := store.SerialHex(n)
	der, err := asn1.Marshal(n)
	if err != nil {
		t.Fatal(err)
	}
	if want := hex.EncodeToString(der[2:]); h != want { // short form: tag, length, content
		t.Fatalf("SerialHex(%v) = %q, DER content is %q", n, h, want)
	}
	if h != strings.ToLower(h) {
		t.Fatalf("SerialHex(%v) = %q, not lower case", n, h)
	}
	var colons []string
	for i := 0; i < len(h); i += 2 {
		colons = append(colons, h[i:i+2])
	}
	openssl := strings.ToUpper(h) // openssl x509 -serial drops the DER sign byte
	if len(h) > 2 && strings.HasPrefix(h, "00") {
		openssl = openssl[2:]
	}
	for _, spelling := range []string{h, strings.ToUpper(h), strings.Join(colons, ":"), "0x" + h, "serial=" + openssl} {
		m, err := store.ParseSerial(spelling)
		if err != nil || m.Cmp(n) != 0 {
			t.Fatalf("ParseSerial(%q) = %v, %v; want %v", spelling, m, err, n)
		}
	}
}
