package gateway

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/mtlsgate/mtlsgate/internal/config"
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
	if g.ca != nil && g.ca.pub != nil {
		mux.HandleFunc("POST /api/ca/revoke", g.ca.serveRevoke)
	}
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
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 60 * time.Second}
	g.admin, g.adminLn = srv, ln
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			g.log.Error("admin server stopped", "error", err)
		}
	}()
	return nil
}
