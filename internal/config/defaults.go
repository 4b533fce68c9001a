package config

import "time"

// Default limits. They are deliberately conservative: a gateway in front of
// APIs should never wait forever on a client or let one client hold
// unbounded memory.
const (
	DefaultHandshakeTimeout     = 10 * time.Second
	DefaultReadHeaderTimeout    = 10 * time.Second
	DefaultIdleTimeout          = 120 * time.Second
	DefaultBodyStallTimeout     = 60 * time.Second
	DefaultSendStallTimeout     = 60 * time.Second
	DefaultMaxHeaderBytes       = 64 << 10
	DefaultMaxConcurrentStreams = 128
	DefaultMaxConnections       = 16384

	DefaultDialTimeout           = 5 * time.Second
	DefaultResponseHeaderTimeout = 60 * time.Second
	DefaultIdleConnTimeout       = 90 * time.Second
	DefaultMaxIdleConnsPerHost   = 512

	DefaultRevocationPoll = 250 * time.Millisecond
)

// Defaults fills in every value the user left out. It is the only place that
// mutates a decoded Config; Validate never does. Security-relevant defaults
// are the strict choice: listeners require client certificates, routes
// require them, TLS 1.2 is the floor.
func Defaults(c *Config) {
	for i := range c.Listeners {
		l := &c.Listeners[i]
		if l.TLS != nil {
			if l.TLS.ClientAuth == "" {
				l.TLS.ClientAuth = ClientAuthRequire
			}
			if l.TLS.MinVersion == "" {
				l.TLS.MinVersion = "1.2"
			}
			if r := l.TLS.Revocation; r != nil {
				defaultRevocation(r)
			}
		}
		lim := &l.Limits
		setDur(&lim.HandshakeTimeout, DefaultHandshakeTimeout)
		setDur(&lim.ReadHeaderTimeout, DefaultReadHeaderTimeout)
		setDur(&lim.IdleTimeout, DefaultIdleTimeout)
		setDur(&lim.BodyStallTimeout, DefaultBodyStallTimeout)
		setDur(&lim.SendStallTimeout, DefaultSendStallTimeout)
		setInt(&lim.MaxHeaderBytes, DefaultMaxHeaderBytes)
		setInt(&lim.MaxConcurrentStreams, DefaultMaxConcurrentStreams)
		setInt(&lim.MaxConnections, DefaultMaxConnections)
	}
	for i := range c.Upstreams {
		lim := &c.Upstreams[i].Limits
		setDur(&lim.DialTimeout, DefaultDialTimeout)
		setDur(&lim.ResponseHeaderTimeout, DefaultResponseHeaderTimeout)
		setDur(&lim.IdleConnTimeout, DefaultIdleConnTimeout)
		setInt(&lim.MaxIdleConnsPerHost, DefaultMaxIdleConnsPerHost)
	}
	for i := range c.Routes {
		DefaultRoute(&c.Routes[i])
	}
	for i := range c.RoutesFrom {
		rf := &c.RoutesFrom[i]
		if rf.Forward.Format == "" {
			rf.Forward.Format = "rfc9440"
		}
		defaultRateLimit(rf.RateLimit)
	}
	if c.EST != nil && c.EST.Profile == "" {
		c.EST.Profile = "client"
	}
	if c.CA != nil {
		if c.CA.AutoRenew == nil {
			t := true
			c.CA.AutoRenew = &t
		}
		setDur(&c.CA.RevocationPoll, DefaultRevocationPoll)
	}
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
	if c.Log.Format == "" {
		c.Log.Format = "json"
	}
	if c.Log.Access == nil {
		t := true
		c.Log.Access = &t
	}
}

func setDur(d *Duration, v time.Duration) {
	if *d == 0 {
		*d = Duration(v)
	}
}

func setInt(i *int, v int) {
	if *i == 0 {
		*i = v
	}
}

// defaultRevocation fills a listener's revocation block: OCSP off, and the
// strict choice wherever revocation data is missing or stale.
func defaultRevocation(r *Revocation) {
	if r.OCSP == "" {
		r.OCSP = OCSPOff
	}
	if r.OnUnavailable == "" {
		r.OnUnavailable = FailClosed
	}
	if r.StaleCRL == "" {
		r.StaleCRL = FailClosed
	}
	setDur(&r.OCSPTimeout, 2*time.Second)
	if r.MaxCRLBytes == 0 {
		r.MaxCRLBytes = 256 << 20
	}
	for i := range r.CRL {
		if r.CRL[i].URL != "" {
			setDur(&r.CRL[i].Refresh, time.Hour)
		}
	}
}

func defaultRateLimit(rl *RateLimit) {
	if rl == nil {
		return
	}
	if rl.Key == "" {
		rl.Key = RateKeyIdentity
	}
}

// DefaultRoute fills in a route's defaults (Defaults does it for routes in
// the file; importers call it for the routes they add).
func DefaultRoute(r *Route) {
	if r.ClientCert == "" {
		r.ClientCert = ClientCertRequired
	}
	if r.Forward.Format == "" {
		r.Forward.Format = "rfc9440"
	}
	if r.Match.PathPrefix == "" && r.Match.Path == "" {
		r.Match.PathPrefix = "/"
	}
	if r.State == "" {
		r.State = StatePublished
	}
	defaultRateLimit(r.RateLimit)
}
