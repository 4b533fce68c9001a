// Command loadgen is the mtlsgate benchmark's load generator: HTTP/1.1 or
// HTTP/2 over mutual TLS, on kept-alive connections or with one full
// handshake per request, plus an "idle" mode that opens many mTLS
// connections and reports the server's memory.
//
//	loadgen --url https://localhost:8443/ --connect 127.0.0.1:8443 \
//	    --cert client.pem --key client.key --ca ca.pem \
//	    --mode keepalive --http 1.1 --tls 1.3 --conns 64 --duration 10s
package main

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/mtlsgate/mtlsgate/bench/internal/benchtls"
)

type options struct {
	url, connect, serverName string
	path, host               string
	cert, key, ca            string
	conns                    int
	duration, warmup         time.Duration
	timeout                  time.Duration
	maxRequests              int64
	mode, http, tls, verify  string
	label                    string
	jsonOut                  bool
	jsonFile                 string
	brief                    bool
	cpuprofile               string
	knownPIDs                string
	maxForeign               float64
	// idle mode
	rssPIDs     string
	settle      time.Duration
	hold        time.Duration
	dialConc    int
	idleRequest bool
}

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.url, "url", "", "target URL, e.g. https://localhost:8443/api (required)")
	fs.StringVar(&o.connect, "connect", "", "address to dial (default: the URL's host:port)")
	fs.StringVar(&o.serverName, "server-name", "", "TLS server name to send and verify (default: the URL's host)")
	fs.StringVar(&o.cert, "cert", "", "client certificate PEM")
	fs.StringVar(&o.key, "key", "", "client private key PEM")
	fs.StringVar(&o.ca, "ca", "", "CA bundle PEM that verifies the server (required)")
	fs.IntVar(&o.conns, "conns", 64, "concurrent connections (one request in flight on each)")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "measured window (idle mode: time budget to open the connections)")
	fs.DurationVar(&o.warmup, "warmup", 2*time.Second, "load before the measured window; not counted")
	fs.DurationVar(&o.timeout, "timeout", 5*time.Second, "per dial/handshake/request timeout")
	fs.Int64Var(&o.maxRequests, "max-requests", 5_000_000, "hard cap on requests sent, warm-up included (0: none)")
	fs.StringVar(&o.mode, "mode", "keepalive", "keepalive | handshake (new TCP+TLS connection per request) | idle")
	fs.StringVar(&o.http, "http", "1.1", "HTTP version: 1.1 | 2")
	fs.StringVar(&o.tls, "tls", "1.3", "TLS version: 1.2 | 1.3 (min = max)")
	fs.StringVar(&o.verify, "verify", "pin", "server chain check: full (every handshake) | pin (verify once, then require the same leaf)")
	fs.StringVar(&o.label, "label", "", "free-form label copied into the JSON report")
	fs.BoolVar(&o.jsonOut, "json", false, "print a JSON report instead of the table")
	fs.StringVar(&o.jsonFile, "json-out", "", "also write the JSON report to this file")
	fs.StringVar(&o.knownPIDs, "known-pids", "", "comma-separated PIDs of the benchmark's own processes (peer, upstream); CPU used by any other process is reported as foreign")
	fs.Float64Var(&o.maxForeign, "max-foreign", 0, "with --known-pids: mark the run noisy and exit 3 when foreign CPU exceeds this percent of a core (0: never)")
	fs.StringVar(&o.cpuprofile, "cpuprofile", "", "write the generator's CPU profile here")
	fs.BoolVar(&o.brief, "brief", false, "print a one-line summary instead of the table")
	fs.StringVar(&o.rssPIDs, "rss-pid", "", "idle mode: comma-separated PIDs whose VmRSS is summed and reported")
	fs.DurationVar(&o.settle, "settle", 3*time.Second, "idle mode: wait after opening before reading RSS")
	fs.DurationVar(&o.hold, "hold", 0, "idle mode: keep the connections open this long after reading RSS")
	fs.IntVar(&o.dialConc, "dial-concurrency", 64, "idle mode: handshakes in flight while opening")
	fs.BoolVar(&o.idleRequest, "idle-request", true, "idle mode: send one request on each connection before it idles")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	u, err := url.Parse(o.url)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("--url: need an https:// URL with a host, got %q", o.url)
	}
	o.host, o.path = u.Host, u.RequestURI()
	if u.Port() == "" {
		o.host += ":443"
	}
	if o.connect == "" {
		o.connect = o.host
	}
	if o.serverName == "" {
		o.serverName = u.Hostname()
	}
	switch {
	case o.ca == "":
		return nil, errors.New("--ca is required")
	case (o.cert == "") != (o.key == ""):
		return nil, errors.New("--cert and --key go together")
	case o.conns < 1:
		return nil, errors.New("--conns must be >= 1")
	case o.mode != "keepalive" && o.mode != "handshake" && o.mode != "idle":
		return nil, fmt.Errorf("--mode %q: want keepalive, handshake or idle", o.mode)
	case o.http != "1.1" && o.http != "2":
		return nil, fmt.Errorf("--http %q: want 1.1 or 2", o.http)
	case o.mode == "idle" && o.http != "1.1":
		return nil, errors.New("--mode idle supports --http 1.1 only")
	case o.verify != "pin" && o.verify != "full":
		return nil, fmt.Errorf("--verify %q: want pin or full", o.verify)
	case o.duration <= 0 || o.warmup < 0 || o.timeout <= 0:
		return nil, errors.New("--duration and --timeout must be > 0, --warmup >= 0")
	}
	if _, err := benchtls.Version(o.tls); err != nil {
		return nil, fmt.Errorf("--tls: %w", err)
	}
	return o, nil
}

