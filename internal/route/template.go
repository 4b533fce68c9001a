package route

import (
	"fmt"
	"strings"
)

// Segment kinds of a path template, in order of specificity: at the first
// segment where two matching templates differ, the lower kind wins.
const (
	kindLiteral = '0' // "orders": the segment itself
	kindAffix   = '1' // "{name}.json", "v{version}": a parameter with literal text around it
	kindParam   = '2' // "{id}": any one non-empty segment
)

// tmplSeg is one parsed segment of a path template.
type tmplSeg struct {
	kind   byte
	lit    string // the segment, for kindLiteral
	prefix string // literal text before the parameter, for kindAffix
	suffix string // literal text after the parameter, for kindAffix
}

// ParseTemplate checks a route path: an exact path ("/v1/health") or a
// template with parameters ("/v1/orders/{id}", "/files/{name}.json").
//
// The path must start with "/". Each "{name}" stands for exactly one
// non-empty path segment; a segment holds at most one parameter, optionally
// with literal text before and/or after it. Parameter names must be
// non-empty and distinct within the template, and braces must pair up.
// Empty segments ("//") and "." or ".." segments are refused: request paths
// are cleaned (see CleanPath) before matching, so such a route could never
// match. A trailing "/" is significant: "/a" and "/a/" are different paths.
func ParseTemplate(s string) error {
	_, err := parseTemplate(s)
	return err
}

func parseTemplate(s string) ([]tmplSeg, error) {
	if !strings.HasPrefix(s, "/") {
		return nil, fmt.Errorf("path template %q: must start with /", s)
	}
	var segs []tmplSeg
	var names []string
	rest := s[1:]
	for {
		seg, tail, more := strings.Cut(rest, "/")
		ts, name, err := parseSegment(seg)
		if err != nil {
			return nil, fmt.Errorf("path template %q: segment %q: %s", s, seg, err)
		}
		if name != "" {
			for _, n := range names {
				if n == name {
					return nil, fmt.Errorf("path template %q: parameter {%s} appears twice", s, name)
				}
			}
			names = append(names, name)
		}
		if ts.kind == kindLiteral {
			switch {
			case seg == "" && more:
				return nil, fmt.Errorf("path template %q: empty segment (\"//\") can never match a cleaned request path", s)
			case dotSegment(seg) == "." || dotSegment(seg) == "..":
				return nil, fmt.Errorf("path template %q: dot segment %q can never match a cleaned request path", s, seg)
			}
		}
		segs = append(segs, ts)
		if !more {
			return segs, nil
		}
		rest = tail
	}
}

// parseSegment parses one segment (no '/') and returns it with its
// parameter name, "" for a literal segment.
func parseSegment(seg string) (tmplSeg, string, error) {
	open := strings.IndexByte(seg, '{')
	if open < 0 {
		if strings.IndexByte(seg, '}') >= 0 {
			return tmplSeg{}, "", fmt.Errorf("unbalanced braces: '}' without '{'")
		}
		return tmplSeg{kind: kindLiteral, lit: seg}, "", nil
	}
	prefix := seg[:open]
	if strings.IndexByte(prefix, '}') >= 0 {
		return tmplSeg{}, "", fmt.Errorf("unbalanced braces: '}' without '{'")
	}
	n := strings.IndexByte(seg[open+1:], '}')
	if n < 0 {
		return tmplSeg{}, "", fmt.Errorf("unbalanced braces: '{' is never closed")
	}
	name := seg[open+1 : open+1+n]
	suffix := seg[open+2+n:]
	switch {
	case strings.IndexByte(name, '{') >= 0:
		return tmplSeg{}, "", fmt.Errorf("unbalanced braces: '{' inside a parameter name")
	case name == "":
		return tmplSeg{}, "", fmt.Errorf("empty parameter name \"{}\"")
	case strings.IndexByte(suffix, '{') >= 0 && strings.IndexByte(suffix, '}') > strings.IndexByte(suffix, '{'):
		return tmplSeg{}, "", fmt.Errorf("more than one parameter in one segment")
	case strings.IndexByte(suffix, '{') >= 0:
		return tmplSeg{}, "", fmt.Errorf("unbalanced braces: '{' is never closed")
	case strings.IndexByte(suffix, '}') >= 0:
		return tmplSeg{}, "", fmt.Errorf("unbalanced braces: '}' without '{'")
	}
	if prefix == "" && suffix == "" {
		return tmplSeg{kind: kindParam}, name, nil
	}
	return tmplSeg{kind: kindAffix, prefix: prefix, suffix: suffix}, name, nil
}

// TemplateKey returns s with every parameter name removed: "/orders/{id}"
// and "/orders/{orderId}" both give "/orders/{}". Two templates with the
// same key match exactly the same paths. An exact path is its own key, and
// "" gives "". TemplateKey does not validate s (see ParseTemplate); it
// empties every "{...}" that holds no other brace and leaves the rest as is.
func TemplateKey(s string) string {
	if strings.IndexByte(s, '{') < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for {
		open := strings.IndexByte(s, '{')
		if open < 0 {
			break
		}
		n := strings.IndexAny(s[open+1:], "{}")
		if n < 0 || s[open+1+n] == '{' {
			// Not closed before the next '{' (or at all): keep the '{' as
			// literal text and carry on after it.
			b.WriteString(s[:open+1])
			s = s[open+1:]
			continue
		}
		b.WriteString(s[:open])
		b.WriteString("{}")
		s = s[open+2+n:]
	}
	b.WriteString(s)
	return b.String()
}

