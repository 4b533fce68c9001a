package openapi

import (
	"context"
	"path/filepath"
	"reflect"
	"slices"
	"strings"

	"github.com/mtlsgate/mtlsgate/internal/config"
	"github.com/pb33f/go-yaml"
	"github.com/pb33f/libopenapi/datamodel/low"
	"github.com/pb33f/libopenapi/index"
)

// Vendor extensions this package reads.
const (
	extPrefix = "x-mtlsgate-"
	// extAllow is an allow list (same keys as a route's allow) on the
	// document, a path item or an operation.
	extAllow = "x-mtlsgate-allow"
	// extMutualTLS marks a security scheme as mutual TLS in documents that
	// have no mutualTLS type (OpenAPI 3.0, Swagger 2.0).
	extMutualTLS = "x-mtlsgate-mutual-tls"
)

// methods are the operations of a path item, in route order.
var methods = []string{"get", "head", "post", "put", "patch", "delete", "options", "trace"}

func methodRank(m string) int {
	if i := slices.Index(methods, strings.ToLower(m)); i >= 0 {
		return i
	}
	return len(methods)
}

// where is the file a node was read from: how problems show it and the
// index its $refs resolve against.
type where struct {
	file string
	idx  *index.SpecIndex
}

// scheme is one security scheme.
type scheme struct {
	mtls bool
}

// alternative is one entry of a security list: schemes that all apply.
// No schemes means anonymous access.
type alternative struct {
	mtls bool
}

// security is a security list that applies to an operation.
type security struct {
	set  bool // the list exists (it may be empty: no security)
	alts []alternative
}

// allowList is an x-mtlsgate-allow extension.
type allowList struct {
	set   bool
	rules []config.AllowRule
	path  string     // spec path of the extension
	key   *yaml.Node // its key
}

// operation is one operation found in the document.
type operation struct {
	method   string // upper case
	tmpl     string // the path template (key of paths)
	specPath string // "paths./orders/{id}.get"
	at       where
	node     *yaml.Node
	id       string
	idNode   *yaml.Node
	bases    []string
	cc       string
	allow    []config.AllowRule
}

// walker reads the operations of a loaded document.
type walker struct {
	l       *loader
	ld      *loaded
	ps      *problems
	o       Options
	schemes map[string]scheme
	ops     []*operation
}

func (w *walker) walk() {
	root := where{file: w.ps.rootFile, idx: w.ld.rootIdx}
	doc := w.ld.root
	w.checkExt(root, doc, "", extAllow)
	w.readSchemes(root, doc)

	docSec := security{}
	if k, v := getPair(doc, "security"); k != nil {
		docSec = w.security(root, v, "security")
	}
	docBases := []string{""}
	if w.ld.v2 {
		if k, v := getPair(doc, "basePath"); k != nil {
			s, ok := str(v)
			switch {
			case !ok:
				w.ps.at(root.file, v, "basePath", "must be a string, got %s", kind(v))
			case !strings.HasPrefix(s, "/"):
				w.ps.at(root.file, v, "basePath", "%q: must start with /", s)
			default:
				b, err := serverBase(s, nil)
				if err != nil {
					w.ps.at(root.file, v, "basePath", "%v", err)
				} else {
					docBases = []string{b}
				}
			}
		}
	} else if bs := w.servers(root, get(doc, "servers"), "servers"); len(bs) > 0 {
		docBases = bs
	}
	docAllow := w.allowExt(root, doc, "")

	pk, paths := getPair(doc, "paths")
	if paths != nil && !isNull(paths) && !isMap(paths) {
		w.ps.at(root.file, paths, "paths", "must be an object (path templates to path items), got %s", kind(paths))
		return
	}
	seen := map[string]string{} // template key -> spec path
	for _, p := range pairs(paths) {
		key, isStr := str(p.key)
		if !isStr {
			key, _ = scalar(p.key)
		}
		if strings.HasPrefix(key, "x-") || strings.HasPrefix(key, "X-") {
			if strings.HasPrefix(strings.ToLower(key), extPrefix) {
				w.ps.at(root.file, p.key, joinPath("paths", key), "mtlsgate reads %s on the document, path items and operations, not on paths", extAllow)
			}
			continue // an extension of the Paths object
		}
		specPath := joinPath("paths", key)
		if err := checkTemplate(key); err != nil {
			w.ps.at(root.file, p.key, specPath, "path %q: %v", key, err)
			continue
		}
		tk := templateKey(key)
		if other, dup := seen[tk]; dup {
			w.ps.at(root.file, p.key, specPath, "same path as %s once parameter names are ignored: the gateway could not tell them apart", other)
			continue
		}
		seen[tk] = specPath
		w.pathItem(root, p.val, key, specPath, docSec, docBases, docAllow)
	}
	if len(w.ops) == 0 && len(w.ps.list) == 0 {
		if pk != nil {
			w.ps.at(root.file, pk, "paths", "no operations: nothing to route")
		} else {
			w.ps.add(root.file, 0, "", "no paths: nothing to route")
		}
	}
}

