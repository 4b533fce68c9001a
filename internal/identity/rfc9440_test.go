package identity_test

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/mtlsgate/mtlsgate/internal/identity"
	"github.com/mtlsgate/mtlsgate/internal/testpki"
)

func TestRFC9440RoundTrip(t *testing.T) {
	p := newPKI(t)
	tests := []struct {
		name      string
		ca        *testpki.CA
		wantChain []*x509.Certificate // intermediates, leaf-side first
	}{
		{"issued by root", p.root, nil},
		{"one intermediate", p.inter, []*x509.Certificate{p.inter.Cert}},
		{"two intermediates", p.inter2, []*x509.Certificate{p.inter2.Cert, p.inter.Cert}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			chain := p.issue(t, tt.ca, testpki.Options{CN: `tricky, "cn"; =\ ü`})
			id := identity.FromChain(chain)
			h := http.Header{}
			id.SetHeaders(h, identity.FormatRFC9440, "ignored")
			v := h.Get(identity.HeaderClientCert)
			want := ":" + base64.StdEncoding.EncodeToString(chain[0].Raw) + ":"
			if v != want {
				t.Fatalf("Client-Cert = %q, want %q", v, want)
			}
			leaf, err := identity.ParseClientCert(v)
			if err != nil {
				t.Fatalf("ParseClientCert: %v", err)
			}
			if !leaf.Equal(chain[0]) {
				t.Fatal("parsed leaf differs")
			}
			vals, present := h[identity.HeaderClientCertChain]
			if len(tt.wantChain) == 0 {
				if present {
					t.Fatalf("Client-Cert-Chain = %q, want absent", vals)
				}
				return
			}
			got, err := identity.ParseClientCertChain(h.Get(identity.HeaderClientCertChain))
			if err != nil {
				t.Fatalf("ParseClientCertChain: %v", err)
			}
			if len(got) != len(tt.wantChain) {
				t.Fatalf("chain has %d certificates, want %d", len(got), len(tt.wantChain))
			}
			for i := range got {
				if !got[i].Equal(tt.wantChain[i]) {
					t.Errorf("chain[%d] = %s, want %s", i, got[i].Subject, tt.wantChain[i].Subject)
				}
			}
		})
	}
}

func TestParseClientCert(t *testing.T) {
	p := newPKI(t)
	leaf := p.issue(t, p.inter, testpki.Options{CN: "alice"})[0]
	b64 := base64.StdEncoding.EncodeToString(leaf.Raw)
	tests := []struct {
		name    string
		in      string
		wantErr string // empty: success
	}{
		{"plain", ":" + b64 + ":", ""},
		{"ows", " \t:" + b64 + ": \t", ""},
		{"empty", "", "identity: client-cert: empty value at byte 0"},
		{"blank", "  ", "identity: client-cert: empty value at byte 2"},
		{"no colons", b64, "identity: client-cert: expected ':' opening a byte sequence, found '" + b64[:1] + "' at byte 0"},
		{"unterminated", ":" + b64, "identity: client-cert: unterminated byte sequence at byte 0"},
		{"empty sequence", "::", "identity: client-cert: empty byte sequence at byte 0"},
		{"newline inside", ":" + b64[:8] + "\r\n" + b64[8:] + ":", "identity: client-cert: invalid base64 byte byte 0x0D at byte 9"},
		{"url alphabet", ":ab-_:", "identity: client-cert: invalid base64 byte '-' at byte 3"},
		{"missing padding", ":aGVsbG8:", "identity: client-cert: invalid base64 at byte 1: illegal base64 data at input byte"},
		{"parameters", ":" + b64 + ":;a=1", "identity: client-cert: parameters are not supported at byte"},
		{"two items", ":" + b64 + ":, :" + b64 + ":", "identity: client-cert: unexpected ',' at byte"},
		{"not a certificate", ":aGVsbG8=:", "identity: client-cert: byte sequence is not a certificate at byte 0: x509:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := identity.ParseClientCert(tt.in)
			if tt.wantErr == "" {
				if err != nil || !c.Equal(leaf) {
					t.Fatalf("ParseClientCert = %v, %v; want the leaf", c, err)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) || !errors.Is(err, identity.ErrSyntax) {
				t.Fatalf("error = %v, want prefix %q matching ErrSyntax", err, tt.wantErr)
			}
			if c != nil {
				t.Fatal("certificate returned with an error")
			}
		})
	}
}

func TestParseClientCertChain(t *testing.T) {
	p := newPKI(t)
	a, b := p.inter2.Cert, p.inter.Cert
	sa := ":" + base64.StdEncoding.EncodeToString(a.Raw) + ":"
	sb := ":" + base64.StdEncoding.EncodeToString(b.Raw) + ":"
	tests := []struct {
		name    string
		in      string
		want    []*x509.Certificate
		wantErr string
	}{
		{"empty", "", nil, ""},
		{"blank", " \t ", nil, ""},
		{"one", sa, []*x509.Certificate{a}, ""},
		{"two", sa + ", " + sb, []*x509.Certificate{a, b}, ""},
		{"two tight", sa + "," + sb, []*x509.Certificate{a, b}, ""},
		{"two loose", " " + sa + " \t,\t " + sb + " ", []*x509.Certificate{a, b}, ""},
		{"trailing comma", sa + ",", nil, "identity: client-cert-chain: trailing comma at byte"},
		{"leading comma", "," + sa, nil, "identity: client-cert-chain: expected ':' opening a byte sequence, found ',' at byte 0"},
		{"double comma", sa + ",," + sb, nil, "identity: client-cert-chain: expected ':' opening a byte sequence, found ','"},
		{"missing comma", sa + " " + sb, nil, "identity: client-cert-chain: unexpected ':' at byte"},
		{"token member", sa + ", abc", nil, "identity: client-cert-chain: expected ':' opening a byte sequence, found 'a'"},
		{"parameters", sa + ";x", nil, "identity: client-cert-chain: parameters are not supported"},
		{"bad member", sa + ", :AAAA:", nil, "identity: client-cert-chain: byte sequence is not a certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := identity.ParseClientCertChain(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) || !errors.Is(err, identity.ErrSyntax) {
					t.Fatalf("error = %v, want prefix %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || len(got) != len(tt.want) {
				t.Fatalf("ParseClientCertChain = %d certs, %v; want %d", len(got), err, len(tt.want))
			}
			for i := range got {
				if !bytes.Equal(got[i].Raw, tt.want[i].Raw) {
					t.Errorf("cert %d differs", i)
				}
			}
		})
	}
}
