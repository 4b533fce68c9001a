package certload

import (
	"bytes"
	"encoding/asn1"
	"encoding/binary"
	"path/filepath"
	"strings"
	"unicode/utf8"
)

// format is a file format, either expected (from the file name) or found
// (from the content).
type format int

const (
	fmtUnknown format = iota // binary data of no known kind
	fmtPEM                   // text with at least one "-----BEGIN" line
	fmtText                  // text without any PEM block
	fmtPKCS12                // DER PFX (SEQUENCE { INTEGER 3, ... })
	fmtJKS                   // Java KeyStore, magic 0xFEEDFEED
	fmtJCEKS                 // Java JCEKS keystore, magic 0xCECECECE
	fmtDERCert               // a DER structure starting SEQUENCE { SEQUENCE ... }
	fmtDERKey                // a DER structure starting SEQUENCE { INTEGER 0|1, ... }
)

const (
	jksMagic   = 0xFEEDFEED
	jceksMagic = 0xCECECECE
)

func (f format) String() string {
	switch f {
	case fmtPEM:
		return "PEM"
	case fmtText:
		return "text"
	case fmtPKCS12:
		return "PKCS#12"
	case fmtJKS:
		return "JKS"
	case fmtJCEKS:
		return "JCEKS"
	case fmtDERCert:
		return "DER certificate"
	case fmtDERKey:
		return "DER private key"
	default:
		return "unknown"
	}
}

// formatByName maps a file name to the format it claims: .p12 and .pfx are
// PKCS#12, .jks is JKS, anything else is PEM. Case-insensitive.
func formatByName(path string) format {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".p12", ".pfx":
		return fmtPKCS12
	case ".jks":
		return fmtJKS
	default:
		return fmtPEM
	}
}

// sniff classifies content. Binary magics are checked first, then the PEM
// marker, then DER. data must not be empty.
func sniff(data []byte) format {
	if len(data) >= 4 {
		switch binary.BigEndian.Uint32(data) {
		case jksMagic:
			return fmtJKS
		case jceksMagic:
			return fmtJCEKS
		}
	}
	if bytes.Contains(data, []byte("-----BEGIN")) {
		return fmtPEM
	}
	if len(data) > 0 && data[0] == 0x30 {
		if f := sniffDER(data); f != fmtUnknown {
			return f
		}
	}
	if utf8.Valid(data) && !bytes.ContainsRune(data, 0) {
		return fmtText
	}
	return fmtUnknown
}

// sniffDER looks at the first element inside an outer DER SEQUENCE that spans
// the whole input: INTEGER 3 is a PKCS#12 PFX, INTEGER 0 or 1 a PKCS#1,
// PKCS#8 or SEC1 private key, a SEQUENCE a certificate (or another signed
// structure such as a CRL, which is reported the same way).
func sniffDER(data []byte) format {
	var outer asn1.RawValue
	rest, err := asn1.Unmarshal(data, &outer)
	if err != nil || len(rest) != 0 || outer.Class != asn1.ClassUniversal || outer.Tag != asn1.TagSequence {
		return fmtUnknown
	}
	var first asn1.RawValue
	if _, err := asn1.Unmarshal(outer.Bytes, &first); err != nil || first.Class != asn1.ClassUniversal {
		return fmtUnknown
	}
	switch {
	case first.Tag == asn1.TagInteger && bytes.Equal(first.Bytes, []byte{3}):
		return fmtPKCS12
	case first.Tag == asn1.TagInteger && (bytes.Equal(first.Bytes, []byte{0}) || bytes.Equal(first.Bytes, []byte{1})):
		return fmtDERKey
	case first.Tag == asn1.TagSequence:
		return fmtDERCert
	}
	return fmtUnknown
}

// keystoreFormat is the format to parse path with: the one its name
// suggests, except that a ".jks" file holding PKCS#12 is read as PKCS#12.
// keytool writes PKCS#12 by default since Java 9, whatever the file is
// called, so refusing it would fail on the most common way people make a
// keystore; the content is unambiguous.
func keystoreFormat(path string, data []byte) format {
	want := formatByName(path)
	if want == fmtJKS && sniff(data) == fmtPKCS12 {
		return fmtPKCS12
	}
	return want
}

// checkFormat returns nil if content found by sniffing is acceptable where
// want (from the file name) is expected, else an ErrWrongFormat or
// ErrUnsupported error that says what the file is and what to do. Plain text
// without PEM blocks and unknown binary are left to the parser of want, which
// reports them in its own terms.
func checkFormat(path string, data []byte, want format) error {
	got := sniff(data)
	if got == want || got == fmtUnknown || (got == fmtText && want == fmtPEM) {
		return nil
	}
	switch got {
	case fmtJCEKS:
		return fileErr(path, ErrUnsupported, nil,
			"file is a JCEKS keystore, which is not supported; convert it to PKCS#12: "+
				"keytool -importkeystore -srckeystore %s -srcstoretype JCEKS -destkeystore NEW.p12 -deststoretype PKCS12", path)
	case fmtJKS:
		return fileErr(path, ErrWrongFormat, nil, "file is a JKS keystore, not %s; name it .jks", want)
	case fmtPKCS12:
		return fileErr(path, ErrWrongFormat, nil, "file is a PKCS#12 keystore, not %s; name it .p12", want)
	case fmtPEM:
		return fileErr(path, ErrWrongFormat, nil, "file is PEM, not a %s keystore; name it .pem", want)
	case fmtDERCert:
		return fileErr(path, ErrWrongFormat, nil,
			"file is a DER-encoded certificate, not %s; convert it: openssl x509 -inform der -in %s -out NEW.pem", want, path)
	case fmtDERKey:
		return fileErr(path, ErrWrongFormat, nil,
			"file is a DER-encoded private key, not %s; convert it: openssl pkey -inform der -in %s -out NEW.pem", want, path)
	case fmtText:
		return fileErr(path, ErrWrongFormat, nil, "file is text without PEM blocks, not a %s keystore", want)
	}
	return nil
}
