package gateway

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/mtlsgate/mtlsgate/internal/config"
	"github.com/mtlsgate/mtlsgate/internal/identity"
	"github.com/mtlsgate/mtlsgate/internal/policy"
	"github.com/mtlsgate/mtlsgate/internal/ratelimit"
	"github.com/prometheus/client_golang/prometheus"
)

// maxRateKeys bounds the token buckets one route keeps: a client cycling
// certificates or addresses evicts the least recently used buckets instead
// of growing memory (about 100 bytes a key).
const maxRateKeys = 100_000

// routeLimits is a route's rate limit: the limiter, kept across reloads
// while the route's limit is unchanged, and how the key is chosen.
type routeLimits struct {
	limiter *ratelimit.Local
	policy  ratelimit.Policy
	key     string
	// spec identifies the configuration, to reuse the limiter on reload.
	spec    string
	limited prometheus.Counter
}

// lifecycle is what a route's state adds to dispatch.
type lifecycle struct {
	state   string
	preview *policy.Policy // draft: who may call
	// headers are sent on every response of a deprecated route.
	headers    [][2]string
	deprecated prometheus.Counter
}

// buildLimits compiles rate_limit, reusing the previous state's limiter for
// the same route and limit so a reload does not hand out fresh buckets.
func buildLimits(rc *config.Route, deps buildDeps) (*routeLimits, error) {
	rl := rc.RateLimit
	if rl == nil {
		return nil, nil
	}
	p := ratelimit.Policy{Name: rc.Name, Requests: rl.Requests, Per: rl.Per.D(), Burst: rl.Burst}
	spec := fmt.Sprintf("%d/%s/%d/%s", rl.Requests, rl.Per.D(), rl.Burst, rl.Key)
	if prev := deps.previous; prev != nil {
		if old := prev.byName[rc.Name]; old != nil && old.limits != nil && old.limits.spec == spec {
			return old.limits, nil
		}
	}
	l, err := ratelimit.NewLocal(p, maxRateKeys)
	if err != nil {
		return nil, &config.FieldError{Path: "rate_limit", Err: err}
	}
	return &routeLimits{limiter: l, policy: p, key: rl.Key, spec: spec,
		limited: deps.metrics.RateLimited.WithLabelValues(rc.Name)}, nil
}

// buildLifecycle compiles a route's state, preview list and deprecation
// headers.
func buildLifecycle(rc *config.Route, deps buildDeps) (*lifecycle, error) {
	lc := &lifecycle{state: rc.State}
	if len(rc.Preview) > 0 {
		p, err := policy.Compile(allowRules(rc.Preview))
		if err != nil {
			return nil, prefixProblems("preview", policyProblems(err))
		}
		lc.preview = p
	}
	if d := rc.Deprecation; d != nil && rc.State == config.StateDeprecated {
		if t, err := time.Parse(time.RFC3339, d.Since); err == nil {
			// RFC 9745: an sf-date, seconds since the epoch.
			lc.headers = append(lc.headers, [2]string{"Deprecation", fmt.Sprintf("@%d", t.Unix())})
		}
		if t, err := time.Parse(time.RFC3339, d.Sunset); err == nil {
			lc.headers = append(lc.headers, [2]string{"Sunset", t.UTC().Format(http.TimeFormat)})
		}
		if d.Successor != "" {
			lc.headers = append(lc.headers, [2]string{"Link", "<" + d.Successor + `>; rel="successor-version"`})
		}
		if d.Info != "" {
			lc.headers = append(lc.headers, [2]string{"Link", "<" + d.Info + `>; rel="deprecation"`})
		}
	}
	if rc.State == config.StateDeprecated {
		lc.deprecated = deps.metrics.DeprecatedCalls.WithLabelValues(rc.Name)
	}
	return lc, nil
}

func allowRules(as []config.AllowRule) []policy.Rule {
	rules := make([]policy.Rule, len(as))
	for i, a := range as {
		rules[i] = policy.Rule{CN: a.CN, O: a.O, OU: a.OU, DNS: a.DNS, URI: a.URI, Email: a.Email, IP: a.IP,
			SPIFFEID: a.SPIFFEID, FingerprintSHA256: a.FingerprintSHA256, IssuerCN: a.IssuerCN, Serial: a.Serial}
	}
	return rules
}

