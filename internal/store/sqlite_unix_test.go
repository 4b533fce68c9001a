//go:build unix

package store_test

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestFileModeUmask checks that the database, -wal and -shm files are 0600
// whatever the umask: 0 would leave them world-writable, 0277 would leave
// the owner unable to write.
func TestFileModeUmask(t *testing.T) {
	for _, mask := range []int{0, 0o277} {
		path := dbPath(t) // before the umask changes: the directory must stay writable
		old := syscall.Umask(mask)
		s := openT(t, path)
		put(t, s, 1)
		syscall.Umask(old)
		for _, name := range []string{path, path + "-wal", path + "-shm"} {
			fi, err := os.Stat(name)
			if err != nil {
				t.Fatal(err)
			}
			if mode := fi.Mode().Perm(); mode != 0o600 {
				t.Errorf("umask %#o: %s has mode %v, want 0600", mask, filepath.Base(name), mode)
			}
		}
		closeT(t, s)
	}
}
