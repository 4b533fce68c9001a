package main

import (
	"fmt"
	"io"

	"github.com/mtlsgate/mtlsgate/internal/ca"
	"github.com/spf13/cobra"
)

func newESTCmd(stdout io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "est",
		Short: "EST enrollment (RFC 7030) helpers",
	}
	dir := defaultCADir()
	cmd.PersistentFlags().StringVar(&dir, "dir", dir, "CA directory")
	token := &cobra.Command{Use: "token", Short: "One-time enrollment tokens"}
	var cn, ttl string
	create := &cobra.Command{
		Use:   "create --cn NAME [--ttl 24h]",
		Short: "Print a one-time token that may enroll exactly one common name",
		Long: `Create a one-time enrollment token. A device sends it as the HTTP Basic
password (any user name) to simpleenroll on a gateway with an est section:
it may enroll only the given CN, once, before it expires. Only a hash of the
token is stored; it is printed once.`,
		Example: `  TOKEN=$(mtlsgate est token create --dir ./pki --cn device-17 --ttl 24h)
  curl --cacert pki/root.pem -u device:$TOKEN --data-binary @device-17.b64 \
      -H 'Content-Type: application/pkcs10' https://gateway:8443/.well-known/est/simpleenroll`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, err := ca.ParseTTL(ttl)
			if err != nil {
				return fmt.Errorf("--ttl: %w", err)
			}
			a, err := openCA(dir)
			if err != nil {
				return err
			}
			defer a.Close()
			tok, err := a.CreateEnrollmentToken(cmd.Context(), cn, d)
			if err != nil {
				return fmt.Errorf("est token create: %w", err)
			}
			_, err = fmt.Fprintln(stdout, tok)
			return err
		},
	}
	create.Flags().StringVar(&cn, "cn", "", "the common name the token may enroll")
	create.Flags().StringVar(&ttl, "ttl", "24h", "lifetime (at most 30d)")
	token.AddCommand(create)
	cmd.AddCommand(token)
	cmd.AddCommand(newESTPendingCmds(&dir, stdout)...)
	return cmd
}
