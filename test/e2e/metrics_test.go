package e2e

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mtlsgate/mtlsgate/internal/testpki"
)

// metricValue returns the value of the series name{labels} in a Prometheus
// text exposition, and whether it is there. Labels must match exactly.
func metricValue(text, name string, labels map[string]string) (float64, bool) {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		series, val := line[:i], line[i+1:]
		got := map[string]string{}
		if i := strings.IndexByte(series, '{'); i >= 0 {
			for _, pair := range splitLabels(strings.TrimSuffix(series[i+1:], "}")) {
				k, v, _ := strings.Cut(pair, "=")
				got[k] = strings.Trim(v, `"`)
			}
		}
		if len(got) != len(labels) {
			continue
		}
		match := true
		for _, k := range keys {
			if got[k] != labels[k] {
				match = false
			}
		}
		if match {
			f, err := strconv.ParseFloat(val, 64)
			return f, err == nil
		}
	}
	return 0, false
}

// splitLabels splits `a="x",b="y,z"` on the commas between pairs.
func splitLabels(s string) []string {
	var out []string
	inQuote, start := false, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			inQuote = !inQuote
		case ',':
			if !inQuote {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	if start < len(s) {
		out = append(out, s[start:])
	}
	return out
}

// TestMetrics: after allowed, unauthenticated, forbidden and spoofing
// requests, an expired-certificate handshake and a reload, the admin
// listener's /metrics counts each by route and code or by reason, and
// /healthz and /readyz answer.
func TestMetrics(t *testing.T) {
	t.Parallel()
	admin := freePort(t)
	e := newEnv(t, baseConfig, map[string]string{"EXTRA": "admin:\n  address: " + admin + "\n"})
	alice := e.p.client(t, "alice", testpki.Options{CN: "alice", OU: []string{"payments"}})
	bob := e.p.client(t, "bob", testpki.Options{CN: "bob"})
	old := e.p.client(t, "old", testpki.Options{CN: "old", NotBefore: time.Now().Add(-72 * time.Hour), NotAfter: time.Now().Add(-48 * time.Hour)})

	for i := 0; i < 3; i++ {
		expect(t, "alice", e.curl(&alice, "/api/secure/m"), 200)
	}
	expect(t, "alice POST", e.curl(&alice, "/api/secure/m", "--data-binary", "x"), 200)
	expect(t, "no cert", e.curl(nil, "/api/secure/m"), 401)
	expect(t, "no cert", e.curl(nil, "/api/secure/m"), 401)
	expect(t, "bob", e.curl(&bob, "/api/secure/m"), 403)
	expect(t, "no route", e.curl(&alice, "/nowhere"), 404)
	expect(t, "spoof", e.curl(&alice, "/api/secure/m", "-H", "Client-Cert: :Zm9yZ2Vk:", "-H", "X-Client-Cert-Subject: CN=root"), 200)
	if r := e.curl(&old, "/api/secure/m"); r.exit == 0 {
		t.Fatalf("expired certificate accepted: %s", r)
	}
	before := e.g.countLogs("configuration reloaded")
	e.g.Signal(syscall.SIGHUP)
	waitCount(t, e.g, "configuration reloaded", before)

	want := []struct {
		name   string
		labels map[string]string
		value  float64
	}{
		{"mtlsgate_requests_total", map[string]string{"route": "secure-api", "method": "GET", "code": "200"}, 4},
		{"mtlsgate_requests_total", map[string]string{"route": "secure-api", "method": "POST", "code": "200"}, 1},
		{"mtlsgate_requests_total", map[string]string{"route": "secure-api", "method": "GET", "code": "401"}, 2},
		{"mtlsgate_requests_total", map[string]string{"route": "secure-api", "method": "GET", "code": "403"}, 1},
		{"mtlsgate_requests_total", map[string]string{"route": "", "method": "GET", "code": "404"}, 1},
		{"mtlsgate_tls_handshake_failures_total", map[string]string{"listener": "public", "reason": "expired"}, 1},
		{"mtlsgate_stripped_identity_headers_total", map[string]string{"route": "secure-api"}, 2},
		{"mtlsgate_config_reloads_total", map[string]string{"result": "success"}, 2},
	}
	var text string
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := runCurl(t, "http://"+admin+"/metrics")
		expect(t, "/metrics", r, 200)
		text = r.body
		var missing []string
		for _, w := range want {
			if v, ok := metricValue(text, w.name, w.labels); !ok || v != w.value {
				missing = append(missing, fmt.Sprintf("%s%v = %v (present %v), want %v", w.name, w.labels, v, ok, w.value))
			}
		}
		if len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics wrong:\n%s\n\nexposition:\n%s", strings.Join(missing, "\n"), text)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Client certificate expiry is tracked per identity seen.
	aliceSubject := alice.leaf.Cert.Subject.String()
	v, ok := metricValue(text, "mtlsgate_client_cert_expiry_seconds", map[string]string{"subject": aliceSubject, "serial": alice.leaf.Cert.SerialNumber.Text(16)})
	if remaining := time.Until(alice.leaf.Cert.NotAfter).Seconds(); !ok || v <= 0 || v > remaining+60 {
		t.Errorf("mtlsgate_client_cert_expiry_seconds for %s = %v (present %v), want about %.0f", aliceSubject, v, ok, remaining)
	}
	for path, body := range map[string]string{"/healthz": "ok\n", "/readyz": "ready\n"} {
		r := runCurl(t, "http://"+admin+path)
		if r.status != 200 || r.body != body {
			t.Errorf("%s: %s", path, r)
		}
	}
}
