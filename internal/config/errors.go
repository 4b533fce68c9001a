package config

import (
	"errors"
	"fmt"
	"strings"
)

// FieldError is one configuration problem at a YAML path such as
// "routes[2].allow[0].spiffe_id". Line is 0 when unknown.
type FieldError struct {
	Path string
	Line int
	Err  error
}

func (e *FieldError) Error() string {
	switch {
	case e.Path == "":
		return e.Err.Error()
	case e.Line > 0:
		return fmt.Sprintf("%s (line %d): %v", e.Path, e.Line, e.Err)
	default:
		return fmt.Sprintf("%s: %v", e.Path, e.Err)
	}
}

func (e *FieldError) Unwrap() error { return e.Err }

// Problems is every problem found in one config, in document order.
type Problems []*FieldError

func (p Problems) Error() string {
	var b strings.Builder
	for i, e := range p {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// Err returns p as an error, or nil when there are no problems.
func (p Problems) Err() error {
	if len(p) == 0 {
		return nil
	}
	return p
}

// add records a problem at path.
func (p *Problems) add(path string, format string, args ...any) {
	*p = append(*p, &FieldError{Path: path, Err: fmt.Errorf(format, args...)})
}

// AsProblems flattens err into a list of FieldErrors (a Problems, a single
// FieldError, an errors.Join of them, or any other error as one entry with no
// path).
func AsProblems(err error) Problems {
	if err == nil {
		return nil
	}
	var ps Problems
	if errors.As(err, &ps) {
		return ps
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out Problems
		for _, e := range j.Unwrap() {
			out = append(out, AsProblems(e)...)
		}
		return out
	}
	var fe *FieldError
	if errors.As(err, &fe) {
		return Problems{fe}
	}
	return Problems{{Err: err}}
}
