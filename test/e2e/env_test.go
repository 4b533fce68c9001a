package e2e

import (
	"strings"
	"testing"
)

// env is one test's world: its PKI, an mTLS upstream and a gateway.
type env struct {
	t  testing.TB
	p  *pki
	up *upstream
	g  *gatewayProc
}

// baseConfig is the config most tests run. Placeholders:
// {{CLIENT_AUTH}} (listener client_auth), {{UPSTREAM}} (upstream URL) and
// {{EXTRA}} (appended top-level YAML, e.g. an admin section).
//
// Routes: /api/secure/ allows alice of OU payments or any workload with a
// SPIFFE ID spiffe://example.org/ns/*/sa/orders and forwards RFC 9440;
// /api/xfcc/, /api/headers/ and /api/none/ allow CN alice and forward
// the other formats; /api/any/ takes any verified certificate; /public/
// needs none.
const baseConfig = `listeners:
  - name: public
    address: 127.0.0.1:0
    tls:
      cert: gateway.pem
      key: gateway.key
      client_ca: clients-ca.pem
      client_auth: {{CLIENT_AUTH}}
upstreams:
  - name: orders
    url: {{UPSTREAM}}
    tls:
      cert: gw-client.pem
      key: gw-client.key
      ca: backend-ca.pem
      server_name: orders.internal
routes:
  - name: secure-api
    match: {path_prefix: /api/secure/, methods: [GET, POST]}
    upstream: orders
    client_cert: required
    allow:
      - {cn: alice, ou: payments}
      - {uri: "spiffe://example.org/ns/*/sa/orders"}
    forward: {format: rfc9440}
  - name: xfcc-api
    match: {path_prefix: /api/xfcc/}
    upstream: orders
    allow: [{cn: alice}]
    forward: {format: xfcc}
  - name: headers-api
    match: {path_prefix: /api/headers/}
    upstream: orders
    allow: [{cn: alice}]
    forward: {format: headers}
  - name: none-api
    match: {path_prefix: /api/none/}
    upstream: orders
    allow: [{cn: alice}]
    forward: {format: none}
  - name: any-cert
    match: {path_prefix: /api/any/}
    upstream: orders
  - name: public-docs
    match: {path_prefix: /public/}
    upstream: orders
    client_cert: none
{{EXTRA}}`

// fill replaces {{KEY}} placeholders; CLIENT_AUTH defaults to request and
// EXTRA to nothing.
func fill(tmpl string, kv map[string]string) string {
	if _, ok := kv["CLIENT_AUTH"]; !ok {
		tmpl = strings.ReplaceAll(tmpl, "{{CLIENT_AUTH}}", "request")
	}
	if _, ok := kv["EXTRA"]; !ok {
		tmpl = strings.ReplaceAll(tmpl, "{{EXTRA}}", "")
	}
	for k, v := range kv {
		tmpl = strings.ReplaceAll(tmpl, "{{"+k+"}}", v)
	}
	return tmpl
}

// newEnv mints a PKI, starts an upstream that accepts the gateway's client
// certificate, and runs the gateway with tmpl filled from kv (UPSTREAM is
// set here).
func newEnv(t testing.TB, tmpl string, kv map[string]string) *env {
	t.Helper()
	p := newPKI(t)
	up := newUpstream(t, p, p.gwClientCA)
	if kv == nil {
		kv = map[string]string{}
	}
	kv["UPSTREAM"] = up.URL()
	g := startGateway(t, p.dir, fill(tmpl, kv))
	return &env{t: t, p: p, up: up, g: g}
}
