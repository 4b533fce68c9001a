package main

import (
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"time"

	"github.com/mtlsgate/mtlsgate/internal/ca"
	"github.com/mtlsgate/mtlsgate/internal/store"
	"github.com/spf13/cobra"
)

// keystoreFlags are the --p12/--jks options shared by issue and export.
type keystoreFlags struct {
	p12, p12Legacy, jks bool
	pwFile              string
}

func (k *keystoreFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.BoolVar(&k.p12, "p12", false, "also write NAME.p12 (PKCS#12, AES-256)")
	f.BoolVar(&k.p12Legacy, "p12-legacy", false, "with --p12: RC2/3DES encryption for old Java and Windows")
	f.BoolVar(&k.jks, "jks", false, "also write NAME.jks (Java KeyStore)")
	f.StringVar(&k.pwFile, "password-file", "", "keystore password file (else asked on the terminal)")
}

func (k *keystoreFlags) wanted() bool { return k.p12 || k.p12Legacy || k.jks }

// files lists the keystore files NAME would get.
func (k *keystoreFlags) files(name string) []string {
	var out []string
	if k.p12 || k.p12Legacy {
		out = append(out, name+".p12")
	}
	if k.jks {
		out = append(out, name+".jks")
	}
	return out
}

// password reads the keystore password when keystores are wanted. Callers
// ask before issuing anything, so a missing password never leaves an issued
// certificate without its keystore.
func (k *keystoreFlags) password(stderr io.Writer) ([]byte, error) {
	if !k.wanted() {
		return nil, nil
	}
	pw, err := readPassword(k.pwFile, "keystore", true, stderr)
	if err != nil {
		return nil, err
	}
	return pw, ca.CheckKeystorePassword(pw)
}

// write writes the requested keystores for key (may be nil) and chain.
func (k *keystoreFlags) write(name, alias string, key crypto.Signer, chain []*x509.Certificate, pw []byte) ([]string, error) {
	if !k.wanted() {
		return nil, nil
	}
	var written []string
	if k.p12 || k.p12Legacy {
		data, err := ca.EncodePKCS12(key, chain, pw, k.p12Legacy)
		if err != nil {
			return written, err
		}
		if err := ca.WriteNewFile(name+".p12", data, 0o600); err != nil {
			return written, err
		}
		written = append(written, name+".p12")
	}
	if k.jks {
		data, err := ca.EncodeJKS(key, chain, alias, pw)
		if err != nil {
			return written, err
		}
		if err := ca.WriteNewFile(name+".jks", data, 0o600); err != nil {
			return written, err
		}
		written = append(written, name+".jks")
	}
	return written, nil
}

