package certload

import (
	"bytes"
	"encoding/pem"
	"strconv"
	"strings"
)

// pemBlock is a decoded PEM block and the 1-based line of its BEGIN line,
// for messages.
type pemBlock struct {
	*pem.Block
	line int
}

var beginMarker = []byte("-----BEGIN")

// decodePEM splits data into PEM blocks. Text outside blocks is ignored, as
// openssl and crypto/tls do (CA bundles carry comments and `openssl x509
// -text` output). But a BEGIN line that does not start a well-formed block is
// an error: encoding/pem would silently skip it, and a corrupted certificate
// or key should be reported, not dropped.
func decodePEM(path string, data []byte) ([]pemBlock, error) {
	var (
		out     []pemBlock
		off     int // bytes of data consumed so far
		line    = 1 // line number at off
		scanned int // newlines counted up to here
	)
	for {
		idx := nextBegin(data[off:])
		if idx < 0 {
			return out, nil
		}
		start := off + idx
		line += bytes.Count(data[scanned:start], []byte("\n"))
		scanned = start
		blk, rest := pem.Decode(data[start:])
		end := len(data) - len(rest)
		if blk == nil || end <= start || bytes.Count(data[start:end], beginMarker) != 1 {
			return nil, fileErr(path, ErrMalformed, nil,
				"PEM block at line %d is malformed (bad base64, headers or END line)", line)
		}
		out = append(out, pemBlock{Block: blk, line: line})
		off = end
	}
}

// nextBegin returns the index of the next "-----BEGIN" that starts a line,
// or -1. encoding/pem only recognises BEGIN at the start of a line, too.
func nextBegin(b []byte) int {
	if bytes.HasPrefix(b, beginMarker) {
		return 0
	}
	i := bytes.Index(b, append([]byte("\n"), beginMarker...))
	if i < 0 {
		return -1
	}
	return i + 1
}

// blockKind is what a PEM block type means to this package.
type blockKind int

const (
	blockUnknown     blockKind = iota // not recognised: an error wherever it appears
	blockCert                         // "CERTIFICATE"
	blockKey                          // a private key type this package parses
	blockUnsupported                  // recognised, deliberately not supported (see hint)
	blockPublic                       // public, non-certificate material: ignored
)

// classifyBlock implements the one rule for PEM block types, shared by key
// pair and trust bundle files:
//
//   - CERTIFICATE is a certificate.
//   - PRIVATE KEY, RSA PRIVATE KEY, EC PRIVATE KEY and ENCRYPTED PRIVATE KEY
//     are private keys.
//   - Other "... PRIVATE KEY" types (DSA, OpenSSH) and TRUSTED CERTIFICATE
//     (OpenSSL's certificate-plus-trust-settings form, whose "reject"
//     settings this package could not honour) are refused with a hint.
//   - Public material that is clearly not a certificate (X509 CRL,
//     CERTIFICATE REQUEST, NEW CERTIFICATE REQUEST, PUBLIC KEY,
//     RSA PUBLIC KEY, EC PARAMETERS, DH PARAMETERS) is ignored.
//   - Anything else is an error: a block we cannot name might be a
//     certificate we would otherwise silently drop.
func classifyBlock(typ string) (blockKind, string) {
	switch typ {
	case "CERTIFICATE":
		return blockCert, ""
	case "PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY", "ENCRYPTED PRIVATE KEY":
		return blockKey, ""
	case "X509 CRL", "CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST",
		"PUBLIC KEY", "RSA PUBLIC KEY", "EC PARAMETERS", "DH PARAMETERS":
		return blockPublic, ""
	case "TRUSTED CERTIFICATE":
		return blockUnsupported, "OpenSSL TRUSTED CERTIFICATE blocks (with trust settings) are not supported; " +
			"convert to a plain certificate: openssl x509 -in FILE -out NEW.pem"
	case "OPENSSH PRIVATE KEY":
		return blockUnsupported, "OpenSSH-format private keys are not supported; use a PKCS#8 PEM key (openssl genpkey)"
	case "DSA PRIVATE KEY":
		return blockUnsupported, "DSA keys are not supported by TLS 1.3 or crypto/tls; use an ECDSA, Ed25519 or RSA key"
	}
	if strings.HasSuffix(typ, "PRIVATE KEY") {
		return blockUnsupported, "private key type " + quoteType(typ) + " is not supported; use PKCS#8 (PRIVATE KEY), PKCS#1 or SEC1"
	}
	return blockUnknown, ""
}

// quoteType shows a PEM type read from a file safely in a message: bounded
// and Go-quoted, so control bytes cannot forge log lines.
func quoteType(typ string) string {
	if len(typ) > 40 {
		typ = typ[:40] + "..."
	}
	return strconv.Quote(typ)
}
