package config

import (
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Validate checks c and returns every problem found (nil when valid). It is
// pure: it reads no files and never changes c. File contents (certificates,
// keys) are checked when the gateway builds its state from c.
func Validate(c *Config) error {
	var p Problems
	if len(c.Listeners) == 0 {
		p.add("listeners", "at least one listener is required")
	}
	listenerNames := map[string]int{}
	anyClientCerts := false
	for i := range c.Listeners {
		l := &c.Listeners[i]
		path := fmt.Sprintf("listeners[%d]", i)
		checkName(&p, path+".name", l.Name, "listener", listenerNames, i)
		checkAddress(&p, path+".address", l.Address)
		if l.TLS == nil {
			if c.CA == nil || c.CA.ServeOn != l.Name {
				p.add(path+".tls", "required: mtlsgate terminates TLS on every API listener (only the ca.serve_on listener may be plain HTTP, to publish CRLs and OCSP)")
			}
		} else {
			validateListenerTLS(&p, path+".tls", l.TLS)
			if l.TLS.ClientAuth != ClientAuthNone {
				anyClientCerts = true
			}
		}
		validateLimits(&p, path+".limits", l.Limits)
	}
	if c.Admin != nil {
		checkAddress(&p, "admin.address", c.Admin.Address)
	}
	upstreamNames := map[string]int{}
	for i := range c.Upstreams {
		validateUpstream(&p, i, &c.Upstreams[i], upstreamNames)
	}
	routeNames := map[string]int{}
	for i := range c.Routes {
		validateRoute(&p, c.Routes, i, routeNames, upstreamNames, anyClientCerts)
	}
	checkShadowedRoutes(&p, c.Routes)
	validateRoutesFrom(&p, c.RoutesFrom, upstreamNames)
	validateCA(&p, c.CA, listenerNames)
	validateEST(&p, c)
	validateEchoServers(&p, c.EchoServers)
	validateLog(&p, c.Log)
	return p.Err()
}

func checkName(p *Problems, path, name, kind string, seen map[string]int, i int) {
	switch {
	case name == "":
		p.add(path, "required")
	case !validName(name):
		p.add(path, "%q: use letters, digits, '-', '_' and '.'", name)
	default:
		if j, dup := seen[name]; dup {
			p.add(path, "duplicate %s name %q (also at index %d)", kind, name, j)
		} else {
			seen[name] = i
		}
	}
}

// maxNamePrefix bounds routes_from.name_prefix, leaving room for the
// imported name within a route name's 128 characters.
const maxNamePrefix = 64

// CheckNamePrefix checks a prefix for imported route names (routes_from
// name_prefix, mtlsgate import --name-prefix).
func CheckNamePrefix(s string) error {
	if len(s) > maxNamePrefix {
		return fmt.Errorf("%d characters: at most %d, so that imported names fit in a route name", len(s), maxNamePrefix)
	}
	if !validName(s) {
		return fmt.Errorf("%q: use letters, digits, '-', '_' and '.'", s)
	}
	return nil
}

func validName(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return len(s) <= 128
}

func checkAddress(p *Problems, path, addr string) {
	if addr == "" {
		p.add(path, "required (host:port, e.g. 127.0.0.1:8443)")
		return
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		p.add(path, "%q is not host:port: %v", addr, err)
		return
	}
	if strings.ContainsAny(host, " /") {
		p.add(path, "%q: invalid host", addr)
	}
	if !validPort(port) {
		p.add(path, "%q: port must be 0-65535", addr)
	}
}

func validPort(s string) bool {
	if s == "" || len(s) > 5 {
		return false
	}
	n := 0
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
		n = n*10 + int(r-'0')
	}
	return n <= 65535
}

func isKeystore(path string) bool {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".p12", ".pfx", ".jks":
		return true
	}
	return false
}

func validateKeyPair(p *Problems, path, cert, key, pwFile, pwEnv string, required bool) {
	switch {
	case cert == "" && key == "":
		if required {
			p.add(path+".cert", "required")
		}
		return
	case cert == "":
		p.add(path+".cert", "required when key is set")
		return
	}
	if isKeystore(cert) {
		if key != "" {
			p.add(path+".key", "must be empty: %s is a keystore that holds the key", filepath.Base(cert))
		}
	} else if key == "" {
		p.add(path+".key", "required: %s is PEM, so the private key must be named (or use a .p12/.jks keystore)", filepath.Base(cert))
	}
	if pwFile != "" && pwEnv != "" {
		p.add(path+".password_file", "set password_file or password_env, not both")
	}
}