// pathNode is one node of a host table's segment trie of path routes (exact
// paths and templates). The children of a node match the next segment of
// the request path; a route sits at the node its last segment leads to.
type pathNode[T any] struct {
	lit map[string]*pathNode[T] // literal segments
	// Parameters with literal text around them, indexed so that a lookup
	// only checks candidates that can match: by the first byte of a
	// non-empty prefix, else by the last byte of the suffix.
	byFirst map[byte][]*affixChild[T]
	byLast  map[byte][]*affixChild[T]
	param   *pathNode[T] // a bare parameter
	entries []*entry[T]  // routes ending here, in matching order
	// affixes finds an existing affix child by (prefix, suffix) while
	// building; nil afterwards.
	affixes map[[2]string]*affixChild[T]
}

type affixChild[T any] struct {
	prefix, suffix string
	node           *pathNode[T]
}

func (a *affixChild[T]) matches(seg string) bool {
	return len(seg) > len(a.prefix)+len(a.suffix) &&
		strings.HasPrefix(seg, a.prefix) && strings.HasSuffix(seg, a.suffix)
}

// insert adds e at the node the parsed template segs lead to.
func (n *pathNode[T]) insert(segs []tmplSeg, e *entry[T]) {
	for _, s := range segs {
		n = n.child(s)
	}
	n.entries = append(n.entries, e)
}

func (n *pathNode[T]) child(s tmplSeg) *pathNode[T] {
	switch s.kind {
	case kindLiteral:
		c := n.lit[s.lit]
		if c == nil {
			if n.lit == nil {
				n.lit = map[string]*pathNode[T]{}
			}
			c = &pathNode[T]{}
			n.lit[s.lit] = c
		}
		return c
	case kindParam:
		if n.param == nil {
			n.param = &pathNode[T]{}
		}
		return n.param
	}
	k := [2]string{s.prefix, s.suffix}
	if a := n.affixes[k]; a != nil {
		return a.node
	}
	a := &affixChild[T]{prefix: s.prefix, suffix: s.suffix, node: &pathNode[T]{}}
	if n.affixes == nil {
		n.affixes = map[[2]string]*affixChild[T]{}
	}
	n.affixes[k] = a
	if s.prefix != "" {
		if n.byFirst == nil {
			n.byFirst = map[byte][]*affixChild[T]{}
		}
		n.byFirst[s.prefix[0]] = append(n.byFirst[s.prefix[0]], a)
	} else {
		if n.byLast == nil {
			n.byLast = map[byte][]*affixChild[T]{}
		}
		b := s.suffix[len(s.suffix)-1]
		n.byLast[b] = append(n.byLast[b], a)
	}
	return a.node
}

// finish sorts the routes of every node into matching order and drops the
// build-time index.
func (n *pathNode[T]) finish() {
	sortEntries(n.entries)
	n.affixes = nil
	for _, c := range n.lit {
		c.finish()
	}
	for _, as := range n.byFirst {
		for _, a := range as {
			a.node.finish()
		}
	}
	for _, as := range n.byLast {
		for _, a := range as {
			a.node.finish()
		}
	}
	if n.param != nil {
		n.param.finish()
	}
}

// find returns the best route under n for the request path segments rest
// (the path after the '/' that starts the current segment) that accepts
// method, or nil. It sets *hit when some route matched the path, whatever
// its methods.
//
// Children are tried literal first, then parameters with literal text, then
// the bare parameter, so the first route found in the literal or the bare
// parameter subtree is the most specific one there; several parameter
// children with literal text can match the same segment, and their best
// routes are compared (see entry.before). Each node is visited at most
// once, so the cost is bounded by the size of the part of the trie that
// matches the path, not by the number of routes.
func (n *pathNode[T]) find(rest, method string, hit *bool) *entry[T] {
	seg, tail, more := strings.Cut(rest, "/")
	if c := n.lit[seg]; c != nil {
		if e := c.at(tail, more, method, hit); e != nil {
			return e
		}
	}
	if seg == "" {
		return nil // a parameter never matches an empty segment
	}
	var best *entry[T]
	if n.byFirst != nil {
		for _, a := range n.byFirst[seg[0]] {
			if a.matches(seg) {
				if e := a.node.at(tail, more, method, hit); e != nil && (best == nil || e.before(best)) {
					best = e
				}
			}
		}
	}
	if n.byLast != nil {
		for _, a := range n.byLast[seg[len(seg)-1]] {
			if a.matches(seg) {
				if e := a.node.at(tail, more, method, hit); e != nil && (best == nil || e.before(best)) {
					best = e
				}
			}
		}
	}
	if best != nil {
		return best
	}
	if n.param != nil {
		return n.param.at(tail, more, method, hit)
	}
	return nil
}

// at continues find in n, which matched the current segment.
func (n *pathNode[T]) at(tail string, more bool, method string, hit *bool) *entry[T] {
	if more {
		return n.find(tail, method, hit)
	}
	if len(n.entries) == 0 {
		return nil
	}
	*hit = true
	for _, e := range n.entries {
		if e.accepts(method) {
			return e
		}
	}
	return nil
}

// collect appends every route under n that matches the path segments rest,
// whatever its methods.
func (n *pathNode[T]) collect(rest string, out []*entry[T]) []*entry[T] {
	seg, tail, more := strings.Cut(rest, "/")
	visit := func(c *pathNode[T]) {
		if more {
			out = c.collect(tail, out)
		} else {
			out = append(out, c.entries...)
		}
	}
	if c := n.lit[seg]; c != nil {
		visit(c)
	}
	if seg == "" {
		return out
	}
	for _, a := range n.byFirst[seg[0]] {
		if a.matches(seg) {
			visit(a.node)
		}
	}
	for _, a := range n.byLast[seg[len(seg)-1]] {
		if a.matches(seg) {
			visit(a.node)
		}
	}
	if n.param != nil {
		visit(n.param)
	}
	return out
}
