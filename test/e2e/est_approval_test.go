package e2e

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"
)

// estSetup is an init setup served with an est section.
type estSetup struct {
	initSetup
	base string   // https://listen/.well-known/est/
	ca   []string // curl's --cacert
}

// serveEST serves an init setup with estYAML appended (an est section
// whose account estuser has the password enroll-s3cret).
func serveEST(t *testing.T, estYAML string) estSetup {
	t.Helper()
	s := runInit(t)
	if err := os.WriteFile(s.path("est.pw"), []byte("enroll-s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	serveInit(t, s, func(y string) string { return y + estYAML })
	return estSetup{initSetup: s, base: "https://" + s.listen + "/.well-known/est/", ca: []string{"--cacert", s.path("pki", "root.pem")}}
}

// csr makes a key and CSR for cn with openssl and returns the base64 DER
// file curl posts.
func (s estSetup) csr(t *testing.T, cn string) string {
	t.Helper()
	mustOpenSSL(t, "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
		"-keyout", s.path(cn+".key"), "-subj", "/CN="+cn, "-outform", "DER", "-out", s.path(cn+".csr"))
	der, err := os.ReadFile(s.path(cn + ".csr"))
	if err != nil {
		t.Fatal(err)
	}
	b64 := s.path(cn + ".b64")
	if err := os.WriteFile(b64, []byte(base64.StdEncoding.EncodeToString(der)), 0o644); err != nil {
		t.Fatal(err)
	}
	return b64
}

// post sends file to operation with curl.
func (s estSetup) post(t *testing.T, op, file string, extra ...string) curlResult {
	t.Helper()
	args := append(append([]string{}, s.ca...), extra...)
	return runCurl(t, append(args, "-H", "Content-Type: application/pkcs10", "--data-binary", "@"+file, s.base+op)...)
}

// printCerts is `openssl pkcs7 -print_certs` of a certs-only body.
func (s estSetup) printCerts(t *testing.T, name, body string) string {
	t.Helper()
	der, err := base64.StdEncoding.DecodeString(strings.TrimSpace(body))
	if err != nil {
		t.Fatalf("%s: body is not base64: %v", name, err)
	}
	if err := os.WriteFile(s.path(name+".p7"), der, 0o644); err != nil {
		t.Fatal(err)
	}
	return mustOpenSSL(t, "pkcs7", "-inform", "DER", "-in", s.path(name+".p7"), "-print_certs")
}

var pendingID = regexp.MustCompile(`request ([0-9a-f]{16}) is waiting`)

// TestESTManualApproval: under est.approval manual, curl's simpleenroll is
// answered 202 with Retry-After; `mtlsgate est pending` lists it; after
// `est approve` the same request gets the certificate (every time); after
// `est reject` another gets 403 with the reason. Bad input: unknown IDs,
// deciding twice, an expired request.
func TestESTManualApproval(t *testing.T) {
	t.Parallel()
	needTool(t, "curl")
	s := serveEST(t, `
est:
  listener: public
  approval: manual
  labels:
    open: {profile: client, approval: none}
  accounts:
    - username: estuser
      password_file: est.pw
      allow_cn: ["device-*"]
`)
	pki := s.path("pki")
	user := []string{"-u", "estuser:enroll-s3cret"}
	csr := s.csr(t, "device-20")
	r := s.post(t, "simpleenroll", csr, user...)
	expect(t, "simpleenroll under approval", r, 202)
	m := pendingID.FindStringSubmatch(r.body)
	if m == nil || r.header.Get("Retry-After") == "" {
		t.Fatalf("202 without a request ID or Retry-After: %s %v", r, r.header)
	}
	id := m[1]
	if again := s.post(t, "simpleenroll", csr, user...); again.status != 202 || !strings.Contains(again.body, id) {
		t.Fatalf("retry before approval: %s", again)
	}
	// serverkeygen is off unless est.server_keygen is set.
	if r := s.post(t, "serverkeygen", csr, user...); r.status != 501 {
		t.Fatalf("serverkeygen without server_keygen: %s", r)
	}
	// The label with approval: none issues at once.
	expect(t, "label without approval", s.post(t, "open/simpleenroll", s.csr(t, "device-21"), user...), 200)

	out := mustRun(t, "est", "pending", "--dir", pki)
	if !strings.Contains(out, id) || !strings.Contains(out, "device-20") || !strings.Contains(out, "basic:estuser") ||
		!strings.Contains(out, "ecdsa-p256") || !strings.Contains(out, "-/client") || strings.Count(strings.TrimSpace(out), "\n") != 1 {
		t.Fatalf("est pending:\n%s", out)
	}
	var listed []map[string]any
	if err := json.Unmarshal([]byte(mustRun(t, "est", "pending", "--dir", pki, "--json")), &listed); err != nil || len(listed) != 1 || listed[0]["id"] != id || listed[0]["status"] != "pending" {
		t.Fatalf("est pending --json: %v %v", listed, err)
	}

	// Bad input.
	if _, errOut := mustFail(t, "est", "approve", "--dir", pki, "00000000deadbeef"); !strings.Contains(errOut, "no EST request") {
		t.Fatalf("approve unknown ID: %s", errOut)
	}
	mustFail(t, "est", "approve", "--dir", pki, "'; DROP TABLE pending; --")
	mustFail(t, "est", "approve", "--dir", pki)

	if out := mustRun(t, "est", "approve", "--dir", pki, id); !strings.Contains(out, "approved "+id) {
		t.Fatalf("est approve: %s", out)
	}
	if _, errOut := mustFail(t, "est", "approve", "--dir", pki, id); !strings.Contains(errOut, "already approved") {
		t.Fatalf("approve twice: %s", errOut)
	}
	if _, errOut := mustFail(t, "est", "reject", "--dir", pki, id); !strings.Contains(errOut, "already approved") {
		t.Fatalf("reject an approved request: %s", errOut)
	}
	r = s.post(t, "simpleenroll", csr, user...)
	expect(t, "retry after approval", r, 200)
	certs := s.printCerts(t, "device-20", r.body)
	if !strings.Contains(certs, "CN = device-20") {
		t.Fatalf("issued:\n%s", certs)
	}
	if again := s.post(t, "simpleenroll", csr, user...); again.status != 200 || again.body != r.body {
		t.Fatalf("a second retry did not return the same certificate: %s", again)
	}
	if n := strings.Count(caRun(t, pki, "list"), "device-20"); n != 1 {
		t.Fatalf("%d certificates for device-20", n)
	}

	// Reject: the device's retry gets 403 with the reason.
	csr2 := s.csr(t, "device-22")
	id2 := pendingID.FindStringSubmatch(s.post(t, "simpleenroll", csr2, user...).body)[1]
	mustRun(t, "est", "reject", "--dir", pki, id2, "--reason", "not in the inventory")
	r = s.post(t, "simpleenroll", csr2, user...)
	if r.status != 403 || !strings.Contains(r.body, "not in the inventory") {
		t.Fatalf("retry after rejection: %s", r)
	}

	// An expired request can no longer be decided, and is no longer listed
	// (without --all). Requests expire after 7 days; age this one.
	id3 := pendingID.FindStringSubmatch(s.post(t, "simpleenroll", s.csr(t, "device-23"), user...).body)[1]
	db, err := sql.Open("sqlite", s.path("pki", "ca.db")+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("UPDATE pending SET expires_at = ? WHERE id = ?", time.Now().Add(-time.Minute).UnixNano(), id3); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, errOut := mustFail(t, "est", "approve", "--dir", pki, id3); !strings.Contains(errOut, "expired") {
		t.Fatalf("approve an expired request: %s", errOut)
	}
	if out := mustRun(t, "est", "pending", "--dir", pki); strings.Contains(out, id3) {
		t.Fatalf("expired request listed:\n%s", out)
	}
	all := mustRun(t, "est", "pending", "--dir", pki, "--all")
	for _, want := range []string{id + ".*approved", id2 + ".*rejected", id3 + ".*expired"} {
		if !regexp.MustCompile(want).MatchString(all) {
			t.Errorf("est pending --all lacks %q:\n%s", want, all)
		}
	}
	audit := caRun(t, pki, "audit")
	for _, want := range []string{"est-queue", "est-approve", "est-reject"} {
		if !strings.Contains(audit, want) {
			t.Errorf("audit log lacks %s:\n%s", want, audit)
		}
	}
}

// TestESTApprovalStrongSwan: strongSwan's `pki --est` polls under manual
// approval until an operator approves, then writes the certificate. It
// waits what Retry-After says (est.retry_after), not its --interval, when
// the server sends one; --maxpolltime bounds the wait. strongSwan 5.9
// cannot address EST labels (it always posts to
// <url>/.well-known/est/simpleenroll), so approval is set for requests
// without a label.
func TestESTApprovalStrongSwan(t *testing.T) {
	t.Parallel()
	needTool(t, "pki")
	s := serveEST(t, `
est:
  listener: public
  approval: manual
  retry_after: 2s
  accounts:
    - username: estuser
      password_file: est.pw
      allow_cn: ["device-*"]
`)
	pki := s.path("pki")
	run := func(args ...string) []byte {
		t.Helper()
		out, err := exec.Command("pki", args...).Output()
		if err != nil {
			t.Fatalf("pki %v: %v", args, err)
		}
		return out
	}
	if err := os.WriteFile(s.path("ss.key"), run("--gen", "--type", "ecdsa", "--size", "256", "--outform", "pem"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.path("ss.csr"), run("--req", "--in", s.path("ss.key"), "--type", "ecdsa", "--dn", "CN=device-ss"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "pki", "--est", "--url", "https://"+s.listen,
		"--cacert", s.path("pki", "root.pem"), "--cacert", s.path("pki", "intermediate.pem"),
		"--in", s.path("ss.csr"), "--userpass", "estuser:enroll-s3cret", "--interval", "1", "--maxpolltime", "60")
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var id string
	for deadline := time.Now().Add(20 * time.Second); id == ""; {
		if m := regexp.MustCompile(`(?m)^([0-9a-f]{16})\s.*device-ss`).FindStringSubmatch(mustRun(t, "est", "pending", "--dir", pki)); m != nil {
			id = m[1]
			break
		}
		select {
		case err := <-done:
			t.Fatalf("pki --est ended before approval: %v\n%s", err, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("strongSwan's request never showed up in est pending\n%s", stderr.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(1500 * time.Millisecond) // let it poll at least once more
	mustRun(t, "est", "approve", "--dir", pki, id)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("pki --est: %v\n%s", err, stderr.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("pki --est did not pick up the approved certificate\n%s", stderr.String())
	}
	if !strings.Contains(stderr.String(), "polling every 2 seconds") {
		t.Errorf("pki --est did not follow Retry-After:\n%s", stderr.String())
	}
	if err := os.WriteFile(s.path("ss.der"), []byte(stdout.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if out := mustOpenSSL(t, "x509", "-inform", "DER", "-in", s.path("ss.der"), "-noout", "-subject"); !strings.Contains(out, "device-ss") {
		t.Fatalf("strongSwan got: %s", out)
	}
	if n := strings.Count(caRun(t, pki, "list"), "device-ss"); n != 1 {
		t.Fatalf("%d certificates for device-ss", n)
	}
}
