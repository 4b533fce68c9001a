package openapi

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/pb33f/go-yaml"
)

// Problem is one thing wrong with an API description, with where it was
// found.
type Problem struct {
	// File is the document the problem is in: the path given to Import
	// (empty for ImportBytes), or the file an external $ref led to.
	File string
	// SpecPath is where in the document, keys joined with "." and list
	// indexes in brackets: "paths./orders/{id}.get.security[0].mtls".
	// Empty for problems with the whole document.
	SpecPath string
	// Line is the line in File, 0 when unknown.
	Line int
	Msg  string
}

// Error formats the problem as "file:line: specpath: msg", leaving out the
// parts that are unknown.
func (p *Problem) Error() string {
	var b strings.Builder
	switch {
	case p.File != "" && p.Line > 0:
		b.WriteString(p.File + ":" + strconv.Itoa(p.Line) + ": ")
	case p.File != "":
		b.WriteString(p.File + ": ")
	case p.Line > 0:
		b.WriteString("line " + strconv.Itoa(p.Line) + ": ")
	}
	if p.SpecPath != "" {
		b.WriteString(p.SpecPath + ": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Problems are all the problems found in one document. Import returns them
// as its error (use errors.As to get at them).
type Problems []*Problem

// Error lists every problem, one per line.
func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.Error()
	}
	return strings.Join(lines, "\n")
}

// maxProblems bounds the problems reported for one document: past that,
// one more says how many were left out. At most maxCollected are kept
// while reading (checks for repeats look through them).
const (
	maxProblems  = 200
	maxCollected = 1000
)

// problems collects Problems while a document is read.
type problems struct {
	list Problems
	// rootFile is Problem.File for the root document.
	rootFile string
	dropped  int // past maxCollected
}

func (c *problems) add(file string, line int, specPath, format string, args ...any) {
	if len(c.list) >= maxCollected {
		c.dropped++
		return
	}
	c.list = append(c.list, &Problem{File: file, Line: line, SpecPath: specPath, Msg: fmt.Sprintf(format, args...)})
}

// at adds a problem located at node n (line 0 when n is nil).
func (c *problems) at(file string, n *yaml.Node, specPath, format string, args ...any) {
	line := 0
	if n != nil {
		line = n.Line
	}
	c.add(file, line, specPath, format, args...)
}

// result sorts the problems (the root document first, then by file, line
// and spec path), drops repeats and bounds their number.
func (c *problems) result() Problems {
	if len(c.list) == 0 && c.dropped == 0 {
		return nil
	}
	ps := slices.Clone(c.list)
	slices.SortStableFunc(ps, func(a, b *Problem) int {
		ar, br := a.File != c.rootFile, b.File != c.rootFile
		if ar != br {
			if ar {
				return 1
			}
			return -1
		}
		return cmp.Or(
			cmp.Compare(a.File, b.File),
			cmp.Compare(a.Line, b.Line),
			cmp.Compare(a.SpecPath, b.SpecPath),
			cmp.Compare(a.Msg, b.Msg),
		)
	})
	ps = slices.CompactFunc(ps, func(a, b *Problem) bool { return *a == *b })
	if n := len(ps) - maxProblems + c.dropped; n > 0 {
		ps = append(ps[:min(len(ps), maxProblems):min(len(ps), maxProblems)], &Problem{File: c.rootFile, Msg: fmt.Sprintf("%d more problems not shown", n)})
	}
	return ps
}

// has reports whether a problem was already reported at file and specPath.
func (c *problems) has(file, specPath string) bool {
	for _, p := range c.list {
		if p.File == file && p.SpecPath == specPath {
			return true
		}
	}
	return false
}
