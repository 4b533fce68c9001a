package main

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mtlsgate/mtlsgate/internal/ca"
	"github.com/mtlsgate/mtlsgate/internal/store"
	"github.com/spf13/cobra"
)

func newCARevokeCmd(dir *string, stdout io.Writer) *cobra.Command {
	var cn, reason string
	cmd := &cobra.Command{
		Use:   "revoke SERIAL | --cn NAME",
		Short: "Revoke certificates; running gateways refuse them within a second",
		Long: `Revoke one certificate by serial (hex; colons optional, any case, as
"openssl x509 -serial" prints it) or every unrevoked certificate with a common
name. A gateway serving this CA refuses the certificate at the next handshake
and on connections already open, within one second.

Reasons: unspecified, keyCompromise, cACompromise, affiliationChanged,
superseded, cessationOfOperation, privilegeWithdrawn.`,
		Example: `  mtlsgate ca revoke 3A:F2:...:9C --reason keyCompromise
  mtlsgate ca revoke --cn alice --reason superseded`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			code, err := ca.ParseReason(reason)
			if err != nil {
				return err
			}
			if (len(args) == 1) == (cn != "") {
				return errors.New("give either a serial or --cn")
			}
			a, err := openCA(*dir)
			if err != nil {
				return err
			}
			defer a.Close()
			var revs []store.Revocation
			if cn != "" {
				revs, err = a.RevokeCN(cmd.Context(), cn, code)
			} else {
				var r store.Revocation
				r, err = a.Revoke(cmd.Context(), args[0], code)
				revs = []store.Revocation{r}
			}
			for _, r := range revs {
				if r.Serial != "" {
					fmt.Fprintf(stdout, "revoked %s (%s) at %s\n", r.Serial, ca.ReasonName(r.Reason), dateOf(r.RevokedAt))
				}
			}
			return err
		},
	}
	cmd.Flags().StringVar(&cn, "cn", "", "revoke every unrevoked certificate with this common name")
	cmd.Flags().StringVar(&reason, "reason", "unspecified", "revocation reason")
	return cmd
}

// listEntry is one line of `ca list --json`.
type listEntry struct {
	Serial    string    `json:"serial"`
	Subject   string    `json:"subject"`
	CN        string    `json:"cn"`
	Profile   string    `json:"profile"`
	NotBefore time.Time `json:"not_before"`
	NotAfter  time.Time `json:"not_after"`
	Status    string    `json:"status"`
	RevokedAt time.Time `json:"revoked_at,omitzero"`
	Reason    string    `json:"reason,omitempty"`
}

