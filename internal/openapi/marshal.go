package openapi

import (
	"bytes"
	"cmp"
	"encoding"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/mtlsgate/mtlsgate/internal/config"
)

// MarshalRoutes renders routes as a YAML document ("routes:" and a list)
// that can be pasted into a config: the config's key names, empty fields
// left out, the same bytes for the same routes. A header comment says the
// routes came from source (a document name) and which upstream they go
// to.
func MarshalRoutes(routes []config.Route, source string) ([]byte, error) {
	list, err := toNode(reflect.ValueOf(routes))
	if err != nil {
		return nil, fmt.Errorf("openapi: writing routes: %w", err)
	}
	var upstreams []string
	for _, r := range routes {
		if r.Upstream != "" {
			upstreams = append(upstreams, r.Upstream)
		}
	}
	slices.Sort(upstreams)
	upstreams = slices.Compact(upstreams)
	var body bytes.Buffer
	body.WriteString("routes:")
	list.write(&body, 2)
	var b bytes.Buffer
	src := oneLine(source)
	if src == "" {
		src = "an API description"
	}
	fmt.Fprintf(&b, "# Routes imported from %s", src)
	switch len(upstreams) {
	case 0:
	case 1:
		fmt.Fprintf(&b, " for upstream %s", oneLine(upstreams[0]))
	default:
		fmt.Fprintf(&b, " for upstreams %s", oneLine(strings.Join(upstreams, ", ")))
	}
	plural := "s"
	if len(routes) == 1 {
		plural = ""
	}
	fmt.Fprintf(&b, " (%d route%s) by mtlsgate import openapi.\n", len(routes), plural)
	b.WriteString("# Change the API description and import again rather than editing these.\n")
	b.Write(body.Bytes())
	return b.Bytes(), nil
}

// oneLine keeps a comment on one line.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f || r == 0x85 || r == 0x2028 || r == 0x2029 {
			return ' '
		}
		return r
	}, s)
}

var textMarshaler = reflect.TypeFor[encoding.TextMarshaler]()

// node is a value to write: a mapping (ordered), a list or a scalar
// already rendered as YAML.
type node struct {
	keys   []string
	vals   []*node
	list   []*node
	isMap  bool
	isList bool
	scalar string
}

// toNode converts v: structs become mappings in field order under their
// yaml names, with zero fields left out (a non-nil pointer to an empty
// struct stays, as {}, so that it decodes the same).
func toNode(v reflect.Value) (*node, error) {
	if v.Type().Implements(textMarshaler) {
		if v.Kind() == reflect.Pointer && v.IsNil() {
			return &node{scalar: "null"}, nil
		}
		b, err := v.Interface().(encoding.TextMarshaler).MarshalText()
		if err != nil {
			return nil, err
		}
		return scalarNode(string(b))
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return &node{scalar: "null"}, nil
		}
		return toNode(v.Elem())
	case reflect.Struct:
		n := &node{isMap: true}
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "-" {
				continue
			}
			if name == "" {
				name = strings.ToLower(f.Name)
			}
			fv := v.Field(i)
			if fv.IsZero() || (fv.Kind() == reflect.Slice || fv.Kind() == reflect.Map) && fv.Len() == 0 {
				continue
			}
			c, err := toNode(fv)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			n.keys = append(n.keys, name)
			n.vals = append(n.vals, c)
		}
		return n, nil
	case reflect.Slice, reflect.Array:
		n := &node{isList: true}
		for i := range v.Len() {
			c, err := toNode(v.Index(i))
			if err != nil {
				return nil, err
			}
			n.list = append(n.list, c)
		}
		return n, nil
	case reflect.Map:
		keys := v.MapKeys()
		slices.SortFunc(keys, func(a, b reflect.Value) int { return cmp.Compare(fmt.Sprint(a.Interface()), fmt.Sprint(b.Interface())) })
		n := &node{isMap: true}
		for _, k := range keys {
			c, err := toNode(v.MapIndex(k))
			if err != nil {
				return nil, err
			}
			n.keys = append(n.keys, fmt.Sprint(k.Interface()))
			n.vals = append(n.vals, c)
		}
		return n, nil
	case reflect.String:
		return scalarNode(v.String())
	case reflect.Bool:
		return &node{scalar: strconv.FormatBool(v.Bool())}, nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return &node{scalar: strconv.FormatInt(v.Int(), 10)}, nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return &node{scalar: strconv.FormatUint(v.Uint(), 10)}, nil
	case reflect.Float32, reflect.Float64:
		return &node{scalar: strconv.FormatFloat(v.Float(), 'g', -1, 64)}, nil
	}
	return nil, fmt.Errorf("cannot write a %s", v.Type())
}

