package e2e

import (
	"encoding/json"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// shellFields splits a printed command line into arguments, honouring
// single quotes (all the demo uses).
func shellFields(line string) []string {
	var out []string
	var cur strings.Builder
	inQuote, have := false, false
	for i := 0; i < len(line); i++ {
		switch c := line[i]; {
		case c == '\'':
			inQuote, have = !inQuote, true
		case c == ' ' && !inQuote:
			if have {
				out = append(out, cur.String())
				cur.Reset()
				have = false
			}
		default:
			cur.WriteByte(c)
			have = true
		}
	}
	if have {
		out = append(out, cur.String())
	}
	return out
}

// demoCommand is one curl command the demo prints, with the status its
// comment promises.
type demoCommand struct {
	comment string
	args    []string
	want    int
}

// demoCommands parses the demo's instructions.
func demoCommands(out string) []demoCommand {
	var cmds []demoCommand
	comment := ""
	for _, l := range strings.Split(out, "\n") {
		l = strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(l, "# "):
			comment = strings.TrimPrefix(l, "# ")
		case strings.HasPrefix(l, "curl "):
			want := 200
			if code, _, ok := strings.Cut(comment, ":"); ok {
				if n, err := strconv.Atoi(code); err == nil {
					want = n
				}
			}
			cmds = append(cmds, demoCommand{comment: comment, args: shellFields(l)[1:], want: want})
		}
	}
	return cmds
}

// startDemo runs `mtlsgate demo` with the given listen and admin addresses
// and waits for its instructions.
func startDemo(t *testing.T, listen, admin string) *gatewayProc {
	t.Helper()
	return startProc(t, "the demo's instructions", func(g *gatewayProc) bool {
		return strings.Contains(g.stdout.String(), "Press Ctrl-C to stop.")
	}, "demo", "--dir", t.TempDir(), "--listen", listen, "--admin", admin)
}

// TestDemoCommandsWork runs `mtlsgate demo` and every curl command it
// prints: each must give the status its comment promises (200 for alice,
// 401 without a certificate, 403 for bob), the spoofed Client-Cert must not
// reach the echo upstream, and /metrics must answer. Ctrl-C (SIGINT) stops
// the demo with exit status 0.
func TestDemoCommandsWork(t *testing.T) {
	t.Parallel()
	needTool(t, "curl")
	d := startDemo(t, freePort(t), freePort(t))
	cmds := demoCommands(d.stdout.String())
	if len(cmds) < 5 {
		t.Fatalf("demo printed %d curl commands, want 5:\n%s", len(cmds), d.stdout.String())
	}
	for _, c := range cmds {
		r := runCurl(t, c.args...)
		if r.exit != 0 || r.status != c.want {
			t.Errorf("%q: want HTTP %d, got %s", c.comment, c.want, r)
			continue
		}
		if strings.Contains(c.comment, "spoofed") {
			var echo map[string]any
			if err := json.Unmarshal([]byte(r.body), &echo); err != nil {
				t.Fatalf("echo upstream answer is not JSON: %v\n%s", err, r.body)
			}
			if got, _ := echo["client_cert_subject (from Client-Cert, RFC 9440)"].(string); !strings.HasPrefix(got, "CN=alice,") {
				t.Errorf("echo upstream saw client certificate %v, want alice's (the forged one must be stripped):\n%s", got, r.body)
			}
		}
	}
	d.Signal(syscall.SIGINT)
	if code, exited := d.Wait(8 * time.Second); !exited || code != 0 {
		t.Errorf("demo after SIGINT: exited %v, status %d; stderr:\n%s", exited, code, d.stderr.String())
	}
}

// TestRegressionDemoListenPortZero — regression test (usability) for a gateway bug found by this suite and fixed. `mtlsgate demo --listen 127.0.0.1:0` binds a random port
// but prints every command with https://127.0.0.1:0/..., which cannot work:
// cmd/mtlsgate/demo.go freeAddr returns "127.0.0.1:0" unchanged because
// port 0 can always be bound, and printDemo prints that address instead of
// the bound one (g.Addr("public")). Same for --admin.
func TestRegressionDemoListenPortZero(t *testing.T) {
	t.Parallel()
	needTool(t, "curl")
	d := startDemo(t, "127.0.0.1:0", "127.0.0.1:0")
	out := d.stdout.String()
	if strings.Contains(out, "127.0.0.1:0/") {
		t.Errorf("the demo prints commands for port 0 instead of the bound port:\n%s", out)
	}
	if cmds := demoCommands(out); len(cmds) > 0 {
		if r := runCurl(t, cmds[0].args...); r.status != cmds[0].want {
			t.Errorf("the first printed command (%q) fails: %s", cmds[0].comment, r)
		}
	}
}
