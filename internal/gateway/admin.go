package gateway

import (
	"bytes"
	"crypto/subtle"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"strings"
	"time"

	"github.com/mtlsgate/mtlsgate/internal/config"
	"github.com/mtlsgate/mtlsgate/internal/problem"
)

// startAdmin serves /metrics, /healthz and /readyz on the admin address.
func (g *Gateway) startAdmin(cfg *config.Config) error {
	if cfg.Admin == nil {
		return nil
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", g.metrics.Handler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if !g.ready.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("not ready\n"))
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	statsHandler := g.stats.Handler()
	if cfg.Admin.APITokenFile != "" {
		token, err := readAPIToken(cfg.Admin.APITokenFile)
		if err != nil {
			return fmt.Errorf("gateway: admin.api_token_file: %w", err)
		}
		if g.ca != nil && g.ca.pub != nil {
			mux.Handle("POST /api/ca/revoke", requireToken(token, requireJSON(http.HandlerFunc(g.ca.serveRevoke))))
		}
		// Call statistics name client identities: with a token
		// configured, only its holders read them.
		statsHandler = requireToken(token, statsHandler)
	}
	mux.Handle("/api/stats", statsHandler)
	if cfg.Admin.Pprof {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
		g.log.Warn("admin: pprof is on: /debug/pprof/ exposes profiles to anyone who can reach the admin address", "address", cfg.Admin.Address)
	}
	ln, err := net.Listen("tcp", cfg.Admin.Address)
	if err != nil {
		return fmt.Errorf("gateway: admin: %w", err)
	}
	if cfg.Admin.APITokenFile == "" && !loopbackAddr(ln.Addr()) {
		g.log.Warn("admin: the listener is reachable beyond this host and /api/stats (call statistics by client identity) needs no token; set admin.api_token_file, or bind admin.address to 127.0.0.1",
			"address", ln.Addr().String())
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 60 * time.Second}
	g.admin, g.adminLn = srv, ln
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			g.log.Error("admin server stopped", "error", err)
		}
	}()
	return nil
}

// loopbackAddr reports whether a listener's address is reachable from
// this host only.
func loopbackAddr(a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	return ok && ta.IP.IsLoopback()
}

// minAPIToken is the shortest admin API token accepted.
const minAPIToken = 32

// readAPIToken reads the admin API token (one trailing newline dropped).
func readAPIToken(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	token := bytes.TrimRight(data, "\r\n")
	if len(token) < minAPIToken {
		return nil, fmt.Errorf("%s: the token must be at least %d characters (e.g. openssl rand -hex 32 > %s)", path, minAPIToken, path)
	}
	return token, nil
}

// requireToken admits requests with "Authorization: Bearer <token>". A
// custom header cannot be sent cross-site without a CORS preflight, which
// this server never approves, so web pages cannot drive the API either.
func requireToken(token []byte, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), token) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="mtlsgate admin"`)
			problem.Write(w, problem.Details{Status: http.StatusUnauthorized, Reason: "admin_token_required", Detail: "send Authorization: Bearer <the token in admin.api_token_file>"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// requireJSON admits requests with a JSON body.
func requireJSON(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
			problem.Write(w, problem.Details{Status: http.StatusUnsupportedMediaType, Reason: "json_required", Detail: "send Content-Type: application/json"})
			return
		}
		next.ServeHTTP(w, r)
	})
}
