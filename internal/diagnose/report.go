package diagnose

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"strings"
	"time"
)

// Step statuses. A failed step refuses the certificate (or fails the
// connection check); a warning or a skipped step does not.
const (
	StatusOK   = "ok"
	StatusFail = "fail"
	StatusWarn = "warn"
	StatusSkip = "skip"
)

// Step is one check of a diagnosis, with one sentence saying what was found.
// Its JSON field names are a contract with scripts: add fields, never rename.
type Step struct {
	// Name says what was checked: validity, key_usage, chain, revocation,
	// route_match, route (certificates); connect, tls, trust, name,
	// server_expiry, client_cert_request, client_cert, client_expiry,
	// request (connections).
	Name string `json:"name"`
	// OK is false only for a failed step.
	OK bool `json:"ok"`
	// Status is ok, fail, warn or skip.
	Status string `json:"status"`
	// Listener or Route names what the step is about, when it is about one.
	Listener string `json:"listener,omitempty"`
	Route    string `json:"route,omitempty"`
	// Code is a short reason code for a failed or warning step ("expired",
	// "unknown_ca", "not_allowed", ...), the same as the gateway's where
	// the gateway has one.
	Code   string `json:"code,omitempty"`
	Detail string `json:"detail"`
}

func okStep(name, detail string) Step {
	return Step{Name: name, OK: true, Status: StatusOK, Detail: detail}
}

func failStep(name, code, detail string) Step {
	return Step{Name: name, Status: StatusFail, Code: code, Detail: detail}
}

func warnStep(name, code, detail string) Step {
	return Step{Name: name, OK: true, Status: StatusWarn, Code: code, Detail: detail}
}

func skipStep(name, detail string) Step {
	return Step{Name: name, OK: true, Status: StatusSkip, Detail: detail}
}

// failed reports whether any step failed.
func failed(steps []Step) bool {
	for _, s := range steps {
		if !s.OK {
			return true
		}
	}
	return false
}

// CertInfo describes one certificate for a report. It never holds key
// material.
type CertInfo struct {
	Subject           string    `json:"subject"`
	Issuer            string    `json:"issuer"`
	Serial            string    `json:"serial"`
	NotBefore         time.Time `json:"not_before"`
	NotAfter          time.Time `json:"not_after"`
	SANs              []string  `json:"sans,omitempty"`
	FingerprintSHA256 string    `json:"fingerprint_sha256"`
	IsCA              bool      `json:"is_ca,omitempty"`
	SelfSigned        bool      `json:"self_signed,omitempty"`
}

// Info summarises c.
func Info(c *x509.Certificate) CertInfo {
	fp := sha256.Sum256(c.Raw)
	ci := CertInfo{
		Subject: Name(c), Issuer: c.Issuer.String(), NotBefore: c.NotBefore.UTC(), NotAfter: c.NotAfter.UTC(),
		FingerprintSHA256: hex.EncodeToString(fp[:]), IsCA: c.IsCA, SelfSigned: selfSigned(c),
	}
	if c.SerialNumber != nil {
		ci.Serial = c.SerialNumber.Text(16)
	}
	for _, d := range c.DNSNames {
		ci.SANs = append(ci.SANs, "DNS:"+d)
	}
	for _, u := range c.URIs {
		ci.SANs = append(ci.SANs, "URI:"+u.String())
	}
	for _, e := range c.EmailAddresses {
		ci.SANs = append(ci.SANs, "email:"+e)
	}
	for _, ip := range c.IPAddresses {
		ci.SANs = append(ci.SANs, "IP:"+ip.String())
	}
	return ci
}

// selfSigned reports whether c names itself as issuer and its signature
// checks with its own key (CA or not: servers use self-signed leaves).
func selfSigned(c *x509.Certificate) bool {
	return string(c.RawIssuer) == string(c.RawSubject) && c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature) == nil
}

// CertReport is the outcome of checking a client certificate against a
// gateway config (or a bare trust bundle). Its JSON field names are stable.
type CertReport struct {
	Kind        string     `json:"kind"` // "cert"
	File        string     `json:"file"`
	Config      string     `json:"config,omitempty"`
	Certificate CertInfo   `json:"certificate"`
	Chain       []CertInfo `json:"chain,omitempty"` // certificates sent after the leaf
	Steps       []Step     `json:"steps"`
	// Accepted is the verdict: on the selected route (--route, --url), or
	// by at least one listener (config, no route selected), or by the
	// checks that could be made (no config).
	Accepted bool `json:"accepted"`
	// Listener is the first listener that accepts the certificate.
	Listener  string          `json:"listener,omitempty"`
	Listeners []ListenerStand `json:"listeners,omitempty"`
	// Route is the selected route (--route, --url).
	Route   string       `json:"route,omitempty"`
	Routes  []RouteStand `json:"routes,omitempty"`
	Verdict string       `json:"verdict"`
}

// ListenerStand says whether one listener's handshake would accept the
// certificate.
type ListenerStand struct {
	Name     string `json:"name"`
	Accepted bool   `json:"accepted"`
}

// RouteStand says whether one route would let a request with the
// certificate through, and by which allow entry.
type RouteStand struct {
	Name     string `json:"name"`
	Accepted bool   `json:"accepted"`
	// Allow is the index of the matching allow entry, -1 when none matched
	// or the route has no allow list.
	Allow  int    `json:"allow"`
	Detail string `json:"detail"`
}

// ConnReport is the outcome of connecting to an upstream or a URL. Its
// JSON field names are stable.
type ConnReport struct {
	Kind        string     `json:"kind"` // "upstream" or "url"
	Upstream    string     `json:"upstream,omitempty"`
	URL         string     `json:"url"`
	Address     string     `json:"address"`
	ServerName  string     `json:"server_name"`
	TLSVersion  string     `json:"tls_version,omitempty"`
	CipherSuite string     `json:"cipher_suite,omitempty"`
	ServerChain []CertInfo `json:"server_chain,omitempty"`
	// Verified: the server's chain verifies against the trust used (the
	// configured ca, or the system roots). NameMatches: its certificate is
	// valid for ServerName.
	Verified            bool      `json:"verified"`
	NameMatches         bool      `json:"name_matches"`
	ClientCertRequested bool      `json:"client_cert_requested"`
	AcceptableCAs       []string  `json:"acceptable_cas"`
	ClientCert          *CertInfo `json:"client_cert,omitempty"`
	ClientCertSent      bool      `json:"client_cert_sent"`
	// ClientCertAccepted is null when no client certificate was sent or
	// the connection failed before that could be known.
	ClientCertAccepted *bool  `json:"client_cert_accepted"`
	HTTPStatus         int    `json:"http_status,omitempty"`
	Steps              []Step `json:"steps"`
	OK                 bool   `json:"ok"`
	Verdict            string `json:"verdict"`
}

// chainNames renders a chain as "CN=a → CN=b → CN=c".
func chainNames(chain []*x509.Certificate) string {
	names := make([]string, len(chain))
	for i, c := range chain {
		names[i] = Name(c)
	}
	return strings.Join(names, " → ")
}
