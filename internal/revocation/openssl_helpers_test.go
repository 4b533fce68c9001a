package revocation

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// osslCA is a certificate authority run by "openssl ca" in a temporary
// directory: index.txt, serial and crlnumber are openssl's own.
type osslCA struct {
	t    testing.TB
	dir  string
	name string
	cnf  string
	pem  string // CA certificate
	key  string
	cert *x509.Certificate
}

func needOpenSSL(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl not installed")
	}
	return p
}

func runCmd(t testing.TB, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

// newOSSLCA creates a self-signed CA named cn. crlAKID puts an authority
// key identifier into its CRLs.
func newOSSLCA(t testing.TB, cn string, crlAKID bool) *osslCA {
	t.Helper()
	needOpenSSL(t)
	dir := t.TempDir()
	ca := &osslCA{t: t, dir: dir, name: cn, cnf: filepath.Join(dir, "ca.cnf"),
		pem: filepath.Join(dir, "ca.pem"), key: filepath.Join(dir, "ca.key")}
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(dir, "index.txt"), nil, 0o600))
	must(os.WriteFile(filepath.Join(dir, "index.txt.attr"), []byte("unique_subject = no\n"), 0o600))
	must(os.WriteFile(filepath.Join(dir, "serial"), []byte("1000\n"), 0o600))
	must(os.WriteFile(filepath.Join(dir, "crlnumber"), []byte("01\n"), 0o600))
	must(os.MkdirAll(filepath.Join(dir, "certs"), 0o700))
	crlExt := ""
	if crlAKID {
		crlExt = "authorityKeyIdentifier = keyid:always\n"
	}
	cnf := fmt.Sprintf(`[ ca ]
default_ca = CA_default
[ CA_default ]
dir = %s
database = $dir/index.txt
new_certs_dir = $dir/certs
certificate = $dir/ca.pem
private_key = $dir/ca.key
serial = $dir/serial
crlnumber = $dir/crlnumber
default_md = sha256
default_days = 2
default_crl_days = 1
policy = policy_any
copy_extensions = none
crl_extensions = crl_ext
[ policy_any ]
commonName = supplied
[ crl_ext ]
%s`, dir, crlExt)
	must(os.WriteFile(ca.cnf, []byte(cnf), 0o600))
	runCmd(t, "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
		"-keyout", ca.key, "-out", ca.pem, "-subj", "/CN="+cn, "-days", "3",
		"-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
		"-addext", "subjectKeyIdentifier=hash")
	ca.cert = readCert(t, ca.pem)
	return ca
}

func readCert(t testing.TB, path string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatalf("%s: no PEM", path)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// leafOpts shape a client certificate issued by openssl.
type leafOpts struct {
	OCSP string // AIA OCSP URL
	CDP  string // CRL distribution point URL
	// Unrecorded signs with "openssl x509 -req": the CA database does not
	// know the certificate (an OCSP responder answers "unknown").
	Unrecorded bool
}

// issue mints a client certificate named cn and returns it with its path.
func (ca *osslCA) issue(cn string, o leafOpts) (*x509.Certificate, string) {
	t := ca.t
	t.Helper()
	base := filepath.Join(ca.dir, cn)
	ext := "[ client ]\nbasicConstraints = CA:FALSE\nkeyUsage = critical,digitalSignature\nextendedKeyUsage = clientAuth\n" +
		"subjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid\n"
	if o.OCSP != "" {
		ext += "authorityInfoAccess = OCSP;URI:" + o.OCSP + "\n"
	}
	if o.CDP != "" {
		ext += "crlDistributionPoints = URI:" + o.CDP + "\n"
	}
	extFile := base + ".ext"
	if err := os.WriteFile(extFile, []byte(ext), 0o600); err != nil {
		t.Fatal(err)
	}
	runCmd(t, "openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
		"-keyout", base+".key", "-out", base+".csr", "-subj", "/CN="+cn)
	if o.Unrecorded {
		runCmd(t, "openssl", "x509", "-req", "-in", base+".csr", "-CA", ca.pem, "-CAkey", ca.key,
			"-set_serial", "0x7ee1", "-days", "1", "-extfile", extFile, "-extensions", "client", "-out", base+".pem")
	} else {
		runCmd(t, "openssl", "ca", "-batch", "-config", ca.cnf, "-notext", "-in", base+".csr", "-out", base+".pem",
			"-extfile", extFile, "-extensions", "client")
	}
	return readCert(t, base+".pem"), base + ".pem"
}

// revoke revokes the certificate at path with the given reason.
func (ca *osslCA) revoke(path, reason string) {
	ca.t.Helper()
	runCmd(ca.t, "openssl", "ca", "-config", ca.cnf, "-revoke", path, "-crl_reason", reason)
}

// gencrl writes a new CRL (next CRL number) as PEM to out, with extra
// arguments for openssl ca -gencrl, and returns its DER.
func (ca *osslCA) gencrl(out string, extra ...string) []byte {
	ca.t.Helper()
	runCmd(ca.t, "openssl", append([]string{"ca", "-config", ca.cnf, "-gencrl", "-out", out}, extra...)...)
	data, err := os.ReadFile(out)
	if err != nil {
		ca.t.Fatal(err)
	}
	der, err := decodeCRL(data)
	if err != nil {
		ca.t.Fatal(err)
	}
	return der
}

// osslTime formats t for openssl's -crl_lastupdate / -crl_nextupdate.
func osslTime(t time.Time) string { return t.UTC().Format("20060102150405Z") }

// ocspResponder is "openssl ocsp" serving ca's index on 127.0.0.1.
type ocspResponder struct {
	cmd  *exec.Cmd
	out  logBuffer
	stop func() // kills the process and waits for it
}

// freePort returns a TCP port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startOCSP starts openssl ocsp on port for ca (responses signed by the CA
// itself, nextUpdate in 5 minutes). It reports false when openssl could not
// bind the port. The responder is stopped by Cleanup.
func (ca *osslCA) startOCSP(port int) (*ocspResponder, bool) {
	t := ca.t
	t.Helper()
	r := &ocspResponder{}
	r.cmd = exec.Command("openssl", "ocsp", "-index", filepath.Join(ca.dir, "index.txt"), "-port", fmt.Sprint(port),
		"-rsigner", ca.pem, "-rkey", ca.key, "-CA", ca.pem, "-ignore_err", "-nmin", "5")
	r.cmd.Stdout, r.cmd.Stderr = &r.out, &r.out
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = r.cmd.Wait(); close(exited) }()
	stop := sync.OnceFunc(func() {
		_ = r.cmd.Process.Kill()
		<-exited
	})
	t.Cleanup(stop)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			t.Logf("openssl ocsp exited: %s", r.out.String())
			return nil, false
		default:
		}
		// Probing the port with a connection would wedge the responder
		// (it serves one connection at a time): wait for its banner.
		if strings.Contains(r.out.String(), "waiting for OCSP client connections") {
			r.stop = stop
			return r, true
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("openssl ocsp did not listen on %d", port)
	return nil, false
}

// quietLogger discards; logBuffer records for assertions.
var quietLogger = slog.New(slog.DiscardHandler)

type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func newLogBuffer() (*logBuffer, *slog.Logger) {
	lb := &logBuffer{}
	return lb, slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// clock is a settable test clock that follows real time plus an offset.
type clock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.off += d
}

// waitFor polls cond until it holds or fails the test after 10 s.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
