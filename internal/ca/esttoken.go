package ca

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/mtlsgate/mtlsgate/internal/store"
)

// ErrBadToken: an enrollment token that is unknown, used or expired.
var ErrBadToken = errors.New("unknown, used or expired enrollment token")

func tokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// CreateEnrollmentToken makes a one-time token that may enroll exactly the
// common name cn until ttl has passed. Only its hash is stored; the token
// itself is returned once.
func (a *Authority) CreateEnrollmentToken(ctx context.Context, cn string, ttl time.Duration) (string, error) {
	if cn == "" || len(cn) > 64 {
		return "", errors.New("an enrollment token needs a common name of 1 to 64 characters")
	}
	if ttl <= 0 || ttl > 30*day {
		return "", fmt.Errorf("token lifetime %s: want more than 0 and at most 30 days", ttl)
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	token := base64.RawURLEncoding.EncodeToString(b[:])
	now := a.now().UTC()
	t := store.Token{Hash: tokenHash(token), CN: cn, CreatedAt: now, ExpiresAt: now.Add(ttl)}
	if err := a.st.CreateToken(ctx, t, a.audit("est-token", "", fmt.Sprintf("cn=%q expires=%s", cn, t.ExpiresAt.Format(time.RFC3339)))); err != nil {
		return "", err
	}
	return token, nil
}

// EnrollmentTokenCN returns the common name an unused, unexpired token may
// enroll (ErrBadToken otherwise).
func (a *Authority) EnrollmentTokenCN(ctx context.Context, token string) (string, error) {
	t, err := a.st.Token(ctx, tokenHash(token))
	if errors.Is(err, store.ErrNotFound) || err == nil && (!t.UsedAt.IsZero() || !a.now().Before(t.ExpiresAt)) {
		return "", ErrBadToken
	}
	if err != nil {
		return "", err
	}
	return t.CN, nil
}

// SpendEnrollmentToken uses a token up (once; ErrBadToken after that).
func (a *Authority) SpendEnrollmentToken(ctx context.Context, token string) error {
	_, err := a.st.SpendToken(ctx, tokenHash(token), a.now(), a.audit("est-token-used", "", ""))
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrTokenSpent) {
		return ErrBadToken
	}
	return err
}

// UsedEnrollmentTokenCN returns the common name of a token that has been
// used, expired since or not (ErrBadToken for unknown and unused tokens).
// Under EST manual approval a token is used up when it queues a request;
// the device then collects the outcome with the same token.
func (a *Authority) UsedEnrollmentTokenCN(ctx context.Context, token string) (string, error) {
	t, err := a.st.Token(ctx, tokenHash(token))
	if errors.Is(err, store.ErrNotFound) || err == nil && t.UsedAt.IsZero() {
		return "", ErrBadToken
	}
	if err != nil {
		return "", err
	}
	return t.CN, nil
}
