package openapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/pb33f/go-yaml"
	"github.com/pb33f/libopenapi/index"
)

// refMsg says why a $ref into another file failed when it is because of
// the file (the library only says the target was not found).
func (l *loader) refMsg(dir, ref, msg string) string {
	if why := l.whyRef(dir, ref); why != "" {
		return fmt.Sprintf("cannot resolve $ref %q: %s", ref, why)
	}
	return msg
}

// whyRef returns what is wrong with the file a $ref written in directory
// dir names, or "" if nothing is.
func (l *loader) whyRef(dir, ref string) string {
	file, _, _ := strings.Cut(ref, "#")
	if file == "" || dir == "" || l.absBase == "" || remoteRef.MatchString(file) {
		return ""
	}
	p := filepath.FromSlash(file)
	if !filepath.IsAbs(p) {
		p = filepath.Join(dir, p)
	}
	p = filepath.Clean(p)
	var err error
	if l.files != nil {
		l.files.mu.Lock()
		err = l.files.refused[p]
		l.files.mu.Unlock()
	}
	if err == nil {
		_, err = checkFile(p)
	}
	if err != nil {
		return fmt.Sprintf("file %s: %v", l.showFile(p), unwrapPathErr(err))
	}
	switch strings.ToLower(filepath.Ext(p)) {
	case ".yaml", ".yml", ".json":
	default:
		return fmt.Sprintf("file %s: only .yaml, .yml and .json files are read", l.showFile(p))
	}
	data, err := os.ReadFile(p)
	if err != nil {
		return fmt.Sprintf("file %s: %v", l.showFile(p), unwrapPathErr(err))
	}
	var n yaml.Node
	if err := yaml.Unmarshal(data, &n); err != nil {
		return fmt.Sprintf("file %s: cannot parse it: %v", l.showFile(p), err)
	}
	return ""
}

func unwrapPathErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// localFiles is the file system external $refs are read from: the
// library's own LocalFS behind checks that only regular files of bounded
// size are read, and not too many of them (a $ref to a FIFO or a huge
// file must not hang or exhaust the gateway).
type localFiles struct {
	base    string
	inner   *index.LocalFS
	mu      sync.Mutex
	opened  map[string]bool
	refused map[string]error // why, for problems
	total   int64
}

// SetRolodex is called by the library when it adds the file system: the
// inner LocalFS is made then, with the rolodex's index configuration.
func (f *localFiles) SetRolodex(r *index.Rolodex) {
	cfg := r.GetConfig()
	if cfg == nil {
		return
	}
	inner, err := index.NewLocalFSWithConfig(&index.LocalFSConfig{BaseDirectory: f.base, IndexConfig: cfg, Logger: discard})
	if err != nil {
		return
	}
	inner.SetRolodex(r)
	f.inner = inner
}

// SetLogger is part of index.Rolodexable.
func (f *localFiles) SetLogger(*slog.Logger) {}

// GetFiles is part of index.RolodexFS.
func (f *localFiles) GetFiles() map[string]index.RolodexFile {
	if f.inner == nil {
		return map[string]index.RolodexFile{}
	}
	return f.inner.GetFiles()
}

func (f *localFiles) abs(name string) string {
	p := filepath.FromSlash(name)
	if !filepath.IsAbs(p) {
		p = filepath.Join(f.base, p)
	}
	return filepath.Clean(p)
}

// Stat is fs.StatFS: the library asks whether a file exists without
// reading it.
func (f *localFiles) Stat(name string) (fs.FileInfo, error) {
	return os.Stat(f.abs(name))
}

// Open is fs.FS.
func (f *localFiles) Open(name string) (fs.File, error) {
	return f.OpenWithContext(context.Background(), name)
}

// OpenWithContext is what the rolodex calls to read a file.
func (f *localFiles) OpenWithContext(ctx context.Context, name string) (fs.File, error) {
	p := f.abs(name)
	if err := f.admit(p); err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	if f.inner == nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: errors.New("file references are not available")}
	}
	return f.inner.OpenWithContext(ctx, p)
}

// names returns the files admitted or refused so far, sorted (none for a
// nil f: the document referenced no file system).
func (f *localFiles) names() []string {
	if f == nil {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]string, 0, len(f.opened)+len(f.refused))
	for p := range f.opened {
		out = append(out, p)
	}
	for p := range f.refused {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

func (f *localFiles) admit(p string) error {
	f.mu.Lock()
	if err := f.refused[p]; err != nil {
		f.mu.Unlock()
		return err
	}
	if f.opened[p] {
		f.mu.Unlock()
		return nil
	}
	f.mu.Unlock()

	var size int64
	var err error
	switch strings.ToLower(filepath.Ext(p)) {
	case ".yaml", ".yml", ".json":
		size, err = checkFile(p)
	default:
		err = errors.New("only .yaml, .yml and .json files are read")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case err != nil:
	case f.opened[p]:
		return nil
	case len(f.opened) >= maxFiles:
		err = fmt.Errorf("more than %d files referenced", maxFiles)
	case f.total+size > maxTotalSize:
		err = fmt.Errorf("referenced files add up to more than %d MiB", maxTotalSize>>20)
	}
	if err != nil {
		f.refused[p] = err
		return err
	}
	f.opened[p] = true
	f.total += size
	return nil
}

// checkFile checks that p is a file libopenapi can safely read and
// returns its size.
func checkFile(p string) (int64, error) {
	// Stat before opening: opening a FIFO blocks.
	if st, err := os.Stat(p); err != nil {
		return 0, err
	} else if !st.Mode().IsRegular() {
		return 0, errors.New("not a regular file")
	}
	f, err := os.Open(p)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	if !st.Mode().IsRegular() {
		return 0, errors.New("not a regular file")
	}
	if st.Size() > MaxDocumentSize {
		return 0, fmt.Errorf("%d bytes, more than the %d MiB limit", st.Size(), MaxDocumentSize>>20)
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxDocumentSize+1))
	if err != nil {
		return 0, err
	}
	if len(data) > MaxDocumentSize {
		return 0, fmt.Errorf("more than the %d MiB limit", MaxDocumentSize>>20)
	}
	// libopenapi would loop forever on a file that contains itself.
	var n yaml.Node
	if yaml.Unmarshal(data, &n) == nil {
		if a := aliasCycle(&n); a != nil {
			return 0, fmt.Errorf("line %d: YAML alias *%s is inside the node it refers to: a document cannot contain itself", a.Line, a.Value)
		}
	}
	return int64(len(data)), nil
}