func validateListenerTLS(p *Problems, path string, t *ListenerTLS) {
	validateKeyPair(p, path, t.Cert, t.Key, t.PasswordFile, t.PasswordEnv, true)
	switch t.ClientAuth {
	case ClientAuthRequire, ClientAuthRequest:
		if t.ClientCA == "" {
			p.add(path+".client_ca", "required when client_auth is %s: the trust bundle client certificates are verified against", t.ClientAuth)
		}
	case ClientAuthNone:
		if t.ClientCA != "" {
			p.add(path+".client_ca", "set, but client_auth is none: client certificates are never asked for (use request or require)")
		}
	default:
		p.add(path+".client_auth", "%q: want require, request or none", t.ClientAuth)
	}
	if t.ClientCAPasswordFile != "" && t.ClientCAPasswordEnv != "" {
		p.add(path+".client_ca_password_file", "set client_ca_password_file or client_ca_password_env, not both")
	}
	switch t.MinVersion {
	case "1.2", "1.3":
	default:
		p.add(path+".min_version", "%q: want \"1.2\" or \"1.3\" (older TLS versions are not supported)", t.MinVersion)
	}
	if t.Revocation != nil {
		if t.ClientAuth == ClientAuthNone {
			p.add(path+".revocation", "set, but client_auth is none: there are no client certificates to check")
		}
		validateRevocation(p, path+".revocation", t.Revocation)
	}
}

func validateLimits(p *Problems, path string, l Limits) {
	if l.MaxHeaderBytes < 0 || l.MaxHeaderBytes > 16<<20 {
		p.add(path+".max_header_bytes", "%d: want 1..16777216", l.MaxHeaderBytes)
	}
	if l.MaxConcurrentStreams < 0 || l.MaxConcurrentStreams > 10000 {
		p.add(path+".max_concurrent_streams", "%d: want 1..10000", l.MaxConcurrentStreams)
	}
	if l.MaxConnections < 0 {
		p.add(path+".max_connections", "%d: must not be negative", l.MaxConnections)
	}
}

func validateUpstream(p *Problems, i int, u *Upstream, names map[string]int) {
	path := fmt.Sprintf("upstreams[%d]", i)
	checkName(p, path+".name", u.Name, "upstream", names, i)
	if u.URL == "" {
		p.add(path+".url", "required (https://host:port or http://host:port)")
		return
	}
	pu, err := url.Parse(u.URL)
	switch {
	case err != nil:
		p.add(path+".url", "%q: %v", u.URL, err)
		return
	case pu.Scheme != "http" && pu.Scheme != "https":
		p.add(path+".url", "%q: scheme must be https or http", u.URL)
	case pu.Host == "":
		p.add(path+".url", "%q: no host", u.URL)
	case pu.User != nil:
		p.add(path+".url", "credentials in the URL are not supported")
	case pu.RawQuery != "" || pu.Fragment != "":
		p.add(path+".url", "%q: query and fragment are not allowed", u.URL)
	}
	if u.TLS != nil {
		if pu.Scheme == "http" {
			p.add(path+".tls", "set, but url %q is http: use https to call the upstream over TLS", u.URL)
		}
		validateKeyPair(p, path+".tls", u.TLS.Cert, u.TLS.Key, u.TLS.PasswordFile, u.TLS.PasswordEnv, false)
		if u.TLS.InsecureSkipVerify && u.TLS.CA != "" {
			p.add(path+".tls.insecure_skip_verify", "true while ca is set: the ca would be ignored; remove one")
		}
	}
	if u.Limits.MaxIdleConnsPerHost < 0 || u.Limits.MaxConnsPerHost < 0 {
		p.add(path+".limits", "connection counts must not be negative")
	}
}

func validateLog(p *Problems, l Log) {
	switch l.Level {
	case "debug", "info", "warn", "error":
	default:
		p.add("log.level", "%q: want debug, info, warn or error", l.Level)
	}
	switch l.Format {
	case "json", "text":
	default:
		p.add("log.format", "%q: want json or text", l.Format)
	}
}

func validateCA(p *Problems, ca *CA, listeners map[string]int) {
	if ca == nil {
		return
	}
	if ca.Dir == "" {
		p.add("ca.dir", "required: the directory made by mtlsgate ca init")
	}
	if ca.ServeOn != "" {
		if _, ok := listeners[ca.ServeOn]; !ok {
			p.add("ca.serve_on", "%q: no listener with this name", ca.ServeOn)
		}
	}
	if ca.RevocationPoll.D() < 10*time.Millisecond || ca.RevocationPoll.D() > time.Second {
		p.add("ca.revocation_poll", "%s: want 10ms..1s (revocations must apply within a second)", ca.RevocationPoll.D())
	}
}

func validateEchoServers(p *Problems, servers []EchoServer) {
	names := map[string]int{}
	for i, e := range servers {
		path := fmt.Sprintf("echo_servers[%d]", i)
		checkName(p, path+".name", e.Name, "echo server", names, i)
		checkAddress(p, path+".address", e.Address)
		for _, f := range []struct{ key, val string }{{"cert", e.Cert}, {"key", e.Key}, {"client_ca", e.ClientCA}} {
			if f.val == "" {
				p.add(path+"."+f.key, "required: an echo server is an mTLS upstream")
			}
		}
	}
}

