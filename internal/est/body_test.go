package est

import (
	"bytes"
	"encoding/base64"
	"encoding/pem"
	"strings"
	"testing"

	"github.com/mtlsgate/mtlsgate/internal/ca"
)

func TestDecodeCSRBody(t *testing.T) {
	der := csrFor(t, "device-1")
	b64 := base64.StdEncoding.EncodeToString(der)
	pemCSR := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
	cases := map[string]string{
		"one line":        b64,
		"one line + LF":   b64 + "\n",
		"wrapped CRLF":    wrapped(der),
		"spaces and tabs": " " + b64[:10] + " \t" + b64[10:] + "\n",
		"unpadded":        strings.TrimRight(b64, "="),
		"raw DER":         string(der),
		"PEM":             string(pemCSR),
	}
	for name, body := range cases {
		t.Run(name, func(t *testing.T) {
			data, err := decodeCSRBody([]byte(body))
			if err != nil {
				t.Fatal(err)
			}
			csr, err := ca.ParseCSR(data)
			if err != nil {
				t.Fatal(err)
			}
			if csr.Subject.CommonName != "device-1" {
				t.Errorf("CN %q", csr.Subject.CommonName)
			}
		})
	}
	for _, bad := range []string{"", "  \r\n", "not base64!", "%%%%"} {
		if data, err := decodeCSRBody([]byte(bad)); err == nil {
			if _, err := ca.ParseCSR(data); err == nil {
				t.Errorf("%q accepted", bad)
			}
		}
	}
}

func FuzzDecodeCSRBody(f *testing.F) {
	der := csrFor(f, "device-fuzz")
	f.Add([]byte(base64.StdEncoding.EncodeToString(der)))
	f.Add([]byte(wrapped(der)))
	f.Add(der)
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
	f.Add([]byte("-----BEGIN"))
	f.Add([]byte("MIIB\n===="))
	f.Add([]byte{0x30})
	f.Fuzz(func(t *testing.T, body []byte) {
		data, err := decodeCSRBody(body)
		if err != nil {
			if data != nil {
				t.Fatal("data returned with an error")
			}
			return
		}
		if len(data) == 0 {
			t.Fatal("no data and no error")
		}
		csr, err := ca.ParseCSR(data)
		if err != nil {
			return
		}
		// Whatever parsed must survive re-encoding as one base64 line.
		again, err := decodeCSRBody([]byte(base64.StdEncoding.EncodeToString(csr.Raw) + "\n"))
		if err != nil || !bytes.Equal(again, csr.Raw) {
			t.Fatalf("re-decoding a parsed CSR failed: %v", err)
		}
	})
}
