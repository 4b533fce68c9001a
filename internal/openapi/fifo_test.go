//go:build unix

package openapi

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// A FIFO must be refused, not opened: opening one blocks until a writer
// comes.
func TestImportFIFO(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "fifo.yaml")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Import(fifo, Options{Upstream: "u"}); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("got %v", err)
	}
}

func TestExternalFileLimits(t *testing.T) {
	dir := t.TempDir()
	doc := h31 + "paths:\n  /a:\n    $ref: 'big.yaml#/item'\n  /b:\n    $ref: 'fifo.yaml#/item'\n  /c:\n    $ref: 'dir.yaml#/item'\n"
	f, err := os.Create(filepath.Join(dir, "big.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(MaxDocumentSize + 1); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := os.Mkdir(filepath.Join(dir, "dir.yaml"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo.yaml"), 0o644); err != nil {
		t.Fatal(err)
	}
	got := problemsOf(t, doc, dir, Options{})
	want := []string{
		`~line 4: paths./a: cannot resolve $ref "big.yaml#/item": file ` + filepath.Join(dir, "big.yaml") + ": 16777217 bytes, more than the 16 MiB limit",
		`~line 6: paths./b: cannot resolve $ref "`,
		`~line 8: paths./c: cannot resolve $ref "dir.yaml#/item": file ` + filepath.Join(dir, "dir.yaml") + ": not a regular file",
	}
	want[1] += `fifo.yaml#/item": file ` + filepath.Join(dir, "fifo.yaml") + ": not a regular file"
	matchProblems(t, got, want)
}
