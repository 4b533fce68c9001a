package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

const (
	phaseWarmup int32 = iota
	phaseMeasure
	phaseStop
)

// gen is the shared state of one load-generation run.
type gen struct {
	opt      *options
	tlsCfg   *tls.Config
	roots    *x509.CertPool
	req      []byte // HTTP/1.1 request on a kept-alive connection
	reqClose []byte // HTTP/1.1 request with Connection: close

	phase   atomic.Int32
	issued  atomic.Int64
	capHit  chan struct{}
	capOnce sync.Once
	tlsInfo atomic.Pointer[TLSInfo]
	pinned  atomic.Pointer[x509.Certificate]
	known   []int // this process (0) and --known-pids
}

// stats is what one worker measured; merged after the run.
type stats struct {
	hist    Histogram
	ok      int64
	errs    map[string]int64
	samples map[string]string
}

func newStats() *stats {
	return &stats{errs: map[string]int64{}, samples: map[string]string{}}
}

// take reserves one request; false when the run is over or the cap is hit.
func (g *gen) take() bool {
	if g.phase.Load() == phaseStop {
		return false
	}
	if n := g.issued.Add(1); g.opt.maxRequests > 0 && n > g.opt.maxRequests {
		g.capOnce.Do(func() { close(g.capHit) })
		return false
	}
	return true
}

// stageError tags an error with where it happened (dial, handshake, request).
type stageError struct {
	stage string
	err   error
}

func (e *stageError) Error() string { return e.stage + ": " + e.err.Error() }
func (e *stageError) Unwrap() error { return e.err }

// errKind classifies an error into a short, stable label.
func errKind(err error) string {
	stage := "request"
	var se *stageError
	if errors.As(err, &se) {
		stage = se.stage
	}
	var ne net.Error
	var ue x509.UnknownAuthorityError
	var ce x509.CertificateInvalidError
	var he x509.HostnameError
	kind := "other"
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		kind = "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		kind = "refused"
	case errors.Is(err, syscall.ECONNRESET):
		kind = "reset"
	case errors.Is(err, syscall.EPIPE):
		kind = "broken-pipe"
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		kind = "no-ephemeral-port"
	case errors.Is(err, syscall.EMFILE), errors.Is(err, syscall.ENFILE):
		kind = "too-many-files"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		kind = "eof"
	case errors.As(err, &ue), errors.As(err, &ce), errors.As(err, &he):
		kind = "verify"
	case errors.Is(err, errBadStatus), errors.Is(err, errBadHeader):
		kind = "protocol"
	case strings.Contains(err.Error(), "remote error: tls:"):
		kind = "tls-alert"
	case strings.Contains(err.Error(), "ALPN"):
		kind = "alpn"
	}
	return stage + ":" + kind
}

// done records the outcome of one request if the measured window is open.
func (g *gen) done(st *stats, t0 time.Time, status int, err error) {
	if g.phase.Load() != phaseMeasure {
		return
	}
	if err != nil {
		k := errKind(err)
		st.errs[k]++
		if _, ok := st.samples[k]; !ok {
			st.samples[k] = err.Error()
		}
		return
	}
	if status < 200 || status > 299 {
		k := "http-" + strconv.Itoa(status)
		st.errs[k]++
		return
	}
	st.ok++
	st.hist.Record(time.Since(t0))
}

// pause slows a worker down after a connection-level failure so a dead
// target does not turn the generator into a busy loop.
func pause() { time.Sleep(5 * time.Millisecond) }

// verifyPinned verifies the server chain against --ca the first time, then
// accepts only the byte-identical leaf. crypto/tls still checks the
// handshake signature on every connection; only the repeated X.509 chain
// building (as expensive as the server's own work) is skipped.
func (g *gen) verifyPinned(cs tls.ConnectionState) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("server sent no certificate")
	}
	leaf := cs.PeerCertificates[0]
	if p := g.pinned.Load(); p != nil && bytes.Equal(p.Raw, leaf.Raw) {
		return nil
	}
	inter := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	_, err := leaf.Verify(x509.VerifyOptions{
		Roots: g.roots, Intermediates: inter, DNSName: g.tlsCfg.ServerName,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	if err != nil {
		return err
	}
	g.pinned.Store(leaf)
	return nil
}

// dial opens a TCP connection and runs a full TLS handshake (no session
// cache, no tickets: every handshake is a full one).
func (g *gen) dial() (*tls.Conn, error) {
	d := net.Dialer{Timeout: g.opt.timeout}
	raw, err := d.Dial("tcp", g.opt.connect)
	if err != nil {
		return nil, &stageError{"dial", err}
	}
	tc := tls.Client(raw, g.tlsCfg)
	_ = tc.SetDeadline(time.Now().Add(g.opt.timeout))
	if err := tc.Handshake(); err != nil {
		raw.Close()
		return nil, &stageError{"handshake", err}
	}
	if g.tlsInfo.Load() == nil {
		cs := tc.ConnectionState()
		g.tlsInfo.CompareAndSwap(nil, &TLSInfo{
			Version: tls.VersionName(cs.Version), Cipher: tls.CipherSuiteName(cs.CipherSuite),
			Group: cs.CurveID.String(), ALPN: cs.NegotiatedProtocol,
		})
	}
	want := "http/1.1"
	if g.opt.http == "2" {
		want = "h2"
	}
	if p := tc.ConnectionState().NegotiatedProtocol; p != want && (want == "h2" || p != "") {
		tc.Close()
		return nil, &stageError{"handshake", fmt.Errorf("ALPN %q negotiated, want %q", p, want)}
	}
	return tc, nil
}

// worker runs requests until the run stops. Keep-alive workers reuse one
// connection (re-dialling after errors); handshake workers dial, send one
// request (HTTP/1.1: with Connection: close) and hang up, every time.
func (g *gen) worker(st *stats) {
	handshake := g.opt.mode == "handshake"
	br := bufio.NewReaderSize(nil, 8<<10)
	bw := bufio.NewWriterSize(nil, 4<<10)
	var cl client
	defer func() {
		if cl != nil {
			cl.close()
		}
	}()
	for g.take() {
		t0 := time.Now()
		if cl == nil {
			tc, err := g.dial()
			if err != nil {
				g.done(st, t0, 0, err)
				pause()
				continue
			}
			if g.opt.http == "2" {
				cl = newH2Conn(tc, br, bw, g.opt.host, g.opt.path)
			} else {
				br.Reset(tc)
				req := g.req
				if handshake {
					req = g.reqClose
				}
				cl = &h1Conn{c: tc, br: br, req: req}
			}
			if !handshake {
				t0 = time.Now() // keep-alive latency excludes the (warm-up) handshake
			}
		}
		cl.setDeadline(t0.Add(g.opt.timeout))
		status, closing, err := cl.do()
		if err != nil {
			err = &stageError{"request", err}
		}
		g.done(st, t0, status, err)
		if err != nil || closing || handshake {
			cl.close()
			cl = nil
		}
	}
}
