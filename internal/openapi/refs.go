package openapi

import (
	"cmp"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/pb33f/go-yaml"
	"github.com/pb33f/libopenapi/index"
	"github.com/pb33f/libopenapi/utils"
)

// nodeLoc is where a node sits: its file (as shown) and spec path.
type nodeLoc struct {
	file string
	path string
}

// fileRoot is one parsed file of the document: the root or an external
// file a $ref led to.
type fileRoot struct {
	show string // the file as shown in problems
	dir  string // its absolute directory, "" when unknown
	node *yaml.Node
}

// fileRoots lists the root document and the external files read, root first.
func (l *loader) fileRoots(ld *loaded) []fileRoot {
	fr := []fileRoot{{show: l.ps.rootFile, dir: l.absBase, node: ld.root}}
	if ld.rolodex == nil {
		return fr
	}
	seen := map[*yaml.Node]bool{ld.root: true}
	var ext []fileRoot
	for _, idx := range ld.rolodex.GetIndexes() {
		if idx == nil || idx == ld.rootIdx {
			continue
		}
		n := docRoot(idx.GetRootNode())
		if n == nil || seen[n] {
			continue
		}
		seen[n] = true
		abs := idx.GetSpecAbsolutePath()
		ext = append(ext, fileRoot{show: l.showFile(abs), dir: filepath.Dir(abs), node: n})
	}
	// GetIndexes is in loading order, which is concurrent: sort.
	slices.SortFunc(ext, func(a, b fileRoot) int { return cmp.Compare(a.show, b.show) })
	return append(fr, ext...)
}

// showFile turns the absolute path of an external file into the form
// problems use: relative to how the caller named the document's
// directory when it is below it.
func (l *loader) showFile(abs string) string {
	if l.absBase == "" || abs == "" {
		return abs
	}
	rel, err := filepath.Rel(l.absBase, abs)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return abs
	}
	return filepath.Join(l.showDir, rel)
}

// fileOf returns how to show the file an index was built from.
func (l *loader) fileOf(ld *loaded, idx *index.SpecIndex) string {
	if idx == nil || idx == ld.rootIdx {
		return l.ps.rootFile
	}
	return l.showFile(idx.GetSpecAbsolutePath())
}

// walkTree calls f for every node under n, in document order, with its
// spec path; it does not follow aliases and stops after maxNodes nodes.
func walkTree(n *yaml.Node, f func(n, key *yaml.Node, path func() string)) {
	var stack []string
	count := 0
	build := func() string {
		var b strings.Builder
		for _, s := range stack {
			if strings.HasPrefix(s, "[") || b.Len() == 0 {
				b.WriteString(s)
			} else {
				b.WriteString("." + s)
			}
		}
		return b.String()
	}
	var walk func(n, key *yaml.Node)
	walk = func(n, key *yaml.Node) {
		if n == nil || count >= maxNodes {
			return
		}
		count++
		f(n, key, build)
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				walk(c, nil)
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				stack = append(stack, "["+strconv.Itoa(i)+"]")
				walk(c, nil)
				stack = stack[:len(stack)-1]
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k := n.Content[i]
				stack = append(stack, k.Value)
				walk(k, nil)
				walk(n.Content[i+1], k)
				stack = stack[:len(stack)-1]
			}
		}
	}
	walk(n, nil)
}

var (
	remoteRef  = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*://`)
	missingRef = regexp.MustCompile(`cannot find reference|cannot be found|was not found|does not exist`)
)

// literal reports whether a spec path leads into a literal value (an
// example, a default, a const or an enum), where "$ref" is just a key of
// the value and not a reference. libopenapi resolves those too.
func literal(path string) bool {
	segs := strings.Split(path, ".")
	for i, seg := range segs {
		base, _, list := strings.Cut(seg, "[")
		prev := ""
		if i > 0 {
			prev, _, _ = strings.Cut(segs[i-1], "[")
		}
		if prev == "properties" || prev == "patternProperties" || prev == "$defs" || prev == "definitions" || prev == "dependentSchemas" {
			continue // a name, not a keyword
		}
		switch {
		case base == "example" || base == "const" || base == "enum":
			return true
		case base == "default" && prev != "responses":
			return true
		case base == "examples" && list: // a JSON Schema examples list
			return true
		case base == "value" && i >= 2 && segs[i-2] == "examples":
			return true
		}
	}
	return false
}

