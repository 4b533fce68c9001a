package gateway

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/mtlsgate/mtlsgate/internal/ca"
	"github.com/mtlsgate/mtlsgate/internal/config"
	"github.com/mtlsgate/mtlsgate/internal/store"
)

// renewer renews the gateway's own certificates (listener server
// certificates and upstream client certificates) that the built-in CA
// issued, at 2/3 of their lifetime with jitter, and swaps them in through
// the reload path. A failed renewal keeps the current certificate, is
// logged and counted, and is retried with exponential backoff.
type renewer struct {
	g      *Gateway
	rt     *caRuntime
	leaves map[string]cachedLeaf // by cert file
	retry  map[string]retryState // by cert file
	warned map[string]bool
}

type cachedLeaf struct {
	mod   time.Time
	size  int64
	leaf  *x509.Certificate
	chain int // certificates in the file
}

type retryState struct {
	next    time.Time
	backoff time.Duration
}

// renewTarget is one certificate the gateway presents.
type renewTarget struct {
	what     string // "listener public", "upstream orders"
	profile  string // default profile when the store does not say
	cert     string
	key      string
	password bool // key or keystore is password-protected: not renewable
}

func newRenewer(g *Gateway, rt *caRuntime) *renewer {
	return &renewer{g: g, rt: rt, leaves: map[string]cachedLeaf{}, retry: map[string]retryState{}, warned: map[string]bool{}}
}

func targets(cfg *config.Config) []renewTarget {
	var out []renewTarget
	for _, l := range cfg.Listeners {
		if t := l.TLS; t != nil {
			out = append(out, renewTarget{what: "listener " + l.Name, profile: "server", cert: t.Cert, key: t.Key,
				password: t.PasswordFile != "" || t.PasswordEnv != "" || t.Key == ""})
		}
	}
	for _, u := range cfg.Upstreams {
		if t := u.TLS; t != nil && t.Cert != "" {
			out = append(out, renewTarget{what: "upstream " + u.Name, profile: "upstream", cert: t.Cert, key: t.Key,
				password: t.PasswordFile != "" || t.PasswordEnv != "" || t.Key == ""})
		}
	}
	return out
}

// check renews every due certificate, then reloads once.
func (r *renewer) check(ctx context.Context) {
	now := r.g.now()
	renewed := 0
	for _, t := range targets(r.g.state.Load().cfg) {
		c, err := r.leaf(t.cert)
		if err != nil || !r.rt.a.IssuedBy(c.leaf) {
			continue
		}
		if now.Before(renewAt(c.leaf)) || now.Before(r.retry[t.cert].next) {
			continue
		}
		if t.password {
			if !r.warned[t.cert] {
				r.warned[t.cert] = true
				r.g.log.Warn("auto-renew skipped: the certificate is due for renewal but its key is in a keystore or password-protected; renew it by hand",
					"target", t.what, "cert", t.cert, "not_after", c.leaf.NotAfter)
			}
			continue
		}
		if err := r.renew(ctx, t, c); err != nil {
			rs := r.retry[t.cert]
			rs.backoff = min(max(2*rs.backoff, 5*time.Second), 5*time.Minute)
			rs.next = now.Add(rs.backoff)
			r.retry[t.cert] = rs
			r.rt.renewals.WithLabelValues("failure").Inc()
			r.g.log.Error("certificate renewal failed; the current certificate stays in use", "target", t.what,
				"serial", store.SerialHex(c.leaf.SerialNumber), "not_after", c.leaf.NotAfter, "retry_in", rs.backoff, "error", err.Error())
			continue
		}
		delete(r.retry, t.cert)
		renewed++
	}
	if renewed > 0 {
		_ = r.g.Reload() // logs and counts its own failure
	}
}

// renewAt is 2/3 into the certificate's lifetime, minus up to 5% of the
// lifetime of jitter derived from the serial (so a fleet renewed together
// spreads out, and the same certificate always gets the same point).
func renewAt(c *x509.Certificate) time.Time {
	life := c.NotAfter.Sub(c.NotBefore)
	sum := sha256.Sum256(c.SerialNumber.Bytes())
	jitter := time.Duration(0)
	if span := int64(life / 20); span > 0 {
		jitter = time.Duration(binary.BigEndian.Uint64(sum[:8]) % uint64(span))
	}
	return c.NotBefore.Add(life*2/3 - jitter)
}

// leaf parses the certificate file, cached by modification time and size.
func (r *renewer) leaf(path string) (cachedLeaf, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return cachedLeaf{}, err
	}
	if c, ok := r.leaves[path]; ok && c.mod.Equal(fi.ModTime()) && c.size == fi.Size() {
		return c, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return cachedLeaf{}, err
	}
	c := cachedLeaf{mod: fi.ModTime(), size: fi.Size()}
	for block, rest := pem.Decode(data); block != nil; block, rest = pem.Decode(rest) {
		if block.Type != "CERTIFICATE" {
			continue
		}
		if c.chain == 0 {
			if c.leaf, err = x509.ParseCertificate(block.Bytes); err != nil {
				return cachedLeaf{}, err
			}
		}
		c.chain++
	}
	if c.leaf == nil {
		return cachedLeaf{}, errors.New("no PEM certificate")
	}
	r.leaves[path] = c
	return c, nil
}