// routingKeys are the path item fields that change routes: a path item
// with a $ref must not have them beside it.
var routingKeys = append(slices.Clone(methods), "servers", extAllow, "query", "additionalOperations")

func (w *walker) pathItem(at where, n *yaml.Node, tmpl, specPath string, docSec security, bases []string, allow allowList) {
	if _, hasRef := refOf(n); hasRef {
		for _, k := range routingKeys {
			if kn, _ := getPair(n, k); kn != nil {
				w.ps.at(at.file, kn, joinPath(specPath, k), "beside a $ref: move it into the path item the $ref points to")
			}
		}
	}
	item, at, ok := w.resolve(at, n, specPath)
	if !ok {
		return
	}
	if !isMap(item) {
		w.ps.at(at.file, item, specPath, "a path item must be an object, got %s", kind(item))
		return
	}
	w.checkExt(at, item, specPath, extAllow)
	if !w.ld.v2 {
		if bs := w.servers(at, get(item, "servers"), joinPath(specPath, "servers")); len(bs) > 0 {
			bases = bs
		}
	}
	if a := w.allowExt(at, item, specPath); a.set {
		allow = a
	}
	for _, m := range methods {
		if m == "trace" && w.ld.v2 {
			continue // not an operation in Swagger 2.0
		}
		k, op := getPair(item, m)
		if k == nil {
			continue
		}
		w.operation(at, op, strings.ToUpper(m), tmpl, joinPath(specPath, m), docSec, bases, allow)
	}
	if !w.ld.v2 {
		for _, m := range []string{"query", "additionalOperations"} {
			if k, _ := getPair(item, m); k != nil {
				w.ps.at(at.file, k, joinPath(specPath, m), "not supported: the gateway routes GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS and TRACE operations")
			}
		}
	}
}

func (w *walker) operation(at where, n *yaml.Node, method, tmpl, specPath string, sec security, bases []string, allow allowList) {
	if !isMap(n) {
		w.ps.at(at.file, n, specPath, "an operation must be an object, got %s", kind(n))
		return
	}
	op := &operation{method: method, tmpl: tmpl, specPath: specPath, at: at, node: n}
	w.checkExt(at, n, specPath, extAllow)
	if k, v := getPair(n, "operationId"); k != nil {
		id, ok := str(v)
		if !ok {
			w.ps.at(at.file, v, joinPath(specPath, "operationId"), "must be a string, got %s", kind(v))
		}
		op.id, op.idNode = id, v
	}
	if k, v := getPair(n, "security"); k != nil {
		sec = w.security(at, v, joinPath(specPath, "security"))
	}
	op.bases = bases
	if !w.ld.v2 {
		if bs := w.servers(at, get(n, "servers"), joinPath(specPath, "servers")); len(bs) > 0 {
			op.bases = bs
		}
	}
	if a := w.allowExt(at, n, specPath); a.set {
		allow = a
	}
	op.cc = clientCert(sec, w.o.Unsecured)
	op.allow = allow.rules
	if len(allow.rules) > 0 && op.cc != "" && op.cc != config.ClientCertRequired {
		why := "requests without a certificate would bypass the allow list (the gateway refuses that)"
		if allow.path == joinPath(specPath, extAllow) {
			w.ps.at(at.file, allow.key, allow.path, "set, but the operation's client_cert is %s: %s; make mutualTLS part of every security alternative", op.cc, why)
		} else {
			w.ps.at(at.file, n, specPath, "inherits %s from %s, but its client_cert is %s: %s; make mutualTLS part of every security alternative, or set %s: [] on the operation", extAllow, orDocument(allow.path), op.cc, why, extAllow)
		}
	}
	w.ops = append(w.ops, op)
}

