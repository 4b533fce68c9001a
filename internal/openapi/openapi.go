// Package openapi turns API descriptions (OpenAPI 3.1 and 3.0, also 3.2;
// Swagger 2.0; JSON or YAML) into gateway routes: one route per
// operation, with the client-certificate policy its security asks for.
//
// Mapping:
//
//   - match.path is the server base path (OpenAPI 3: the path of each
//     servers[].url, variables replaced by their defaults, relative URLs
//     taken relative to "/", path-item and operation servers overriding
//     the document's; Swagger 2.0: basePath) followed by the path
//     template. An operation under several distinct base paths gets a
//     route for each.
//   - match.methods is the operation's method (GET, HEAD, POST, PUT, PATCH,
//     DELETE, OPTIONS, TRACE); match.host and upstream come from Options.
//   - name is the operationId (characters outside [A-Za-z0-9._-] replaced
//     by '-'), else "get-orders-id" from the method and path; an operation
//     under several base paths gets the base path as a suffix
//     ("listOrders-v2"); names that meet get "-2", "-3"...; at most 128
//     characters.
//   - client_cert comes from the operation's security (or the document's;
//     "security: []" on the operation means none): "required" when every
//     alternative includes a mutual-TLS scheme, "optional" when only some
//     do, Options.Unsecured when none does or there is no security. A
//     scheme is mutual TLS when its type is mutualTLS (OpenAPI 3.1) or it
//     has "x-mtlsgate-mutual-tls: true" (any version).
//   - allow comes from "x-mtlsgate-allow" on the operation, else its path
//     item, else the document: a list of objects with the keys of a
//     route's allow. It is refused on operations whose client_cert is
//     optional or none.
//
// Everything wrong with a document is reported at once, as Problems.
// Remote $refs are never fetched; file $refs are read relative to the
// file they are in, only regular .yaml, .yml and .json files, each at most
// MaxDocumentSize.
package openapi

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/mtlsgate/mtlsgate/internal/config"
)

// Options apply to every route of a document.
type Options struct {
	// Upstream receives every operation (required).
	Upstream string
	// Host is match.host for every route (optional).
	Host string
	// Unsecured is the client_cert of operations whose security does not
	// involve mutual TLS: "" (left empty: the gateway's default, required,
	// applies), "required", "optional" or "none".
	Unsecured string
	// NamePrefix is put before every route name (optional; see
	// config.CheckNamePrefix); names are shortened to fit with it.
	NamePrefix string
}

func (o Options) check() error {
	if o.Upstream == "" {
		return errors.New("openapi: Options.Upstream is required")
	}
	switch o.Unsecured {
	case "", config.ClientCertRequired, config.ClientCertOptional, config.ClientCertNone:
	default:
		return fmt.Errorf("openapi: Options.Unsecured %q: want \"\", required, optional or none", o.Unsecured)
	}
	if err := config.CheckNamePrefix(o.NamePrefix); err != nil {
		return fmt.Errorf("openapi: name prefix %w", err)
	}
	return nil
}

// Import reads an OpenAPI 3.1 / 3.0 or Swagger 2.0 document (JSON or
// YAML) from path, resolving $refs (external ones relative to the file's
// directory, never over the network), and returns one route per operation,
// ordered by path, then method (GET, HEAD, POST, PUT, PATCH, DELETE,
// OPTIONS, TRACE). Problems with the document are returned as Problems,
// each with File set to path or to the external file it is in.
func Import(path string, o Options) ([]config.Route, error) {
	routes, _, err := ImportFiles(path, o)
	return routes, err
}

// ImportFiles is Import that also returns the other files the document
// referenced ($ref), read or refused, as absolute paths: a file watcher
// reloads when one of them changes, or appears. They are returned with
// the error too.
func ImportFiles(path string, o Options) ([]config.Route, []string, error) {
	if err := o.check(); err != nil {
		return nil, nil, err
	}
	// Stat before opening: opening a FIFO would block.
	if st, err := os.Stat(path); err != nil {
		return nil, nil, err
	} else if !st.Mode().IsRegular() {
		return nil, nil, fmt.Errorf("%s: not a regular file", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	if st.Size() > MaxDocumentSize {
		return nil, nil, tooBig(path, st.Size())
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxDocumentSize+1))
	if err != nil {
		return nil, nil, err
	}
	if len(data) > MaxDocumentSize {
		return nil, nil, tooBig(path, int64(len(data)))
	}
	dir := filepath.Dir(path)
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, nil, err
	}
	l := &loader{ps: &problems{rootFile: path}, data: data, absBase: abs, showDir: dir}
	routes, err := l.routes(filepath.Base(path), o)
	return routes, l.files.names(), err
}

