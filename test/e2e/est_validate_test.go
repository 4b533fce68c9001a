package e2e

import (
	"os"
	"strings"
	"testing"
	"time"
)

// TestESTValidate: `mtlsgate validate` reports the est section's mistakes
// with their paths: approval values, retry_after, globs, bootstrap settings
// (including a bootstrap_ca file that is missing or not a CA).
func TestESTValidate(t *testing.T) {
	t.Parallel()
	s := runInit(t)
	base, err := os.ReadFile(s.path("mtlsgate.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	check := func(name, est string, want ...string) {
		t.Helper()
		path := s.path(name + ".yaml")
		if err := os.WriteFile(path, append(append([]byte{}, base...), est...), 0o600); err != nil {
			t.Fatal(err)
		}
		code, _, stderr := runBinary(t, 30*time.Second, "validate", "-c", path)
		checkNoCrash(t, "validate", stderr)
		if code == 0 {
			t.Fatalf("%s: validate accepted it", name)
		}
		for _, w := range want {
			if !strings.Contains(stderr, w) {
				t.Errorf("%s: stderr lacks %q:\n%s", name, w, stderr)
			}
		}
	}
	check("values", `
est:
  listener: public
  approval: sometimes
  retry_after: 500ms
  bootstrap_allow_cn: ["device-*"]
  labels:
    iot: {profile: client, approval: maybe}
  accounts:
    - username: a
      password_file: est.pw
      allow_cn: ["[bad"]
`, "est.approval", "sometimes", "est.retry_after", "est.labels.iot.approval", "maybe",
		"est.bootstrap_allow_cn", "only with bootstrap_ca", "est.accounts[0].allow_cn[0]", "[bad")
	check("missing", `
est:
  listener: public
  bootstrap_ca: nowhere.pem
`, "est.bootstrap_ca", "nowhere.pem")
	check("not-a-ca", `
est:
  listener: public
  bootstrap_ca: gateway.pem
`, "est.bootstrap_ca", "not a CA certificate")
}
