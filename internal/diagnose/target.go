package diagnose

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/mtlsgate/mtlsgate/internal/certload"
	"github.com/mtlsgate/mtlsgate/internal/config"
	"github.com/mtlsgate/mtlsgate/internal/policy"
	"github.com/mtlsgate/mtlsgate/internal/route"
)

// Target is what a client certificate is checked against: the listeners
// and routes of a gateway config (TargetFromConfig), or one trust bundle
// (TargetFromBundle). It is read-only once built.
type Target struct {
	// Config is the config file, for the report ("" for a bare bundle).
	Config    string
	Listeners []ListenerTarget
	Routes    []RouteTarget
	// Revocation lists the revocation sources the gateway would consult
	// (the built-in CA with a ca: section; later CRLs and OCSP). The caller
	// adds them: this package opens no CA.
	Revocation []RevocationCheck

	table *route.Table[int]
	bare  bool
}

// ListenerTarget is one TLS listener's client-certificate setup.
type ListenerTarget struct {
	Name    string
	Address string
	// ClientAuth is require, request or none.
	ClientAuth string
	// ClientCA is the trust bundle file as configured; Bundle its content
	// (nil when ClientAuth is none).
	ClientCA string
	Bundle   *certload.Bundle
}

// RouteTarget is one route's client-certificate requirement.
type RouteTarget struct {
	// Index is the route's position in the config (routes[Index]).
	Index      int
	Name       string
	ClientCert string // required, optional or none
	Host       string
	PathPrefix string
	Path       string
	Methods    []string
	// Rules is the allow list; Policy is it compiled (nil when empty: any
	// verified certificate passes a required route).
	Rules  []policy.Rule
	Policy *policy.Policy
}

// TargetFromConfig builds the target of a loaded (defaulted) and validated
// config, mirroring how the gateway builds its state: every TLS listener
// with its client_ca bundle, every route with its compiled allow list and
// the route table the gateway matches requests with. Problems (an
// unreadable bundle, an allow entry that does not compile) are returned as
// config.Problems with their YAML paths. Revocation sources are not added.
func TargetFromConfig(cfg *config.Config) (*Target, error) {
	t := &Target{Config: cfg.Path}
	var probs config.Problems
	for i, l := range cfg.Listeners {
		if l.TLS == nil {
			continue // plain HTTP: only publishes the CA, never sees a client certificate
		}
		lt := ListenerTarget{Name: l.Name, Address: l.Address, ClientAuth: l.TLS.ClientAuth, ClientCA: l.TLS.ClientCA}
		if l.TLS.ClientAuth != config.ClientAuthNone {
			b, err := certload.LoadTrustBundle(certload.TrustSpec{File: l.TLS.ClientCA,
				PasswordFile: l.TLS.ClientCAPasswordFile, PasswordEnv: l.TLS.ClientCAPasswordEnv})
			if err != nil {
				probs = append(probs, &config.FieldError{Path: fmt.Sprintf("listeners[%d].tls.client_ca", i), Err: err})
				continue
			}
			lt.Bundle = b
		}
		t.Listeners = append(t.Listeners, lt)
	}
	specs := make([]route.Spec[int], 0, len(cfg.Routes))
	for i, rc := range cfg.Routes {
		rt := RouteTarget{Index: i, Name: rc.Name, ClientCert: rc.ClientCert, Host: rc.Match.Host,
			PathPrefix: rc.Match.PathPrefix, Path: rc.Match.Path, Methods: rc.Match.Methods}
		for _, a := range rc.Allow {
			rt.Rules = append(rt.Rules, policy.Rule{CN: a.CN, O: a.O, OU: a.OU, DNS: a.DNS, URI: a.URI, Email: a.Email,
				IP: a.IP, SPIFFEID: a.SPIFFEID, FingerprintSHA256: a.FingerprintSHA256, IssuerCN: a.IssuerCN, Serial: a.Serial})
		}
		if len(rt.Rules) > 0 {
			p, err := policy.Compile(rt.Rules)
			if err != nil {
				probs = append(probs, ruleProblems(i, err)...)
				continue
			}
			rt.Policy = p
		}
		t.Routes = append(t.Routes, rt)
		specs = append(specs, route.Spec[int]{Name: rc.Name, Host: rc.Match.Host, PathPrefix: rc.Match.PathPrefix,
			Path: rc.Match.Path, Methods: rc.Match.Methods, Value: len(t.Routes) - 1})
	}
	if len(probs) > 0 {
		return nil, probs
	}
	tab, err := route.Build(specs)
	if err != nil {
		return nil, &config.FieldError{Path: "routes", Err: err}
	}
	t.table = tab
	return t, nil
}

// ruleProblems gives allow-list compile errors their config paths.
func ruleProblems(route int, err error) config.Problems {
	var out config.Problems
	for _, p := range config.AsProblems(err) {
		var re *policy.RuleError
		if errors.As(p.Err, &re) {
			path := fmt.Sprintf("routes[%d].allow[%d]", route, re.Index)
			if re.Key != "" {
				path += "." + re.Key
			}
			out = append(out, &config.FieldError{Path: path, Err: errors.New(re.Msg)})
			continue
		}
		out = append(out, &config.FieldError{Path: fmt.Sprintf("routes[%d].allow", route), Err: p.Err})
	}
	return out
}

// TargetFromBundle is a target of one trust bundle (PEM, .p12 or .jks, with
// an optional password file), for checking a chain without a config.
func TargetFromBundle(file, passwordFile string) (*Target, error) {
	b, err := certload.LoadTrustBundle(certload.TrustSpec{File: file, PasswordFile: passwordFile})
	if err != nil {
		return nil, err
	}
	return &Target{bare: true, Listeners: []ListenerTarget{{ClientAuth: config.ClientAuthRequire, ClientCA: file, Bundle: b}}}, nil
}

// where names the trust bundle in sentences, as the gateway's handshake
// log does.
func (t *Target) where(l *ListenerTarget) string {
	if t.bare {
		return "the --ca bundle " + filepath.Base(l.ClientCA)
	}
	return fmt.Sprintf("client_ca %s of listener %s", filepath.Base(l.ClientCA), l.Name)
}

// route returns the route named name.
func (t *Target) route(name string) *RouteTarget {
	for i := range t.Routes {
		if t.Routes[i].Name == name {
			return &t.Routes[i]
		}
	}
	return nil
}
