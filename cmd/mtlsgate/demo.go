package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/mtlsgate/mtlsgate/internal/demo"
	"github.com/mtlsgate/mtlsgate/internal/gateway"
	"github.com/spf13/cobra"
)

func newDemoCmd(stdout, stderr io.Writer) *cobra.Command {
	var dir, listen, admin string
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run a complete local demo: gateway, mTLS upstream and certificates",
		Long: `Mint a throw-away PKI, write a config, start an echo upstream that only
accepts the gateway's client certificate, and run the gateway in front of it,
all on loopback. It prints curl commands that show 200 (allowed client),
401 (no certificate) and 403 (valid certificate, not allowed).`,
		Example: "  mtlsgate demo\n  mtlsgate demo --listen 127.0.0.1:9443 --dir ./demo",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDemo(cmd, dir, listen, admin, stdout, stderr)
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "where to write certificates and config (default: a new temporary directory)")
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:8443", "gateway address (a free port is chosen if it is taken)")
	cmd.Flags().StringVar(&admin, "admin", "127.0.0.1:9090", "admin address for /metrics (a free port is chosen if it is taken)")
	return cmd
}

// freeAddr returns addr if it can be bound, else a free port on its host.
func freeAddr(addr string) (string, error) {
	if ln, err := net.Listen("tcp", addr); err == nil {
		_ = ln.Close()
		return addr, nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return "", err
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func runDemo(cmd *cobra.Command, dir, listen, admin string, stdout, stderr io.Writer) error {
	if dir == "" {
		d, err := os.MkdirTemp("", "mtlsgate-demo-")
		if err != nil {
			return err
		}
		dir = d
	}
	dir, _ = filepath.Abs(dir)
	var err error
	if listen, err = freeAddr(listen); err != nil {
		return fmt.Errorf("demo: --listen: %w", err)
	}
	if admin, err = freeAddr(admin); err != nil {
		return fmt.Errorf("demo: --admin: %w", err)
	}
	upLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	files, err := demo.Setup(dir, listen, admin, upLn.Addr().String())
	if err != nil {
		upLn.Close()
		return err
	}
	up, err := demo.EchoUpstream(upLn, files.Upstream[0], files.Upstream[1], files.UpstreamCA)
	if err != nil {
		upLn.Close()
		return err
	}
	defer up.Close()
	log := newLogger(stderr, "info", "text")
	g, err := gateway.New(gateway.Options{ConfigPath: files.Config, Logger: log, AccessLog: stderr})
	if err != nil {
		return configError(stderr, files.Config, err)
	}
	ctx := cmd.Context()
	go func() { _ = g.Watch(ctx, 300*time.Millisecond) }()
	errc := make(chan error, 1)
	go func() { errc <- g.Run(ctx) }()
	// Wait until the listener is up before printing commands.
	for i := 0; i < 100 && g.Addr("public") == ""; i++ {
		time.Sleep(20 * time.Millisecond)
	}
	// Print the bound addresses: --listen 127.0.0.1:0 picks a port.
	if a := g.Addr("public"); a != "" {
		listen = a
	}
	if a := g.Addr("admin"); a != "" {
		admin = a
	}
	printDemo(stdout, files, listen, admin)
	return <-errc
}

func printDemo(w io.Writer, f *demo.Files, listen, admin string) {
	base := "https://" + listen
	ca := f.ServerCA
	fmt.Fprintf(w, `
mtlsgate demo is running: gateway on %[1]s, mTLS upstream behind it.
Certificates and config are in %[2]s (config: %[3]s).

  # 200: alice (CN=alice, OU=payments) is allowed on /api/
  curl --cacert %[4]s --cert %[5]s --key %[6]s %[1]s/api/orders

  # 401: no client certificate
  curl --cacert %[4]s %[1]s/api/orders

  # 403: bob has a valid certificate, but is not in the allow list
  curl --cacert %[4]s --cert %[7]s --key %[8]s %[1]s/api/orders

  # spoofed identity headers are stripped before the upstream sees them
  curl --cacert %[4]s --cert %[5]s --key %[6]s -H 'Client-Cert: :Zm9yZ2Vk:' %[1]s/api/orders

  # metrics
  curl http://%[9]s/metrics

Press Ctrl-C to stop.
`, base, f.Dir, f.Config, ca, f.Alice[0], f.Alice[1], f.Bob[0], f.Bob[1], admin)
}