// reported is where this package already reported a $ref, so that the
// library's own complaints about the same $ref can be left out.
type reported struct {
	paths map[nodeLoc]bool
	lines map[fileLine]bool
}

type fileLine struct {
	file string
	line int
}

func (r reported) has(loc nodeLoc, line int) bool {
	return loc.path != "" && r.paths[loc] || line > 0 && r.lines[fileLine{loc.file, line}]
}

// checkRefs reports $refs this package refuses: remote ones, and file ones
// when there is no base directory.
func (l *loader) checkRefs(ld *loaded) reported {
	mine := reported{paths: map[nodeLoc]bool{}, lines: map[fileLine]bool{}}
	for _, fr := range l.fileRoots(ld) {
		walkTree(fr.node, func(n, _ *yaml.Node, path func() string) {
			if n.Kind != yaml.MappingNode {
				return
			}
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], deref(n.Content[i+1])
				if k.Value != "$ref" || v == nil {
					continue
				}
				where := path()
				if literal(where) {
					continue
				}
				var msg string
				ref, isStr := str(v)
				switch {
				case !isStr:
					msg = fmt.Sprintf("$ref must be a string, got %s", kind(v))
				case remoteRef.MatchString(ref):
					msg = fmt.Sprintf("remote $ref %q: only local files are read, never the network", ref)
				case l.absBase == "" && !strings.HasPrefix(ref, "#"):
					msg = fmt.Sprintf("file $ref %q: no base directory to resolve it against", ref)
				default:
					continue
				}
				l.ps.at(fr.show, v, where, "%s", msg)
				mine.paths[nodeLoc{fr.show, where}] = true
				mine.lines[fileLine{fr.show, v.Line}] = true
			}
		})
	}
	return mine
}

// libraryProblems turns the errors libopenapi returned while resolving
// references into problems, located by the nodes they carry.
func (l *loader) libraryProblems(ld *loaded, err error, mine reported) {
	if err == nil {
		return
	}
	type located struct {
		nodes []*yaml.Node // where, best first
		msg   string
		ref   string // the $ref that failed, if known
	}
	var items []located
	for _, e := range utils.UnwrapErrors(err) {
		if e == nil {
			continue
		}
		var re *index.ResolvingError
		var ie *index.IndexingError
		switch {
		case errors.As(e, &re):
			var nodes []*yaml.Node
			msg := resolvingMsg(re)
			if c := re.CircularReference; c != nil {
				loop, start := circle(c)
				if start != nil {
					nodes = append(nodes, start.Node)
				}
				msg = "circular $ref that can never end: " + loop
			}
			items = append(items, located{append(nodes, re.Node), msg, ""})
		case errors.As(e, &ie):
			ref, msg := indexingMsg(ie)
			items = append(items, located{[]*yaml.Node{ie.Node}, msg, ref})
		default:
			items = append(items, located{nil, e.Error(), ""})
		}
	}
	// Errors without a node are reported after the walk, unless they
	// repeat, about a missing $ref target, what errors with one said.
	typed := slices.ContainsFunc(items, func(it located) bool { return len(it.nodes) > 0 })
	var withNodes []located
	for _, it := range items {
		switch {
		case len(it.nodes) > 0:
			withNodes = append(withNodes, it)
		case !typed || !missingRef.MatchString(it.msg):
			l.untyped = append(l.untyped, it.msg)
		}
	}
	items = withNodes
	// Find the nodes in the files read.
	type found struct {
		loc  nodeLoc
		line int
		dir  string // the file's directory
	}
	want := map[*yaml.Node]*found{}
	if l.libFailed == nil {
		l.libFailed = map[*yaml.Node]bool{}
	}
	for _, it := range items {
		for _, n := range it.nodes {
			if n != nil {
				want[n] = nil
				l.libFailed[n] = true
			}
		}
	}
	if len(want) > 0 {
		for _, fr := range l.fileRoots(ld) {
			walkTree(fr.node, func(n, key *yaml.Node, path func() string) {
				if loc, ok := want[n]; ok && loc == nil {
					line := n.Line
					if key != nil {
						line = key.Line
					}
					want[n] = &found{nodeLoc{fr.show, strings.TrimSuffix(path(), ".$ref")}, line, fr.dir}
				}
			})
		}
	}
	items = slices.DeleteFunc(items, func(it located) bool {
		for _, n := range it.nodes {
			if w := want[n]; n != nil && w != nil {
				return literal(w.loc.path)
			}
		}
		return false
	})
	// One problem per place: the library often reports one cause several
	// times, in an order that varies from run to run.
	type place struct {
		loc  nodeLoc
		line int
	}
	best := map[place]string{}
	var order []place
	for _, it := range items {
		p := place{loc: nodeLoc{file: l.ps.rootFile}}
		msg := it.msg
		for _, n := range it.nodes {
			if w := want[n]; n != nil && w != nil {
				p = place{w.loc, w.line}
				if it.ref != "" {
					msg = l.refMsg(w.dir, it.ref, msg)
				}
				break
			}
		}
		// A node not found is one the library made itself: its line may be
		// in any file, so none is claimed.
		if mine.has(p.loc, p.line) {
			continue
		}
		if m, ok := best[p]; !ok {
			best[p] = msg
			order = append(order, p)
		} else if msg < m {
			best[p] = msg
		}
	}
	for _, p := range order {
		l.ps.add(p.loc.file, p.line, p.loc.path, "%s", best[p])
	}
}

