package config

// Config is the whole gateway configuration. Key names are a contract with
// users and outside tests: keep them; add new keys rather than renaming.
type Config struct {
	Listeners []Listener `yaml:"listeners"`
	Admin     *Admin     `yaml:"admin"`
	Upstreams []Upstream `yaml:"upstreams"`
	Routes    []Route    `yaml:"routes"`
	// RoutesFrom imports routes from API descriptions (OpenAPI 3.x,
	// Swagger 2.0) at load and on every reload, after Routes.
	RoutesFrom []RoutesFrom `yaml:"routes_from"`
	Log        Log          `yaml:"log"`
	// CA runs the built-in certificate authority in this process.
	CA *CA `yaml:"ca"`
	// EST serves RFC 7030 enrollment from the built-in CA.
	EST *EST `yaml:"est"`
	// EchoServers are built-in mTLS echo upstreams for trying a setup
	// (mtlsgate init writes one).
	EchoServers []EchoServer `yaml:"echo_servers"`

	// Dir is the directory relative file paths are resolved against (the
	// config file's directory). Not read from YAML.
	Dir string `yaml:"-"`
	// Path is the config file the gateway was started with, if any.
	Path string `yaml:"-"`
}

// Listener is one address the gateway accepts client connections on.
type Listener struct {
	Name    string       `yaml:"name"`
	Address string       `yaml:"address"`
	TLS     *ListenerTLS `yaml:"tls"`
	Limits  Limits       `yaml:"limits"`
}

// ListenerTLS configures TLS termination and client authentication.
type ListenerTLS struct {
	Cert         string `yaml:"cert"`
	Key          string `yaml:"key"`
	PasswordFile string `yaml:"password_file"`
	PasswordEnv  string `yaml:"password_env"`

	ClientCA             string `yaml:"client_ca"`
	ClientCAPasswordFile string `yaml:"client_ca_password_file"`
	ClientCAPasswordEnv  string `yaml:"client_ca_password_env"`
	// ClientAuth is require | request | none.
	ClientAuth string `yaml:"client_auth"`
	// MinVersion is "1.2" or "1.3".
	MinVersion string `yaml:"min_version"`
	// Revocation checks client certificates against external CRLs and
	// OCSP responders (the built-in CA's revocations apply anyway).
	Revocation *Revocation `yaml:"revocation"`
	// OCSPStapling staples an OCSP response for the listener's own
	// certificate, fetched from its AIA OCSP URL.
	OCSPStapling bool `yaml:"ocsp_stapling"`
}

// Revocation configures external revocation checking of client
// certificates on one listener.
type Revocation struct {
	CRL []CRLSource `yaml:"crl"`
	// UseCRLDistributionPoints fetches the CDP URLs found in client
	// certificates, in the background, only from CDPAllowHosts.
	UseCRLDistributionPoints bool `yaml:"use_crl_distribution_points"`
	// CDPAllowHosts lists the hosts (names or CIDRs) CDP URLs may point at.
	// Empty: none, so a client cannot make the gateway fetch arbitrary URLs.
	CDPAllowHosts []string `yaml:"cdp_allow_hosts"`
	// OCSP is off (default) | prefer | require.
	OCSP string `yaml:"ocsp"`
	// OnUnavailable is fail_closed (default) | fail_open: what happens when
	// no CRL or OCSP answer is available for a certificate.
	OnUnavailable string `yaml:"on_unavailable"`
	// StaleCRL is fail_closed (default) | fail_open: past a CRL's nextUpdate.
	StaleCRL string `yaml:"stale_crl"`
	// OCSPTimeout bounds one OCSP query (default 2s).
	OCSPTimeout Duration `yaml:"ocsp_timeout"`
	// MaxCRLBytes refuses larger CRLs (default 256 MiB).
	MaxCRLBytes int64 `yaml:"max_crl_bytes"`
}

// CRLSource is one CRL: a file (re-read on change) or a URL (fetched every
// Refresh and before its nextUpdate).
type CRLSource struct {
	File    string   `yaml:"file"`
	URL     string   `yaml:"url"`
	Refresh Duration `yaml:"refresh"`
}

