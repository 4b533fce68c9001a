package main

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/mtlsgate/mtlsgate/internal/ca"
	"github.com/mtlsgate/mtlsgate/internal/config"
	"github.com/mtlsgate/mtlsgate/internal/diagnose"
	"github.com/mtlsgate/mtlsgate/internal/gateway"
	"github.com/spf13/cobra"
)

// Exit statuses of diagnose: 0 accepted / everything checks out, 1 refused
// or failed, 2 a usage or config error.
const (
	exitRefused = exitError(1)
	exitUsage   = exitError(2)
)

func newDiagnoseCmd(stdout, stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "diagnose cert|upstream|url",
		Short: "Explain why a client certificate or an upstream connection passes or fails",
		Long: `Explain, step by step and in plain words, whether the gateway would accept a
client certificate (diagnose cert), or whether a connection to an upstream or
any URL works (diagnose upstream, diagnose url), and why not.

Exit status: 0 accepted / everything checks out, 1 refused / failed,
2 usage or config error. --json prints a machine-readable report.`,
		Args: func(c *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageError(stderr, c, "unknown subcommand %q (want cert, upstream or url)", args[0])
			}
			return nil
		},
		RunE: func(c *cobra.Command, _ []string) error { return c.Help() },
	}
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError(stderr, c, "%v", err)
	})
	cmd.AddCommand(newDiagnoseCertCmd(stdout, stderr), newDiagnoseUpstreamCmd(stdout, stderr), newDiagnoseURLCmd(stdout, stderr))
	return cmd
}

// usageError prints a usage problem and returns exit status 2.
func usageError(stderr io.Writer, c *cobra.Command, format string, args ...any) error {
	fmt.Fprintf(stderr, "mtlsgate %s: %s\nRun 'mtlsgate %s --help' for usage.\n",
		strings.TrimPrefix(c.CommandPath(), "mtlsgate "), fmt.Sprintf(format, args...), strings.TrimPrefix(c.CommandPath(), "mtlsgate "))
	return exitUsage
}

// failure prints an error that stops a diagnosis before it starts (an
// unreadable file) and returns exit status 2.
func failure(stderr io.Writer, err error) error {
	fmt.Fprintf(stderr, "mtlsgate: %v\n", err)
	return exitUsage
}

type certFlags struct {
	config, route, url, method string
	ca, caPasswordFile         string
	passwordFile               string
	json                       bool
}

