// Package e2e drives the built mtlsgate binary end to end on loopback: real
// processes, real handshakes, and the real clients operators use (curl,
// openssl s_client, keytool), against an in-process mTLS upstream.
//
// Every test mints its own PKI at run time (internal/testpki), starts its
// own gateway on 127.0.0.1:0 and stops it by its own PID. Tests that need an
// external tool skip when it is missing on a developer machine, and fail when
// CI is set, so CI never passes by skipping.
//
// The gateway proxies in two ways, and tests that care send both GET and
// POST: a request without a body goes through its own fast upstream
// transport (and, over HTTP/1.1, its hand-written request serialiser
// instead of httputil.ReverseProxy); a request with a body goes through
// httputil.ReverseProxy and net/http's Transport.
//
// Tests named TestRegression* demonstrate gateway bugs found by this suite; they
// fail until the bug is fixed (go test -skip TestRegression runs the rest).
//
// Set MTLSGATE_E2E_RACE=1 to build the gateway binary with -race too; a
// data race in the gateway then fails the test that triggered it. Set
// MTLSGATE_E2E_BIN to test a binary built elsewhere (a release, or another
// commit) instead of building one.
package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// gatewayBin is the mtlsgate binary built once by TestMain.
var gatewayBin string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	if bin := os.Getenv("MTLSGATE_E2E_BIN"); bin != "" {
		gatewayBin = bin
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "mtlsgate-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	gatewayBin = filepath.Join(dir, "mtlsgate")
	args := []string{"build", "-o", gatewayBin}
	if os.Getenv("MTLSGATE_E2E_RACE") == "1" {
		args = append(args, "-race")
	}
	args = append(args, "github.com/mtlsgate/mtlsgate/cmd/mtlsgate")
	build := exec.Command("go", args...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: building mtlsgate:", err)
		return 1
	}
	return m.Run()
}

// needTool returns the path of an external program. When it is missing the
// test is skipped on a developer machine and fails in CI (CI set), where
// .ci/run installs every tool.
func needTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if _, ci := os.LookupEnv("CI"); ci {
		t.Fatalf("%s is required in CI but not installed: %v", name, err)
	}
	t.Skipf("%s not installed: %v", name, err)
	return ""
}
