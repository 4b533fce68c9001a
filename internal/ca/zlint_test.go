package ca

import (
	"context"
	"crypto/x509"
	"sort"
	"testing"
	"time"

	zx509 "github.com/zmap/zcrypto/x509"
	"github.com/zmap/zlint/v3"
	"github.com/zmap/zlint/v3/lint"
)

// TestZlint runs every zlint lint on the root, the issuing CA, a client, a
// server, an upstream and the OCSP responder certificate, for each key type,
// and fails on any error or fatal result. Warnings are logged.
//
// The CA/Browser Forum, Mozilla, Apple and ETSI lint sources are about
// publicly trusted Web PKI certificates (policy OIDs, organisation
// validation, CT); a private mTLS CA is out of their scope, so only RFC 5280
// and the other general sources decide here.
func TestZlint(t *testing.T) {
	registry, err := lint.GlobalRegistry().Filter(lint.FilterOptions{
		ExcludeSources: lint.SourceList{lint.CABFBaselineRequirements, lint.CABFEVGuidelines, lint.CABFSMIMEBaselineRequirements,
			lint.MozillaRootStorePolicy, lint.AppleRootStorePolicy, lint.EtsiEsi, lint.CABFCSBaselineRequirements},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, kt := range []KeyType{ECDSAP256, ECDSAP384, RSA2048, Ed25519} {
		t.Run(string(kt), func(t *testing.T) {
			a := newTestCA(t, InitOptions{KeyType: kt, Name: "Acme", PublishURL: "http://pki.example.com:8080"})
			sans, _ := ParseSANs([]string{"dns:api.example.com,ip:127.0.0.1"})
			spiffe, _ := ParseSANs([]string{"uri:spiffe://example.org/svc,email:ops@example.com"})
			certs := map[string]*x509.Certificate{
				"root":         a.Root(),
				"intermediate": a.Intermediate(),
				"server":       issue(t, a, IssueRequest{Profile: "server", CN: "api.example.com", SANs: sans, KeyType: kt}).Cert,
				"client":       issue(t, a, IssueRequest{Profile: "client", CN: "alice", O: []string{"Acme"}, OU: []string{"payments"}, SANs: spiffe, KeyType: kt}).Cert,
				"upstream":     issue(t, a, IssueRequest{Profile: "upstream", CN: "gateway", KeyType: kt}).Cert,
			}
			ocsp, _, err := a.NewOCSPSigner(context.Background(), 7*24*time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			certs["ocsp-responder"] = ocsp
			for name, c := range certs {
				zc, err := zx509.ParseCertificate(c.Raw)
				if err != nil {
					t.Fatalf("%s: zcrypto cannot parse: %v", name, err)
				}
				res := zlint.LintCertificateEx(zc, registry)
				var errs, warns []string
				for lintName, r := range res.Results {
					switch r.Status {
					case lint.Error, lint.Fatal:
						errs = append(errs, lintName+": "+r.Details)
					case lint.Warn:
						warns = append(warns, lintName)
					}
				}
				sort.Strings(errs)
				sort.Strings(warns)
				for _, e := range errs {
					t.Errorf("%s certificate: zlint error %s", name, e)
				}
				if len(warns) > 0 {
					t.Logf("%s certificate: zlint warnings %v", name, warns)
				}
			}
		})
	}
}