// Revocation enumerations.
const (
	OCSPOff     = "off"
	OCSPPrefer  = "prefer"
	OCSPRequire = "require"

	FailOpen   = "fail_open"
	FailClosed = "fail_closed"
)

// Limits bound what one client can make the gateway hold. Every field has a
// safe default (see Defaults).
type Limits struct {
	HandshakeTimeout  Duration `yaml:"handshake_timeout"`
	ReadHeaderTimeout Duration `yaml:"read_header_timeout"`
	ReadTimeout       Duration `yaml:"read_timeout"`
	WriteTimeout      Duration `yaml:"write_timeout"`
	IdleTimeout       Duration `yaml:"idle_timeout"`
	// BodyStallTimeout and SendStallTimeout bound each read of a request
	// body and each write of a response (nginx's client_body_timeout and
	// send_timeout): a client that stops sending its body, or stops
	// reading the answer, is cut off, while a long upload, download or
	// stream that keeps moving is not.
	BodyStallTimeout     Duration `yaml:"body_stall_timeout"`
	SendStallTimeout     Duration `yaml:"send_stall_timeout"`
	MaxHeaderBytes       int      `yaml:"max_header_bytes"`
	MaxConcurrentStreams int      `yaml:"max_concurrent_streams"`
	MaxConnections       int      `yaml:"max_connections"`
}

// Admin is the operator listener: /metrics, /healthz, /readyz.
type Admin struct {
	Address string `yaml:"address"`
	// Pprof serves Go's profiler under /debug/pprof/ (off by default: it
	// exposes internals and can cost CPU; turn it on to investigate).
	Pprof bool `yaml:"pprof"`
	// APITokenFile enables the admin API (POST /api/ca/revoke) for callers
	// sending "Authorization: Bearer <token>" with the token in this file
	// (at least 32 characters). Without it the API is off.
	APITokenFile string `yaml:"api_token_file"`
}

// Upstream is a backend the gateway proxies to.
type Upstream struct {
	Name   string         `yaml:"name"`
	URL    string         `yaml:"url"`
	TLS    *UpstreamTLS   `yaml:"tls"`
	Limits UpstreamLimits `yaml:"limits"`
}

