package proxy

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"strings"
	"sync"

	"github.com/mtlsgate/mtlsgate/internal/httpfield"
	"github.com/mtlsgate/mtlsgate/internal/identity"
	"github.com/mtlsgate/mtlsgate/internal/problem"
)

// RouteOptions configure the handler that proxies one route's requests.
type RouteOptions struct {
	Route    string
	Upstream *Upstream
	Format   identity.Format
	// IdentityOf returns the verified identity of the request's connection
	// (nil when none) and the gateway's own name for XFCC "By".
	IdentityOf func(*http.Request) (*identity.Identity, string)
	// OnError answers a failed upstream call; it must write the response.
	OnError func(http.ResponseWriter, *http.Request, Failure)
}

// routeHandler proxies one route: body-less requests take the fast path
// (serveFast), everything else httputil.ReverseProxy. Both apply the same
// header rules.
type routeHandler struct {
	opts RouteOptions
	rp   *httputil.ReverseProxy
	fast *fastTransport
}

// NewHandler returns the reverse proxy for one route. It strips every
// client-sent identity header, sets the trusted ones for the connection's
// verified identity, sets X-Forwarded-For/-Host/-Proto and Forwarded from the
// connection (never trusting client-sent copies), and maps upstream failures
// through OnError. Upstream body errors abort the client response
// (http.ErrAbortHandler), as httputil.ReverseProxy does.
func NewHandler(o RouteOptions) http.Handler {
	target := o.Upstream.Target
	name := o.Upstream.Name
	h := &routeHandler{opts: o}
	h.fast, _ = o.Upstream.Transport.(*fastTransport)
	h.rp = &httputil.ReverseProxy{
		Transport:  o.Upstream.Transport,
		BufferPool: sharedBuffers,
		Rewrite: func(pr *httputil.ProxyRequest) {
			for k := range pr.Out.Header {
				if isForwardingHeader(k) || isFramingLookalike(k) {
					delete(pr.Out.Header, k)
				}
			}
			pr.SetURL(target)
			pr.SetXForwarded()
			setForwarded(pr)
			// The gateway strips (and counts) before dispatch; doing it
			// again here keeps this handler safe on its own.
			identity.StripInbound(pr.Out.Header)
			if o.Format != identity.FormatNone && o.IdentityOf != nil {
				if id, by := o.IdentityOf(pr.In); id != nil {
					id.SetHeaders(pr.Out.Header, o.Format, by)
				}
			}
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			// ReverseProxy passes its outgoing request, whose body it has
			// wrapped: the client's body is found through the context.
			if cb, ok := r.Context().Value(clientBodyKey{}).(*clientBody); ok {
				if berr := cb.failed(); berr != nil {
					problem.Write(w, clientBodyProblem(berr, cb.path))
					return
				}
			}
			o.OnError(w, r, Classify(name, err))
		},
	}
	return h
}

func (h *routeHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.fast != nil && fastShape(r) {
		switch {
		case r.ContentLength == 0:
			h.serveFast(w, r, nil, false)
			return
		case r.ContentLength > 0 && r.ContentLength <= maxBufferedBody:
			h.serveBuffered(w, r)
			return
		case r.ContentLength > maxBufferedBody:
			h.serveFast(w, r, nil, true)
			return
		}
	}
	if r.Body != nil && r.Body != http.NoBody {
		cb := &clientBody{ReadCloser: r.Body, path: r.URL.Path}
		r = r.WithContext(context.WithValue(r.Context(), clientBodyKey{}, cb))
		r.Body = cb
	}
	h.rp.ServeHTTP(w, r)
}

// clientBodyKey holds the *clientBody of a request that goes through
// ReverseProxy.
type clientBodyKey struct{}

// maxBufferedBody is the largest request body read into memory before the
// upstream request is sent (typical JSON API bodies). Buffering decouples
// the upstream request from the client connection: net/http may close an
// unread request body as soon as the response starts, which with
// ReverseProxy occasionally breaks the upstream connection mid-response.
const maxBufferedBody = 64 << 10

var bodyBufs = sync.Pool{New: func() any { b := make([]byte, maxBufferedBody); return &b }}

// serveBuffered reads a small request body completely, then proxies it on
// the fast path.
func (h *routeHandler) serveBuffered(w http.ResponseWriter, r *http.Request) {
	bp := bodyBufs.Get().(*[]byte)
	defer bodyBufs.Put(bp)
	body := (*bp)[:r.ContentLength]
	if _, err := io.ReadFull(r.Body, body); err != nil {
		problem.Write(w, clientBodyProblem(err, r.URL.Path))
		return
	}
	h.serveFast(w, r, body, false)
}

// fastShape reports whether a server request can take the fast path when
// its body (if any) is known in advance: no upgrade, not CONNECT, no
// chunked body.
func fastShape(r *http.Request) bool {
	return r.Method != http.MethodConnect && len(r.TransferEncoding) == 0 &&
		r.Header.Get("Upgrade") == ""
}

// setForwarded sets the RFC 7239 Forwarded header from the connection.
func setForwarded(pr *httputil.ProxyRequest) {
	host, _, err := net.SplitHostPort(pr.In.RemoteAddr)
	if err != nil {
		host = pr.In.RemoteAddr
	}
	proto := "http"
	if pr.In.TLS != nil {
		proto = "https"
	}
	pr.Out.Header.Set("Forwarded", string(appendForwardedValue(nil, host, pr.In.Host, proto)))
}

// appendForwardedValue appends `for=IP;host=H;proto=P` (RFC 7239), quoting
// what is not a token.
func appendForwardedValue(b []byte, ip, host, proto string) []byte {
	b = append(b, "for="...)
	if strings.Contains(ip, ":") {
		b = append(b, `"[`...)
		b = append(b, ip...)
		b = append(b, `]"`...)
	} else {
		b = append(b, ip...)
	}
	if host != "" {
		b = append(b, ";host="...)
		if httpfield.IsToken(host) {
			b = append(b, host...)
		} else {
			b = append(b, '"')
			for i := 0; i < len(host); i++ {
				if c := host[i]; c == '"' || c == '\\' {
					b = append(b, '\\')
				}
				b = append(b, host[i])
			}
			b = append(b, '"')
		}
	}
	b = append(b, ";proto="...)
	return append(b, proto...)
}

// bufferPool lends 32 KiB copy buffers to every route's proxy, so copying a
// response body does not allocate per request.
type bufferPool struct{ p sync.Pool }

func (b *bufferPool) Get() []byte {
	if v, ok := b.p.Get().(*[]byte); ok {
		return *v
	}
	return make([]byte, 32<<10)
}

func (b *bufferPool) Put(buf []byte) { b.p.Put(&buf) }

// sharedBuffers is immutable configuration-free state (a pool of scratch
// buffers), shared by all handlers in the process.
var sharedBuffers = &bufferPool{}