// flushUntyped reports the library's errors that came without a node,
// but not those that name a line ("line N", of some file) where a problem
// was reported already: they repeat it.
func (l *loader) flushUntyped() {
	for _, msg := range l.untyped {
		if m := lineInMsg.FindStringSubmatch(msg); m != nil {
			line, _ := strconv.Atoi(m[1] + m[2])
			if slices.ContainsFunc(l.ps.list, func(p *Problem) bool { return p.Line == line }) {
				continue
			}
		}
		l.ps.add(l.ps.rootFile, 0, "", "%s", msg)
	}
}

// circle describes a circular reference the same way wherever the
// library happened to enter it: starting at its smallest definition,
// which it also returns.
func circle(c *index.CircularReferenceResult) (string, *index.Reference) {
	var refs []*index.Reference
	for _, r := range c.Journey {
		if r != nil {
			refs = append(refs, r)
		}
	}
	name := func(r *index.Reference) string {
		if r.Definition != "" {
			return r.Definition
		}
		return r.Name
	}
	// The journey ends where the loop closes: drop the repeat.
	if n := len(refs); n > 1 && name(refs[0]) == name(refs[n-1]) {
		refs = refs[:n-1]
	}
	if len(refs) == 0 {
		return "", nil
	}
	first := 0
	for i, r := range refs {
		if name(r) < name(refs[first]) {
			first = i
		}
	}
	refs = append(refs[first:], refs[:first]...)
	names := make([]string, 0, len(refs)+1)
	for _, r := range refs {
		names = append(names, name(r))
	}
	names = append(names, names[0])
	return strings.Join(names, " -> "), refs[0]
}

func resolvingMsg(re *index.ResolvingError) string {
	msg := ""
	if re.ErrorRef != nil {
		msg = re.ErrorRef.Error()
	}
	switch {
	case errors.Is(re.ErrorRef, index.ErrReferenceChainCycle):
		if _, after, ok := strings.Cut(msg, "while resolving "); ok {
			return "circular $ref: the chain of $refs through " + strings.Trim(after, "'") + " never reaches a value"
		}
		return "circular $ref: " + msg
	case strings.Contains(msg, "excessive aliasing"):
		return "too many YAML aliases (an alias bomb?): refusing to expand them"
	}
	return msg
}

func indexingMsg(ie *index.IndexingError) (ref, msg string) {
	if ie.Err != nil {
		msg = ie.Err.Error()
	}
	if n := deref(ie.Node); n != nil {
		if v, ok := refOf(n); ok {
			ref, _ = str(v)
		} else if n.Kind == yaml.ScalarNode {
			ref = n.Value
		}
	}
	if strings.Contains(msg, "does not exist") && ref != "" {
		return ref, fmt.Sprintf("cannot resolve $ref %q: not found", ref)
	}
	if ref != "" {
		return ref, fmt.Sprintf("cannot resolve $ref %q: %s", ref, msg)
	}
	return "", msg
}
