package main

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/mtlsgate/mtlsgate/internal/certload"
	"github.com/mtlsgate/mtlsgate/internal/config"
	"github.com/mtlsgate/mtlsgate/internal/diagnose"
	"github.com/spf13/cobra"
)

// upstreamOptions are the connection settings of upstream name, as the
// gateway builds them (internal/gateway buildUpstream): its client
// certificate, its ca (else the system roots), its server_name (else the
// URL's host) and insecure_skip_verify.
func upstreamOptions(c *cobra.Command, cfg *config.Config, name string, stderr io.Writer) (diagnose.ConnOptions, error) {
	var opts diagnose.ConnOptions
	idx := -1
	var names []string
	for i, u := range cfg.Upstreams {
		names = append(names, u.Name)
		if u.Name == name {
			idx = i
		}
	}
	if idx < 0 {
		return opts, usageError(stderr, c, "no upstream named %q in %s (upstreams: %s)", name, cfg.Path, strings.Join(names, ", "))
	}
	u := cfg.Upstreams[idx]
	target, err := parseTarget(u.URL)
	if err != nil {
		return opts, configError(stderr, cfg.Path, &config.FieldError{Path: fmt.Sprintf("upstreams[%d].url", idx), Err: err})
	}
	opts = diagnose.ConnOptions{Upstream: u.Name, URL: target}
	t := u.TLS
	if t == nil {
		return opts, nil
	}
	var probs config.Problems
	opts.ServerName, opts.Insecure = t.ServerName, t.InsecureSkipVerify
	if t.Cert != "" {
		kp, err := certload.LoadKeyPair(certload.KeyPairSpec{Cert: t.Cert, Key: t.Key, PasswordFile: t.PasswordFile, PasswordEnv: t.PasswordEnv})
		if err != nil {
			probs = append(probs, &config.FieldError{Path: fmt.Sprintf("upstreams[%d].tls.cert", idx), Err: err})
		}
		opts.ClientCert = kp
	}
	if t.CA != "" {
		b, err := certload.LoadTrustBundle(certload.TrustSpec{File: t.CA, PasswordFile: t.CAPasswordFile, PasswordEnv: t.CAPasswordEnv})
		if err != nil {
			probs = append(probs, &config.FieldError{Path: fmt.Sprintf("upstreams[%d].tls.ca", idx), Err: err})
		} else {
			opts.Roots, opts.RootsName = b.Pool, "ca "+filepath.Base(t.CA)
		}
	}
	if len(probs) > 0 {
		return opts, configError(stderr, cfg.Path, probs)
	}
	return opts, nil
}

// urlOptions are the connection settings given by diagnose url's flags.
func urlOptions(c *cobra.Command, raw string, f urlFlags, stderr io.Writer) (diagnose.ConnOptions, error) {
	var opts diagnose.ConnOptions
	target, err := parseTarget(raw)
	if err != nil {
		return opts, usageError(stderr, c, "%q: %v", raw, err)
	}
	switch {
	case f.key != "" && f.cert == "":
		return opts, usageError(stderr, c, "--key needs --cert")
	case f.caPasswordFile != "" && f.ca == "":
		return opts, usageError(stderr, c, "--ca-password-file needs --ca")
	case target.Scheme == "http" && (f.cert != "" || f.ca != "" || f.serverName != ""):
		return opts, usageError(stderr, c, "%s is plain HTTP: --cert, --ca and --server-name need https://", raw)
	}
	opts = diagnose.ConnOptions{URL: target, ServerName: f.serverName, Timeout: f.timeout}
	if f.cert != "" {
		kp, err := certload.LoadKeyPair(certload.KeyPairSpec{Cert: f.cert, Key: f.key, PasswordFile: f.passwordFile})
		if err != nil {
			return opts, failure(stderr, err)
		}
		opts.ClientCert = kp
	}
	if f.ca != "" {
		b, err := certload.LoadTrustBundle(certload.TrustSpec{File: f.ca, PasswordFile: f.caPasswordFile})
		if err != nil {
			return opts, failure(stderr, err)
		}
		opts.Roots, opts.RootsName = b.Pool, "--ca "+filepath.Base(f.ca)
	}
	return opts, nil
}