func newCAListCmd(dir *string, stdout io.Writer) *cobra.Command {
	var expiring string
	var revoked, asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List issued certificates, soonest expiry first",
		Example: `  mtlsgate ca list
  mtlsgate ca list --expiring 30d
  mtlsgate ca list --revoked --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var f store.Filter
			if expiring != "" {
				d, err := ca.ParseTTL(expiring)
				if err != nil {
					return fmt.Errorf("--expiring: %w", err)
				}
				f.ExpiringBefore = time.Now().Add(d)
			}
			f.RevokedOnly = revoked
			a, err := openCA(*dir)
			if err != nil {
				return err
			}
			defer a.Close()
			certs, err := a.Store().List(cmd.Context(), f)
			if err != nil {
				return err
			}
			entries := make([]listEntry, len(certs))
			now := time.Now()
			for i, c := range certs {
				entries[i] = toListEntry(c, now)
			}
			if asJSON {
				return printJSON(stdout, entries)
			}
			tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "SERIAL\tCN\tPROFILE\tEXPIRES\tSTATUS")
			for _, e := range entries {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", e.Serial, e.CN, e.Profile, dateOf(e.NotAfter), e.Status)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&expiring, "expiring", "", "only unrevoked certificates expiring within this time (e.g. 30d)")
	cmd.Flags().BoolVar(&revoked, "revoked", false, "only revoked certificates")
	cmd.Flags().BoolVar(&asJSON, "json", false, "JSON output")
	return cmd
}

func toListEntry(c store.Certificate, now time.Time) listEntry {
	e := listEntry{Serial: c.Serial, Subject: c.Subject, CN: c.CN, Profile: c.Profile, NotBefore: c.NotBefore, NotAfter: c.NotAfter, Status: "valid"}
	switch {
	case c.Revoked():
		e.Status, e.RevokedAt, e.Reason = "revoked", c.RevokedAt, ca.ReasonName(c.Reason)
	case now.After(c.NotAfter):
		e.Status = "expired"
	}
	return e
}

func newCACRLCmd(dir *string, stdout io.Writer) *cobra.Command {
	var out, format string
	cmd := &cobra.Command{
		Use:   "crl",
		Short: "Sign a CRL (number and nextUpdate set)",
		Long: `Sign a certificate revocation list for the issuing CA with the next CRL
number. PEM by default; DER with --format der (or an --out ending in .crl or
.der). A running gateway publishes a fresh CRL at /ca/crl on its own.`,
		Example: `  mtlsgate ca crl > ca.crl.pem
  mtlsgate ca crl --out ca.crl
  openssl crl -in ca.crl -inform DER -CAfile pki/intermediate.pem -noout -text`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if format == "" {
				format = "pem"
				if strings.HasSuffix(out, ".crl") || strings.HasSuffix(out, ".der") {
					format = "der"
				}
			}
			if format != "pem" && format != "der" {
				return fmt.Errorf("--format %q: want pem or der", format)
			}
			a, err := openCA(*dir)
			if err != nil {
				return err
			}
			defer a.Close()
			crl, err := a.NewCRL(cmd.Context())
			if err != nil {
				return err
			}
			data := crl.DER
			if format == "pem" {
				data = pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: crl.DER})
			}
			if out == "" {
				_, err = stdout.Write(data)
				return err
			}
			if err := ca.WriteFileAtomic(out, data, 0o644); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "CRL #%d with %d entries, next update %s, written to %s\n", crl.Number, crl.Entries, dateOf(crl.NextUpdate), out)
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "write here (replaced atomically) instead of stdout")
	cmd.Flags().StringVar(&format, "format", "", "pem or der")
	return cmd
}

func newCAExportCmd(dir *string, stdout, stderr io.Writer) *cobra.Command {
	var out string
	var ks keystoreFlags
	cmd := &cobra.Command{
		Use:   "export SERIAL --p12|--jks",
		Short: "Re-export a stored certificate with its chain as PKCS#12 or JKS",
		Long: `Write a stored certificate and its chain to NAME.p12 and/or NAME.jks. The
private key is included only if it was generated here and kept (keep_keys:
true in ca.yaml, off by default); otherwise the keystore holds the
certificates only, as a trust store.`,
		Example: `  mtlsgate ca export 3af2...9c --p12 --out alice --password-file pw
  mtlsgate ca export 3af2...9c --jks --out alice-trust`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !ks.wanted() {
				return errors.New("give --p12 and/or --jks")
			}
			a, err := openCA(*dir)
			if err != nil {
				return err
			}
			defer a.Close()
			cert, key, err := loadStored(cmd.Context(), a, args[0])
			if err != nil {
				return err
			}
			if out == "" {
				out = unsafeName.ReplaceAllString(cert.Subject.CommonName, "_")
			}
			if err := refuseExisting(ks.files(out)...); err != nil {
				return err
			}
			pw, err := ks.password(stderr)
			if err != nil {
				return err
			}
			written, err := ks.write(out, cert.Subject.CommonName, key, []*x509.Certificate{cert, a.Intermediate()}, pw)
			if err != nil {
				return err
			}
			what := "certificate and chain (no key kept for it)"
			if key != nil {
				what = "key, certificate and chain"
			}
			fmt.Fprintf(stdout, "exported %s %s: %s\n", serialOf(cert), what, strings.Join(written, " "))
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "file name prefix (default: the CN)")
	ks.register(cmd)
	return cmd
}

func loadStored(ctx context.Context, a *ca.Authority, serial string) (*x509.Certificate, crypto.Signer, error) {
	n, err := store.ParseSerial(serial)
	if err != nil {
		return nil, nil, err
	}
	rec, err := a.Store().Certificate(ctx, store.SerialHex(n))
	if err != nil {
		return nil, nil, fmt.Errorf("certificate %s: %w", store.SerialHex(n), err)
	}
	cert, err := x509.ParseCertificate(rec.DER)
	if err != nil {
		return nil, nil, fmt.Errorf("stored certificate %s does not parse: %w", rec.Serial, err)
	}
	if len(rec.KeyPEM) == 0 {
		return cert, nil, nil
	}
	key, err := ca.ParseKeyPEM(rec.KeyPEM)
	if err != nil {
		return nil, nil, fmt.Errorf("stored key of %s: %w", rec.Serial, err)
	}
	return cert, key, nil
}

func newCAAuditCmd(dir *string, stdout io.Writer) *cobra.Command {
	var asJSON bool
	var limit int
	cmd := &cobra.Command{
		Use:     "audit",
		Short:   "Show the audit log: who did what, when",
		Example: "  mtlsgate ca audit\n  mtlsgate ca audit --json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := openCA(*dir)
			if err != nil {
				return err
			}
			defer a.Close()
			entries, err := a.Store().AuditLog(cmd.Context(), 0, 0)
			if err != nil {
				return err
			}
			if limit > 0 && len(entries) > limit {
				entries = entries[len(entries)-limit:]
			}
			if asJSON {
				enc := json.NewEncoder(stdout)
				for _, e := range entries {
					if err := enc.Encode(e); err != nil {
						return err
					}
				}
				return nil
			}
			tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "TIME\tACTOR\tACTION\tSERIAL\tDETAIL")
			for _, e := range entries {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", dateOf(e.Time), e.Actor, e.Action, e.Serial, e.Detail)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "one JSON object per line")
	cmd.Flags().IntVar(&limit, "limit", 0, "only the last N entries")
	return cmd
}

func newCARootCRLCmd(dir *string, stdout io.Writer) *cobra.Command {
	var pwFile, reason, validity string
	var revokeInter bool
	cmd := &cobra.Command{
		Use:   "root-crl",
		Short: "Sign the root's CRL (with the root key), e.g. to revoke the issuing CA",
		Long: `Sign root.crl in the CA directory with the root key; serve publishes it at
/ca/root.crl, the issuing CA's CRL distribution point. "ca init" signs the
first one (valid a year); re-sign it before it expires. With
--revoke-intermediate the issuing CA is listed as revoked: running gateways
then refuse every certificate it issued, within a second.`,
		Example: `  mtlsgate ca root-crl --password-file root.pw
  mtlsgate ca root-crl --password-file root.pw --revoke-intermediate --reason cACompromise`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			code, err := ca.ParseReason(reason)
			if err != nil {
				return err
			}
			d, err := ca.ParseTTL(validity)
			if err != nil {
				return fmt.Errorf("--validity: %w", err)
			}
			a, err := openCA(*dir)
			if err != nil {
				return err
			}
			defer a.Close()
			crl, err := a.SignRootCRL(ca.RootCRLOptions{PasswordFile: pwFile, RevokeIntermediate: revokeInter, Reason: code, Validity: d})
			if err != nil {
				return fmt.Errorf("ca root-crl: %w", err)
			}
			fmt.Fprintf(stdout, "root CRL #%s with %d entries, next update %s\n", crl.Number, len(crl.RevokedCertificateEntries), dateOf(crl.NextUpdate))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&pwFile, "password-file", "", "root key password file (when root.key is encrypted)")
	f.BoolVar(&revokeInter, "revoke-intermediate", false, "list the issuing CA as revoked")
	f.StringVar(&reason, "reason", "cACompromise", "reason for --revoke-intermediate")
	f.StringVar(&validity, "validity", "365d", "time until nextUpdate")
	return cmd
}

// printJSON writes v as indented JSON (the --json output of listings).
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