func orDocument(p string) string {
	if p == extAllow {
		return "the document"
	}
	return p
}

// clientCert maps the security that applies to an operation to its
// client_cert: every alternative needs mutual TLS: required; some do:
// optional; none (or no security at all): unsecured.
func clientCert(sec security, unsecured string) string {
	n := 0
	for _, a := range sec.alts {
		if a.mtls {
			n++
		}
	}
	switch {
	case n == 0:
		return unsecured
	case n == len(sec.alts):
		return config.ClientCertRequired
	default:
		return config.ClientCertOptional
	}
}

// readSchemes reads components.securitySchemes (securityDefinitions in
// Swagger 2.0).
func (w *walker) readSchemes(at where, doc *yaml.Node) {
	w.schemes = map[string]scheme{}
	specPath := "components.securitySchemes"
	var n *yaml.Node
	if w.ld.v2 {
		specPath = "securityDefinitions"
		n = get(doc, specPath)
	} else {
		comps := get(doc, "components")
		if comps != nil && !isNull(comps) && !isMap(comps) {
			w.ps.at(at.file, comps, "components", "must be an object, got %s", kind(comps))
			return
		}
		n = get(comps, "securitySchemes")
	}
	if n == nil || isNull(n) {
		return
	}
	if !isMap(n) {
		w.ps.at(at.file, n, specPath, "must be an object (names to security schemes), got %s", kind(n))
		return
	}
	for _, p := range pairs(n) {
		name, _ := scalar(p.key)
		sp := joinPath(specPath, name)
		w.schemes[name] = scheme{}
		s, sat, ok := w.resolve(at, p.val, sp)
		if !ok {
			continue
		}
		if !isMap(s) {
			w.ps.at(sat.file, s, sp, "a security scheme must be an object, got %s", kind(s))
			continue
		}
		w.checkExt(sat, s, sp, extMutualTLS)
		var sc scheme
		if t, ok := str(get(s, "type")); ok && strings.EqualFold(t, "mutualTLS") {
			sc.mtls = true
		}
		if k, v := getPair(s, extMutualTLS); k != nil {
			b, ok := boolean(v)
			if !ok {
				w.ps.at(sat.file, v, joinPath(sp, extMutualTLS), "must be true or false, got %s", kind(v))
			}
			sc.mtls = sc.mtls || b
		}
		w.schemes[name] = sc
	}
}

// security reads a security list.
func (w *walker) security(at where, n *yaml.Node, specPath string) security {
	sec := security{set: true}
	if !isSeq(n) {
		w.ps.at(at.file, n, specPath, "must be a list of security requirements, got %s", kind(n))
		return sec
	}
	defs := "components.securitySchemes"
	if w.ld.v2 {
		defs = "securityDefinitions"
	}
	for i, item := range deref(n).Content {
		item = deref(item)
		ip := indexPath(specPath, i)
		if !isMap(item) {
			w.ps.at(at.file, item, ip, "a security requirement must be an object (scheme names to scopes), got %s", kind(item))
			continue
		}
		var alt alternative
		for _, p := range pairs(item) {
			name, _ := scalar(p.key)
			sp := joinPath(ip, name)
			if !isSeq(p.val) {
				w.ps.at(at.file, p.val, sp, "must be a list of scopes, got %s", kind(p.val))
			}
			s, ok := w.schemes[name]
			if !ok {
				w.ps.at(at.file, p.key, sp, "unknown security scheme %q (define it under %s)", name, defs)
				continue
			}
			alt.mtls = alt.mtls || s.mtls
		}
		sec.alts = append(sec.alts, alt)
	}
	return sec
}