func scalarNode(s string) (*node, error) {
	q, err := quote(s)
	if err != nil {
		return nil, err
	}
	return &node{scalar: q}, nil
}

// write renders n as the value of a key (or list item) at indent.
func (n *node) write(b *bytes.Buffer, indent int) {
	pad := strings.Repeat(" ", indent)
	switch {
	case n.isMap && len(n.keys) == 0:
		b.WriteString(" {}\n")
	case n.isList && len(n.list) == 0:
		b.WriteString(" []\n")
	case n.isMap:
		b.WriteByte('\n')
		for i, k := range n.keys {
			b.WriteString(pad + plainKey(k) + ":")
			n.vals[i].write(b, indent+2)
		}
	case n.isList:
		b.WriteByte('\n')
		for _, c := range n.list {
			b.WriteString(pad + "-")
			c.writeItem(b, indent+2)
		}
	default:
		b.WriteString(" " + n.scalar + "\n")
	}
}

// writeItem renders n as a list item, after its "-": a mapping starts on
// the same line.
func (n *node) writeItem(b *bytes.Buffer, indent int) {
	if !n.isMap || len(n.keys) == 0 {
		n.write(b, indent)
		return
	}
	pad := strings.Repeat(" ", indent)
	for i, k := range n.keys {
		if i == 0 {
			b.WriteString(" " + plainKey(k) + ":")
		} else {
			b.WriteString(pad + plainKey(k) + ":")
		}
		n.vals[i].write(b, indent+2)
	}
}

func plainKey(k string) string {
	q, err := quote(k)
	if err != nil {
		return strconv.Quote(k)
	}
	return q
}

// quote returns s as a YAML scalar that reads back as the string s: plain
// when that is unambiguous, else double-quoted.
func quote(s string) (string, error) {
	if !utf8.ValidString(s) {
		return "", fmt.Errorf("%q is not valid UTF-8", s)
	}
	if plainSafe(s) {
		return s, nil
	}
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\r':
			b.WriteString(`\r`)
		case r < 0x20 || r == 0x7f || r == 0x85 || r == 0x2028 || r == 0x2029 || r == 0xfeff || !unicode.IsPrint(r) && r != ' ':
			if r > 0xffff {
				fmt.Fprintf(&b, `\U%08x`, r)
			} else {
				fmt.Fprintf(&b, `\u%04x`, r)
			}
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String(), nil
}

// plainSafe reports whether s can be written without quotes: a
// conservative set of characters (no ':' or '#'), a letter, '/' or '_'
// first, single inner spaces, and not a word YAML 1.1 or 1.2 reads as a
// boolean or null.
func plainSafe(s string) bool {
	if s == "" || strings.HasSuffix(s, " ") || strings.Contains(s, "  ") {
		return false
	}
	for i, r := range s {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '/' || r == '_'
		if i > 0 {
			// Not first: a digit or dot first could make a number or a
			// date for some YAML reader.
			ok = ok || r >= '0' && r <= '9' || strings.ContainsRune(".-+=,@*{} ", r)
		}
		if !ok {
			return false
		}
	}
	// Starting with a letter, '/' or '_', s is no number, date, alias,
	// tag or other indicator; only these words remain.
	return !yamlSpecial[strings.ToLower(s)]
}

// yamlSpecial are the plain scalars (lower-cased) that start with a letter
// and that YAML 1.2, or YAML 1.1 readers, take for booleans or null.
var yamlSpecial = map[string]bool{
	"y": true, "n": true, "yes": true, "no": true, "on": true, "off": true,
	"true": true, "false": true, "null": true,
}
