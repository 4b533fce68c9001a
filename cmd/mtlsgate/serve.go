package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/mtlsgate/mtlsgate/internal/config"
	"github.com/mtlsgate/mtlsgate/internal/gateway"
	"github.com/spf13/cobra"
)

func newServeCmd(stdout, stderr io.Writer) *cobra.Command {
	var cfgPath string
	var watch bool
	cmd := &cobra.Command{
		Use:   "serve -c mtlsgate.yaml",
		Short: "Run the gateway",
		Long: `Run the gateway with a config file.

SIGHUP, or a change to the config file or any certificate, key or trust
bundle it names, reloads everything without dropping connections; a reload
that fails keeps the previous configuration. SIGTERM or Ctrl-C drains
connections and stops.`,
		Example: "  mtlsgate serve -c mtlsgate.yaml",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return serve(cmd, cfgPath, watch, stdout, stderr)
		},
	}
	cmd.Flags().StringVarP(&cfgPath, "config", "c", "mtlsgate.yaml", "config file")
	cmd.Flags().BoolVar(&watch, "watch", true, "reload when a referenced file changes")
	return cmd
}

func newLogger(w io.Writer, level, format string) *slog.Logger {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(level))
	opts := &slog.HandlerOptions{Level: lv}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// logSettings peeks at the config's log section so the logger exists before
// the gateway is built (and can report the build's problems).
func logSettings(path string) config.Log {
	cfg, _, err := config.LoadFile(path)
	if err != nil {
		return config.Log{Level: "info", Format: "json"}
	}
	return cfg.Log
}

func serve(cmd *cobra.Command, cfgPath string, watch bool, stdout, stderr io.Writer) error {
	ls := logSettings(cfgPath)
	log := newLogger(stderr, ls.Level, ls.Format)
	g, err := gateway.New(gateway.Options{ConfigPath: cfgPath, Logger: log, AccessLog: stdout})
	if err != nil {
		return configError(stderr, cfgPath, err)
	}
	ctx := cmd.Context()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				log.Info("SIGHUP received; reloading")
				_ = g.Reload()
			}
		}
	}()
	if watch {
		go func() {
			if err := g.Watch(ctx, 300*time.Millisecond); err != nil {
				log.Warn("file watching unavailable; use SIGHUP to reload", "error", err)
			}
		}()
	}
	log.Info("mtlsgate starting", "version", version, "config", cfgPath)
	if err := g.Run(ctx); err != nil {
		return err
	}
	log.Info("mtlsgate stopped")
	return nil
}

// configError prints every problem on its own line and returns exit 2.
func configError(w io.Writer, path string, err error) error {
	probs := config.AsProblems(err)
	if len(probs) == 1 && probs[0].Path == "" {
		fmt.Fprintf(w, "mtlsgate: %v\n", probs[0].Err)
		return exitError(2)
	}
	fmt.Fprintf(w, "mtlsgate: %s: %d problem%s:\n", path, len(probs), plural(len(probs)))
	for _, p := range probs {
		fmt.Fprintf(w, "  %s\n", strings.ReplaceAll(p.Error(), "\n", "\n    "))
	}
	return exitError(2)
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func newValidateCmd(stdout, stderr io.Writer) *cobra.Command {
	var cfgPath string
	cmd := &cobra.Command{
		Use:   "validate -c mtlsgate.yaml",
		Short: "Check a config file and every file it names",
		Long: `Check a config strictly: unknown keys, wrong types, missing or unreadable
files, keys that do not match their certificates, wrong keystore passwords,
routes naming unknown upstreams, routes that can never match. Every problem
is listed with its YAML path and line. Exit status 0 only when valid.`,
		Example: "  mtlsgate validate -c mtlsgate.yaml",
		Args:    cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			warnings, err := gateway.Check(cfgPath)
			if err != nil {
				return configError(stderr, cfgPath, err)
			}
			for _, w := range warnings {
				fmt.Fprintf(stderr, "warning: %s\n", w)
			}
			fmt.Fprintf(stdout, "%s: valid\n", cfgPath)
			return nil
		},
	}
	cmd.Flags().StringVarP(&cfgPath, "config", "c", "mtlsgate.yaml", "config file")
	return cmd
}