// servers reads a servers list into base paths, sorted and without
// repeats; nil when there is none.
func (w *walker) servers(at where, n *yaml.Node, specPath string) []string {
	if n == nil || isNull(n) {
		return nil
	}
	if !isSeq(n) {
		w.ps.at(at.file, n, specPath, "must be a list of servers, got %s", kind(n))
		return nil
	}
	var bases []string
	for i, s := range deref(n).Content {
		s = deref(s)
		sp := indexPath(specPath, i)
		if !isMap(s) {
			w.ps.at(at.file, s, sp, "a server must be an object, got %s", kind(s))
			continue
		}
		k, u := getPair(s, "url")
		raw, ok := str(u)
		if !ok {
			if k == nil {
				w.ps.at(at.file, s, sp, "url is required")
			} else {
				w.ps.at(at.file, u, joinPath(sp, "url"), "must be a string, got %s", kind(u))
			}
			continue
		}
		vars := map[string]serverVar{}
		if vn := get(s, "variables"); vn != nil && !isNull(vn) {
			if !isMap(vn) {
				w.ps.at(at.file, vn, joinPath(sp, "variables"), "must be an object, got %s", kind(vn))
				continue
			}
			for _, p := range pairs(vn) {
				name, _ := scalar(p.key)
				var v serverVar
				if dk, dv := getPair(p.val, "default"); dk != nil {
					v.def, v.hasDef = scalar(dv)
					if _, isStr := str(dv); !isStr {
						w.ps.at(at.file, dv, joinPath(sp, "variables."+name+".default"), "must be a string, got %s", kind(dv))
					}
				}
				vars[name] = v
			}
		}
		b, err := serverBase(raw, vars)
		if err != nil {
			w.ps.at(at.file, u, joinPath(sp, "url"), "%q: %v", raw, err)
			continue
		}
		bases = append(bases, b)
	}
	slices.Sort(bases)
	return slices.Compact(bases)
}

// allowKeys maps the yaml names of config.AllowRule's fields to their
// index, so x-mtlsgate-allow takes exactly the keys of a route's allow.
var allowKeys, allowKeyList = func() (map[string]int, []string) {
	m := map[string]int{}
	var names []string
	t := reflect.TypeFor[config.AllowRule]()
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" || f.Type.Kind() != reflect.String {
			continue
		}
		m[name] = i
		names = append(names, name)
	}
	return m, names
}()

// allowExt reads the x-mtlsgate-allow extension of owner.
func (w *walker) allowExt(at where, owner *yaml.Node, ownerPath string) allowList {
	k, n := getPair(owner, extAllow)
	if k == nil {
		return allowList{}
	}
	specPath := joinPath(ownerPath, extAllow)
	a := allowList{set: true, path: specPath, key: k}
	if !isSeq(n) {
		w.ps.at(at.file, n, specPath, "must be a list of allow entries (objects with keys %s), got %s", strings.Join(allowKeyList, ", "), kind(n))
		return a
	}
	for i, item := range deref(n).Content {
		item = deref(item)
		ip := indexPath(specPath, i)
		if !isMap(item) {
			w.ps.at(at.file, item, ip, "an allow entry must be an object (keys %s), got %s", strings.Join(allowKeyList, ", "), kind(item))
			continue
		}
		ps := pairs(item)
		if len(ps) == 0 {
			w.ps.at(at.file, item, ip, "empty allow entry: it would match every certificate")
			continue
		}
		var rule config.AllowRule
		rv := reflect.ValueOf(&rule).Elem()
		good := true
		for _, p := range ps {
			key, _ := scalar(p.key)
			kp := joinPath(ip, key)
			fi, known := allowKeys[key]
			if !known {
				w.ps.at(at.file, p.key, kp, "unknown key %q: want %s", key, strings.Join(allowKeyList, ", "))
				good = false
				continue
			}
			v, ok := str(p.val)
			switch {
			case !ok:
				w.ps.at(at.file, p.val, kp, "must be a string, got %s (quote it)", kind(p.val))
				good = false
			case v == "":
				w.ps.at(at.file, p.val, kp, "empty: leave the key out instead")
				good = false
			default:
				rv.Field(fi).SetString(v)
			}
		}
		if good {
			a.rules = append(a.rules, rule)
		}
	}
	return a
}

