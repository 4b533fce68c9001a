package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runArgs(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, &out, &errOut)
	return out.String(), errOut.String(), err
}

func TestVersion(t *testing.T) {
	out, _, err := runArgs(t, "version")
	if err != nil || !strings.HasPrefix(out, "mtlsgate ") {
		t.Fatalf("version: %q %v", out, err)
	}
}

func TestValidateExitCodes(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("listeners:\n  - name: a\n    adress: x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, stderr, err := runArgs(t, "validate", "-c", bad)
	var ee exitError
	if !errors.As(err, &ee) || ee != 2 {
		t.Fatalf("bad config: err %v, want exit status 2", err)
	}
	if !strings.Contains(stderr, "line 3") || !strings.Contains(stderr, "adress") {
		t.Errorf("stderr does not point at the unknown key: %s", stderr)
	}
	_, _, err = runArgs(t, "validate", "-c", filepath.Join(dir, "missing.yaml"))
	if err == nil {
		t.Error("missing config accepted")
	}
}

func TestUnknownCommand(t *testing.T) {
	if _, _, err := runArgs(t, "frobnicate"); err == nil {
		t.Error("unknown command accepted")
	}
}
