package auth_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/cuecard/cuecard/auth"
)

func TestNewToken(t *testing.T) {
	seen := make(map[string]bool)
	for range 100 {
		plain, tok, err := auth.NewToken()
		if err != nil {
			t.Fatal(err)
		}
		if len(plain) != 63 || plain != "cc_"+tok.ID+"_"+tok.Secret || len(tok.ID) != 16 || len(tok.Secret) != 43 {
			t.Fatalf("NewToken = %q, %+v", plain, tok)
		}
		got, err := auth.ParseToken(plain)
		if err != nil || got != tok {
			t.Fatalf("ParseToken(%q) = %+v, %v; want %+v", plain, got, err, tok)
		}
		if seen[tok.ID] || seen[tok.Secret] {
			t.Fatalf("NewToken repeated itself: %q", plain)
		}
		seen[tok.ID], seen[tok.Secret] = true, true
	}
}

func TestParseTokenBad(t *testing.T) {
	const id, secret = "abcdefghij234567", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA-"
	if _, err := auth.ParseToken("cc_" + id + "_" + secret[:42] + "A"); err != nil {
		t.Fatalf("the base case does not parse: %v", err)
	}
	for name, s := range map[string]string{
		"empty":                "",
		"no prefix":            id + "_" + secret,
		"other prefix":         "cd_" + id + "_" + secret,
		"upper-case prefix":    "CC_" + id + "_" + secret,
		"upper-case id":        "cc_" + strings.ToUpper(id) + "_" + secret,
		"id with 1":            "cc_abcdefghij234561_" + secret,
		"id with 8":            "cc_abcdefghij234568_" + secret,
		"id 15":                "cc_" + id[1:] + "_" + secret + "A",
		"id 17":                "cc_a" + id + "_" + secret[1:],
		"dash separator":       "cc_" + id + "-" + secret,
		"secret 42":            "cc_" + id + "_" + secret[1:],
		"secret 44":            "cc_" + id + "_" + secret + "A",
		"secret std base64":    "cc_" + id + "_" + secret[:42] + "+",
		"secret padded":        "cc_" + id + "_" + secret[:42] + "=",
		"secret non-zero tail": "cc_" + id + "_" + secret[:42] + "B",
		"secret with newline":  "cc_" + id + "_" + secret[:20] + "\n" + secret[21:],
		"trailing space":       "cc_" + id + "_" + secret[:42] + "A ",
		"leading space":        " cc_" + id + "_" + secret[:42] + "A",
	} {
		t.Run(name, func(t *testing.T) {
			if tok, err := auth.ParseToken(s); !errors.Is(err, auth.ErrBadToken) || tok != (auth.Token{}) {
				t.Errorf("ParseToken(%q) = %+v, %v; want ErrBadToken", s, tok, err)
			}
		})
	}
}

func TestSecretMatches(t *testing.T) {
	_, tok, err := auth.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	h := auth.HashSecret(tok.Secret)
	if len(h) != 64 || strings.Trim(h, "0123456789abcdef") != "" {
		t.Fatalf("HashSecret = %q, want 64 lower-case hex digits", h)
	}
	// echo -n abc | sha256sum
	if got := auth.HashSecret("abc"); got != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Errorf("HashSecret(abc) = %s", got)
	}
	if !auth.SecretMatches(h, tok.Secret) {
		t.Error("SecretMatches(HashSecret(s), s) = false")
	}
	for name, c := range map[string][2]string{
		"other secret":    {h, tok.Secret[1:] + "A"},
		"upper-case hash": {strings.ToUpper(h), tok.Secret},
		"short hash":      {h[:63], tok.Secret},
		"empty hash":      {"", tok.Secret},
		"empty both":      {"", ""},
	} {
		if auth.SecretMatches(c[0], c[1]) {
			t.Errorf("%s: SecretMatches = true", name)
		}
	}
}

func TestRandomString(t *testing.T) {
	a, err := auth.RandomString()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := auth.RandomString()
	if len(a) != 43 || strings.Trim(a, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != "" || a == b {
		t.Errorf("RandomString = %q, %q; want two different 43-character base64url strings", a, b)
	}
}

func BenchmarkParseTokenAndMatch(b *testing.B) {
	plain, tok, err := auth.NewToken()
	if err != nil {
		b.Fatal(err)
	}
	h := auth.HashSecret(tok.Secret)
	b.ReportAllocs()
	for b.Loop() {
		t, err := auth.ParseToken(plain)
		if err != nil || !auth.SecretMatches(h, t.Secret) {
			b.Fatal(err)
		}
	}
}
