package certload

import (
	"fmt"
	"os"
	"runtime"
)

// KeyFileWarnings reports files that hold secrets (the private key file, a
// keystore, a combined PEM file used as key, and the password file) whose
// permission bits are wider than 0600, one sentence per file, for the caller
// to log at warn level. It never fails: a file it cannot stat is skipped (the
// load reports it). It returns nil on Windows, where mode bits do not
// describe access. Safe for concurrent use.
//
// Why warn rather than refuse: group-readable keys are sometimes deliberate
// (a root-owned 0640 key shared with the gateway's group, or a Kubernetes
// secret volume with the default 0644), so this package reports and the
// operator decides.
func KeyFileWarnings(spec KeyPairSpec) []string {
	if runtime.GOOS == "windows" {
		return nil
	}
	keyFile := spec.Key
	if keyFile == "" {
		keyFile = spec.Cert // keystore or combined PEM file: it holds the key
	}
	var out []string
	for _, f := range []struct{ path, what string }{
		{keyFile, "private key"},
		{spec.PasswordFile, "password"},
	} {
		if f.path == "" {
			continue
		}
		fi, err := os.Stat(f.path)
		if err != nil {
			continue
		}
		perm := fi.Mode().Perm()
		if perm&^0o600 != 0 {
			out = append(out, fmt.Sprintf("certload: %s: mode %04o is wider than 0600 for a file holding a %s; chmod 600 %s",
				f.path, perm, f.what, f.path))
		}
	}
	return out
}
