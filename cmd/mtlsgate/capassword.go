package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/term"
)

// readPassword returns a password from file (one trailing newline dropped),
// or asks for it on the terminal (twice when confirm is set). Without a
// file and without a terminal it is an error: never a silent empty password.
func readPassword(file, what string, confirm bool, stderr io.Writer) ([]byte, error) {
	if file != "" {
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("reading %s password: %w", what, err)
		}
		data = bytes.TrimSuffix(data, []byte("\n"))
		data = bytes.TrimSuffix(data, []byte("\r"))
		if len(data) == 0 {
			return nil, fmt.Errorf("%s password file %s is empty", what, file)
		}
		return data, nil
	}
	fd := int(os.Stdin.Fd())
	if !term.IsTerminal(fd) {
		return nil, fmt.Errorf("%s password: give --password-file (no terminal to ask on)", what)
	}
	fmt.Fprintf(stderr, "%s password: ", what)
	pw, err := term.ReadPassword(fd)
	fmt.Fprintln(stderr)
	if err != nil {
		return nil, err
	}
	if len(pw) == 0 {
		return nil, errors.New("empty password")
	}
	if confirm {
		fmt.Fprintf(stderr, "%s password again: ", what)
		again, err := term.ReadPassword(fd)
		fmt.Fprintln(stderr)
		if err != nil {
			return nil, err
		}
		if !bytes.Equal(pw, again) {
			return nil, errors.New("passwords do not match")
		}
	}
	return pw, nil
}