func newDiagnoseCertCmd(stdout, stderr io.Writer) *cobra.Command {
	var f certFlags
	cmd := &cobra.Command{
		Use:   "cert CERT_FILE [-c mtlsgate.yaml] [--route NAME | --url URL] [--json]",
		Short: "Say whether the gateway would accept a client certificate, and why not",
		Long: `Check a client certificate as the gateway would, step by step: its validity
period, its extended key usage (clientAuth), its chain to each listener's
client_ca (or which issuer is missing), revocation by the built-in CA (with a
ca: section), and each route's allow list (the matching entry, or the closest
miss). --route decides one route, --url the route the gateway picks for that
host and path; without either, every route is shown and the certificate is
accepted when a listener accepts it.

CERT_FILE is PEM (the leaf, then the intermediates the client sends; private
keys in it are skipped), DER, or a .p12/.pfx/.jks keystore (--password-file).
Without -c only the validity and the key usage are checked, and the chain
against --ca when given.`,
		Example: `  mtlsgate diagnose cert alice-chain.pem -c mtlsgate.yaml
  mtlsgate diagnose cert alice.pem -c mtlsgate.yaml --url https://api.example.com/api/secure/x
  mtlsgate diagnose cert alice.p12 --password-file pw --ca clients-ca.pem --json`,
		Args: func(c *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError(stderr, c, "want one certificate file, got %d arguments", len(args))
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error {
			return runDiagnoseCert(c, args[0], f, stdout, stderr)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&f.config, "config", "c", "", "gateway config: check against its listeners, routes and built-in CA")
	fl.StringVar(&f.route, "route", "", "decide on this route only")
	fl.StringVar(&f.url, "url", "", "decide on the route the gateway picks for this URL's host and path")
	fl.StringVar(&f.method, "method", "", "request method for --url (default GET)")
	fl.StringVar(&f.ca, "ca", "", "without -c: trust bundle to check the chain against (PEM, .p12, .jks)")
	fl.StringVar(&f.caPasswordFile, "ca-password-file", "", "password file of a .p12/.jks --ca truststore")
	fl.StringVar(&f.passwordFile, "password-file", "", "password file of a .p12/.pfx/.jks CERT_FILE")
	fl.BoolVar(&f.json, "json", false, "print a machine-readable JSON report")
	return cmd
}

func runDiagnoseCert(c *cobra.Command, file string, f certFlags, stdout, stderr io.Writer) error {
	switch {
	case f.config == "" && (f.route != "" || f.url != ""):
		return usageError(stderr, c, "--route and --url need the gateway config (-c mtlsgate.yaml)")
	case f.route != "" && f.url != "":
		return usageError(stderr, c, "give --route or --url, not both")
	case f.method != "" && f.url == "":
		return usageError(stderr, c, "--method applies only with --url")
	case f.config != "" && f.ca != "":
		return usageError(stderr, c, "--ca is for use without -c: with a config, each listener's client_ca is used")
	case f.caPasswordFile != "" && f.ca == "":
		return usageError(stderr, c, "--ca-password-file needs --ca")
	}
	chain, err := diagnose.LoadCertFile(file, f.passwordFile)
	if err != nil {
		return failure(stderr, err)
	}
	var target *diagnose.Target
	switch {
	case f.config != "":
		t, closeCA, err := certTarget(f.config, stderr)
		if err != nil {
			return err
		}
		defer closeCA()
		target = t
	case f.ca != "":
		if target, err = diagnose.TargetFromBundle(f.ca, f.caPasswordFile); err != nil {
			return failure(stderr, err)
		}
	}
	rep, err := diagnose.DiagnoseCert(file, chain, target, diagnose.CertOptions{
		Now: time.Now(), Route: f.route, URL: f.url, Method: strings.ToUpper(f.method)})
	if err != nil {
		if diagnose.IsUsage(err) {
			return usageError(stderr, c, "%s", strings.TrimPrefix(err.Error(), diagnose.ErrUsage.Error()+": "))
		}
		return failure(stderr, err)
	}
	if f.json {
		err = diagnose.WriteJSON(stdout, rep)
	} else {
		err = diagnose.WriteCertText(stdout, rep)
	}
	if err != nil {
		return err
	}
	if !rep.Accepted {
		return exitRefused
	}
	return nil
}

// loadConfig loads and validates a config, printing its problems (exit 2).
func loadConfig(path string, stderr io.Writer) (*config.Config, *config.Source, error) {
	cfg, src, _, err := gateway.LoadConfig(path)
	if err != nil {
		return nil, nil, configError(stderr, path, err)
	}
	return cfg, src, nil
}

// certTarget builds the target of a config, with the built-in CA's
// revocations when it has a ca: section. closeCA releases the CA.
func certTarget(path string, stderr io.Writer) (t *diagnose.Target, closeCA func(), err error) {
	cfg, src, err := loadConfig(path, stderr)
	if err != nil {
		return nil, nil, err
	}
	if t, err = diagnose.TargetFromConfig(cfg); err != nil {
		return nil, nil, configError(stderr, path, src.Annotate(err))
	}
	checks, closeExternal := externalRevocationChecks(cfg, 10*time.Second)
	t.Revocation = append(t.Revocation, checks...)
	closeCA = closeExternal
	if cfg.CA != nil && cfg.CA.Dir != "" {
		source := "built-in CA in " + cfg.CA.Dir
		a, err := ca.Open(cfg.CA.Dir, ca.Options{Actor: ca.DefaultActor("diagnose")})
		if err != nil {
			t.Revocation = append(t.Revocation, diagnose.UnavailableRevocation(source, err))
			return t, closeCA, nil
		}
		closeCA = func() { closeExternal(); _ = a.Close() }
		t.Revocation = append(t.Revocation, builtinCARevocation(a, source, time.Now()))
	}
	return t, closeCA, nil
}

// builtinCARevocation adapts an opened CA to diagnose's revocation check.
func builtinCARevocation(a *ca.Authority, source string, now time.Time) diagnose.RevocationCheck {
	return diagnose.BuiltinCARevocation(source, a.IssuedBy, func(c *x509.Certificate) (time.Time, string, bool) {
		r, ok := a.CheckRevoked(c)
		return r.RevokedAt, ca.ReasonName(r.Reason), ok
	}, now)
}

func newDiagnoseUpstreamCmd(stdout, stderr io.Writer) *cobra.Command {
	var cfgPath string
	var timeout time.Duration
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "upstream NAME -c mtlsgate.yaml [--json]",
		Short: "Connect to a configured upstream as the gateway would and report what happens",
		Long: `Connect to the upstream NAME with its configured TLS settings (ca, client
certificate, server_name) and report the TLS version and cipher, the server's
chain and whether it verifies, whether its certificate holds the server name,
whether it asks for a client certificate and from which CAs, whether it
accepted ours (a HEAD request must be answered), and certificates expiring
within 30 days. Exit status 0 only when everything checks out.`,
		Example: "  mtlsgate diagnose upstream orders -c mtlsgate.yaml",
		Args: func(c *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError(stderr, c, "want one upstream name, got %d arguments", len(args))
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error {
			cfg, _, err := loadConfig(cfgPath, stderr)
			if err != nil {
				return err
			}
			opts, err := upstreamOptions(c, cfg, args[0], stderr)
			if err != nil {
				return err
			}
			opts.Timeout = timeout
			return printConn(diagnose.DiagnoseConn(c.Context(), opts), asJSON, stdout)
		},
	}
	cmd.Flags().StringVarP(&cfgPath, "config", "c", "mtlsgate.yaml", "gateway config")
	cmd.Flags().DurationVar(&timeout, "timeout", diagnose.DefaultConnTimeout, "limit for the connect, the handshake and the request, each")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a machine-readable JSON report")
	return cmd
}

func printConn(rep *diagnose.ConnReport, asJSON bool, stdout io.Writer) error {
	var err error
	if asJSON {
		err = diagnose.WriteJSON(stdout, rep)
	} else {
		err = diagnose.WriteConnText(stdout, rep)
	}
	if err != nil {
		return err
	}
	if !rep.OK {
		return exitRefused
	}
	return nil
}

type urlFlags struct {
	cert, key, passwordFile string
	ca, caPasswordFile      string
	serverName              string
	timeout                 time.Duration
	json                    bool
}

func newDiagnoseURLCmd(stdout, stderr io.Writer) *cobra.Command {
	var f urlFlags
	cmd := &cobra.Command{
		Use:   "url https://host:port [--cert c.pem --key k.pem] [--ca ca.pem] [--server-name N]",
		Short: "Connect to a URL with an optional client certificate and report what happens",
		Long: `Connect to any TLS server, as diagnose upstream does for a configured one:
TLS version and cipher, the server's chain and whether it verifies against
--ca (default: the system roots), whether its certificate holds the server
name, whether it asks for a client certificate and from which CAs, whether it
accepted --cert (a HEAD request must be answered), and certificates expiring
within 30 days. Exit status 0 only when everything checks out.`,
		Example: `  mtlsgate diagnose url https://orders.internal:9000 --cert gw.pem --key gw.key --ca backend-ca.pem
  mtlsgate diagnose url https://127.0.0.1:9000 --server-name orders.internal --json`,
		Args: func(c *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError(stderr, c, "want one URL, got %d arguments", len(args))
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error {
			opts, err := urlOptions(c, args[0], f, stderr)
			if err != nil {
				return err
			}
			return printConn(diagnose.DiagnoseConn(c.Context(), opts), f.json, stdout)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.cert, "cert", "", "client certificate chain to present (PEM, or .p12/.pfx/.jks with --password-file)")
	fl.StringVar(&f.key, "key", "", "private key of a PEM --cert")
	fl.StringVar(&f.passwordFile, "password-file", "", "password file of an encrypted key or a keystore")
	fl.StringVar(&f.ca, "ca", "", "trust bundle for the server's chain (default: the system roots)")
	fl.StringVar(&f.caPasswordFile, "ca-password-file", "", "password file of a .p12/.jks --ca truststore")
	fl.StringVar(&f.serverName, "server-name", "", "name the server's certificate must hold (default: the URL's host)")
	fl.DurationVar(&f.timeout, "timeout", diagnose.DefaultConnTimeout, "limit for the connect, the handshake and the request, each")
	fl.BoolVar(&f.json, "json", false, "print a machine-readable JSON report")
	return cmd
}

// parseTarget parses a URL to connect to.
func parseTarget(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, errors.New("want an absolute URL such as https://orders.internal:9000")
	}
	return u, nil
}
