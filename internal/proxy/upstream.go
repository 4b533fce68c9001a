package proxy

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// UpstreamOptions describe one upstream.
type UpstreamOptions struct {
	Name string
	URL  *url.URL
	// ClientCert is presented to https upstreams (nil: none).
	ClientCert *tls.Certificate
	// RootCAs verifies the upstream's certificate (nil: system roots).
	RootCAs    *x509.CertPool
	ServerName string
	// InsecureSkipVerify disables verification of the upstream's
	// certificate. Callers must make this loud (warning, metric, log field).
	InsecureSkipVerify bool

	DialTimeout           time.Duration
	ResponseHeaderTimeout time.Duration
	IdleConnTimeout       time.Duration
	MaxIdleConnsPerHost   int
	MaxConnsPerHost       int

	// Fingerprint identifies the options and the key material they were
	// built from; equal fingerprints mean an Upstream can be reused across
	// reloads (see Upstream.Fingerprint).
	Fingerprint [sha256.Size]byte
}

// Upstream is a backend with its own connection pool.
type Upstream struct {
	Name   string
	Target *url.URL
	// Transport sends requests: a fast HTTP/1.1 path for body-less requests
	// in front of a standard http.Transport for everything else.
	Transport http.RoundTripper
	Insecure  bool
	fp        [sha256.Size]byte
	closeIdle func()
}

// NewUpstream builds the transport for an upstream. Upstream connections are
// HTTP/1.1 with a large keep-alive pool: for a proxy on one machine many
// parallel HTTP/1.1 connections outrun one multiplexed HTTP/2 connection and
// avoid head-of-line blocking between clients.
func NewUpstream(o UpstreamOptions) (*Upstream, error) {
	if o.URL == nil || (o.URL.Scheme != "http" && o.URL.Scheme != "https") || o.URL.Host == "" {
		return nil, fmt.Errorf("proxy: upstream %s: need an http or https URL with a host", o.Name)
	}
	dialer := &net.Dialer{Timeout: o.DialTimeout, KeepAlive: 30 * time.Second}
	t := &http.Transport{
		Proxy:                 nil, // never route upstream traffic through an environment proxy
		DialContext:           dialer.DialContext,
		MaxIdleConns:          0,
		MaxIdleConnsPerHost:   o.MaxIdleConnsPerHost,
		MaxConnsPerHost:       o.MaxConnsPerHost,
		IdleConnTimeout:       o.IdleConnTimeout,
		ResponseHeaderTimeout: o.ResponseHeaderTimeout,
		TLSHandshakeTimeout:   o.DialTimeout + 5*time.Second,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true, // pass Accept-Encoding and bodies through untouched
		ForceAttemptHTTP2:     false,
		TLSNextProto:          map[string]func(string, *tls.Conn) http.RoundTripper{},
		WriteBufferSize:       32 << 10,
		ReadBufferSize:        32 << 10,
	}
	if o.URL.Scheme == "https" {
		host := o.URL.Hostname()
		sn := o.ServerName
		if sn == "" {
			sn = host
		}
		tc := &tls.Config{
			MinVersion:         tls.VersionTLS12,
			RootCAs:            o.RootCAs,
			ServerName:         sn,
			InsecureSkipVerify: o.InsecureSkipVerify, //nolint:gosec // explicit, loud opt-in from config
			ClientSessionCache: tls.NewLRUClientSessionCache(1024),
		}
		if o.ClientCert != nil {
			cert := o.ClientCert
			tc.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
		}
		t.TLSClientConfig = tc
	}
	ft := &fastTransport{
		fallback: t, addr: hostPort(o.URL), tlsConfig: t.TLSClientConfig,
		dialTimeout: o.DialTimeout, respHeaderTimeout: o.ResponseHeaderTimeout,
		idleTimeout: o.IdleConnTimeout, maxIdle: o.MaxIdleConnsPerHost,
	}
	if ft.tlsConfig != nil {
		ft.tlsConfig = ft.tlsConfig.Clone()
		ft.tlsConfig.NextProtos = []string{"http/1.1"}
	}
	if o.MaxConnsPerHost > 0 {
		// The fast path and the fallback each honour the limit; together
		// they can hold twice as many, which keeps one from starving the
		// other.
		ft.slots = make(chan struct{}, o.MaxConnsPerHost)
	}
	stop := make(chan struct{})
	if ft.idleTimeout > 0 {
		go ft.reaper(stop)
	}
	var once sync.Once
	return &Upstream{Name: o.Name, Target: o.URL, Transport: ft, Insecure: o.InsecureSkipVerify,
		fp: o.Fingerprint, closeIdle: func() {
			once.Do(func() { close(stop) })
			ft.CloseIdleConnections()
		}}, nil
}

// hostPort returns u's host with the scheme's default port filled in.
func hostPort(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	if u.Scheme == "https" {
		return net.JoinHostPort(u.Hostname(), "443")
	}
	return net.JoinHostPort(u.Hostname(), "80")
}

// Fingerprint returns what the upstream was built from (see UpstreamOptions).
func (u *Upstream) Fingerprint() [sha256.Size]byte { return u.fp }

// Close retires the upstream: idle pooled connections are closed, requests
// in flight finish normally and then close their connections.
func (u *Upstream) Close() { u.closeIdle() }
