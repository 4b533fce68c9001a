package identity_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/mtlsgate/mtlsgate/internal/identity"
	"github.com/mtlsgate/mtlsgate/internal/testpki"
)

func sfBytes(b []byte) string { return ":" + base64.StdEncoding.EncodeToString(b) + ":" }

func checkSyntaxError(t *testing.T, err error, prefix string) {
	t.Helper()
	if !errors.Is(err, identity.ErrSyntax) || !strings.HasPrefix(err.Error(), prefix) {
		t.Fatalf("error %v: want ErrSyntax with prefix %q", err, prefix)
	}
}

func FuzzParseClientCert(f *testing.F) {
	p := newPKI(f)
	leaf := p.issue(f, p.inter, testpki.Options{CN: "seed"})[0]
	for _, s := range []string{sfBytes(leaf.Raw), " " + sfBytes(leaf.Raw) + "\t", "", "::", ":AAAA:", ":aGVsbG8=:;a=1", sfBytes(leaf.Raw[:40])} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		c, err := identity.ParseClientCert(v)
		if err != nil {
			checkSyntaxError(t, err, "identity: client-cert: ")
			return
		}
		// Strict base64 is canonical: the value is the re-encoding.
		if got := strings.Trim(v, " \t"); got != sfBytes(c.Raw) {
			t.Fatalf("accepted %q, which is not the canonical %q", got, sfBytes(c.Raw))
		}
	})
}

func FuzzParseClientCertChain(f *testing.F) {
	p := newPKI(f)
	a, b := sfBytes(p.inter2.Cert.Raw), sfBytes(p.inter.Cert.Raw)
	for _, s := range []string{a, a + ", " + b, " " + a + "\t,\t" + b + " ", a + ",", "," + a, a + ";x", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		certs, err := identity.ParseClientCertChain(v)
		if err != nil {
			checkSyntaxError(t, err, "identity: client-cert-chain: ")
			return
		}
		parts := make([]string, len(certs))
		for i, c := range certs {
			parts[i] = sfBytes(c.Raw)
		}
		again, err := identity.ParseClientCertChain(strings.Join(parts, ", "))
		if err != nil || len(again) != len(certs) {
			t.Fatalf("re-encoded chain: %d certs, %v; want %d", len(again), err, len(certs))
		}
		for i := range again {
			if !bytes.Equal(again[i].Raw, certs[i].Raw) {
				t.Fatalf("cert %d changed", i)
			}
		}
	})
}

// quoteAll renders elements with every value quoted, independently of the
// package's encoder.
func quoteAll(elems []map[string][]string) string {
	var b strings.Builder
	for i, e := range elems {
		if i > 0 {
			b.WriteString(",")
		}
		n := 0
		for k, vs := range e {
			for _, v := range vs {
				if n > 0 {
					b.WriteString(";")
				}
				n++
				b.WriteString(k + `="`)
				b.WriteString(strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(v))
				b.WriteString(`"`)
			}
		}
	}
	return b.String()
}

func FuzzParseXFCC(f *testing.F) {
	for _, s := range []string{
		`By=spiffe://a;Hash=00ff;Cert="-----BEGIN%20CERTIFICATE-----%0A";Subject="CN=a\,b";URI=spiffe://b;DNS=x;DNS=y`,
		`By=a,By=b`, `Subject="a\"b\\c"`, `Subject="unterminated`, `a=;b=""`, `=`, `;`, `,`, ` k = v `, "k=\"\t\"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		elems, err := identity.ParseXFCC(v)
		if err != nil {
			checkSyntaxError(t, err, "identity: xfcc: ")
			return
		}
		for _, e := range elems {
			if len(e) == 0 {
				t.Fatal("empty element accepted")
			}
			for k := range e {
				if k == "" || k != strings.ToLower(k) {
					t.Fatalf("key %q not lower-case", k)
				}
			}
		}
		again, err := identity.ParseXFCC(quoteAll(elems))
		if err != nil || !reflect.DeepEqual(again, elems) {
			t.Fatalf("re-quoted %v parses as %v, %v", elems, again, err)
		}
	})
}

