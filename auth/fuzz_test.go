package auth_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/cuecard/cuecard/auth"
)

// FuzzParseToken checks that ParseToken never panics, refuses with
// ErrBadToken, and accepts only strings it can write back unchanged.
func FuzzParseToken(f *testing.F) {
	for _, s := range []string{
		"",
		"cc_",
		"cc_abcdefghij234567_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"cc_abcdefghij234567_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB",
		"cc_abcdefghij234567_AAAAAAAAAAAAAAAAAAAA\nAAAAAAAAAAAAAAAAAAAAAAA",
		"cc_ABCDEFGHIJ234567-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"cc_mfrggzdfmztwq2lk_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-8",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := auth.ParseToken(s)
		if err != nil {
			if !errors.Is(err, auth.ErrBadToken) || tok != (auth.Token{}) {
				t.Fatalf("ParseToken(%q) = %+v, %v", s, tok, err)
			}
			return
		}
		if "cc_"+tok.ID+"_"+tok.Secret != s || len(tok.ID) != 16 || len(tok.Secret) != 43 {
			t.Fatalf("ParseToken(%q) = %+v", s, tok)
		}
		if strings.Trim(tok.ID, "abcdefghijklmnopqrstuvwxyz234567") != "" {
			t.Fatalf("ParseToken(%q) accepted id %q", s, tok.ID)
		}
	})
}

// FuzzCheckPasswordHash checks that a malformed stored hash never panics
// and is refused before anything is allocated for it, and that an accepted
// one is within bounds and written in its one canonical form.
func FuzzCheckPasswordHash(f *testing.F) {
	for _, s := range []string{
		"",
		"$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
		"$argon2id$v=19$m=256,t=2,p=2$c29tZXNhbHQ$bQk8UB/VmZZF4Oo79iDXuL5/0ttZwg2f/5U52iv1cDc",
		"$argon2id$v=19$m=4294967295,t=4294967295,p=255$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
		"$argon2id$v=19$m=2097152,t=10,p=16$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
		"$argon2id$v=19$m=08,t=1,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
		"$argon2i$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
		"$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ=$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4=",
	} {
		f.Add(s, "password")
	}
	f.Fuzz(func(t *testing.T, hash, pw string) {
		p, salt, key, err := auth.DecodeHash(hash)
		if err != nil {
			ok, cerr := auth.CheckPassword(hash, pw)
			if ok || !errors.Is(err, auth.ErrBadHash) || !errors.Is(cerr, auth.ErrBadHash) {
				t.Fatalf("malformed %q: DecodeHash: %v; CheckPassword: %v, %v", hash, err, ok, cerr)
			}
			return
		}
		if p.Memory > 1<<21 || p.Time < 1 || p.Time > 10 || p.Threads < 1 || p.Threads > 16 ||
			len(salt) < 8 || len(salt) > 64 || len(key) < 16 || len(key) > 64 {
			t.Fatalf("%q accepted out of bounds: %+v, salt %d, key %d", hash, p, len(salt), len(key))
		}
		if want := canonical(p, hash); hash != want {
			t.Fatalf("%q accepted, but it is written %q", hash, want)
		}
		// Hash only what is cheap: the bounds allow 2 GiB, which is the
		// point of a bound, not of a fuzz iteration.
		if p.Memory <= 1024 && p.Time <= 2 {
			if _, err := auth.CheckPassword(hash, pw); err != nil {
				t.Fatalf("CheckPassword(%q): %v", hash, err)
			}
		}
	})
}

// canonical rewrites the costs of hash from p, keeping its salt and key.
func canonical(p auth.PasswordParams, hash string) string {
	f := strings.Split(hash, "$")
	return "$argon2id$v=19$" + costs(p) + "$" + f[len(f)-2] + "$" + f[len(f)-1]
}

func costs(p auth.PasswordParams) string {
	return fmt.Sprintf("m=%d,t=%d,p=%d", p.Memory, p.Time, p.Threads)
}
