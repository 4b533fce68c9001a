package route

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Spec describes one route to add to a table. Exactly one of Path and
// PathPrefix is set.
type Spec[T any] struct {
	Name string
	Host string // "" (any), "api.example.com", or "*.example.com"
	// Path is an exact path ("/v1/health") or a path template
	// ("/v1/orders/{id}", "/files/{name}.json"); see ParseTemplate.
	Path       string
	PathPrefix string   // must start with "/"; matches on segment boundaries
	Methods    []string // empty: any method
	Value      T
}

// entry is one compiled route.
type entry[T any] struct {
	name    string
	methods []string
	order   int
	// rank is a path route's segment kinds (kindLiteral, kindAffix,
	// kindParam), one byte per segment: comparing two ranks of the same
	// length compares specificity segment by segment from the left.
	rank  string
	value T
}

func (e *entry[T]) accepts(method string) bool {
	return len(e.methods) == 0 || slices.Contains(e.methods, method) ||
		(method == "HEAD" && slices.Contains(e.methods, "GET"))
}

// before reports whether e wins over f when both match a request (for path
// routes, which match only paths of their own segment count, the ranks have
// the same length): more specific path first, then method-restricted
// before open, then config order.
func (e *entry[T]) before(f *entry[T]) bool {
	if c := strings.Compare(e.rank, f.rank); c != 0 {
		return c < 0
	}
	if (len(e.methods) == 0) != (len(f.methods) == 0) {
		return len(e.methods) > 0
	}
	return e.order < f.order
}

// sortEntries puts routes of one path or prefix in matching order.
func sortEntries[T any](es []*entry[T]) {
	slices.SortStableFunc(es, func(a, b *entry[T]) int {
		switch {
		case a.before(b):
			return -1
		case b.before(a):
			return 1
		}
		return 0
	})
}

// hostTable holds the routes of one host: path routes (exact paths and
// templates) in a segment trie, and a map from path prefix to the routes
// that use it, method-restricted routes first, then in config order.
type hostTable[T any] struct {
	paths    *pathNode[T] // nil: no path routes
	prefixes map[string][]*entry[T]
}

// Table is a compiled, immutable route table. Safe for concurrent use.
type Table[T any] struct {
	exact    map[string]*hostTable[T] // lower-case host
	wildcard map[string]*hostTable[T] // lower-case suffix after "*."
	any      *hostTable[T]
	n        int
}

// Result is the outcome of a lookup.
type Result[T any] struct {
	// Value is the matched route's payload; Found reports whether there was
	// one.
	Value T
	Name  string
	Found bool
	// Allow lists the methods accepted on this path when a route matched the
	// host and path but not the method (answer 405 with an Allow header).
	Allow []string
}

// ErrBadSpec is wrapped by every Build error.
var ErrBadSpec = errors.New("route: invalid route")

// Build compiles specs into a Table. Specs are assumed validated by config;
// Build still refuses what it cannot compile.
func Build[T any](specs []Spec[T]) (*Table[T], error) {
	t := &Table[T]{exact: map[string]*hostTable[T]{}, wildcard: map[string]*hostTable[T]{}, any: newHostTable[T]()}
	for i, s := range specs {
		var segs []tmplSeg
		switch {
		case s.Path != "" && s.PathPrefix != "":
			return nil, fmt.Errorf("%w %q: path %q and path_prefix %q are both set", ErrBadSpec, s.Name, s.Path, s.PathPrefix)
		case s.Path != "":
			var err error
			if segs, err = parseTemplate(s.Path); err != nil {
				return nil, fmt.Errorf("%w %q: %w", ErrBadSpec, s.Name, err)
			}
		case s.PathPrefix == "":
			return nil, fmt.Errorf("%w %q: one of path and path_prefix is required", ErrBadSpec, s.Name)
		case !strings.HasPrefix(s.PathPrefix, "/"):
			return nil, fmt.Errorf("%w %q: path_prefix %q must start with /", ErrBadSpec, s.Name, s.PathPrefix)
		}
		host := strings.ToLower(s.Host)
		var ht *hostTable[T]
		switch {
		case host == "":
			ht = t.any
		case strings.HasPrefix(host, "*."):
			ht = getOrAdd(t.wildcard, host[2:])
		case strings.Contains(host, "*"):
			return nil, fmt.Errorf("%w %q: host %q: only a leading \"*.\" wildcard is supported", ErrBadSpec, s.Name, s.Host)
		default:
			ht = getOrAdd(t.exact, host)
		}
		e := &entry[T]{name: s.Name, methods: s.Methods, order: i, value: s.Value}
		if segs != nil {
			rank := make([]byte, len(segs))
			for j, sg := range segs {
				rank[j] = sg.kind
			}
			e.rank = string(rank)
			if ht.paths == nil {
				ht.paths = &pathNode[T]{}
			}
			ht.paths.insert(segs, e)
		} else {
			ht.prefixes[s.PathPrefix] = append(ht.prefixes[s.PathPrefix], e)
		}
		t.n++
	}
	for _, m := range []map[string]*hostTable[T]{t.exact, t.wildcard, {"": t.any}} {
		for _, ht := range m {
			for _, es := range ht.prefixes {
				sortEntries(es)
			}
			if ht.paths != nil {
				ht.paths.finish()
			}
		}
	}
	return t, nil
}

