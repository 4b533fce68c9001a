package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// curlResult is one curl run.
type curlResult struct {
	exit          int         // curl's exit status (0: a response was received)
	status        int         // HTTP status, 0 when there was no response
	contentType   string      // response Content-Type
	httpVersion   string      // "1.1", "2"
	header        http.Header // response header fields (of the final response)
	trailer       http.Header // response trailer fields
	informational []int       // 1xx statuses received before the final one
	body          string
	stderr        string
}

// problem decodes a problem+json body.
func (r curlResult) problem(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(r.body), &m); err != nil {
		t.Fatalf("body is not JSON (%v): %q", err, r.body)
	}
	return m
}

// String summarises the result for failure messages.
func (r curlResult) String() string {
	return "curl exit " + strconv.Itoa(r.exit) + ", HTTP " + strconv.Itoa(r.status) +
		" " + r.contentType + "\nbody: " + r.body + "\nstderr: " + r.stderr
}

// runCurl runs curl -sS with a 10s limit on the transfer (and 20s on the
// process) and returns what it saw. It never fails the test on a curl
// error: handshake failures are expected results in some tests.
func runCurl(t testing.TB, args ...string) curlResult {
	t.Helper()
	curl := needTool(t, "curl")
	dir := t.TempDir()
	bodyFile, headFile := filepath.Join(dir, "body"), filepath.Join(dir, "head")
	all := append([]string{"-sS", "--max-time", "10", "-o", bodyFile, "-D", headFile,
		"-w", "%{http_code}\n%{content_type}\n%{http_version}"}, args...)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, curl, all...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("curl %v did not finish in 20s", args)
	}
	r := curlResult{stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.exit = ee.ExitCode()
	default:
		t.Fatalf("running curl: %v", err)
	}
	parts := strings.SplitN(out.String(), "\n", 3)
	if len(parts) == 3 {
		r.status, _ = strconv.Atoi(parts[0])
		r.contentType, r.httpVersion = parts[1], parts[2]
	}
	if b, err := os.ReadFile(bodyFile); err == nil {
		r.body = string(b)
	}
	r.header, r.trailer = http.Header{}, http.Header{}
	if b, err := os.ReadFile(headFile); err == nil {
		parseHeadDump(string(b), &r)
	}
	return r
}

// parseHeadDump reads curl's -D output: one block per response head (1xx
// ones first), then possibly a block of trailer fields.
func parseHeadDump(dump string, r *curlResult) {
	blocks := strings.Split(strings.ReplaceAll(dump, "\r\n", "\n"), "\n\n")
	for _, blk := range blocks {
		lines := strings.Split(strings.Trim(blk, "\n"), "\n")
		if len(lines) == 0 || lines[0] == "" {
			continue
		}
		target := r.trailer
		if strings.HasPrefix(lines[0], "HTTP/") {
			f := strings.Fields(lines[0])
			if len(f) > 1 {
				if code, _ := strconv.Atoi(f[1]); code >= 100 && code < 200 {
					r.informational = append(r.informational, code)
				}
			}
			r.header = http.Header{}
			target, lines = r.header, lines[1:]
		}
		for _, l := range lines {
			if k, v, ok := strings.Cut(l, ":"); ok {
				target.Add(strings.TrimSpace(k), strings.TrimSpace(v))
			}
		}
	}
}

const tenSeconds = 10 * time.Second

// curl calls the gateway's public listener at path, trusting its server CA
// and presenting client (nil: no certificate).
func (e *env) curl(client *clientFiles, path string, extra ...string) curlResult {
	e.t.Helper()
	args := []string{"--cacert", e.p.path("server-ca.pem")}
	if client != nil {
		args = append(args, "--cert", client.cert, "--key", client.key)
	}
	args = append(args, extra...)
	return runCurl(e.t, append(args, e.g.URL(path))...)
}

// expect fails the test unless r is an HTTP response with status want.
func expect(t testing.TB, what string, r curlResult, want int) {
	t.Helper()
	if r.exit != 0 || r.status != want {
		t.Fatalf("%s: want HTTP %d, got %s", what, want, r)
	}
}

// expectProblem checks a problem+json answer: status, reason and content type.
func expectProblem(t testing.TB, what string, r curlResult, status int, reason string) map[string]any {
	t.Helper()
	expect(t, what, r, status)
	if !strings.HasPrefix(r.contentType, "application/problem+json") {
		t.Errorf("%s: Content-Type %q, want application/problem+json", what, r.contentType)
	}
	prob := r.problem(t)
	if prob["reason"] != reason {
		t.Errorf("%s: reason %v, want %q (body %s)", what, prob["reason"], reason, r.body)
	}
	if prob["status"] != float64(status) {
		t.Errorf("%s: body status %v, want %d", what, prob["status"], status)
	}
	return prob
}

// sClient sends raw bytes over TLS with `openssl s_client -quiet` (which
// keeps reading after stdin ends) and returns what the server answered.
// The request should carry "Connection: close" so the server ends the
// exchange.
func sClient(t testing.TB, addr string, args []string, request string) string {
	t.Helper()
	openssl := needTool(t, "openssl")
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	all := append([]string{"s_client", "-connect", addr, "-quiet", "-ign_eof"}, args...)
	cmd := exec.CommandContext(ctx, openssl, all...)
	cmd.Stdin = strings.NewReader(request)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	_ = cmd.Run() // s_client's exit status reflects the close, not the exchange
	if ctx.Err() != nil {
		t.Fatalf("openssl s_client %v did not finish in 15s; stdout:\n%s\nstderr:\n%s", args, out.String(), errb.String())
	}
	return out.String()
}
