package est

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net/http"
	"path"
)

// Credential is who an authenticated EST client is and which subject
// common names it may ask for.
type Credential struct {
	// Name identifies the client in logs and the audit trail.
	Name string
	// AllowCN lists path.Match patterns ("device-*") a requested CN must
	// match. An empty list allows nothing.
	AllowCN []string
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
	return Credential{Name: "basic:" + a.Username, AllowCN: a.AllowCN}, nil
}
