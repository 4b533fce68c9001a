package httpfield

import (
	"net/http"
	"slices"
	"testing"

	"golang.org/x/net/http/httpguts"
)

func TestTokens(t *testing.T) {
	for c := 0; c < 256; c++ {
		if got, want := TokenByte(byte(c)), httpguts.IsTokenRune(rune(c)); got != want {
			t.Errorf("TokenByte(%q) = %v, want %v", byte(c), got, want)
		}
	}
	for s, want := range map[string]bool{"": false, "GET": true, "x-a_b.c~": true, "a b": false, "a:b": false, "é": false} {
		if IsToken(s) != want {
			t.Errorf("IsToken(%q) = %v", s, !want)
		}
	}
}

func TestAppendTrailerNames(t *testing.T) {
	got := AppendTrailerNames([]string{"Existing"}, []string{" x-checksum , grpc-status", "bad name, content-length,X-Checksum", ",,"})
	want := []string{"Existing", "X-Checksum", "Grpc-Status"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestHasTrailerPrefix(t *testing.T) {
	if HasTrailerPrefix(http.Header{"A": nil}) {
		t.Error("no prefix: true")
	}
	if !HasTrailerPrefix(http.Header{http.TrailerPrefix + "X": nil}) {
		t.Error("prefixed key: false")
	}
}
