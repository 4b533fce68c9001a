package route

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Spec describes one route to add to a table.
type Spec[T any] struct {
	Name       string
	Host       string   // "" (any), "api.example.com", or "*.example.com"
	PathPrefix string   // must start with "/"
	Methods    []string // empty: any method
	Value      T
}

// entry is one compiled route.
type entry[T any] struct {
	name    string
	methods []string
	order   int
	value   T
}

// hostTable maps a path prefix to the routes that use it, methods-restricted
// routes first, then in config order.
type hostTable[T any] struct {
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
		if !strings.HasPrefix(s.PathPrefix, "/") {
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
		ht.prefixes[s.PathPrefix] = append(ht.prefixes[s.PathPrefix], e)
		t.n++
	}
	for _, m := range []map[string]*hostTable[T]{t.exact, t.wildcard, {"": t.any}} {
		for _, ht := range m {
			for _, es := range ht.prefixes {
				slices.SortStableFunc(es, func(a, b *entry[T]) int {
					// Method-restricted routes are more specific.
					if (len(a.methods) == 0) != (len(b.methods) == 0) {
						if len(a.methods) > 0 {
							return -1
						}
						return 1
					}
					return a.order - b.order
				})
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
// cleaned path (see CleanPath) and method. Most specific wins: exact host,
// then wildcard host, then routes for any host; within a host, the longest
// path prefix; at one prefix, method-restricted routes before open ones.
// It does not allocate when a route is found.
func (t *Table[T]) Match(host, path, method string) Result[T] {
	host = normalizeHost(host)
	var allow []string
	if ht := t.exact[host]; ht != nil {
		if r, ok := ht.match(path, method, &allow); ok {
			return r
		}
	}
	if len(t.wildcard) > 0 {
		if i := strings.IndexByte(host, '.'); i > 0 {
			if ht := t.wildcard[host[i+1:]]; ht != nil {
				if r, ok := ht.match(path, method, &allow); ok {
					return r
				}
			}
		}
	}
	if r, ok := t.any.match(path, method, &allow); ok {
		return r
	}
	return Result[T]{Allow: allow}
}

// match walks the path's prefixes from longest to shortest on segment
// boundaries: for "/a/b/c" it tries "/a/b/c", "/a/b/", "/a/b", "/a/", "/a",
// "/".
func (ht *hostTable[T]) match(path, method string, allow *[]string) (Result[T], bool) {
	if len(ht.prefixes) == 0 {
		return Result[T]{}, false
	}
	end := len(path)
	for {
		if r, ok := ht.try(path[:end], method, allow); ok {
			return r, true
		}
		if end == 0 {
			return Result[T]{}, false
		}
		// Step back to the previous '/': try "prefix/" then "prefix".
		i := strings.LastIndexByte(path[:end], '/')
		if i < 0 {
			return Result[T]{}, false
		}
		if i+1 < end {
			if r, ok := ht.try(path[:i+1], method, allow); ok {
				return r, true
			}
		}
		end = i
	}
}

func (ht *hostTable[T]) try(prefix, method string, allow *[]string) (Result[T], bool) {
	es := ht.prefixes[prefix]
	for _, e := range es {
		if len(e.methods) == 0 || slices.Contains(e.methods, method) ||
			(method == "HEAD" && slices.Contains(e.methods, "GET")) {
			return Result[T]{Value: e.value, Name: e.name, Found: true}, true
		}
	}
	if len(es) > 0 && *allow == nil {
		for _, e := range es {
			*allow = append(*allow, e.methods...)
		}
	}
	return Result[T]{}, false
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
