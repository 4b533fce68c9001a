package openapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strconv"
	"strings"

	"github.com/pb33f/go-yaml"
	"github.com/pb33f/libopenapi/datamodel"
	"github.com/pb33f/libopenapi/index"
	"github.com/pb33f/libopenapi/utils"
)

// Limits on what a document can make Import read.
const (
	// MaxDocumentSize bounds the document and every file it refers to.
	MaxDocumentSize = 16 << 20
	// maxFiles bounds the external files one document can pull in.
	maxFiles = 256
	// maxTotalSize bounds the bytes of all external files together.
	maxTotalSize = 64 << 20
	// maxNodes bounds the YAML nodes this package walks per file when it
	// looks for $refs and for where the library's errors point.
	maxNodes = 4 << 20
)

// loaded is a parsed, indexed document.
type loaded struct {
	v2      bool
	root    *yaml.Node
	rootIdx *index.SpecIndex
	rolodex *index.Rolodex
}

// loader reads one document with libopenapi.
type loader struct {
	ps *problems
	// libFailed are the nodes of the library's errors: the walker does not
	// report a $ref again when the library already did.
	libFailed map[*yaml.Node]bool
	// untyped are the library's errors that carry no node, reported after
	// the walk (see flushUntyped).
	untyped []string
	data    []byte
	absBase string // "" when file references are off
	files   *localFiles
	showDir string // how to show the base directory in problems
}

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

// load parses data and resolves its references. It returns nil when the
// document cannot be used; the problems say why.
func (l *loader) load(specFile string) *loaded {
	var info *datamodel.SpecInfo
	err := l.guard("parsing the document", func() error {
		var err error
		// SkipJSONConversion skips the library's structural checks: its
		// duplicate key check takes time quadratic in the size of a
		// mapping. checkSyntax does them in linear time.
		info, err = datamodel.ExtractSpecInfoWithConfig(l.data, &datamodel.DocumentConfiguration{SkipJSONConversion: true})
		return err
	})
	var root *yaml.Node
	if info != nil {
		root = docRoot(info.RootNode)
		if info.RootNode != nil && !isMap(root) {
			l.ps.at(l.ps.rootFile, root, "", "the document must be an object (a YAML mapping or JSON object), got %s", kind(root))
			return nil
		}
	}
	if err != nil || info == nil {
		if err != nil {
			l.parseProblem(err)
		}
		return nil
	}
	if !l.checkSyntax(info) {
		return nil
	}
	if a := aliasCycle(info.RootNode); a != nil {
		l.ps.at(l.ps.rootFile, a, "", "YAML alias *%s is inside the node it refers to: a document cannot contain itself", a.Value)
		return nil
	}
	ld := &loaded{root: root}
	if !l.version(ld, info) {
		return nil
	}

	// Only the index is built (references found, files read, cycles
	// checked), not libopenapi's document model: this package reads the
	// few parts it needs itself, and the model builder recurses forever
	// on some documents (a callback whose path item $refs its own).
	cfg := index.CreateClosedAPIIndexConfig()
	cfg.SpecInfo = info
	cfg.Logger = discard
	cfg.AvoidCircularReferenceCheck = true // done once, below
	if l.absBase != "" {
		cfg.BasePath = l.absBase
		cfg.SpecFilePath = specFile
		cfg.AllowFileLookup = true
	}
	var indexErr error
	if l.guard("resolving references", func() error {
		r := index.NewRolodex(cfg)
		r.SetRootNode(info.RootNode)
		if l.absBase != "" {
			l.files = &localFiles{base: l.absBase, opened: map[string]bool{}, refused: map[string]error{}}
			r.AddLocalFS(l.absBase, l.files)
		}
		indexErr = r.IndexTheRolodex(context.Background())
		r.CheckForCircularReferences()
		ld.rolodex = r
		ld.rootIdx = r.GetRootIndex()
		return nil
	}) != nil {
		return nil
	}
	errs := ld.rolodex.GetCaughtErrors()
	if len(errs) == 0 && indexErr != nil {
		errs = []error{indexErr}
	}
	mine := l.checkRefs(ld)
	l.libraryProblems(ld, errors.Join(errs...), mine)
	for _, e := range errs {
		if strings.Contains(e.Error(), "excessive aliasing") {
			return nil // reading the document further is what it attacks
		}
	}
	if ld.rootIdx == nil {
		if len(l.ps.list) == 0 {
			l.ps.add(l.ps.rootFile, 0, "", "cannot resolve the document's references")
		}
		return nil
	}
	return ld
}

// checkSyntax does what the library's skipped JSON conversion would have:
// JSON must be valid JSON (the YAML parser is more lenient), and no
// mapping may repeat a key.
func (l *loader) checkSyntax(info *datamodel.SpecInfo) bool {
	if info.SpecFileType == datamodel.JSONFileType && !json.Valid(l.data) {
		var v any
		l.parseProblem(fmt.Errorf("failed to unmarshal JSON: %w", json.Unmarshal(l.data, &v)))
		return false
	}
	ok := true
	walkTree(info.RootNode, func(n, _ *yaml.Node, path func() string) {
		if n.Kind != yaml.MappingNode || len(n.Content) < 4 {
			return
		}
		seen := make(map[string]*yaml.Node, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			id := strconv.Itoa(int(k.Kind)) + ":" + k.Value
			if first, dup := seen[id]; dup {
				p := path()
				l.ps.at(l.ps.rootFile, k, joinPath(p, k.Value), "duplicate key %q (first at line %d)", k.Value, first.Line)
				ok = false
				continue
			}
			seen[id] = k
		}
	})
	return ok
}

