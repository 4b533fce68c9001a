package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

// maxConfigBytes bounds the config file size: a config is hand-written text;
// anything this large is a mistake or an attack on the decoder.
const maxConfigBytes = 8 << 20

// Source is the decoded document, kept so that problems found after decoding
// (by Validate or while loading certificates) can be reported with the line
// they come from.
type Source struct {
	Name string
	file *ast.File
}

// Line returns the line of the YAML node at path (e.g.
// "routes[2].allow[0].spiffe_id"), or of its nearest existing parent; 0 when
// unknown.
func (s *Source) Line(path string) int {
	if s == nil || s.file == nil || path == "" {
		return 0
	}
	for p := path; p != ""; p = parentPath(p) {
		// Report the line of the key that introduces a value: for a block
		// mapping or sequence that is the line above the value's first token.
		if kl := s.keyLine(p); kl > 0 {
			return kl
		}
		yp, err := yaml.PathString("$." + p)
		if err != nil {
			continue
		}
		n, err := yp.FilterFile(s.file)
		if err != nil || n == nil {
			continue
		}
		if tk := n.GetToken(); tk != nil && tk.Position != nil {
			return tk.Position.Line
		}
	}
	return 0
}

// keyLine finds the line of the key that introduces path's value, when path
// ends in a mapping key (not an index).
func (s *Source) keyLine(path string) int {
	parent := parentPath(path)
	last := strings.TrimPrefix(path[len(parent):], ".")
	if strings.HasPrefix(last, "[") {
		return 0
	}
	yp, err := yaml.PathString("$." + parent)
	if parent == "" {
		yp, err = yaml.PathString("$")
	}
	if err != nil {
		return 0
	}
	n, err := yp.FilterFile(s.file)
	if err != nil || n == nil {
		return 0
	}
	m, ok := n.(*ast.MappingNode)
	if !ok {
		return 0
	}
	for _, v := range m.Values {
		if v.Key != nil && v.Key.String() == last && v.Key.GetToken() != nil {
			return v.Key.GetToken().Position.Line
		}
	}
	return 0
}

// parentPath drops the last element of a dotted/indexed path.
func parentPath(p string) string {
	i := strings.LastIndexAny(p, ".[")
	if i <= 0 {
		return ""
	}
	return p[:i]
}

// annotate fills in missing line numbers of ps from the source.
func (s *Source) annotate(ps Problems) Problems {
	for _, e := range ps {
		if e.Line == 0 {
			e.Line = s.Line(e.Path)
		}
	}
	return ps
}

// Annotate fills in line numbers for err's problems and returns them.
func (s *Source) Annotate(err error) Problems {
	return s.annotate(AsProblems(err))
}

// LoadFile reads, strictly decodes and defaults the config at path, resolving
// relative file names against its directory. It does not validate: call
// Validate (and report through Source.Annotate).
func LoadFile(path string) (*Config, *Source, error) {
	data, err := readBounded(path)
	if err != nil {
		return nil, nil, err
	}
	cfg, src, err := Parse(path, data)
	if err != nil {
		return nil, nil, err
	}
	abs, err := filepath.Abs(path)
	if err == nil {
		cfg.Path = abs
		cfg.Dir = filepath.Dir(abs)
	}
	cfg.resolvePaths()
	return cfg, src, nil
}

func readBounded(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("config: %s: %w", path, err)
	}
	if st.IsDir() {
		return nil, fmt.Errorf("config: %s: is a directory", path)
	}
	if st.Size() > maxConfigBytes {
		return nil, fmt.Errorf("config: %s: file is %d bytes; the limit is %d", path, st.Size(), maxConfigBytes)
	}
	data := make([]byte, 0, st.Size())
	buf := bytes.NewBuffer(data)
	if _, err := buf.ReadFrom(f); err != nil {
		return nil, fmt.Errorf("config: reading %s: %w", path, err)
	}
	return buf.Bytes(), nil
}

// Parse strictly decodes YAML (unknown keys and duplicate keys are errors,
// with line numbers) and applies defaults. name is used in messages.
// Relative paths are left as written.
func Parse(name string, data []byte) (*Config, *Source, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, nil, fmt.Errorf("config: %s: file is empty", name)
	}
	if len(data) > maxConfigBytes {
		return nil, nil, fmt.Errorf("config: %s: document is %d bytes; the limit is %d", name, len(data), maxConfigBytes)
	}
	file, err := parser.ParseBytes(data, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("config: %s: %s", name, formatYAMLError(err))
	}
	if len(file.Docs) > 1 {
		return nil, nil, fmt.Errorf("config: %s: has %d YAML documents; want one", name, len(file.Docs))
	}
	var cfg Config
	if err := strictDecode(data, &cfg); err != nil {
		return nil, nil, fmt.Errorf("config: %s: %s", name, formatYAMLError(err))
	}
	Defaults(&cfg)
	return &cfg, &Source{Name: name, file: file}, nil
}

// strictDecode decodes data into v, rejecting unknown and duplicate keys.
// The decoder panics on some malformed documents (found by FuzzParse, e.g.
// "routes:\n !\n0"); a config file is user input, so such a panic becomes an
// ordinary error instead of crashing a reload.
func strictDecode(data []byte, v any) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("malformed YAML the decoder cannot read (%v)", r)
		}
	}()
	return yaml.UnmarshalWithOptions(data, v, yaml.Strict())
}

// formatYAMLError renders a decoder error as "line L, column C: message"
// without colours or source excerpts, so it fits one log line.
func formatYAMLError(err error) string {
	var ye yaml.Error
	if errors.As(err, &ye) {
		if tk := ye.GetToken(); tk != nil && tk.Position != nil {
			return fmt.Sprintf("line %d, column %d: %s", tk.Position.Line, tk.Position.Column, ye.GetMessage())
		}
		return ye.GetMessage()
	}
	return strings.TrimSpace(err.Error())
}

// resolvePaths makes every file reference absolute, relative to cfg.Dir.
func (c *Config) resolvePaths() {
	res := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) && c.Dir != "" {
			*p = filepath.Join(c.Dir, *p)
		}
	}
	for i := range c.Listeners {
		if t := c.Listeners[i].TLS; t != nil {
			for _, p := range []*string{&t.Cert, &t.Key, &t.PasswordFile, &t.ClientCA, &t.ClientCAPasswordFile} {
				res(p)
			}
			if r := t.Revocation; r != nil {
				for j := range r.CRL {
					res(&r.CRL[j].File)
				}
			}
		}
	}
	for i := range c.Upstreams {
		if t := c.Upstreams[i].TLS; t != nil {
			for _, p := range []*string{&t.Cert, &t.Key, &t.PasswordFile, &t.CA, &t.CAPasswordFile} {
				res(p)
			}
		}
	}
	if c.CA != nil {
		res(&c.CA.Dir)
	}
	if c.Admin != nil {
		res(&c.Admin.APITokenFile)
	}
	if c.EST != nil {
		res(&c.EST.BootstrapCA)
		for i := range c.EST.Accounts {
			res(&c.EST.Accounts[i].PasswordFile)
		}
	}
	for i := range c.RoutesFrom {
		res(&c.RoutesFrom[i].OpenAPI)
	}
	for i := range c.EchoServers {
		e := &c.EchoServers[i]
		for _, p := range []*string{&e.Cert, &e.Key, &e.ClientCA} {
			res(p)
		}
	}
}
