package openapi

import (
	"strconv"
	"strings"

	"github.com/pb33f/go-yaml"
	"github.com/pb33f/libopenapi/utils"
)

// Helpers to read the YAML node tree libopenapi parsed. They follow
// aliases one step at a time (an alias points at an anchored node, never
// at another alias, but a bounded loop costs nothing) and never expand a
// whole subtree, so alias bombs cost no more than the library already
// refused (it limits alias expansion while indexing).

// deref follows aliases.
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 8; i++ {
		n = n.Alias
	}
	if n != nil && n.Kind == yaml.AliasNode {
		return nil
	}
	return n
}

// docRoot returns the top node of a parsed document.
func docRoot(n *yaml.Node) *yaml.Node {
	n = deref(n)
	if n != nil && n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return nil
		}
		return deref(n.Content[0])
	}
	return n
}

// pair is one key and value of a mapping.
type pair struct {
	key, val *yaml.Node
}

// pairs returns the entries of mapping n with YAML merge keys ("<<")
// applied, or nil if n is not a mapping.
func pairs(n *yaml.Node) []pair {
	n = deref(n)
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	n = utils.ResolveMergeNodes(n)
	if n == nil {
		return nil
	}
	ps := make([]pair, 0, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := deref(n.Content[i]), deref(n.Content[i+1])
		if k == nil || v == nil {
			continue
		}
		ps = append(ps, pair{k, v})
	}
	return ps
}

// get returns the value of key in mapping n, or nil.
func get(n *yaml.Node, key string) *yaml.Node {
	for _, p := range pairs(n) {
		if p.key.Kind == yaml.ScalarNode && p.key.Value == key {
			return p.val
		}
	}
	return nil
}

// getPair is get returning the key node too.
func getPair(n *yaml.Node, key string) (k, v *yaml.Node) {
	for _, p := range pairs(n) {
		if p.key.Kind == yaml.ScalarNode && p.key.Value == key {
			return p.key, p.val
		}
	}
	return nil, nil
}

func isMap(n *yaml.Node) bool { n = deref(n); return n != nil && n.Kind == yaml.MappingNode }
func isSeq(n *yaml.Node) bool { n = deref(n); return n != nil && n.Kind == yaml.SequenceNode }

// isNull reports whether n is YAML null ("key:" with no value, "~", null).
func isNull(n *yaml.Node) bool {
	n = deref(n)
	return n == nil || n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// str returns n's value if n is a string scalar.
func str(n *yaml.Node) (string, bool) {
	n = deref(n)
	if n == nil || n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
		return "", false
	}
	return n.Value, true
}

// scalar returns n's value if n is any scalar but null (numbers and
// booleans as written: a version "3.0" written unquoted is a float).
func scalar(n *yaml.Node) (string, bool) {
	n = deref(n)
	if n == nil || n.Kind != yaml.ScalarNode || n.ShortTag() == "!!null" {
		return "", false
	}
	return n.Value, true
}

// boolean returns n's value if n is a YAML boolean.
func boolean(n *yaml.Node) (v, ok bool) {
	n = deref(n)
	if n == nil || n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" {
		return false, false
	}
	b, err := strconv.ParseBool(strings.ToLower(n.Value))
	return b, err == nil
}

// kind names n's kind for messages.
func kind(n *yaml.Node) string {
	n = deref(n)
	switch {
	case n == nil:
		return "nothing"
	case n.Kind == yaml.MappingNode:
		return "an object"
	case n.Kind == yaml.SequenceNode:
		return "a list"
	case n.Kind == yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return "null"
		case "!!str":
			return "a string"
		case "!!bool":
			return "a boolean"
		case "!!int", "!!float":
			return "a number"
		}
		return "a scalar"
	}
	return "something else"
}

// refOf returns the $ref of mapping n, if it has one.
func refOf(n *yaml.Node) (ref *yaml.Node, ok bool) {
	_, v := getPair(n, "$ref")
	return v, v != nil
}

// joinPath appends a mapping key to a spec path.
func joinPath(base, key string) string {
	if base == "" {
		return key
	}
	return base + "." + key
}

// indexPath appends a list index to a spec path.
func indexPath(base string, i int) string {
	return base + "[" + strconv.Itoa(i) + "]"
}
