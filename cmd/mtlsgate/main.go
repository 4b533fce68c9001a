// Command mtlsgate is an mTLS gateway for HTTP APIs: it authenticates every
// client by certificate, authorises it route by route, forwards the verified
// identity to upstreams, and calls upstreams over mTLS.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		var ee exitError
		if errors.As(err, &ee) {
			os.Exit(int(ee))
		}
		fmt.Fprintln(os.Stderr, "mtlsgate:", err)
		os.Exit(1)
	}
}

// exitError carries an exit status whose message was already printed.
type exitError int

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// run executes the command line args; it is main without os.Exit, so tests
// can drive it.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	root := newRootCmd(ctx, stdout, stderr)
	root.SetArgs(args)
	return root.ExecuteContext(ctx)
}
