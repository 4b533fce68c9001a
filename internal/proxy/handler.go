package proxy

import (
	"net"
	"net/http"
	"net/http/httputil"
	"strings"
	"sync"

	"github.com/mtlsgate/mtlsgate/internal/identity"
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

// NewHandler returns the reverse proxy for one route. It strips every
// client-sent identity header, sets the trusted ones for the connection's
// verified identity, sets X-Forwarded-For/-Host/-Proto and Forwarded from the
// connection (never trusting client-sent copies), and maps upstream failures
// through OnError.
func NewHandler(o RouteOptions) http.Handler {
	target := o.Upstream.Target
	name := o.Upstream.Name
	return &httputil.ReverseProxy{
		Transport:  o.Upstream.Transport,
		BufferPool: sharedBuffers,
		Rewrite: func(pr *httputil.ProxyRequest) {
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
			o.OnError(w, r, Classify(name, err))
		},
	}
}

// setForwarded sets the RFC 7239 Forwarded header from the connection.
func setForwarded(pr *httputil.ProxyRequest) {
	host, _, err := net.SplitHostPort(pr.In.RemoteAddr)
	if err != nil {
		host = pr.In.RemoteAddr
	}
	var b strings.Builder
	b.Grow(64)
	b.WriteString("for=")
	if strings.Contains(host, ":") {
		b.WriteString(`"[` + host + `]"`)
	} else {
		b.WriteString(host)
	}
	if h := pr.In.Host; h != "" && isToken(h) {
		b.WriteString(";host=")
		b.WriteString(h)
	} else if h != "" {
		b.WriteString(`;host="` + strings.ReplaceAll(strings.ReplaceAll(h, `\`, `\\`), `"`, `\"`) + `"`)
	}
	if pr.In.TLS != nil {
		b.WriteString(";proto=https")
	} else {
		b.WriteString(";proto=http")
	}
	pr.Out.Header.Set("Forwarded", b.String())
}

// isToken reports whether s is an RFC 7230 token (can go unquoted).
func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return s != ""
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
