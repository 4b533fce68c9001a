package route

import "strings"

// CleanPath returns the canonical form of an absolute, already
// percent-decoded URL path: "." and ".." segments resolved (never above the
// root) and runs of "/" merged; a trailing "/" is kept. It returns p itself,
// without allocating, when p is already clean. Matching and forwarding the
// same cleaned path means "/public/../secure" can never be routed as public
// and then resolved by the upstream as secure.
func CleanPath(p string) string {
	if p == "" {
		return "/"
	}
	if isClean(p) {
		return p
	}
	trailing := strings.HasSuffix(p, "/") || strings.HasSuffix(p, "/.") || strings.HasSuffix(p, "/..")
	segs := strings.Split(p, "/")
	out := make([]string, 0, len(segs))
	for _, s := range segs {
		switch dotSegment(s) {
		case "", ".":
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		default:
			out = append(out, s)
		}
	}
	c := "/" + strings.Join(out, "/")
	if trailing && c != "/" {
		c += "/"
	}
	return c
}

// dotSegment returns "." or ".." for a dot segment, also when it carries
// path parameters (".;x", "..;x": Tomcat and Spring resolve "/a/..;/b" to
// "/b", so the gateway must too, or a route could be bypassed), else s.
func dotSegment(s string) string {
	if i := strings.IndexByte(s, ';'); i >= 0 {
		if b := s[:i]; b == "." || b == ".." {
			return b
		}
	}
	return s
}

func isClean(p string) bool {
	if p[0] != '/' {
		return false
	}
	for i := 1; i < len(p); i++ {
		if p[i] == '/' && p[i-1] == '/' {
			return false
		}
		if p[i] == '.' && p[i-1] == '/' {
			// "/." followed by end, "/" or ".": a dot segment.
			rest := p[i+1:]
			if rest == "" || rest[0] == '/' || rest[0] == ';' || rest == "." || strings.HasPrefix(rest, "./") || strings.HasPrefix(rest, ".;") {
				return false
			}
		}
	}
	return true
}
