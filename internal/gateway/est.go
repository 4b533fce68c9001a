package gateway

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"

	"github.com/mtlsgate/mtlsgate/internal/ca"
	"github.com/mtlsgate/mtlsgate/internal/certload"
	"github.com/mtlsgate/mtlsgate/internal/config"
	"github.com/mtlsgate/mtlsgate/internal/est"
	"github.com/mtlsgate/mtlsgate/internal/store"
	"github.com/prometheus/client_golang/prometheus"
)

// buildEST makes the enrollment handler of an est section: HTTP Basic
// accounts (passwords read from their files, which are watched), one-time
// tokens, bootstrap certificates, profiles and approval per label, issuing
// from the built-in CA. It counts requests in mtlsgate_est_requests_total,
// registered on reg (nil: counted, not exported). It changes the EST
// listener of st, which is not published yet: see bootstrapListener.
func buildEST(c *config.EST, a *ca.Authority, st *state, log *slog.Logger, reg prometheus.Registerer) (http.Handler, error) {
	var probs config.Problems
	add := func(path string, err error) { probs = append(probs, &config.FieldError{Path: path, Err: err}) }
	if _, err := a.Profile(c.Profile); err != nil {
		add("est.profile", err)
	}
	labels := map[string]string{}
	manual := map[string]bool{"": c.Approval == "manual"}
	for name, l := range c.Labels {
		if _, err := a.Profile(l.Profile); err != nil {
			add(fmt.Sprintf("est.labels.%s.profile", name), err)
		}
		labels[name] = l.Profile
		manual[name] = l.Approval == "manual" || l.Approval == "" && manual[""]
	}
	auth := &est.BasicAuth{}
	for i, acc := range c.Accounts {
		st.files = append(st.files, acc.PasswordFile)
		pw, err := os.ReadFile(acc.PasswordFile)
		if err != nil {
			add(fmt.Sprintf("est.accounts[%d].password_file", i), err)
			continue
		}
		pw = bytes.TrimRight(pw, "\r\n")
		if len(pw) < 8 {
			add(fmt.Sprintf("est.accounts[%d].password_file", i), fmt.Errorf("%s: the password must be at least 8 characters", acc.PasswordFile))
			continue
		}
		auth.Accounts = append(auth.Accounts, est.Account{Username: acc.Username, Password: string(pw), AllowCN: acc.AllowCN})
	}
	bootstrap, err := bootstrapListener(c, st)
	if err != nil {
		add("est.bootstrap_ca", err)
	}
	requests, err := estRequestsCounter(reg)
	if err != nil {
		add("est", err)
	}
	if len(probs) > 0 {
		return nil, probs
	}
	tokens := &est.Tokens{
		Lookup: func(tok string) (string, error) { return tokenCN(a.EnrollmentTokenCN(context.Background(), tok)) },
		Spend:  func(tok string) error { return a.SpendEnrollmentToken(context.Background(), tok) },
		Used:   func(tok string) (string, error) { return tokenCN(a.UsedEnrollmentTokenCN(context.Background(), tok)) },
	}
	var reenrolled func(context.Context, *x509.Certificate) error
	if c.RevokeSuperseded {
		reenrolled = func(ctx context.Context, old *x509.Certificate) error {
			_, err := a.Revoke(ctx, store.SerialHex(old.SerialNumber), 4) // superseded
			return err
		}
	}
	return est.NewServer(est.Options{
		Signer: est.FromAuthority(a), Auth: est.AnyOf{auth, tokens}, DefaultProfile: c.Profile, Labels: labels,
		Reenrolled:     reenrolled,
		ManualApproval: manual, Queue: a.Store(), RetryAfter: c.RetryAfter.D(),
		Bootstrap: bootstrap, BootstrapAllowCN: c.BootstrapAllowCN,
		ServerKeygen: c.ServerKeygen,
		Observe:      func(op, result string) { requests.WithLabelValues(op, result).Inc() },
		Logger:       log.With("component", "est"),
	})
}

// tokenCN maps the CA's "bad token" to an authentication failure.
func tokenCN(cn string, err error) (string, error) {
	if errors.Is(err, ca.ErrBadToken) {
		return "", fmt.Errorf("%w: %v", est.ErrUnauthenticated, err)
	}
	return cn, err
}

// bootstrapListener sets up est.bootstrap_ca on the EST listener of st (not
// yet published): its verifier admits, at the handshake, client chains
// that fail client_ca but verify against the bootstrap CA, and the
// listener names the bootstrap CA to clients as acceptable (many clients
// send a certificate only from a CA the server names). Such a connection
// has no identity anywhere (routes answer it 401, like one without a
// certificate); only the EST handler reads its chain, through the returned
// hook. Bootstrap certificates are another CA's: the built-in CA does not
// check their revocation.
func bootstrapListener(c *config.EST, st *state) (func(*http.Request) []*x509.Certificate, error) {
	if c.BootstrapCA == "" {
		return nil, nil
	}
	path := c.BootstrapCA // absolute: config.LoadFile resolves it
	st.files = append(st.files, path)
	b, err := certload.LoadTrustBundle(certload.TrustSpec{File: path})
	if err != nil {
		return nil, err
	}
	for i, cert := range b.Certs {
		if !cert.BasicConstraintsValid || !cert.IsCA {
			return nil, fmt.Errorf("%s: certificate %d (%s) is not a CA certificate", path, i+1, cert.Subject)
		}
	}
	ls := st.listeners[c.Listener]
	if ls == nil || ls.verifier == nil || ls.tlsConfig == nil {
		return nil, fmt.Errorf("listener %q does not ask for client certificates: bootstrap certificates need its tls.client_auth to be request or require", c.Listener)
	}
	ls.verifier.bootstrap = b.Pool
	advertised := x509.NewCertPool()
	if ls.tlsConfig.ClientCAs != nil {
		advertised = ls.tlsConfig.ClientCAs.Clone() // never the verifier's roots: those make identities
	}
	for _, cert := range b.Certs {
		advertised.AddCert(cert)
	}
	ls.tlsConfig.ClientCAs = advertised
	listener := c.Listener
	return func(r *http.Request) []*x509.Certificate {
		ci := connInfoOf(r)
		if ci.listener != listener {
			return nil
		}
		return bootstrapChain(st, ci)
	}, nil
}

// estRequestsCounter is mtlsgate_est_requests_total, registered on reg once
// per gateway (a reload gets the counter registered before).
func estRequestsCounter(reg prometheus.Registerer) (*prometheus.CounterVec, error) {
	cv := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mtlsgate_est_requests_total",
		Help: "EST requests answered, by operation and result (ok, queued, bad_request, unauthorized, refused, not_found, error).",
	}, []string{"operation", "result"})
	if reg == nil {
		return cv, nil
	}
	if err := reg.Register(cv); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(*prometheus.CounterVec); ok {
				return existing, nil
			}
		}
		return nil, err
	}
	return cv, nil
}