func newGen(o *options) (*gen, error) {
	roots, err := benchtls.Pool(o.ca)
	if err != nil {
		return nil, err
	}
	ver, _ := benchtls.Version(o.tls)
	cfg := &tls.Config{
		RootCAs:                roots,
		ServerName:             o.serverName,
		MinVersion:             ver,
		MaxVersion:             ver,
		CurvePreferences:       benchtls.Groups,
		SessionTicketsDisabled: true, // and no ClientSessionCache: no resumption
		NextProtos:             []string{"http/1.1"},
	}
	if o.http == "2" {
		cfg.NextProtos = []string{"h2"}
	}
	if ver == tls.VersionTLS12 {
		cfg.CipherSuites = []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256}
	}
	if o.cert != "" {
		c, err := benchtls.Pair(o.cert, o.key)
		if err != nil {
			return nil, err
		}
		cfg.Certificates = []tls.Certificate{c}
	}
	g := &gen{opt: o, tlsCfg: cfg, roots: roots, capHit: make(chan struct{})}
	if o.verify == "pin" {
		cfg.InsecureSkipVerify = true // replaced by verifyPinned, which checks the chain against --ca
		cfg.VerifyConnection = g.verifyPinned
	}
	known, err := parsePIDs(o.knownPIDs)
	if err != nil {
		return nil, fmt.Errorf("--known-pids: %w", err)
	}
	g.known = append([]int{0}, known...)
	g.req = buildRequest(o.host, o.path, false)
	g.reqClose = buildRequest(o.host, o.path, true)
	return g, nil
}

func run(args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "loadgen:", err)
		return 2
	}
	g, err := newGen(o)
	if err != nil {
		fmt.Fprintln(stderr, "loadgen:", err)
		return 2
	}
	if o.cpuprofile != "" {
		f, err := os.Create(o.cpuprofile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(stderr, "loadgen:", err)
			return 2
		}
		defer pprof.StopCPUProfile()
	}
	var res *Result
	if o.mode == "idle" {
		res = g.runIdle()
	} else {
		res = g.runLoad()
	}
	if o.jsonFile != "" {
		f, err := os.Create(o.jsonFile)
		if err == nil {
			err = writeJSON(f, res)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			fmt.Fprintln(stderr, "loadgen:", err)
			return 1
		}
	}
	switch {
	case o.jsonOut:
		if err := writeJSON(stdout, res); err != nil {
			fmt.Fprintln(stderr, "loadgen:", err)
			return 1
		}
	case o.brief:
		writeBrief(stdout, res)
	default:
		writeTable(stdout, res)
	}
	if res.OK == 0 && (res.Idle == nil || res.Idle.Opened == 0) {
		return 1
	}
	if res.Noisy {
		return 3
	}
	return 0
}

func parsePIDs(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("bad PID %q", f)
		}
		out = append(out, n)
	}
	return out, nil
}