// checkExt reports x-mtlsgate-* extensions of n other than the ones
// allowed there: a misspelt allow list must not be ignored.
func (w *walker) checkExt(at where, n *yaml.Node, specPath string, allowed ...string) {
	for _, p := range pairs(n) {
		key, _ := scalar(p.key)
		if !strings.HasPrefix(strings.ToLower(key), extPrefix) || slices.Contains(allowed, key) {
			continue
		}
		kp := joinPath(specPath, key)
		switch key {
		case extAllow:
			w.ps.at(at.file, p.key, kp, "not read here: %s goes on the document, a path item or an operation", extAllow)
		case extMutualTLS:
			w.ps.at(at.file, p.key, kp, "not read here: %s goes on a security scheme", extMutualTLS)
		default:
			w.ps.at(at.file, p.key, kp, "unknown extension %q: mtlsgate reads %s (document, path items, operations) and %s (security schemes)", key, extAllow, extMutualTLS)
		}
	}
}

// maxHops bounds a chain of $refs (a $ref to a $ref...).
const maxHops = 32

// resolve follows the $ref of n, if it has one, and returns the node it
// points to with the file that holds it. ok is false, with the problem
// reported (by this package or the library), when it cannot be followed.
func (w *walker) resolve(at where, n *yaml.Node, specPath string) (*yaml.Node, where, bool) {
	n = deref(n)
	first, isRef := refOf(n)
	if !isRef {
		return n, at, true
	}
	firstAt := at
	ctx := context.Background()
	seen := map[*yaml.Node]bool{}
	known := false // the library reported a problem on the way
	fail := func(format string, args ...any) (*yaml.Node, where, bool) {
		if !known && !w.ps.has(firstAt.file, specPath) {
			w.ps.at(firstAt.file, first, specPath, format, args...)
		}
		return nil, at, false
	}
	for hop := 0; ; hop++ {
		rv, isRef := refOf(n)
		if !isRef {
			return n, at, true
		}
		known = known || w.l.libFailed[n] || w.l.libFailed[rv]
		ref, ok := str(rv)
		if !ok || remoteRef.MatchString(ref) || w.l.absBase == "" && !strings.HasPrefix(ref, "#") {
			return nil, at, false // reported by checkRefs
		}
		if seen[n] {
			return fail("cannot resolve $ref %q: the $refs lead back to one another", ref)
		}
		seen[n] = true
		if hop == maxHops {
			return fail("cannot resolve $ref %q: more than %d $refs in a row", ref, maxHops)
		}
		var target *yaml.Node
		var idx *index.SpecIndex
		var err error
		var next context.Context
		if w.l.guard("resolving "+ref, func() error {
			target, idx, err, next = low.LocateRefNodeWithContext(ctx, n, at.idx)
			return nil
		}) != nil {
			return nil, at, false
		}
		target = deref(target)
		if err != nil || target == nil {
			msg := "not found"
			if err != nil && !missingRef.MatchString(err.Error()) {
				msg = err.Error()
			}
			dir := w.l.absBase
			if at.idx != nil && at.idx != w.ld.rootIdx {
				dir = filepath.Dir(at.idx.GetSpecAbsolutePath())
			}
			if why := w.l.whyRef(dir, ref); why != "" {
				msg = why
			}
			return fail("cannot resolve $ref %q: %s", ref, msg)
		}
		if idx == nil {
			idx = at.idx
		}
		if next != nil {
			ctx = next
		}
		n, at = target, where{file: w.l.fileOf(w.ld, idx), idx: idx}
	}
}