// aliasCycle returns an alias inside the node it refers to, or nil. Such a
// document is infinite; the parser accepts it. Every node is visited once
// (without recursion: alias chains can be as deep as the document is long).
func aliasCycle(root *yaml.Node) *yaml.Node {
	const (
		inProgress = 1
		done       = 2
	)
	type frame struct {
		n    *yaml.Node
		next int // the next child to visit; -1: the alias target first
	}
	state := map[*yaml.Node]uint8{}
	var stack []frame
	push := func(n *yaml.Node) {
		if n != nil && state[n] == 0 {
			state[n] = inProgress
			stack = append(stack, frame{n: n, next: -1})
		}
	}
	push(root)
	for len(stack) > 0 {
		f := &stack[len(stack)-1]
		n := f.n
		var child *yaml.Node
		switch {
		case f.next == -1:
			f.next = 0
			if n.Kind == yaml.AliasNode {
				if n.Alias != nil && state[n.Alias] == inProgress {
					return n
				}
				child = n.Alias
			}
		case f.next < len(n.Content):
			child = n.Content[f.next]
			f.next++
		default:
			state[n] = done
			stack = stack[:len(stack)-1]
			continue
		}
		push(child)
	}
	return nil
}

// guard runs a library call, turning a panic into a problem.
func (l *loader) guard(what string, f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			l.ps.add(l.ps.rootFile, 0, "", "libopenapi failed while %s: %v", what, r)
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return f()
}

var (
	openAPIVersion = regexp.MustCompile(`^3\.([0-9]+)(\.[0-9]+)?([-+][0-9A-Za-z.+-]*)?$`)
	// Lines in the parser's messages: "line 4:", "at L3.C1:".
	lineInMsg = regexp.MustCompile(`(?:\bline (\d+)|\bL(\d+)\.C\d+)`)
)

// version checks the openapi or swagger field.
func (l *loader) version(ld *loaded, info *datamodel.SpecInfo) bool {
	ok, ov := getPair(ld.root, "openapi")
	sk, sv := getPair(ld.root, "swagger")
	rf := l.ps.rootFile
	switch {
	case ok != nil && sk != nil:
		l.ps.at(rf, sk, "swagger", "both openapi and swagger are set: keep the one the document follows")
		return false
	case ok != nil:
		v, _ := scalar(ov)
		m := openAPIVersion.FindStringSubmatch(v)
		if m == nil {
			l.ps.at(rf, ov, "openapi", "unsupported version %q: want 3.0.x, 3.1.x or 3.2.x (or swagger: \"2.0\")", v)
			return false
		}
		minor, err := strconv.Atoi(m[1])
		if err != nil || minor > 2 {
			l.ps.at(rf, ov, "openapi", "unsupported version %q: want 3.0.x, 3.1.x or 3.2.x (or swagger: \"2.0\")", v)
			return false
		}
		if info.SpecType != utils.OpenApi3 {
			l.ps.at(rf, ov, "openapi", "libopenapi read this document as %q, not OpenAPI 3", info.SpecType)
			return false
		}
	case sk != nil:
		v, _ := scalar(sv)
		if v != "2.0" {
			l.ps.at(rf, sv, "swagger", "unsupported version %q: want \"2.0\" (or openapi: 3.x)", v)
			return false
		}
		ld.v2 = true
		if info.SpecType != utils.OpenApi2 {
			l.ps.at(rf, sv, "swagger", "libopenapi read this document as %q, not Swagger 2.0", info.SpecType)
			return false
		}
	default:
		if k, _ := getPair(ld.root, "asyncapi"); k != nil {
			l.ps.at(rf, k, "asyncapi", "an AsyncAPI document, not OpenAPI: no HTTP routes to import")
		} else {
			l.ps.add(rf, 0, "", "not an OpenAPI document: no openapi (3.x) or swagger (2.0) field")
		}
		return false
	}
	return true
}

// parseProblem reports an error from libopenapi.NewDocument.
func (l *loader) parseProblem(err error) {
	msg := err.Error()
	line := 0
	var se *json.SyntaxError
	if errors.As(err, &se) && se.Offset > 0 && se.Offset <= int64(len(l.data)) {
		line = bytes.Count(l.data[:se.Offset], []byte{'\n'}) + 1
	} else if m := lineInMsg.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1] + m[2])
	}
	switch {
	case strings.Contains(msg, "nothing in the spec"):
		msg = "the document is empty"
	case strings.Contains(msg, "spec type not supported"):
		msg = "not an OpenAPI document: no openapi (3.x) or swagger (2.0) field"
	case strings.Contains(msg, "unable to extract version"):
		msg = "the openapi or swagger field must be a version string"
	case strings.Contains(msg, "cannot construct !!") && strings.Contains(msg, "into map"):
		msg = "the document must be an object (a YAML mapping or JSON object)"
	case strings.Contains(msg, "already defined"):
		msg = "cannot parse the document: " + trimPrefixes(msg)
	case strings.Contains(msg, "openapi 3 or unknown version"), strings.Contains(msg, "swagger (2.0), or unknown version"):
		msg = "unsupported version: want openapi: 3.0.x, 3.1.x or 3.2.x, or swagger: \"2.0\""
	default:
		msg = "cannot parse the document: " + trimPrefixes(msg)
	}
	l.ps.add(l.ps.rootFile, line, "", "%s", msg)
}

func trimPrefixes(msg string) string {
	for _, p := range []string{"unable to parse specification: ", "failed to decode YAML to JSON: ", "failed to unmarshal JSON: ", "yaml: construct errors: "} {
		msg = strings.TrimPrefix(msg, p)
	}
	return msg
}
