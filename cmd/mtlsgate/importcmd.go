package main

import (
	"fmt"
	"io"
	"path/filepath"

	"github.com/mtlsgate/mtlsgate/internal/ca"
	"github.com/mtlsgate/mtlsgate/internal/config"
	"github.com/mtlsgate/mtlsgate/internal/openapi"
	"github.com/spf13/cobra"
)

func newImportCmd(stdout io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "import",
		Short: "Turn API descriptions into routes",
	}
	var o openapi.Options
	var out string
	oa := &cobra.Command{
		Use:   "openapi SPEC --upstream NAME [--host HOST] [--unsecured MODE] [--out routes.yaml]",
		Short: "Print the routes of an OpenAPI 3.x or Swagger 2.0 document",
		Long: `Read an OpenAPI 3.1, 3.0 or Swagger 2.0 document (JSON or YAML; $refs
resolved, external ones relative to the document) and print one route per
operation: server base path + path template, and the method.

Operations whose security asks for a mutualTLS scheme (OpenAPI 3.1; in 3.0
and 2.0, a scheme with "x-mtlsgate-mutual-tls: true") get client_cert:
required, or optional when an alternative without it is listed. An
"x-mtlsgate-allow" list on the operation (same keys as a route's allow)
becomes the route's allow list. Operations without mutualTLS get
--unsecured (default: left out, so the route default, required, applies).

The output is stable, to paste into a config or diff in review. To import at
every load and reload instead, use routes_from in the config.`,
		Example: `  mtlsgate import openapi orders.yaml --upstream orders --out routes.yaml`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch o.Unsecured {
			case "", config.ClientCertRequired, config.ClientCertOptional, config.ClientCertNone:
			default:
				return fmt.Errorf("--unsecured %q: want required, optional or none", o.Unsecured)
			}
			if o.Upstream == "" {
				return fmt.Errorf("--upstream is required: the upstream (by name in your config) that receives these operations")
			}
			routes, err := openapi.Import(args[0], o)
			if err != nil {
				return err
			}
			data, err := openapi.MarshalRoutes(routes, filepath.Base(args[0]))
			if err != nil {
				return err
			}
			if out == "" {
				_, err = stdout.Write(data)
				return err
			}
			if err := ca.WriteFileAtomic(out, data, 0o644); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "wrote %d routes to %s\n", len(routes), out)
			return nil
		},
	}
	oa.Flags().StringVar(&o.Upstream, "upstream", "", "upstream name for every route (required)")
	oa.Flags().StringVar(&o.Host, "host", "", "match.host for every route")
	oa.Flags().StringVar(&o.Unsecured, "unsecured", "", "client_cert for operations without mutualTLS: required, optional or none")
	oa.Flags().StringVar(&o.NamePrefix, "name-prefix", "", "put before every route name (like routes_from's name_prefix)")
	oa.Flags().StringVar(&out, "out", "", "write to this file instead of standard output")
	cmd.AddCommand(oa)
	return cmd
}
