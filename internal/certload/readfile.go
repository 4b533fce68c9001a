package certload

import (
	"errors"
	"io"
	"io/fs"
	"os"
)

// maxFileSize bounds every file this package reads. Real certificate
// bundles and keystores are kilobytes (a full public CA bundle is ~250 KiB);
// the limit stops a mistyped path such as /dev/zero or a log file from
// exhausting memory.
const maxFileSize = 8 << 20

// readFile reads a whole regular file of at most maxFileSize bytes. A 0-byte
// file is an ErrEmptyFile error. It is the only place that opens files for
// parsing; everything after it works on bytes.
func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, openErr(path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, openErr(path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fileErr(path, ErrUnreadable, nil, "not a regular file (%s)", describeMode(fi.Mode()))
	}
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, openErr(path, err)
	}
	if len(data) > maxFileSize {
		return nil, fileErr(path, ErrUnreadable, nil, "file is larger than %d MiB; is this the right file?", maxFileSize>>20)
	}
	if len(data) == 0 {
		return nil, fileErr(path, ErrEmptyFile, nil, "file is empty")
	}
	return data, nil
}

// openErr turns an OS error into a FileError whose cause is the bare errno
// ("no such file or directory"), so the path is not printed twice. The cause
// still matches fs.ErrNotExist and fs.ErrPermission.
func openErr(path string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return fileErr(path, ErrUnreadable, err, "cannot read file")
}

func describeMode(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	default:
		return m.Type().String()
	}
}
