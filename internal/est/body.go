package est

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
)

// decodeCSRBody turns an EST request body into the DER of a PKCS#10 request
// (or, for a PEM body, the PEM itself, which ca.ParseCSR reads). RFC 7030
// asks for base64 (Content-Transfer-Encoding: base64); clients differ in
// whether they wrap lines, send the header, pad, or send PEM, and a few
// send raw DER. All of those are accepted.
func decodeCSRBody(body []byte) ([]byte, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return nil, errors.New("empty request body: want a base64-encoded PKCS#10 certificate request")
	}
	if bytes.HasPrefix(trimmed, []byte("-----BEGIN")) {
		return trimmed, nil
	}
	compact := make([]byte, 0, len(trimmed))
	for _, c := range trimmed {
		switch c {
		case ' ', '\t', '\r', '\n', '\v', '\f':
		default:
			compact = append(compact, c)
		}
	}
	enc := base64.StdEncoding
	if len(compact)%4 != 0 {
		enc = base64.RawStdEncoding
	}
	der := make([]byte, enc.DecodedLen(len(compact)))
	n, err := enc.Decode(der, compact)
	if err != nil {
		// Raw DER starts with a SEQUENCE tag, which is not base64.
		if body[0] == 0x30 {
			return body, nil
		}
		return nil, fmt.Errorf("request body is not base64 (RFC 7030 §4.2.1 wants a base64-encoded PKCS#10 request): %v", err)
	}
	return der[:n], nil
}
