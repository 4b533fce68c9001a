package gateway

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/mtlsgate/mtlsgate/internal/demo"
)

// startEchoServers starts the config's built-in mTLS echo upstreams. They
// are started once with the gateway (a reload does not change them).
func (g *Gateway) startEchoServers() error {
	for _, e := range g.state.Load().cfg.EchoServers {
		ln, err := net.Listen("tcp", e.Address)
		if err != nil {
			return fmt.Errorf("gateway: echo server %s: %w", e.Name, err)
		}
		srv, err := demo.EchoServer(ln, e.Name+" (mtlsgate echo server)", e.Cert, e.Key, e.ClientCA, e.AllowCN)
		if err != nil {
			ln.Close()
			return fmt.Errorf("gateway: echo server %s: %w", e.Name, err)
		}
		g.echo = append(g.echo, srv)
		g.log.Info("echo server listening", "name", e.Name, "address", ln.Addr().String())
	}
	return nil
}

func (g *Gateway) stopEchoServers() {
	for _, s := range g.echo {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = s.Shutdown(ctx)
		cancel()
	}
	g.echo = nil
}
