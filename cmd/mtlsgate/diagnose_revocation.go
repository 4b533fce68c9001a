package main

import (
	"context"
	"crypto/x509"
	"fmt"
	"log/slog"
	"time"

	"github.com/mtlsgate/mtlsgate/internal/certload"
	"github.com/mtlsgate/mtlsgate/internal/config"
	"github.com/mtlsgate/mtlsgate/internal/diagnose"
	"github.com/mtlsgate/mtlsgate/internal/revocation"
)

// externalRevocationChecks builds, for each listener with a revocation
// block, a check that loads its CRLs now (URLs included, bounded by
// timeout) and answers for chains that listener's client_ca verifies.
// close stops the checkers.
func externalRevocationChecks(cfg *config.Config, timeout time.Duration) (checks []diagnose.RevocationCheck, closeAll func()) {
	var checkers []*revocation.Checker
	closeAll = func() {
		for _, c := range checkers {
			c.Close()
		}
	}
	for _, l := range cfg.Listeners {
		if l.TLS == nil || l.TLS.Revocation == nil {
			continue
		}
		source := fmt.Sprintf("revocation settings of listener %s", l.Name)
		bundle, err := certload.LoadTrustBundle(certload.TrustSpec{File: l.TLS.ClientCA, PasswordFile: l.TLS.ClientCAPasswordFile, PasswordEnv: l.TLS.ClientCAPasswordEnv})
		if err != nil {
			checks = append(checks, diagnose.UnavailableRevocation(source, err))
			continue
		}
		c, err := newDiagnoseChecker(l, bundle.Certs, timeout)
		if err != nil {
			checks = append(checks, diagnose.UnavailableRevocation(source, err))
			continue
		}
		checkers = append(checkers, c)
		checks = append(checks, listenerRevocationCheck(c, bundle, source))
	}
	return checks, closeAll
}

func newDiagnoseChecker(l config.Listener, issuers []*x509.Certificate, timeout time.Duration) (*revocation.Checker, error) {
	cfg, err := revocation.ConfigFor(&l, issuers, slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, err
	}
	// diagnose may wait for answers: OCSP is asked synchronously.
	if cfg.OCSP == revocation.OCSPPrefer {
		cfg.OCSP = revocation.OCSPRequire
	}
	c, err := revocation.New(cfg)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	_ = c.Reload(ctx) // what could not be fetched shows in the answer
	return c, nil
}

// listenerRevocationCheck answers for chains the listener's bundle verifies
// and stays silent (OK, "not covered") for others.
func listenerRevocationCheck(c *revocation.Checker, bundle *certload.Bundle, source string) diagnose.RevocationCheck {
	return func(chain []*x509.Certificate) diagnose.Revocation {
		inter := x509.NewCertPool()
		for _, ic := range chain[1:] {
			inter.AddCert(ic)
		}
		chains, err := chain[0].Verify(x509.VerifyOptions{Roots: bundle.Pool, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
		if err != nil {
			return diagnose.Revocation{OK: true, Sentence: "not covered by " + source + " (another trust bundle)", Source: source}
		}
		r := c.Check(chains[0])
		switch {
		case r.Revoked && r.Code == revocation.CodeRevoked:
			return diagnose.Revoked(chain[0], r.RevokedAt, revocation.ReasonName(r.RevocationReason), r.Source, time.Now())
		case r.Revoked:
			return diagnose.Revocation{Code: r.Code, Sentence: r.Reason, Source: r.Source}
		case r.FailOpen:
			return diagnose.Revocation{OK: true, Warning: true, Code: r.Code, Sentence: "allowed by on_unavailable: fail_open although " + r.Reason, Source: r.Source}
		}
		src := r.Source
		if src == "" {
			src = source
		}
		return diagnose.Revocation{OK: true, Sentence: "not revoked according to " + src, Source: src}
	}
}