// ImportBytes is Import for a document already read. File $refs are
// resolved against baseDir; with baseDir "" they are refused. Problems in
// the document itself have File "".
func ImportBytes(data []byte, baseDir string, o Options) ([]config.Route, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	if len(data) > MaxDocumentSize {
		return nil, tooBig("", int64(len(data)))
	}
	l := &loader{ps: &problems{}, data: data, showDir: baseDir}
	if baseDir != "" {
		abs, err := filepath.Abs(baseDir)
		if err != nil {
			return nil, err
		}
		l.absBase = abs
	}
	return l.routes("", o)
}

func tooBig(file string, n int64) error {
	return Problems{{File: file, Msg: fmt.Sprintf("the document is %d bytes, more than the %d MiB limit", n, MaxDocumentSize>>20)}}
}

// routes loads the document and maps its operations.
func (l *loader) routes(specFile string, o Options) ([]config.Route, error) {
	ld := l.load(specFile)
	if ld == nil {
		l.flushUntyped()
		return nil, l.ps.result()
	}
	w := &walker{l: l, ld: ld, ps: l.ps, o: o}
	w.walk()
	routes := w.routes()
	l.flushUntyped()
	if ps := l.ps.result(); ps != nil {
		return nil, ps
	}
	return routes, nil
}

// built is a route with what it was made from.
type built struct {
	config.Route
	op   *operation
	base string
}

// routes makes the routes of the operations found: sorted, named and
// checked for collisions.
func (w *walker) routes() []config.Route {
	w.checkIDs()
	var bs []*built
	for _, op := range w.ops {
		for _, base := range op.bases {
			r := config.Route{
				Match: config.Match{
					Host:    w.o.Host,
					Path:    joinBase(base, op.tmpl),
					Methods: []string{op.method},
				},
				Upstream:   w.o.Upstream,
				ClientCert: op.cc,
				Allow:      slices.Clone(op.allow),
				Origin:     op.specPath,
			}
			bs = append(bs, &built{Route: r, op: op, base: base})
		}
	}
	slices.SortStableFunc(bs, func(a, b *built) int {
		return cmp.Or(
			cmp.Compare(a.Match.Path, b.Match.Path),
			cmp.Compare(methodRank(a.op.method), methodRank(b.op.method)),
			cmp.Compare(a.op.method, b.op.method),
			cmp.Compare(a.op.specPath, b.op.specPath),
		)
	})
	w.checkCollisions(bs)
	w.name(bs)
	routes := make([]config.Route, len(bs))
	for i, b := range bs {
		routes[i] = b.Route
	}
	return routes
}

// checkIDs reports operationIds used twice.
func (w *walker) checkIDs() {
	first := map[string]*operation{}
	for _, op := range w.ops {
		if op.id == "" {
			continue
		}
		if prev, dup := first[op.id]; dup {
			w.ps.at(op.at.file, op.idNode, op.specPath+".operationId", "duplicate operationId %q (also at %s.operationId)", op.id, prev.specPath)
			continue
		}
		first[op.id] = op
	}
}

// checkCollisions reports routes that would match the same requests
// because server base paths made their paths meet (paths that are the
// same template were reported already).
func (w *walker) checkCollisions(bs []*built) {
	first := map[string]*built{}
	for _, b := range bs {
		k := b.op.method + " " + templateKey(b.Match.Path)
		prev, dup := first[k]
		if !dup {
			first[k] = b
			continue
		}
		if templateKey(prev.op.tmpl) == templateKey(b.op.tmpl) {
			continue // reported as the same template
		}
		w.ps.at(b.op.at.file, b.op.node, b.op.specPath, "%s %s is also the route of %s: with their servers, both match the same requests", b.op.method, b.Match.Path, prev.op.specPath)
	}
}

// name gives every route a unique name: operationIds first (so a name
// from the document never changes because of a generated one), then
// generated ones, each in route order.
func (w *walker) name(bs []*built) {
	used := map[string]bool{}
	prefix := w.o.NamePrefix
	room := maxName - len(prefix)
	assign := func(b *built, base string) {
		if len(b.op.bases) > 1 {
			base = fitIn(base, "-"+baseSlug(b.base), room)
		}
		name := fitIn(base, "", room)
		for n := 2; used[name]; n++ {
			name = fitIn(base, "-"+strconv.Itoa(n), room)
		}
		used[name] = true
		b.Name = prefix + name
	}
	for _, b := range bs {
		if b.op.id != "" {
			assign(b, safeName(b.op.id))
		}
	}
	for _, b := range bs {
		if b.op.id == "" {
			assign(b, opSlug(b.op.method, b.op.tmpl))
		}
	}
}
