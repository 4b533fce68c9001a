package identity

import (
	"fmt"
	"strconv"
)

// Format selects how an Identity is encoded into upstream request headers.
// The zero value is FormatRFC9440.
type Format uint8

// Header formats.
const (
	// FormatRFC9440 sets Client-Cert and Client-Cert-Chain (RFC 9440).
	FormatRFC9440 Format = iota
	// FormatXFCC sets Envoy's X-Forwarded-Client-Cert.
	FormatXFCC
	// FormatHeaders sets the X-Client-Cert-* headers, one field each.
	FormatHeaders
	// FormatNone sets no identity header at all.
	FormatNone
)

// ParseFormat parses a format name as written in the configuration:
// "rfc9440", "xfcc", "headers" or "none". The empty string means the default,
// FormatRFC9440. Names are case-sensitive. An unknown name returns an error
// matching ErrUnknownFormat.
func ParseFormat(s string) (Format, error) {
	switch s {
	case "", "rfc9440":
		return FormatRFC9440, nil
	case "xfcc":
		return FormatXFCC, nil
	case "headers":
		return FormatHeaders, nil
	case "none":
		return FormatNone, nil
	}
	return 0, fmt.Errorf("%w %q (want rfc9440, xfcc, headers or none)", ErrUnknownFormat, s)
}

// String returns the configuration name of f ("rfc9440", "xfcc", "headers",
// "none"), or "Format(N)" for a value that is not one of the constants.
func (f Format) String() string {
	switch f {
	case FormatRFC9440:
		return "rfc9440"
	case FormatXFCC:
		return "xfcc"
	case FormatHeaders:
		return "headers"
	case FormatNone:
		return "none"
	}
	return "Format(" + strconv.Itoa(int(f)) + ")"
}

// MarshalText implements encoding.TextMarshaler with the names of String.
// It fails for a value that is not one of the constants.
func (f Format) MarshalText() ([]byte, error) {
	if f > FormatNone {
		return nil, fmt.Errorf("%w: %s", ErrUnknownFormat, f)
	}
	return []byte(f.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler with ParseFormat. On
// failure f is left unchanged.
func (f *Format) UnmarshalText(b []byte) error {
	v, err := ParseFormat(string(b))
	if err != nil {
		return err
	}
	*f = v
	return nil
}