// prefixProblems re-roots problems found in a sub-list ("allow[0].cn")
// under another key ("preview[0].cn").
func prefixProblems(key string, err error) error {
	var out config.Problems
	for _, p := range config.AsProblems(err) {
		path := key + strings.TrimPrefix(p.Path, "allow")
		out = append(out, &config.FieldError{Path: path, Err: p.Err})
	}
	return out
}

// rateKey is the bucket a request counts against. Keys that need a
// certificate fall back to the client's address for requests without one
// (prefixed so they cannot collide with certificate values).
func rateKey(kind string, id *identity.Identity, r *http.Request) string {
	if id != nil {
		switch kind {
		case config.RateKeyIdentity:
			return id.Subject
		case config.RateKeyFingerprint:
			return id.FingerprintSHA256
		case config.RateKeySPIFFEID:
			if id.SPIFFEID != "" {
				return id.SPIFFEID
			}
		case config.RateKeySubjectO:
			if len(id.Organization) > 0 {
				return "o=" + strings.Join(id.Organization, ",")
			}
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if kind == config.RateKeyIP {
		return host
	}
	return "ip " + host
}

// admitLifecycle applies a route's state before authorisation: retired
// routes answer 410, drafts 404 to anyone not on the preview list. It
// reports whether the request may go on.
func (g *Gateway) admitLifecycle(st *state, ci *connInfo, rw *recorder, r *http.Request, rs *routeState) bool {
	lc := rs.lifecycle
	switch lc.state {
	case config.StateRetired:
		g.refuse(rw, r, rs, http.StatusGone, "route_retired", "this API has been retired and no longer answers")
		return false
	case config.StateDraft:
		id := g.identity(st, ci)
		if id == nil || lc.preview == nil {
			g.refuse(rw, r, nil, http.StatusNotFound, "no_route", "no route matches this host and path")
			return false
		}
		if ok, _ := lc.preview.Allowed(id); !ok {
			g.refuse(rw, r, nil, http.StatusNotFound, "no_route", "no route matches this host and path")
			return false
		}
	case config.StateDeprecated:
		lc.deprecated.Inc()
		h := rw.Header()
		for _, kv := range lc.headers {
			h.Add(kv[0], kv[1])
		}
	}
	return true
}

// admitRate takes a token from the route's limiter; over the limit it
// answers 429 with Retry-After and the RateLimit headers.
func (g *Gateway) admitRate(st *state, ci *connInfo, rw *recorder, r *http.Request, rs *routeState) bool {
	lim := rs.limits
	if lim == nil {
		return true
	}
	var id *identity.Identity
	if len(ci.peer) > 0 {
		id = g.identity(st, ci)
	}
	d := lim.limiter.Allow(rateKey(lim.key, id, r), g.now())
	ratelimit.SetHeaders(rw.Header(), lim.policy, d)
	if d.Allowed {
		return true
	}
	lim.limited.Inc()
	secs := int((d.RetryAfter + time.Second - 1) / time.Second)
	g.refuse(rw, r, rs, http.StatusTooManyRequests, "rate_limited",
		fmt.Sprintf("this client sent more than %d requests per %s on this route; retry in %d s", lim.policy.Requests, lim.policy.Per, secs))
	return false
}

// rateLimitCollector exports the size of every route's limiter when
// Prometheus scrapes, from the published state.
type rateLimitCollector struct{ g *Gateway }

var (
	rateKeysDesc = prometheus.NewDesc("mtlsgate_rate_limit_keys",
		"Client keys (identities, addresses) with a token bucket in memory, by route.", []string{"route"}, nil)
	rateEvictedDesc = prometheus.NewDesc("mtlsgate_rate_limit_evictions_total",
		"Token buckets dropped to keep the per-route bound (a dropped key starts again with a full bucket), by route.", []string{"route"}, nil)
)

func (c rateLimitCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- rateKeysDesc
	ch <- rateEvictedDesc
}

func (c rateLimitCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.g.state.Load()
	if st == nil {
		return
	}
	for name, rs := range st.byName {
		if rs.limits == nil {
			continue
		}
		ch <- prometheus.MustNewConstMetric(rateKeysDesc, prometheus.GaugeValue, float64(rs.limits.limiter.Len()), name)
		ch <- prometheus.MustNewConstMetric(rateEvictedDesc, prometheus.CounterValue, float64(rs.limits.limiter.Evictions()), name)
	}
}
