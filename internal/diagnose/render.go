package diagnose

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"
)

// Marks before each step in the text output: passed, failed, warning (does
// not fail the check), not checked.
const (
	markOK   = "✓"
	markFail = "✗"
	markWarn = "!"
	markSkip = "-"
)

var stepLabels = map[string]string{
	"key_usage":           "key usage",
	"route_match":         "route match",
	"server_expiry":       "server certificate expiry",
	"client_cert_request": "client certificate request",
	"client_cert":         "client certificate",
	"client_expiry":       "client certificate expiry",
}

func stepLabel(s Step) string {
	name := s.Name
	if l, ok := stepLabels[name]; ok {
		name = l
	}
	switch {
	case s.Name == "route" && s.Route != "":
		return "route " + s.Route
	case s.Listener != "":
		return name + ", listener " + s.Listener
	case s.Route != "":
		return name + ", route " + s.Route
	}
	return name
}

func mark(status string) string {
	switch status {
	case StatusOK:
		return markOK
	case StatusWarn:
		return markWarn
	case StatusSkip:
		return markSkip
	}
	return markFail
}

// writeSteps writes numbered steps, one sentence each.
func writeSteps(w *bufio.Writer, steps []Step) {
	for i, s := range steps {
		fmt.Fprintf(w, "%2d. %s %s: %s\n", i+1, mark(s.Status), stepLabel(s), oneLine(s.Detail))
	}
}

// oneLine keeps a sentence on one line whatever a certificate field holds.
func oneLine(s string) string {
	return strings.NewReplacer("\r", `\r`, "\n", `\n`).Replace(s)
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// WriteCertText writes r for people: the certificate, numbered steps marked
// ✓ (passed), ✗ (failed), ! (warning) or - (not checked), and the verdict.
// It never writes key material (a report holds none).
func WriteCertText(out io.Writer, r *CertReport) error {
	w := bufio.NewWriter(out)
	c := r.Certificate
	fmt.Fprintf(w, "Certificate %s\n", oneLine(c.Subject))
	file := filepath.Base(r.File)
	if n := len(r.Chain); n > 0 {
		file += fmt.Sprintf(" (with %d more certificate%s: %s)", n, plural(n), oneLine(chainInfoNames(r.Chain)))
	}
	fmt.Fprintf(w, "  file:    %s\n", file)
	fmt.Fprintf(w, "  issuer:  %s\n", oneLine(c.Issuer))
	fmt.Fprintf(w, "  serial:  %s\n", c.Serial)
	fmt.Fprintf(w, "  valid:   %s to %s\n", stamp(c.NotBefore), stamp(c.NotAfter))
	if len(c.SANs) > 0 {
		fmt.Fprintf(w, "  SANs:    %s\n", oneLine(strings.Join(c.SANs, ", ")))
	}
	fmt.Fprintf(w, "  sha256:  %s\n", c.FingerprintSHA256)
	if r.Config != "" {
		fmt.Fprintf(w, "  config:  %s\n", r.Config)
	}
	fmt.Fprintln(w)
	writeSteps(w, r.Steps)
	fmt.Fprintln(w)
	fmt.Fprintln(w, oneLine(r.Verdict))
	return w.Flush()
}

func chainInfoNames(cs []CertInfo) string {
	names := make([]string, len(cs))
	for i, c := range cs {
		names[i] = c.Subject
	}
	return strings.Join(names, ", ")
}

// WriteConnText writes r for people: the connection, the server's chain,
// numbered steps and the verdict.
func WriteConnText(out io.Writer, r *ConnReport) error {
	w := bufio.NewWriter(out)
	if r.Upstream != "" {
		fmt.Fprintf(w, "Upstream %s: %s\n", r.Upstream, r.URL)
	} else {
		fmt.Fprintf(w, "URL %s\n", r.URL)
	}
	fmt.Fprintf(w, "  address:     %s\n", r.Address)
	if r.ServerName != "" {
		fmt.Fprintf(w, "  server name: %s\n", r.ServerName)
	}
	if r.TLSVersion != "" {
		fmt.Fprintf(w, "  TLS:         %s, %s\n", r.TLSVersion, r.CipherSuite)
	}
	if len(r.ServerChain) > 0 {
		fmt.Fprintln(w, "  server chain:")
		for i, c := range r.ServerChain {
			fmt.Fprintf(w, "    %d. %s\n", i, oneLine(c.Subject))
			fmt.Fprintf(w, "       issued by %s, valid %s to %s\n", oneLine(c.Issuer), stamp(c.NotBefore), stamp(c.NotAfter))
			if len(c.SANs) > 0 {
				fmt.Fprintf(w, "       SANs: %s\n", oneLine(strings.Join(c.SANs, ", ")))
			}
		}
	}
	if r.ClientCertRequested {
		if len(r.AcceptableCAs) == 0 {
			fmt.Fprintln(w, "  acceptable client CAs: none named by the server")
		} else {
			fmt.Fprintln(w, "  acceptable client CAs:")
			for _, n := range r.AcceptableCAs {
				fmt.Fprintf(w, "    - %s\n", oneLine(n))
			}
		}
	}
	fmt.Fprintln(w)
	writeSteps(w, r.Steps)
	fmt.Fprintln(w)
	fmt.Fprintln(w, oneLine(r.Verdict))
	return w.Flush()
}

// WriteJSON writes a report (a *CertReport or *ConnReport) as indented
// JSON.
func WriteJSON(w io.Writer, report any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(report)
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
