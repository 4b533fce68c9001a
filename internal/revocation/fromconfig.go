package revocation

import (
	"crypto/x509"
	"log/slog"

	"github.com/mtlsgate/mtlsgate/internal/config"
)

// ConfigFor maps a listener's revocation block to a Config, with the
// listener's trust bundle as the known issuers (so forged CRLs are refused
// at load). l.TLS.Revocation must be set.
func ConfigFor(l *config.Listener, issuers []*x509.Certificate, log *slog.Logger) (Config, error) {
	r := l.TLS.Revocation
	mode, err := ParseMode(r.OCSP)
	if err != nil {
		return Config{}, err
	}
	onUnavail, err := ParseFailMode(r.OnUnavailable)
	if err != nil {
		return Config{}, err
	}
	stale, err := ParseFailMode(r.StaleCRL)
	if err != nil {
		return Config{}, err
	}
	cfg := Config{
		Name: l.Name, UseCDP: r.UseCRLDistributionPoints, CDPAllowHosts: r.CDPAllowHosts,
		OCSP: mode, OnUnavailable: onUnavail, StaleCRL: stale,
		OCSPTimeout: r.OCSPTimeout.D(), MaxCRLBytes: r.MaxCRLBytes,
		Issuers: issuers, Logger: log,
	}
	for _, s := range r.CRL {
		cfg.CRLs = append(cfg.CRLs, CRLSource{File: s.File, URL: s.URL, Refresh: s.Refresh.D()})
	}
	return cfg, nil
}