// renew issues a replacement with the same names, profile and lifetime
// (capped by the issuing CA's own expiry) and puts it in place of the
// files. The files are staged next to their destinations before anything
// is issued (an unwritable directory costs no certificate), then renamed
// key first; if the certificate cannot follow, the old key is put back. A
// certificate issued but not put in place is revoked as superseded.
func (r *renewer) renew(ctx context.Context, t renewTarget, c cachedLeaf) error {
	old := c.leaf
	a := r.rt.a
	profile := t.profile
	if rec, err := a.Store().Certificate(ctx, store.SerialHex(old.SerialNumber)); err == nil && rec.Profile != "" {
		profile = rec.Profile
	}
	p, err := a.Profile(profile)
	if err != nil {
		return err
	}
	ttl := min(old.NotAfter.Sub(old.NotBefore), p.MaxTTL)
	if left := a.Intermediate().NotAfter.Sub(r.g.now()) - time.Minute; left < ttl {
		if left < time.Hour {
			return fmt.Errorf("the issuing CA expires %s: renew the CA (mtlsgate ca init a new one) before its certificates", a.Intermediate().NotAfter.UTC().Format(time.RFC3339))
		}
		r.g.log.Warn("renewal shortened to the issuing CA's remaining lifetime; plan a new CA", "target", t.what, "ca_not_after", a.Intermediate().NotAfter)
		ttl = left
	}
	files := []*staged{{path: t.key, perm: 0o600}}
	if t.cert != t.key {
		files = append(files, &staged{path: t.cert, perm: 0o644})
	}
	for _, f := range files {
		if err := f.open(); err != nil {
			discardAll(files)
			return err
		}
	}
	iss, err := a.Issue(ctx, ca.IssueRequest{
		Profile: profile, CN: old.Subject.CommonName, O: old.Subject.Organization, OU: old.Subject.OrganizationalUnit,
		SANs: ca.Names{DNS: old.DNSNames, IPs: old.IPAddresses, Emails: old.EmailAddresses, URIs: old.URIs},
		TTL:  ttl, KeyType: ca.KeyTypeOf(old.PublicKey),
		Action: "renew", Detail: fmt.Sprintf("auto-renew of %s, replaces %s", t.what, store.SerialHex(old.SerialNumber)),
	})
	if err != nil {
		discardAll(files)
		return err
	}
	if err := r.install(files, t, c, iss); err != nil {
		discardAll(files)
		if _, rerr := a.Revoke(ctx, store.SerialHex(iss.Cert.SerialNumber), 4); rerr != nil {
			err = fmt.Errorf("%w (and revoking the unused new certificate %s failed: %v)", err, store.SerialHex(iss.Cert.SerialNumber), rerr)
		}
		return err
	}
	r.rt.renewals.WithLabelValues("success").Inc()
	r.g.log.Info("certificate renewed by the built-in CA", "target", t.what, "old_serial", store.SerialHex(old.SerialNumber),
		"serial", store.SerialHex(iss.Cert.SerialNumber), "not_after", iss.Cert.NotAfter, "next_renewal", renewAt(iss.Cert))
	return nil
}

// install writes the new key and certificate into the staged files and
// renames them into place, key first, restoring the old key if the
// certificate cannot follow.
func (r *renewer) install(files []*staged, t renewTarget, c cachedLeaf, iss *ca.Issued) error {
	keyPEM, err := ca.MarshalKeyPEM(iss.Key, nil)
	if err != nil {
		return err
	}
	certPEM := ca.CertPEM(iss.Cert)
	if c.chain > 1 {
		certPEM = ca.CertPEM(iss.Chain...)
	}
	if len(files) == 1 { // key and certificate share one file
		if err := files[0].write(append(certPEM, keyPEM...)); err != nil {
			return err
		}
		return files[0].commit()
	}
	if err := files[0].write(keyPEM); err != nil {
		return err
	}
	if err := files[1].write(certPEM); err != nil {
		return err
	}
	oldKey, err := os.ReadFile(t.key)
	if err != nil {
		return err
	}
	if err := files[0].commit(); err != nil {
		return err
	}
	if err := files[1].commit(); err != nil {
		if rerr := ca.WriteFileAtomic(t.key, oldKey, files[0].perm); rerr != nil {
			return fmt.Errorf("%w; restoring the previous key %s also failed: %v", err, t.key, rerr)
		}
		return err
	}
	return nil
}

// staged is a file written next to its destination and renamed over it.
type staged struct {
	path string
	perm os.FileMode // default; an existing file keeps its own mode
	tmp  *os.File
}

func (s *staged) open() error {
	if fi, err := os.Stat(s.path); err == nil {
		s.perm = fi.Mode().Perm()
	}
	f, err := os.CreateTemp(filepath.Dir(s.path), "."+filepath.Base(s.path)+".renew*")
	if err != nil {
		return fmt.Errorf("cannot write next to %s: %w", s.path, err)
	}
	s.tmp = f
	return f.Chmod(s.perm)
}

func (s *staged) write(data []byte) error {
	if _, err := s.tmp.Write(data); err != nil {
		return fmt.Errorf("writing %s: %w", s.path, err)
	}
	if err := s.tmp.Sync(); err != nil {
		return fmt.Errorf("writing %s: %w", s.path, err)
	}
	return s.tmp.Close()
}

func (s *staged) commit() error {
	if err := os.Rename(s.tmp.Name(), s.path); err != nil {
		return fmt.Errorf("replacing %s: %w", s.path, err)
	}
	s.tmp = nil
	return nil
}

func discardAll(files []*staged) {
	for _, f := range files {
		if f.tmp != nil {
			f.tmp.Close()
			os.Remove(f.tmp.Name())
		}
	}
}