func newHostTable[T any]() *hostTable[T] {
	return &hostTable[T]{prefixes: map[string][]*entry[T]{}}
}

func getOrAdd[T any](m map[string]*hostTable[T], k string) *hostTable[T] {
	ht, ok := m[k]
	if !ok {
		ht = newHostTable[T]()
		m[k] = ht
	}
	return ht
}

// Len returns the number of routes.
func (t *Table[T]) Len() int { return t.n }

// Match finds the route for host (port allowed, any case), an already
// cleaned path (see CleanPath) and method. Most specific wins:
//
//   - Host: routes for the exact host, then for a "*.suffix" wildcard
//     (one label), then for any host. A host's routes are searched fully
//     (path routes, then prefixes) before the next host's.
//   - Within a host, path routes (exact paths and templates) before
//     prefixes. Among path routes matching the path, the most specific:
//     segment by segment from the left, a literal segment beats a
//     parameter with literal text around it ("{name}.json"), which beats a
//     bare parameter ("{id}"). Among prefixes, the longest one on a segment
//     boundary.
//   - At equally specific paths, method-restricted routes before open
//     ones, then config order. A route for GET also takes HEAD.
//
// A route that matches the path but not the method does not stop the
// search: the next route in this order may accept the method (when no path
// route of a host takes it, that host's prefixes are tried, then the next
// host's routes). When nothing is found, Allow comes from the first host,
// in search order, where some route matched the path: the methods of all
// its path routes that match the path if there are any (most specific
// route first, each method once), else of its longest matching prefix's
// routes. Allow is nil if no route matched the path (answer 404).
//
// It does not allocate when a route is found, and does not panic on any
// input; a path not starting with "/" matches no route.
func (t *Table[T]) Match(host, path, method string) Result[T] {
	host = normalizeHost(host)
	var m miss[T]
	if ht := t.exact[host]; ht != nil {
		if e := ht.match(path, method, &m); e != nil {
			return Result[T]{Value: e.value, Name: e.name, Found: true}
		}
	}
	if len(t.wildcard) > 0 {
		if i := strings.IndexByte(host, '.'); i > 0 {
			if ht := t.wildcard[host[i+1:]]; ht != nil {
				if e := ht.match(path, method, &m); e != nil {
					return Result[T]{Value: e.value, Name: e.name, Found: true}
				}
			}
		}
	}
	if e := t.any.match(path, method, &m); e != nil {
		return Result[T]{Value: e.value, Name: e.name, Found: true}
	}
	return Result[T]{Allow: m.allow(path)}
}

// miss remembers the first routes that matched the path but not the
// method, so that Allow is only built (and allocated) once the whole search
// failed.
type miss[T any] struct {
	paths  *hostTable[T] // this host's path routes matched
	prefix []*entry[T]   // these prefix routes matched
}

func (m *miss[T]) allow(path string) []string {
	var es []*entry[T]
	switch {
	case m.paths != nil:
		es = m.paths.paths.collect(path[1:], nil)
		sortEntries(es)
	case m.prefix != nil:
		es = m.prefix
	default:
		return nil
	}
	var allow []string
	for _, e := range es {
		for _, x := range e.methods {
			if !slices.Contains(allow, x) {
				allow = append(allow, x)
			}
		}
	}
	return allow
}

// match returns the best route of ht for path and method: path routes
// first, then prefixes.
func (ht *hostTable[T]) match(path, method string, m *miss[T]) *entry[T] {
	if ht.paths != nil && path != "" && path[0] == '/' {
		hit := false
		if e := ht.paths.find(path[1:], method, &hit); e != nil {
			return e
		}
		if hit && m.paths == nil && m.prefix == nil {
			m.paths = ht
		}
	}
	if len(ht.prefixes) == 0 {
		return nil
	}
	// Walk the path's prefixes from longest to shortest on segment
	// boundaries: for "/a/b/c" try "/a/b/c", "/a/b/", "/a/b", "/a/", "/a",
	// "/".
	end := len(path)
	for {
		if e := ht.try(path[:end], method, m); e != nil {
			return e
		}
		if end == 0 {
			return nil
		}
		// Step back to the previous '/': try "prefix/" then "prefix".
		i := strings.LastIndexByte(path[:end], '/')
		if i < 0 {
			return nil
		}
		if i+1 < end {
			if e := ht.try(path[:i+1], method, m); e != nil {
				return e
			}
		}
		end = i
	}
}

func (ht *hostTable[T]) try(prefix, method string, m *miss[T]) *entry[T] {
	es := ht.prefixes[prefix]
	for _, e := range es {
		if e.accepts(method) {
			return e
		}
	}
	if len(es) > 0 && m.paths == nil && m.prefix == nil {
		m.prefix = es
	}
	return nil
}

// normalizeHost lower-cases host and strips a port and a trailing dot.
func normalizeHost(h string) string {
	if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.Contains(h[i:], "]") {
		h = h[:i]
	}
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	h = strings.TrimSuffix(h, ".")
	for i := 0; i < len(h); i++ {
		if c := h[i]; c >= 'A' && c <= 'Z' {
			return strings.ToLower(h)
		}
	}
	return h
}

// NormalizeHost is normalizeHost for callers comparing hosts (Host vs SNI).
func NormalizeHost(h string) string { return normalizeHost(h) }
