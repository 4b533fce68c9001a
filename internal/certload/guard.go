package certload

import "errors"

// errDecoderPanic marks an error made from a panic in a third-party decoder.
// Tests and fuzz targets check that it never occurs; see guard.
var errDecoderPanic = errors.New("decoder panicked")

// guard runs f, a call into a third-party decoder (go-pkcs12, keystore-go,
// youmark/pkcs8), and turns a panic into an error. This package checks its
// inputs so that the known panics cannot happen (see checkEncryptedPKCS8 and
// walkJKS); guard is defence in depth so that a malformed file can never
// crash the gateway during a reload. The panic value is not included: it
// could hold bytes of the input.
func guard(f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = errDecoderPanic
		}
	}()
	return f()
}