func refuseExisting(paths ...string) error {
	for _, p := range paths {
		if _, err := os.Lstat(p); err == nil {
			return fmt.Errorf("%s exists; refusing to overwrite (choose another --out or move it away)", p)
		}
	}
	return nil
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

func newCAIssueCmd(dir *string, stdout, stderr io.Writer) *cobra.Command {
	var profile, cn, ttl, keyType, out string
	var sans, o, ou []string
	var ks keystoreFlags
	cmd := &cobra.Command{
		Use:   "issue --cn NAME",
		Short: "Issue a certificate with a new key",
		Long: `Generate a key and issue a certificate under a profile. Writes NAME.pem
(certificate), NAME.key (0600), NAME-chain.pem (certificate + issuing CA) and,
when asked, NAME.p12 / NAME.jks. Existing files are never overwritten.`,
		Example: `  mtlsgate ca issue --profile client --cn alice --ou payments --out alice
  mtlsgate ca issue --profile server --cn api --san dns:api.example.com,ip:127.0.0.1 --ttl 2160h
  mtlsgate ca issue --profile client --cn svc --san uri:spiffe://example.org/svc --p12 --jks --password-file pw`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			names, err := ca.ParseSANs(sans)
			if err != nil {
				return err
			}
			d, err := ca.ParseTTL(ttl)
			if err != nil {
				return fmt.Errorf("--ttl: %w", err)
			}
			kt, err := ca.ParseKeyType(keyType)
			if err != nil {
				return err
			}
			if out == "" {
				out = unsafeName.ReplaceAllString(cn, "_")
				if out == "" {
					return errors.New("give --out NAME (no --cn to name the files after)")
				}
			}
			if err := refuseExisting(append([]string{out + ".pem", out + ".key", out + "-chain.pem"}, ks.files(out)...)...); err != nil {
				return err
			}
			pw, err := ks.password(stderr)
			if err != nil {
				return err
			}
			a, err := openCA(*dir)
			if err != nil {
				return err
			}
			defer a.Close()
			iss, err := a.Issue(cmd.Context(), ca.IssueRequest{Profile: profile, CN: cn, O: o, OU: ou, SANs: names, TTL: d, KeyType: kt})
			if err != nil {
				return fmt.Errorf("ca issue: %w", err)
			}
			if err := writeIssued(out, iss, ks, pw, stdout); err != nil {
				return fmt.Errorf("certificate %s was issued but writing its files failed: %w (revoke it with: mtlsgate ca revoke %s)", serialOf(iss.Cert), err, serialOf(iss.Cert))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&profile, "profile", "client", "profile: client, server, upstream, or one from ca.yaml")
	f.StringVar(&cn, "cn", "", "subject common name")
	f.StringSliceVar(&sans, "san", nil, "subject alternative names: dns:NAME, ip:ADDR, email:ADDR, uri:URI (repeat or comma-separate)")
	f.StringSliceVar(&o, "o", nil, "subject organization")
	f.StringSliceVar(&ou, "ou", nil, "subject organizational unit")
	f.StringVar(&ttl, "ttl", "", "lifetime, e.g. 720h or 30d (default: the profile's)")
	f.StringVar(&keyType, "key-type", "ecdsa-p256", "key type: "+keyTypeList())
	f.StringVar(&out, "out", "", "file name prefix (default: the CN)")
	ks.register(cmd)
	return cmd
}

func writeIssued(out string, iss *ca.Issued, ks keystoreFlags, pw []byte, stdout io.Writer) error {
	keyPEM, err := ca.MarshalKeyPEM(iss.Key, nil)
	if err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		data []byte
		perm os.FileMode
	}{
		{out + ".key", keyPEM, 0o600},
		{out + ".pem", ca.CertPEM(iss.Cert), 0o644},
		{out + "-chain.pem", ca.CertPEM(iss.Chain...), 0o644},
	} {
		if err := ca.WriteNewFile(f.name, f.data, f.perm); err != nil {
			return err
		}
	}
	extra, err := ks.write(out, iss.Cert.Subject.CommonName, iss.Key, iss.Chain, pw)
	if err != nil {
		return err
	}
	printIssued(stdout, iss.Cert)
	fmt.Fprintf(stdout, "  files:   %s.pem %s.key %s-chain.pem", out, out, out)
	for _, e := range extra {
		fmt.Fprintf(stdout, " %s", e)
	}
	fmt.Fprintln(stdout)
	return nil
}

func printIssued(w io.Writer, c *x509.Certificate) {
	fmt.Fprintf(w, "issued %s\n  serial:  %s\n  expires: %s\n", c.Subject.String(), serialOf(c), dateOf(c.NotAfter))
}

func serialOf(c *x509.Certificate) string { return store.SerialHex(c.SerialNumber) }

func dateOf(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func newCASignCmd(dir *string, stdout io.Writer) *cobra.Command {
	var profile, ttl, out, cn string
	var o, ou []string
	cmd := &cobra.Command{
		Use:   "sign [--profile client] REQUEST.csr",
		Short: "Sign a PKCS#10 certificate request (PEM or DER)",
		Long: `Check a CSR's signature and issue a certificate for its key. The profile,
not the CSR, decides key usage, extended key usage, basic constraints and
the longest lifetime; a CSR asking for CA:true or for SANs the profile does
not allow is refused. The CSR's CN, O and OU are used unless --cn, --o or
--ou replace them (profiles can also restrict O and OU: subject_o,
subject_ou in ca.yaml). Writes the certificate (PEM) to stdout, or to --out.
Use - to read the CSR from stdin.`,
		Example: `  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout dev.key -subj /CN=device-17 -out dev.csr
  mtlsgate ca sign --profile client dev.csr > dev.pem
  mtlsgate ca sign --profile server --ttl 720h --out api.pem api.csr`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := ca.ParseTTL(ttl)
			if err != nil {
				return fmt.Errorf("--ttl: %w", err)
			}
			data, err := readInput(args[0], cmd.InOrStdin())
			if err != nil {
				return err
			}
			if out != "" {
				if err := refuseExisting(out); err != nil {
					return err
				}
			}
			a, err := openCA(*dir)
			if err != nil {
				return err
			}
			defer a.Close()
			iss, err := a.SignCSRWith(cmd.Context(), data, profile, d, "sign", "csr="+args[0], func(r *ca.IssueRequest) {
				if cmd.Flags().Changed("cn") {
					r.CN = cn
				}
				if cmd.Flags().Changed("o") {
					r.O = o
				}
				if cmd.Flags().Changed("ou") {
					r.OU = ou
				}
			})
			if err != nil {
				return fmt.Errorf("ca sign %s: %w", args[0], err)
			}
			if out == "" {
				_, err = stdout.Write(ca.CertPEM(iss.Cert))
				return err
			}
			if err := ca.WriteNewFile(out, ca.CertPEM(iss.Cert), 0o644); err != nil {
				return err
			}
			printIssued(stdout, iss.Cert)
			return nil
		},
	}
	cmd.Flags().StringVar(&profile, "profile", "client", "profile: client, server, upstream, or one from ca.yaml")
	cmd.Flags().StringVar(&ttl, "ttl", "", "lifetime, e.g. 720h or 30d (default: the profile's)")
	cmd.Flags().StringVar(&out, "out", "", "write the certificate here instead of stdout")
	cmd.Flags().StringVar(&cn, "cn", "", "subject CN to issue instead of the CSR's")
	cmd.Flags().StringSliceVar(&o, "o", nil, "subject O to issue instead of the CSR's (routes may authorise on it)")
	cmd.Flags().StringSliceVar(&ou, "ou", nil, "subject OU to issue instead of the CSR's (routes may authorise on it)")
	return cmd
}

// readInput reads a CSR from path ("-": stdin), at most 1 MiB (a CSR is a
// few KiB; anything larger is refused by ca.ParseCSR).
func readInput(path string, stdin io.Reader) ([]byte, error) {
	r := stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	return io.ReadAll(io.LimitReader(r, 1<<20))
}
