package main

import (
	"context"
	"fmt"
	"io"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func newRootCmd(ctx context.Context, stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "mtlsgate",
		Short: "Mutual-TLS gateway for HTTP APIs, with the PKI it needs",
		Long: `mtlsgate terminates TLS, authenticates every API client by certificate,
decides route by route who may call what, forwards the verified identity to
upstreams in trusted headers, and calls upstreams over mTLS.

Start with:  mtlsgate demo`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(
		newServeCmd(stdout, stderr),
		newValidateCmd(stdout, stderr),
		newDemoCmd(stdout, stderr),
		newCACmd(stdout, stderr),
		newInitCmd(stdout, stderr),
		newESTCmd(stdout),
		newImportCmd(stdout),
		newDiagnoseCmd(stdout, stderr),
		&cobra.Command{
			Use:   "version",
			Short: "Print the version",
			Args:  cobra.NoArgs,
			RunE: func(*cobra.Command, []string) error {
				fmt.Fprintf(stdout, "mtlsgate %s (%s)\n", version, goVersion())
				return nil
			},
		},
	)
	_ = ctx
	return root
}

func goVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		return bi.GoVersion
	}
	return "unknown Go"
}