// UpstreamTLS configures the gateway's TLS client towards an upstream.
type UpstreamTLS struct {
	Cert               string `yaml:"cert"`
	Key                string `yaml:"key"`
	PasswordFile       string `yaml:"password_file"`
	PasswordEnv        string `yaml:"password_env"`
	CA                 string `yaml:"ca"`
	CAPasswordFile     string `yaml:"ca_password_file"`
	CAPasswordEnv      string `yaml:"ca_password_env"`
	ServerName         string `yaml:"server_name"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
}

// UpstreamLimits tune the connection pool and timeouts towards one upstream.
type UpstreamLimits struct {
	DialTimeout           Duration `yaml:"dial_timeout"`
	ResponseHeaderTimeout Duration `yaml:"response_header_timeout"`
	IdleConnTimeout       Duration `yaml:"idle_conn_timeout"`
	MaxIdleConnsPerHost   int      `yaml:"max_idle_conns_per_host"`
	MaxConnsPerHost       int      `yaml:"max_conns_per_host"`
}

// Route maps matching requests to an upstream with a client-cert policy.
type Route struct {
	Name       string      `yaml:"name"`
	Match      Match       `yaml:"match"`
	Upstream   string      `yaml:"upstream"`
	ClientCert string      `yaml:"client_cert"` // required | optional | none
	Allow      []AllowRule `yaml:"allow"`
	Forward    Forward     `yaml:"forward"`
	// Revocation tightens the listener's revocation rules for this route.
	Revocation *RouteRevocation `yaml:"revocation"`
	// RateLimit limits requests per client key (token bucket).
	RateLimit *RateLimit `yaml:"rate_limit"`
	// State is the route's lifecycle: draft | published (default) |
	// deprecated | retired.
	State string `yaml:"state"`
	// Preview lists who may call a draft route (same keys as allow);
	// everyone else gets 404 as if it did not exist.
	Preview []AllowRule `yaml:"preview"`
	// Deprecation sets the headers a deprecated route sends.
	Deprecation *Deprecation `yaml:"deprecation"`

	// Origin says where an imported route came from (routes_from[i] and
	// the spec path); problems are reported there. Not read from YAML.
	Origin string `yaml:"-"`
}

// RoutesFrom imports one API description.
type RoutesFrom struct {
	// OpenAPI is the document's file (JSON or YAML; OpenAPI 3.1, 3.0 or
	// Swagger 2.0), relative to the config file.
	OpenAPI string `yaml:"openapi"`
	// Upstream receives every imported operation.
	Upstream string `yaml:"upstream"`
	// Host restricts the imported routes to one host (match.host).
	Host string `yaml:"host"`
	// Unsecured is the client_cert of operations whose security does not
	// ask for mutualTLS: "" (default: the gateway's route default,
	// required) | required | optional | none.
	Unsecured string `yaml:"unsecured"`
	// NamePrefix is put before the name of every route imported from the
	// document (its operationId, else one made from method and path), e.g.
	// "billing.": two documents that share operationIds then give distinct
	// route names, as metrics, logs and statistics need.
	NamePrefix string `yaml:"name_prefix"`
	// Forward, RateLimit and State apply to every imported route.
	Forward   Forward    `yaml:"forward"`
	RateLimit *RateLimit `yaml:"rate_limit"`
}

// RateLimit is a token bucket per key: Requests per Per on average, with
// up to Burst at once (default Requests).
type RateLimit struct {
	Requests int      `yaml:"requests"`
	Per      Duration `yaml:"per"`
	Burst    int      `yaml:"burst"`
	// Key is identity (default: the certificate's subject, the IP for
	// requests without one) | fingerprint | ip | spiffe_id | subject.o.
	Key string `yaml:"key"`
}

// Rate-limit keys.
const (
	RateKeyIdentity    = "identity"
	RateKeyFingerprint = "fingerprint"
	RateKeyIP          = "ip"
	RateKeySPIFFEID    = "spiffe_id"
	RateKeySubjectO    = "subject.o"
)

// Route lifecycle states.
const (
	StateDraft      = "draft"
	StatePublished  = "published"
	StateDeprecated = "deprecated"
	StateRetired    = "retired"
)

// Deprecation describes a deprecated route (RFC 9745 Deprecation, RFC 8594
// Sunset headers).
type Deprecation struct {
	// Since is when the route was deprecated (RFC 3339); the Deprecation
	// header carries it. Default: the header says only that it is.
	Since string `yaml:"since"`
	// Sunset is when the route will stop answering (RFC 3339).
	Sunset string `yaml:"sunset"`
	// Successor is the URL of the replacement (Link rel="successor-version").
	Successor string `yaml:"successor"`
	// Info is a URL documenting the deprecation (Link rel="deprecation").
	Info string `yaml:"info"`
}

// RouteRevocation overrides a listener's revocation rules on one route.
type RouteRevocation struct {
	// OnUnavailable: fail_closed refuses (403) clients the listener let in
	// only because of its on_unavailable: fail_open. A route can tighten,
	// never loosen: the handshake has already applied the listener's rule.
	OnUnavailable string `yaml:"on_unavailable"`
}

// Match selects requests: all given fields must match.
type Match struct {
	Host       string `yaml:"host"`
	PathPrefix string `yaml:"path_prefix"`
	// Path matches one path exactly; "{name}" matches one segment (an
	// OpenAPI path template). Set path or path_prefix, not both.
	Path    string   `yaml:"path"`
	Methods []string `yaml:"methods"`
}

// AllowRule is one allow entry: every key given must match (globs allowed);
// entries of a route are OR'ed.
type AllowRule struct {
	CN                string `yaml:"cn"`
	O                 string `yaml:"o"`
	OU                string `yaml:"ou"`
	DNS               string `yaml:"dns"`
	URI               string `yaml:"uri"`
	Email             string `yaml:"email"`
	IP                string `yaml:"ip"`
	SPIFFEID          string `yaml:"spiffe_id"`
	FingerprintSHA256 string `yaml:"fingerprint_sha256"`
	IssuerCN          string `yaml:"issuer_cn"`
	Serial            string `yaml:"serial"`
}

// Forward says how the verified identity reaches the upstream.
type Forward struct {
	Format string `yaml:"format"` // rfc9440 (default) | xfcc | headers | none
}

// Log configures the gateway's logs.
type Log struct {
	Level  string `yaml:"level"`  // debug | info | warn | error
	Format string `yaml:"format"` // json (default) | text
	Access *bool  `yaml:"access"` // access log on (default true)
}

// CA configures the built-in certificate authority (see "mtlsgate ca").
type CA struct {
	// Dir is the CA directory made by "mtlsgate ca init".
	Dir string `yaml:"dir"`
	// ServeOn names the listener that publishes /ca/crl, /ca/ocsp,
	// /ca/root.pem and /ca/chain.pem. A listener without a tls block is
	// plain HTTP, the usual way to publish CRLs and OCSP.
	ServeOn string `yaml:"serve_on"`
	// AutoRenew renews the gateway's own listener and upstream client
	// certificates issued by this CA at 2/3 of their lifetime (default true).
	AutoRenew *bool `yaml:"auto_renew"`
	// RevocationPoll is how often serve looks for revocations made by other
	// processes (default 250ms; at most 1s so revocations apply within a
	// second).
	RevocationPoll Duration `yaml:"revocation_poll"`
}

// EST serves enrollment (RFC 7030) under /.well-known/est/ on a TLS
// listener, issuing from the built-in CA (the ca section).
type EST struct {
	// Listener names the TLS listener (client_auth: request lets
	// simplereenroll use the current certificate).
	Listener string `yaml:"listener"`
	// Profile is the CA profile for /.well-known/est/ without a label
	// (default client).
	Profile string `yaml:"profile"`
	// Labels select a profile: /.well-known/est/<label>/...
	Labels map[string]ESTLabel `yaml:"labels"`
	// Accounts may enroll with HTTP Basic.
	Accounts []ESTAccount `yaml:"accounts"`
	// RevokeSuperseded revokes the certificate a simplereenroll replaced
	// (reason superseded) once the new one is issued.
	RevokeSuperseded bool `yaml:"revoke_superseded"`
	// BootstrapCA: holders of a certificate from this CA (PEM bundle) may
	// simpleenroll, for the names allow_cn lists (bootstrap_allow_cn).
	BootstrapCA string `yaml:"bootstrap_ca"`
	// BootstrapAllowCN are the names a bootstrap certificate may ask for
	// (globs; default: only its own CN).
	BootstrapAllowCN []string `yaml:"bootstrap_allow_cn"`
	// Approval: "" or none (default: issue at once) | manual (every
	// simpleenroll waits in a queue for "mtlsgate est approve").
	Approval string `yaml:"approval"`
	// ServerKeygen enables /serverkeygen (the server makes the key).
	ServerKeygen bool `yaml:"server_keygen"`
	// RetryAfter is announced with 202 under manual approval: how long a
	// client waits before sending its request again (default 60s; 1s to
	// 24h, whole seconds).
	RetryAfter Duration `yaml:"retry_after"`
}

// ESTLabel maps an EST label to a CA profile.
type ESTLabel struct {
	Profile string `yaml:"profile"`
	// Approval overrides est.approval for this label.
	Approval string `yaml:"approval"`
}

// ESTAccount is an HTTP Basic credential for simpleenroll.
type ESTAccount struct {
	Username     string   `yaml:"username"`
	PasswordFile string   `yaml:"password_file"`
	AllowCN      []string `yaml:"allow_cn"` // globs: the names it may ask for
}

// EchoServer is a built-in upstream that answers every request with its
// method, path and the identity headers it received, as JSON. It requires
// client certificates from client_ca, like a real upstream behind the
// gateway should.
type EchoServer struct {
	Name    string `yaml:"name"`
	Address string `yaml:"address"`
	Cert    string `yaml:"cert"`
	Key     string `yaml:"key"`
	// ClientCA verifies the callers (the gateway's upstream certificate).
	ClientCA string `yaml:"client_ca"`
	// AllowCN, when set, admits only callers with one of these common
	// names, so clients of the same CA cannot bypass the gateway.
	AllowCN []string `yaml:"allow_cn"`
}

// Enumerations used by Validate and the gateway.
const (
	ClientAuthRequire = "require"
	ClientAuthRequest = "request"
	ClientAuthNone    = "none"

	ClientCertRequired = "required"
	ClientCertOptional = "optional"
	ClientCertNone     = "none"
)
