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
	"github.com/mtlsgate/mtlsgate/internal/config"
	"github.com/mtlsgate/mtlsgate/internal/est"
	"github.com/mtlsgate/mtlsgate/internal/store"
)

// buildEST makes the enrollment handler of an est section: HTTP Basic
// accounts (passwords read from their files, which are watched), profiles
// per label, issuing from the built-in CA.
func buildEST(c *config.EST, a *ca.Authority, st *state, log *slog.Logger) (http.Handler, error) {
	var probs config.Problems
	add := func(path string, err error) { probs = append(probs, &config.FieldError{Path: path, Err: err}) }
	if _, err := a.Profile(c.Profile); err != nil {
		add("est.profile", err)
	}
	labels := map[string]string{}
	for name, l := range c.Labels {
		if _, err := a.Profile(l.Profile); err != nil {
			add(fmt.Sprintf("est.labels.%s.profile", name), err)
		}
		labels[name] = l.Profile
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
	if len(probs) > 0 {
		return nil, probs
	}
	tokens := &est.Tokens{
		Lookup: func(tok string) (string, error) {
			cn, err := a.EnrollmentTokenCN(context.Background(), tok)
			if errors.Is(err, ca.ErrBadToken) {
				return "", fmt.Errorf("%w: %v", est.ErrUnauthenticated, err)
			}
			return cn, err
		},
		Spend: func(tok string) error { return a.SpendEnrollmentToken(context.Background(), tok) },
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
		Reenrolled: reenrolled,
		Logger:     log.With("component", "est"),
	})
}
