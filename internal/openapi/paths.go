package openapi

import (
	"fmt"
	"net/url"
	"path"
	"strings"
)

// checkTemplate checks an OpenAPI path (a key of paths) against what the
// gateway's matcher accepts in match.path: it starts with "/", each
// "{name}" stands for one segment, a segment holds at most one parameter
// with optional literal text around it, names are non-empty and distinct,
// and there are no empty ("//") or dot segments, which could never match
// a cleaned request path.
func checkTemplate(p string) error {
	if !strings.HasPrefix(p, "/") {
		return fmt.Errorf("must start with /")
	}
	if i := strings.IndexAny(p, "?#"); i >= 0 {
		return fmt.Errorf("contains %q: a query or fragment is not part of a path", p[i])
	}
	segs := strings.Split(p[1:], "/")
	names := map[string]bool{}
	for i, seg := range segs {
		last := i == len(segs)-1
		name, err := checkSegment(seg)
		if err != nil {
			return fmt.Errorf("segment %q: %v", seg, err)
		}
		switch {
		case name != "":
			if names[name] {
				return fmt.Errorf("parameter {%s} appears twice", name)
			}
			names[name] = true
		case seg == "" && !last:
			return fmt.Errorf("empty segment (\"//\"): it can never match a cleaned request path")
		case seg == "." || seg == "..":
			return fmt.Errorf("dot segment %q: it can never match a cleaned request path", seg)
		}
	}
	return nil
}

// checkSegment checks one segment and returns its parameter name, "" for a
// literal segment.
func checkSegment(seg string) (string, error) {
	open := strings.IndexByte(seg, '{')
	closing := strings.IndexByte(seg, '}')
	if open < 0 {
		if closing >= 0 {
			return "", fmt.Errorf("'}' without '{'")
		}
		return "", nil
	}
	if closing >= 0 && closing < open {
		return "", fmt.Errorf("'}' without '{'")
	}
	if closing < 0 {
		return "", fmt.Errorf("'{' is never closed")
	}
	name := seg[open+1 : closing]
	rest := seg[closing+1:]
	switch {
	case strings.IndexByte(name, '{') >= 0:
		return "", fmt.Errorf("'{' inside a parameter name")
	case name == "":
		return "", fmt.Errorf("empty parameter name \"{}\"")
	case strings.IndexByte(rest, '{') >= 0:
		return "", fmt.Errorf("more than one parameter in one segment (the gateway matches one parameter per segment)")
	case strings.IndexByte(rest, '}') >= 0:
		return "", fmt.Errorf("'}' without '{'")
	}
	return name, nil
}

// templateKey returns a checked template with its parameter names
// removed: "/orders/{id}" and "/orders/{orderId}" both give "/orders/{}".
func templateKey(p string) string {
	var b strings.Builder
	for {
		open := strings.IndexByte(p, '{')
		if open < 0 {
			break
		}
		closing := strings.IndexByte(p[open:], '}')
		if closing < 0 {
			break
		}
		b.WriteString(p[:open] + "{}")
		p = p[open+closing+1:]
	}
	b.WriteString(p)
	return b.String()
}

// serverVar is one server variable: its default, and whether it has one.
type serverVar struct {
	def    string
	hasDef bool
}

// serverBase returns the base path of a server URL: its path, with the
// variables replaced by their defaults; a relative URL is relative to
// "/". The result is "" for the root, else a cleaned path without a
// trailing slash.
func serverBase(raw string, vars map[string]serverVar) (string, error) {
	var b strings.Builder
	s := raw
	for {
		open := strings.IndexByte(s, '{')
		closing := strings.IndexByte(s, '}')
		if open < 0 {
			if closing >= 0 {
				return "", fmt.Errorf("'}' without '{'")
			}
			break
		}
		if closing < open {
			if closing >= 0 {
				return "", fmt.Errorf("'}' without '{'")
			}
			return "", fmt.Errorf("'{' is never closed")
		}
		name := s[open+1 : closing]
		v, ok := vars[name]
		switch {
		case !ok:
			return "", fmt.Errorf("variable {%s} is not defined under variables", name)
		case !v.hasDef:
			return "", fmt.Errorf("variable {%s} has no default", name)
		}
		b.WriteString(s[:open] + v.def)
		s = s[closing+1:]
	}
	b.WriteString(s)
	u, err := url.Parse(b.String())
	if err != nil {
		return "", fmt.Errorf("%q is not a URL: %v", b.String(), err)
	}
	if u.Opaque != "" {
		return "", fmt.Errorf("%q has no path a client could call (write https://host:port/path, //host/path or /path)", b.String())
	}
	p := u.Path
	if u.Scheme == "" && u.Host == "" && !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	if p == "" {
		return "", nil
	}
	if strings.ContainsAny(p, "{}") {
		return "", fmt.Errorf("path %q has braces: server base paths cannot be templates", p)
	}
	p = path.Clean(p)
	if p == "/" || p == "." {
		return "", nil
	}
	return p, nil
}

// joinBase puts a base path (see serverBase) in front of a path template.
func joinBase(base, tmpl string) string {
	if base == "" {
		return tmpl
	}
	return base + tmpl
}

// maxName is the longest route name the config accepts.
const maxName = 128

// safeName makes s a config name: letters, digits, '-', '_' and '.' are
// kept, anything else becomes '-'.
func safeName(s string) string {
	var b strings.Builder
	for _, r := range s {
		if isNameChar(r) {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	return b.String()
}

func isNameChar(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.'
}

// slug makes a lower-case name from words: runs of anything but letters,
// digits, '_' and '.' become one '-'. It returns "" when nothing is left.
func slug(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		if isNameChar(r) && r != '-' {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			dash = false
			b.WriteRune(r)
		} else {
			dash = true
		}
	}
	return b.String()
}

// opSlug names an operation without an operationId: "get-orders-id" for
// GET /orders/{id}, "get-root" for GET /.
func opSlug(method, tmpl string) string {
	s := slug(tmpl)
	if s == "" {
		s = "root"
	}
	return strings.ToLower(method) + "-" + s
}

// baseSlug names a base path to tell apart the routes one operation gets
// under several servers.
func baseSlug(base string) string {
	if s := slug(base); s != "" {
		return s
	}
	return "root"
}

// fit shortens name so that name+suffix is a valid length.
func fit(name, suffix string) string { return fitIn(name, suffix, maxName) }

// fitIn shortens name so that name+suffix has at most n bytes.
func fitIn(name, suffix string, n int) string {
	if len(name)+len(suffix) > n {
		name = name[:n-len(suffix)]
	}
	return name + suffix
}