func validateRevocation(p *Problems, path string, r *Revocation) {
	oneOf := func(key, v string, allowed ...string) {
		if !slices.Contains(allowed, v) {
			p.add(path+"."+key, "%q: want %s", v, strings.Join(allowed, ", "))
		}
	}
	oneOf("ocsp", r.OCSP, OCSPOff, OCSPPrefer, OCSPRequire)
	oneOf("on_unavailable", r.OnUnavailable, FailClosed, FailOpen)
	oneOf("stale_crl", r.StaleCRL, FailClosed, FailOpen)
	if len(r.CRL) == 0 && !r.UseCRLDistributionPoints && r.OCSP == OCSPOff {
		p.add(path, "checks nothing: give crl entries, use_crl_distribution_points or ocsp")
	}
	if r.UseCRLDistributionPoints && len(r.CDPAllowHosts) == 0 {
		p.add(path+".cdp_allow_hosts", "required with use_crl_distribution_points: the hosts CRL distribution point URLs may name (a client must not make the gateway fetch arbitrary URLs)")
	}
	if r.MaxCRLBytes < 0 {
		p.add(path+".max_crl_bytes", "must not be negative")
	}
	seen := map[string]int{}
	for i, c := range r.CRL {
		cp := fmt.Sprintf("%s.crl[%d]", path, i)
		if key := c.File + "\x00" + c.URL; key != "\x00" {
			if j, dup := seen[key]; dup {
				p.add(cp, "same source as crl[%d]", j)
			}
			seen[key] = i
		}
		switch {
		case (c.File == "") == (c.URL == ""):
			p.add(cp, "give exactly one of file or url")
		case c.URL != "":
			u, err := url.Parse(c.URL)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				p.add(cp+".url", "%q: want an http(s) URL", c.URL)
			}
			if c.Refresh.D() < time.Second {
				p.add(cp+".refresh", "%s: want at least 1s", c.Refresh.D())
			}
		case c.Refresh != 0:
			p.add(cp+".refresh", "only for url sources (files are re-read when they change)")
		}
	}
}

func validateEST(p *Problems, c *Config) {
	e := c.EST
	if e == nil {
		return
	}
	if c.CA == nil {
		p.add("est", "needs a ca section: EST issues from the built-in CA")
	}
	found := false
	for _, l := range c.Listeners {
		if l.Name == e.Listener {
			found = true
			if l.TLS == nil {
				p.add("est.listener", "%q is plain HTTP: EST needs TLS (RFC 7030 §3.3)", e.Listener)
			}
		}
	}
	if !found {
		p.add("est.listener", "%q: no listener with this name", e.Listener)
	}
	names := map[string]int{}
	// Globs are matched with path.Match, whose syntax filepath.Match
	// shares on the platforms mtlsgate runs on.
	globs := func(path string, pats []string) {
		for j, g := range pats {
			if _, err := filepath.Match(g, ""); err != nil || g == "" {
				p.add(fmt.Sprintf("%s[%d]", path, j), "%q is not a valid glob (e.g. device-*)", g)
			}
		}
	}
	for i, a := range e.Accounts {
		path := fmt.Sprintf("est.accounts[%d]", i)
		checkName(p, path+".username", a.Username, "EST account", names, i)
		if a.PasswordFile == "" {
			p.add(path+".password_file", "required")
		}
		if len(a.AllowCN) == 0 {
			p.add(path+".allow_cn", "required: the names this account may ask for (globs, e.g. device-*)")
		}
		globs(path+".allow_cn", a.AllowCN)
	}
	approval := func(path, v string) {
		if v != "" && v != "none" && v != "manual" {
			p.add(path, "%q: want none (issue at once) or manual (wait for mtlsgate est approve)", v)
		}
	}
	approval("est.approval", e.Approval)
	if d := e.RetryAfter.D(); d != 0 && (d < time.Second || d > 24*time.Hour || d%time.Second != 0) {
		p.add("est.retry_after", "%s: want whole seconds from 1s to 24h", d)
	}
	labels := make([]string, 0, len(e.Labels))
	for name := range e.Labels {
		labels = append(labels, name)
	}
	slices.Sort(labels)
	for _, name := range labels {
		approval(fmt.Sprintf("est.labels.%s.approval", name), e.Labels[name].Approval)
	}
	if e.BootstrapCA == "" {
		if len(e.BootstrapAllowCN) > 0 {
			p.add("est.bootstrap_allow_cn", "only with bootstrap_ca: the names a bootstrap certificate may ask for")
		}
		return
	}
	globs("est.bootstrap_allow_cn", e.BootstrapAllowCN)
	for _, l := range c.Listeners {
		if l.Name == e.Listener && l.TLS != nil && l.TLS.ClientAuth == ClientAuthNone {
			p.add("est.bootstrap_ca", "listener %q has client_auth: none; bootstrap certificates need request (or require)", e.Listener)
		}
	}
}
