package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// logLines collects a process's output line by line; safe for concurrent
// use (the exec package writes, tests read).
type logLines struct {
	mu      sync.Mutex
	partial []byte
	lines   []string
}

func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		l.lines = append(l.lines, string(l.partial[:i]))
		l.partial = l.partial[i+1:]
	}
	return len(p), nil
}

// Lines returns a copy of the complete lines written so far.
func (l *logLines) Lines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...)
}

// String returns everything written so far, including a partial last line.
func (l *logLines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n") + "\n" + string(l.partial)
}

// JSON returns the lines that parse as JSON objects.
func (l *logLines) JSON() []map[string]any {
	var out []map[string]any
	for _, s := range l.Lines() {
		var m map[string]any
		if json.Unmarshal([]byte(s), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

// gatewayProc is one running mtlsgate process (serve or demo).
type gatewayProc struct {
	t       testing.TB
	cmd     *exec.Cmd
	stdout  *logLines // access log
	stderr  *logLines // operational log
	addrs   map[string]string
	done    chan struct{} // closed when the process has exited
	waitErr error         // valid after done
}

// writeConfig writes yaml as dir/mtlsgate.yaml and returns its path.
func writeConfig(t testing.TB, dir, yaml string) string {
	t.Helper()
	path := filepath.Join(dir, "mtlsgate.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// startGateway writes yaml into dir (where the PKI files are), runs
// `mtlsgate serve` on it and waits until every listener named in listeners
// (default "public") has logged its bound address. The process is stopped
// on cleanup with SIGTERM (then SIGKILL), and its stderr must not show a
// panic or a data race.
func startGateway(t testing.TB, dir, yaml string, listeners ...string) *gatewayProc {
	t.Helper()
	if len(listeners) == 0 {
		listeners = []string{"public"}
	}
	config := writeConfig(t, dir, yaml)
	g := startProc(t, "listening on "+strings.Join(listeners, ", "), func(g *gatewayProc) bool {
		for _, m := range g.stderr.JSON() {
			if m["msg"] == "listening" {
				name, _ := m["listener"].(string)
				addr, _ := m["address"].(string)
				g.addrs[name] = addr
			}
		}
		for _, n := range listeners {
			if g.addrs[n] == "" {
				return false
			}
		}
		return true
	}, "serve", "-c", config)
	return g
}

// startProc runs mtlsgate with args and waits up to 15s until ready
// reports true (polled every 20ms). The process is stopped on cleanup by
// its own PID: SIGTERM, then SIGKILL after 10s.
func startProc(t testing.TB, what string, ready func(*gatewayProc) bool, args ...string) *gatewayProc {
	t.Helper()
	g := &gatewayProc{
		t: t, stdout: &logLines{}, stderr: &logLines{},
		addrs: map[string]string{}, done: make(chan struct{}),
	}
	g.cmd = exec.Command(gatewayBin, args...)
	g.cmd.Stdout, g.cmd.Stderr = g.stdout, g.stderr
	g.cmd.WaitDelay = 2 * time.Second
	if err := g.cmd.Start(); err != nil {
		t.Fatalf("starting mtlsgate: %v", err)
	}
	go func() {
		g.waitErr = g.cmd.Wait()
		close(g.done)
	}()
	t.Cleanup(g.stop)
	deadline := time.Now().Add(15 * time.Second)
	for !ready(g) {
		select {
		case <-g.done:
			t.Fatalf("mtlsgate %v exited (%v) before %s; stderr:\n%s", args, g.waitErr, what, g.stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("mtlsgate %v: no %s within 15s; stderr:\n%s", args, what, g.stderr.String())
		}
	}
	return g
}

// Addr returns the bound address of a listener ("127.0.0.1:PORT").
func (g *gatewayProc) Addr(listener string) string { return g.addrs[listener] }

// Port returns the bound port of the "public" listener.
func (g *gatewayProc) Port() string {
	_, p, _ := net.SplitHostPort(g.addrs["public"])
	return p
}

// URL returns https://127.0.0.1:PORT + path for the "public" listener.
func (g *gatewayProc) URL(path string) string { return "https://" + g.addrs["public"] + path }

// Signal sends sig to the gateway process (by its own PID).
func (g *gatewayProc) Signal(sig os.Signal) {
	g.t.Helper()
	if err := g.cmd.Process.Signal(sig); err != nil {
		g.t.Fatalf("signal %v to mtlsgate (pid %d): %v", sig, g.cmd.Process.Pid, err)
	}
}

// Wait waits up to d for the process to exit and returns its exit code, or
// -1 and false if it is still running.
func (g *gatewayProc) Wait(d time.Duration) (int, bool) {
	select {
	case <-g.done:
	case <-time.After(d):
		return -1, false
	}
	var ee *exec.ExitError
	switch {
	case g.waitErr == nil:
		return 0, true
	case errors.As(g.waitErr, &ee):
		return ee.ExitCode(), true
	}
	return -1, true
}

// stop terminates the process (SIGTERM, then SIGKILL after 10s) and checks
// its stderr for panics and data races.
func (g *gatewayProc) stop() {
	select {
	case <-g.done:
	default:
		_ = g.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-g.done:
		case <-time.After(10 * time.Second):
			g.t.Errorf("mtlsgate (pid %d) did not exit within 10s of SIGTERM; killing it", g.cmd.Process.Pid)
			_ = g.cmd.Process.Kill()
			<-g.done
		}
	}
	checkNoCrash(g.t, "mtlsgate "+strings.Join(g.cmd.Args[1:], " "), g.stderr.String())
}

// checkNoCrash fails t if output shows a Go panic, a fatal error or a data
// race report.
func checkNoCrash(t testing.TB, what, output string) {
	t.Helper()
	for _, bad := range []string{"panic:", "goroutine ", "fatal error:", "WARNING: DATA RACE"} {
		if strings.Contains(output, bad) {
			t.Errorf("%s: output contains %q:\n%s", what, bad, output)
			return
		}
	}
}

// waitLog waits up to d for a JSON log line on stderr for which match is
// true, and returns it (nil and a test error after d).
func (g *gatewayProc) waitLog(d time.Duration, what string, match func(map[string]any) bool) map[string]any {
	g.t.Helper()
	return waitJSON(g.t, g.stderr, d, "stderr: "+what, match)
}

// waitAccess waits for an access log line (stdout) for which match is true.
// The access log is flushed at least every 200ms.
func (g *gatewayProc) waitAccess(d time.Duration, what string, match func(map[string]any) bool) map[string]any {
	g.t.Helper()
	return waitJSON(g.t, g.stdout, d, "access log: "+what, match)
}

func waitJSON(t testing.TB, l *logLines, d time.Duration, what string, match func(map[string]any) bool) map[string]any {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		for _, m := range l.JSON() {
			if match(m) {
				return m
			}
		}
		if time.Now().After(deadline) {
			t.Errorf("no log line for %s within %v; log:\n%s", what, d, l.String())
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// countLogs counts JSON stderr lines whose msg is msg.
func (g *gatewayProc) countLogs(msg string) int {
	n := 0
	for _, m := range g.stderr.JSON() {
		if m["msg"] == msg {
			n++
		}
	}
	return n
}

// freePort returns a 127.0.0.1 address that was free a moment ago, for
// listeners whose address must be known before the gateway starts. It is
// drawn at random from below the kernel's ephemeral range and never handed
// out twice by this process: a port from the ephemeral range (what ":0"
// gives) could be taken meanwhile by any outgoing connection of the tests
// running in parallel (seen as "bind: address already in use").
func freePort(t testing.TB) string {
	t.Helper()
	lo, hi := 10000, ephemeralLow()-1
	portsMu.Lock()
	defer portsMu.Unlock()
	for tries := 0; hi > lo && tries < 500; tries++ {
		p := lo + rand.IntN(hi-lo+1)
		if portsGiven[p] {
			continue
		}
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			continue
		}
		ln.Close()
		portsGiven[p] = true
		return ln.Addr().String()
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

var (
	portsMu    sync.Mutex
	portsGiven = map[int]bool{}
)

// ephemeralLow is the first port of the kernel's ephemeral range (32768
// when it cannot be read).
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil && n > 1024 {
				return n
			}
		}
	}
	return 32768
}

// runBinary runs mtlsgate with args, bounded by timeout, and returns its
// exit code, stdout and stderr. A process still running at the timeout is
// killed and fails the test.
func runBinary(t testing.TB, timeout time.Duration, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, gatewayBin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("mtlsgate %v still running after %v; stderr:\n%s", args, timeout, errb.String())
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatalf("running mtlsgate %v: %v", args, err)
	}
	return code, out.String(), errb.String()
}
