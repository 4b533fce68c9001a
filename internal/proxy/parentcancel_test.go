package proxy

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/mtlsgate/mtlsgate/internal/connctx"
	"github.com/mtlsgate/mtlsgate/internal/h1"
	"github.com/mtlsgate/mtlsgate/internal/h2"
)

// TestParentCancelFiresWatch: when ConnContext's context is
// cancelled, the request context is cancelled (Done) and, as with
// context.AfterFunc before the change, the proxy's watch must run. h1
// (Init follows the parent) does it; h2's stream slots (InitOwned) are
// only fired by cancelConn, which the parent's cancellation never calls.
func TestParentCancelFiresWatch(t *testing.T) {
	for _, proto := range []string{"h1", "h2"} {
		t.Run(proto, func(t *testing.T) {
			parent, cancel := context.WithCancel(context.Background())
			defer cancel()
			started := make(chan struct{}, 1)
			res := make(chan string, 1)
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				fired := make(chan struct{})
				if !r.Context().(connctx.Watcher).Watch(func() { close(fired) }) {
					res <- "slot taken"
					return
				}
				started <- struct{}{}
				select {
				case <-fired:
					res <- "fired"
				case <-time.After(2 * time.Second):
					res <- "not fired; ctx.Err() = " + errString(r.Context().Err())
				}
			})
			cc := func(context.Context, net.Conn) context.Context { return parent }
			var addr string
			if proto == "h1" {
				addr = serveWith(t, (&h1.Server{Handler: h, ConnContext: cc}).ServeConn)
			} else {
				addr = serveWith(t, (&h2.Server{Handler: h, ConnContext: cc}).ServeConn)
			}
			go func() { <-started; cancel() }()
			var rt http.RoundTripper = &http.Transport{}
			if proto == "h2" {
				rt = &http2.Transport{AllowHTTP: true, DialTLSContext: func(ctx context.Context, n, a string, _ *tls.Config) (net.Conn, error) {
					return net.Dial(n, a)
				}}
			}
			req, _ := http.NewRequest("GET", "http://"+addr+"/", nil)
			go func() {
				if resp, err := rt.RoundTrip(req); err == nil {
					resp.Body.Close()
				}
			}()
			if r := <-res; r != "fired" {
				t.Fatal(r)
			}
		})
	}
}

func errString(err error) string {
	if err == nil {
		return "nil"
	}
	return err.Error()
}
