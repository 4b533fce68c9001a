package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/mtlsgate/mtlsgate/internal/ca"
	"github.com/spf13/cobra"
)

// defaultCADir is $MTLSGATE_CA_DIR, else ./pki.
func defaultCADir() string {
	if d := os.Getenv("MTLSGATE_CA_DIR"); d != "" {
		return d
	}
	return "pki"
}

func newCACmd(stdout, stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ca",
		Short: "Run the built-in certificate authority",
		Long: `The built-in CA: a root and an issuing CA in one directory, certificates
issued by profile (client, server, upstream, or your own in ca.yaml),
revocation that running gateways enforce within a second, CRLs, and
PKCS#12/JKS export for Java.

Every subcommand takes --dir (default $MTLSGATE_CA_DIR, else ./pki).`,
		Example: `  mtlsgate ca init --dir ./pki --name "Acme"
  mtlsgate ca issue --dir ./pki --profile client --cn alice --out alice
  mtlsgate ca revoke --dir ./pki --cn alice --reason keyCompromise`,
	}
	dir := defaultCADir()
	cmd.PersistentFlags().StringVar(&dir, "dir", dir, "CA directory")
	dirp := &dir
	cmd.AddCommand(
		newCAInitCmd(dirp, stdout, stderr),
		newCAIssueCmd(dirp, stdout, stderr),
		newCASignCmd(dirp, stdout),
		newCARevokeCmd(dirp, stdout),
		newCAListCmd(dirp, stdout),
		newCACRLCmd(dirp, stdout),
		newCAExportCmd(dirp, stdout, stderr),
		newCAAuditCmd(dirp, stdout),
		newCARootCRLCmd(dirp, stdout),
	)
	return cmd
}

func openCA(dir string) (*ca.Authority, error) {
	return ca.Open(dir, ca.Options{Actor: ca.DefaultActor("cli")})
}

func newCAInitCmd(dir *string, stdout, stderr io.Writer) *cobra.Command {
	var name, keyType, pwFile, publish string
	var permitDNS []string
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Create a root CA and an issuing (intermediate) CA",
		Long: `Create root.pem/root.key, intermediate.pem/intermediate.key, ca.yaml and the
store ca.db in --dir. Key files are 0600; with --password-file the root key
is encrypted (it is only needed to sign intermediates). Refuses to overwrite
an existing CA.`,
		Example: `  mtlsgate ca init --dir ./pki --name "Acme"
  mtlsgate ca init --dir ./pki --key-type ecdsa-p384 --password-file root.pw \
      --publish-url http://pki.internal:8080 --permit-dns internal.example.com`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			kt, err := ca.ParseKeyType(keyType)
			if err != nil {
				return err
			}
			var pw []byte
			if pwFile != "" {
				if pw, err = readPassword(pwFile, "root key", false, stderr); err != nil {
					return err
				}
			}
			res, err := ca.Init(*dir, ca.InitOptions{
				Name: name, KeyType: kt, RootPassword: pw, PublishURL: publish, PermittedDNS: permitDNS,
			})
			if err != nil {
				return fmt.Errorf("ca init: %w", err)
			}
			fmt.Fprintf(stdout, "CA created in %s\n  root:         %s (serial %s, until %s)\n  intermediate: %s (serial %s, until %s)\n",
				*dir, res.Root.Subject.CommonName, serialOf(res.Root), dateOf(res.Root.NotAfter),
				res.Intermediate.Subject.CommonName, serialOf(res.Intermediate), dateOf(res.Intermediate.NotAfter))
			if len(pw) == 0 {
				fmt.Fprintf(stdout, "note: %s is not encrypted; use --password-file to encrypt the root key\n", filepath.Join(*dir, ca.RootKeyFile))
			}
			fmt.Fprintf(stdout, "next: mtlsgate ca issue --dir %s --profile client --cn alice --out alice\n", *dir)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&name, "name", "mtlsgate CA", "CA name (subject O; CNs are \"NAME Root\" and \"NAME Issuing CA\")")
	f.StringVar(&keyType, "key-type", "ecdsa-p256", "key type: "+keyTypeList())
	f.StringVar(&pwFile, "password-file", "", "encrypt the root key with the password in this file")
	f.StringVar(&publish, "publish-url", "", "base URL where serve publishes /ca/crl and /ca/ocsp (put in every certificate)")
	f.StringSliceVar(&permitDNS, "permit-dns", nil, "name-constrain the issuing CA to these DNS domains")
	return cmd
}

func keyTypeList() string {
	names := make([]string, len(ca.KeyTypes))
	for i, k := range ca.KeyTypes {
		names[i] = string(k)
	}
	return strings.Join(names, "|")
}
