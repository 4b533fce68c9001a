package identity_test

import (
	"errors"
	"testing"

	"github.com/mtlsgate/mtlsgate/internal/identity"
)

func TestParseFormat(t *testing.T) {
	tests := []struct {
		in      string
		want    identity.Format
		wantErr bool
	}{
		{"", identity.FormatRFC9440, false},
		{"rfc9440", identity.FormatRFC9440, false},
		{"xfcc", identity.FormatXFCC, false},
		{"headers", identity.FormatHeaders, false},
		{"none", identity.FormatNone, false},
		{"RFC9440", 0, true},
		{"x-forwarded-client-cert", 0, true},
		{" xfcc", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := identity.ParseFormat(tt.in)
			if tt.wantErr {
				if !errors.Is(err, identity.ErrUnknownFormat) {
					t.Fatalf("ParseFormat(%q) error = %v, want ErrUnknownFormat", tt.in, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseFormat(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestFormatText(t *testing.T) {
	for _, f := range []identity.Format{identity.FormatRFC9440, identity.FormatXFCC, identity.FormatHeaders, identity.FormatNone} {
		t.Run(f.String(), func(t *testing.T) {
			b, err := f.MarshalText()
			if err != nil {
				t.Fatal(err)
			}
			var g identity.Format = 7
			if err := g.UnmarshalText(b); err != nil || g != f {
				t.Fatalf("UnmarshalText(%q) = %v, %v; want %v", b, g, err, f)
			}
		})
	}
	if s := identity.Format(9).String(); s != "Format(9)" {
		t.Errorf("String() = %q", s)
	}
	if _, err := identity.Format(9).MarshalText(); !errors.Is(err, identity.ErrUnknownFormat) {
		t.Errorf("MarshalText(9) error = %v", err)
	}
	f := identity.FormatXFCC
	if err := f.UnmarshalText([]byte("bogus")); err == nil || f != identity.FormatXFCC {
		t.Errorf("UnmarshalText(bogus) = %v, %v; want error and unchanged", f, err)
	}
	want := `identity: unknown header format "bogus" (want rfc9440, xfcc, headers or none)`
	if _, err := identity.ParseFormat("bogus"); err == nil || err.Error() != want {
		t.Errorf("error = %v, want %s", err, want)
	}
}
