package certload

import (
	"bytes"
	"os"
)

// password is a resolved password. set reports whether a password source was
// configured at all, so "no password configured" and "empty password" can be
// told apart in messages. The bytes are never printed.
type password struct {
	b   []byte
	set bool
}

// String keeps a password out of any accidental %v formatting.
func (password) String() string { return "[redacted]" }

// GoString keeps a password out of any accidental %#v formatting.
func (password) GoString() string { return "[redacted]" }

// wipe overwrites the password bytes. Best effort: copies made for libraries
// that take a string cannot be wiped.
func (p *password) wipe() { wipeBytes(p.b) }

func wipeBytes(b []byte) {
	for i := range b {
		b[i] = 0
	}
}

// resolvePassword reads the password from file (one trailing "\n" or "\r\n"
// removed) or from the environment variable env. Both empty means no password
// is configured, which is not an error here. An unset or empty variable, or
// an empty file, is an ErrPasswordSource error: a configured source that
// yields nothing is a mistake, not a request for no password.
func resolvePassword(file, env string) (password, error) {
	switch {
	case file != "":
		data, err := readFile(file)
		if err != nil {
			if fe, ok := err.(*FileError); ok && fe.Reason == ErrEmptyFile {
				return password{}, fileErr(file, ErrPasswordSource, nil, "password file is empty")
			}
			return password{}, err
		}
		data = trimOneNewline(data)
		if len(data) == 0 {
			return password{}, fileErr(file, ErrPasswordSource, nil, "password file is empty")
		}
		return password{b: data, set: true}, nil
	case env != "":
		v, ok := os.LookupEnv(env)
		if !ok {
			return password{}, specErr(ErrPasswordSource, "password environment variable %s is not set", env)
		}
		if v == "" {
			return password{}, specErr(ErrPasswordSource, "password environment variable %s is empty", env)
		}
		return password{b: []byte(v), set: true}, nil
	default:
		return password{}, nil
	}
}

func trimOneNewline(b []byte) []byte {
	if bytes.HasSuffix(b, []byte("\r\n")) {
		return b[:len(b)-2]
	}
	if bytes.HasSuffix(b, []byte("\n")) {
		return b[:len(b)-1]
	}
	return b
}