// protectedOracle is IsProtectedHeader written the obvious way.
func protectedOracle(name string) bool {
	b := []byte(name)
	for i, c := range b {
		switch {
		case 'A' <= c && c <= 'Z':
			b[i] = c + 32
		case c == '_':
			b[i] = '-'
		}
	}
	n := string(b)
	return n == "client-cert" || n == "client-cert-chain" || n == "x-forwarded-client-cert" ||
		n == "x-client-cert" || strings.HasPrefix(n, "x-client-cert-")
}

func FuzzStripInbound(f *testing.F) {
	for _, s := range []string{"Client-Cert", "x_client_cert_subject", "X-Forwarded-Client-Cert", "X-Client-Certificate", "Accept", "x-client-cert"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if got, want := identity.IsProtectedHeader(name), protectedOracle(name); got != want {
			t.Fatalf("IsProtectedHeader(%q) = %v, oracle says %v", name, got, want)
		}
		h := typicalRequestHeader()
		variants := []string{
			name, strings.ToUpper(name), strings.ToLower(name), http.CanonicalHeaderKey(name),
			strings.ReplaceAll(name, "-", "_"), strings.ReplaceAll(name, "_", "-"),
		}
		for _, k := range variants {
			h[k] = append(h[k], "v")
		}
		want := map[string]bool{}
		for k := range h {
			if !identity.IsProtectedHeader(k) {
				want[k] = true
			}
		}
		identity.StripInbound(h)
		for k := range h {
			if identity.IsProtectedHeader(k) {
				t.Fatalf("protected header %q survived", k)
			}
		}
		if len(h) != len(want) {
			t.Fatalf("kept %d headers, want %d", len(h), len(want))
		}
	})
}

// unescapeDN undoes RFC 4514 escaping ("\,", "\ ", "\0D"), so that two
// spellings of one DN compare equal.
func unescapeDN(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		if i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
			i += 2
			continue
		}
		b.WriteByte(s[i+1])
		i++
	}
	return b.String()
}

func isHex(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// FuzzXFCCRoundTrip mints a certificate with a fuzzed common name and DNS
// SAN, encodes it in every format and parses the XFCC back.
func FuzzXFCCRoundTrip(f *testing.F) {
	for _, s := range []string{"alice", `a,b;c="d"\e`, "x\r\nX-Admin: 1", "日本", " ", "#", "\x00"} {
		f.Add(s, "a.example")
	}
	f.Add("bob", "a.example,b.example")
	p := newPKI(f)
	f.Fuzz(func(t *testing.T, cn, dns string) {
		if !utf8.ValidString(cn) || !isASCII(dns) {
			t.Skip("not encodable in a certificate")
		}
		o := testpki.Options{CN: cn}
		if dns != "" {
			o.DNS = []string{dns}
		}
		id := identity.FromChain(p.issue(t, p.inter, o))
		for _, format := range []identity.Format{identity.FormatRFC9440, identity.FormatXFCC, identity.FormatHeaders} {
			h := http.Header{}
			id.SetHeaders(h, format, "spiffe://example.org/gw")
			checkHeaderValues(t, h)
			if format == identity.FormatHeaders && dns != "" && strings.Count(h.Get(identity.HeaderSANDNS), ",") != 0 {
				t.Fatalf("one DNS SAN %q became a list %q", dns, h.Get(identity.HeaderSANDNS))
			}
		}
		h := http.Header{}
		id.SetHeaders(h, identity.FormatXFCC, "spiffe://example.org/gw")
		elems, err := identity.ParseXFCC(h.Get(identity.HeaderXFCC))
		if err != nil || len(elems) != 1 {
			t.Fatalf("ParseXFCC(%q) = %v, %v", h.Get(identity.HeaderXFCC), elems, err)
		}
		if got := elems[0]["subject"]; len(got) != 1 || unescapeDN(got[0]) != unescapeDN(id.Subject) {
			t.Fatalf("subject = %q, want a spelling of %q", got, id.Subject)
		}
		if got := elems[0]["hash"]; len(got) != 1 || got[0] != id.FingerprintSHA256 {
			t.Fatalf("hash = %q", got)
		}
		if len(id.DNSNames) > 0 && len(elems[0]["dns"]) != len(id.DNSNames) {
			t.Fatalf("dns = %q, want %d values", elems[0]["dns"], len(id.DNSNames))
		}
		if c := certFromXFCC(t, elems[0]["cert"][0]); !c.Equal(id.Leaf) {
			t.Fatal("Cert does not decode to the leaf")
		}
	})
}
