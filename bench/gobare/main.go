// Command gobare is the benchmark's Go ceiling: a bare net/http server with
// the same mTLS settings as the gateway (client certificate required and
// verified) that answers the upstream's fixed body itself, without
// proxying. Whatever mtlsgate does on top of TLS + net/http shows up as the
// gap to this peer.
package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/mtlsgate/mtlsgate/bench/internal/benchtls"
)

// body is the same 64 bytes bench/upstream answers.
const body = `{"ok":true,"service":"bench-upstream","pad":"xxxxxxxxxxxxxxxxx"}` + "\n"

func main() {
	listen := flag.String("listen", "127.0.0.1:8443", "address to listen on")
	cert := flag.String("cert", "", "server certificate PEM")
	key := flag.String("key", "", "server key PEM")
	clientCA := flag.String("client-ca", "", "CA bundle that client certificates must chain to")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile here (stopped on SIGTERM)")
	flag.Parse()
	if *cert == "" || *key == "" || *clientCA == "" {
		fmt.Fprintln(os.Stderr, "gobare: --cert, --key and --client-ca are required")
		os.Exit(2)
	}
	cfg, err := benchtls.ServerConfig(*cert, *key, *clientCA)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gobare:", err)
		os.Exit(1)
	}
	b := []byte(body)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
			http.Error(w, "client certificate required", http.StatusUnauthorized)
			return
		}
		w.Header()["Content-Type"] = []string{"application/json"}
		_, _ = w.Write(b)
	})
	srv := &http.Server{
		Handler:           h,
		TLSConfig:         cfg,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          nil,
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gobare:", err)
		os.Exit(1)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "gobare:", err)
			os.Exit(1)
		}
	}
	go func() {
		<-sig
		pprof.StopCPUProfile()
		os.Exit(0)
	}()
	fmt.Fprintf(os.Stderr, "gobare: listening on %s\n", ln.Addr())
	if err := srv.ServeTLS(ln, "", ""); err != nil {
		fmt.Fprintln(os.Stderr, "gobare:", err)
		os.Exit(1)
	}
}
