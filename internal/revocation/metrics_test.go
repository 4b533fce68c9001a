package revocation

import (
	"crypto/x509"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mtlsgate/mtlsgate/internal/testpki"
)

func TestMetrics(t *testing.T) {
	ca := testpki.NewRootCA(t, "Metrics CA")
	good := ca.Issue(t, testpki.Options{CN: "good"})
	bad := ca.Issue(t, testpki.Options{CN: "bad"})
	next := time.Now().Add(time.Hour).Truncate(time.Second)
	path := testpki.WriteFile(t, t.TempDir(), "m.crl", goCRL(t, ca.Cert, ca.Key, x509.RevocationList{NextUpdate: next,
		RevokedCertificateEntries: []x509.RevocationListEntry{{SerialNumber: bad.Cert.SerialNumber, RevocationTime: time.Now()}}}))
	other := testpki.NewRootCA(t, "Unknown CA")
	stranger := other.Issue(t, testpki.Options{CN: "stranger"})

	reg := prometheus.NewPedanticRegistry()
	c1 := newChecker(t, Config{Name: "public", CRLs: []CRLSource{{File: path}}, OnUnavailable: FailOpen})
	c2 := newChecker(t, Config{Name: "partners", CRLs: []CRLSource{{File: path}}})
	reg.MustRegister(c1, c2)

	c1.Check([]*x509.Certificate{good.Cert, ca.Cert})
	c1.Check([]*x509.Certificate{good.Cert, ca.Cert})
	c1.Check([]*x509.Certificate{bad.Cert, ca.Cert})
	c1.Check([]*x509.Certificate{stranger.Cert, other.Cert})

	mfs, err := reg.Gather() // the pedantic registry checks descriptors and values
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			key := strings.TrimPrefix(mf.GetName(), "mtlsgate_revocation_")
			for _, lp := range m.GetLabel() {
				key += "," + lp.GetName() + "=" + lp.GetValue()
			}
			switch {
			case m.GetGauge() != nil:
				got[key] = m.GetGauge().GetValue()
			case m.GetCounter() != nil:
				got[key] = m.GetCounter().GetValue()
			}
		}
	}
	for key, v := range map[string]float64{
		"crl_entries,listener=public,source=" + path:                       1,
		"crl_entries,listener=partners,source=" + path:                     1,
		"crl_next_update_timestamp_seconds,listener=public,source=" + path: float64(next.Unix()),
		"crl_loads_total,listener=public,result=ok,source=" + path:         1,
		"crl_loads_total,listener=public,result=error,source=" + path:      0,
		"decisions_total,code=ok,listener=public":                          2,
		"decisions_total,code=revoked,listener=public":                     1,
		"decisions_total,code=crl_unavailable,listener=public":             1,
		"decisions_total,code=ok,listener=partners":                        0,
		"fail_open_total,listener=public":                                  1,
		"ocsp_requests_total,listener=public,result=hit":                   0,
		"ocsp_cache_entries,listener=public":                               0,
	} {
		if g, ok := got[key]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", key, g, ok, v)
		}
	}
	for _, key := range []string{"crl_age_seconds,listener=public,source=" + path, "crl_last_success_timestamp_seconds,listener=public,source=" + path} {
		if got[key] <= 0 {
			t.Errorf("%s = %v", key, got[key])
		}
	}
}
