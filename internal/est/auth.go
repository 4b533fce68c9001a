package est

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"net/http"
	"path"
)

// Credential is who an authenticated EST client is and which subject
// common names it may ask for.
type Credential struct {
	// Name identifies the client in logs and the audit trail.
	Name string
	// ID identifies the credential itself, stably and without secrets
	// ("basic:alice", a hash of a token, a bootstrap certificate's
	// fingerprint): a queued request is found again only with the same ID.
	ID string
	// AllowCN lists path.Match patterns ("device-*") a requested CN must
	// match. An empty list allows nothing.
	AllowCN []string
	// Spend, when set, is called once the request passed every check and
	// before anything is issued: a one-time token is used up there. An
	// error refuses the request (401).
	Spend func() error
	// PollOnly: a one-time token that was used up when it queued a
	// request (manual approval); it may only collect that request's
	// outcome.
	PollOnly bool
}

// AllowsCN reports whether the credential may ask for common name cn.
func (c *Credential) AllowsCN(cn string) bool {
	if c == nil || cn == "" {
		return false
	}
	for _, p := range c.AllowCN {
		if ok, err := path.Match(p, cn); err == nil && ok {
			return true
		}
	}
	return false
}

// ErrUnauthenticated is returned by an Authenticator when the request
// carries no credentials or wrong ones; the server answers 401.
var ErrUnauthenticated = errors.New("est: authentication required")

// Authenticator decides who sent an enrollment request. Implementations
// return an error wrapping ErrUnauthenticated for missing or wrong
// credentials; any other error is answered with 500.
type Authenticator interface {
	Authenticate(r *http.Request) (Credential, error)
}

// Account is one HTTP Basic login.
type Account struct {
	Username string
	Password string
	AllowCN  []string
}

// BasicAuth authenticates with HTTP Basic against a fixed list of accounts.
// Usernames and passwords are compared in constant time (over their SHA-256
// digests, so lengths do not leak either), and every account is checked so
// the time taken does not tell which usernames exist.
type BasicAuth struct {
	Accounts []Account
}

// Authenticate implements Authenticator.
func (b *BasicAuth) Authenticate(r *http.Request) (Credential, error) {
	user, pass, ok := r.BasicAuth()
	if !ok {
		return Credential{}, ErrUnauthenticated
	}
	uh, ph := sha256.Sum256([]byte(user)), sha256.Sum256([]byte(pass))
	match := -1
	for i, a := range b.Accounts {
		au, ap := sha256.Sum256([]byte(a.Username)), sha256.Sum256([]byte(a.Password))
		u := subtle.ConstantTimeCompare(uh[:], au[:])
		p := subtle.ConstantTimeCompare(ph[:], ap[:])
		if u&p == 1 && a.Password != "" && match < 0 {
			match = i
		}
	}
	if match < 0 {
		return Credential{}, ErrUnauthenticated
	}
	a := b.Accounts[match]
	return Credential{Name: "basic:" + a.Username, ID: "basic:" + a.Username, AllowCN: a.AllowCN}, nil
}

// Tokens authenticates with one-time enrollment tokens sent as the HTTP
// Basic password (any user name, so `curl -u x:TOKEN` and
// `pki --est --userpass x:TOKEN` work unchanged). Lookup returns the CN a
// token may enroll (an error wrapping ErrUnauthenticated for unknown or
// spent tokens); Spend uses it up. Used, when set, returns the CN of a
// token that was used (an error wrapping ErrUnauthenticated otherwise): it
// then authenticates as PollOnly, to collect the outcome of the request it
// queued.
type Tokens struct {
	Lookup func(token string) (cn string, err error)
	Spend  func(token string) error
	Used   func(token string) (cn string, err error)
}

// Authenticate implements Authenticator.
func (t *Tokens) Authenticate(r *http.Request) (Credential, error) {
	_, pass, ok := r.BasicAuth()
	if !ok || pass == "" {
		return Credential{}, ErrUnauthenticated
	}
	id := tokenID(pass)
	cn, err := t.Lookup(pass)
	if errors.Is(err, ErrUnauthenticated) && t.Used != nil {
		if cn, uerr := t.Used(pass); uerr == nil {
			return Credential{Name: "used token for " + cn, ID: id, AllowCN: []string{escapeGlob(cn)}, PollOnly: true}, nil
		} else if !errors.Is(uerr, ErrUnauthenticated) {
			return Credential{}, uerr
		}
	}
	if err != nil {
		return Credential{}, err
	}
	return Credential{Name: "token for " + cn, ID: id, AllowCN: []string{escapeGlob(cn)}, Spend: func() error { return t.Spend(pass) }}, nil
}

// tokenID names a token without revealing it: a domain-separated SHA-256.
func tokenID(token string) string {
	sum := sha256.Sum256([]byte("mtlsgate est token id\x00" + token))
	return "token:" + hex.EncodeToString(sum[:])
}

// escapeGlob makes a literal name match only itself under path.Match.
func escapeGlob(s string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '*', '?', '[', '\\':
			out = append(out, '\\')
		}
		out = append(out, s[i])
	}
	return string(out)
}

// AnyOf tries authenticators in order and takes the first that accepts;
// when all refuse, the request is unauthenticated.
type AnyOf []Authenticator

// Authenticate implements Authenticator.
func (a AnyOf) Authenticate(r *http.Request) (Credential, error) {
	for _, x := range a {
		c, err := x.Authenticate(r)
		if err == nil {
			return c, nil
		}
		if !errors.Is(err, ErrUnauthenticated) {
			return Credential{}, err
		}
	}
	return Credential{}, ErrUnauthenticated
}
