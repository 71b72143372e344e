package auth_test

import (
	"errors"
	"runtime"
	"strings"
	"testing"

	"github.com/cuecard/cuecard/auth"
)

// cheap are the smallest costs within bounds, so tests run fast.
var cheap = auth.PasswordParams{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func TestHashPasswordRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    auth.PasswordParams
	}{
		// DefaultPasswordParams costs a second a hash here: TestHashPasswordFormat
		// and TestCheckPasswordReference cover them.
		{"cheap", cheap},
		{"long salt and key, four lanes", auth.PasswordParams{Memory: 256, Time: 3, Threads: 4, SaltLen: 64, KeyLen: 64}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const pw = "correct horse battery"
			h, err := auth.HashPassword(pw, tc.p)
			if err != nil {
				t.Fatal(err)
			}
			p, salt, key, err := auth.DecodeHash(h)
			if err != nil {
				t.Fatalf("DecodeHash(%q): %v", h, err)
			}
			if len(salt) != int(tc.p.SaltLen) || len(key) != int(tc.p.KeyLen) || p != tc.p {
				t.Errorf("decoded %+v, salt %d, key %d; want %+v", p, len(salt), len(key), tc.p)
			}
			checkPassword(t, h, pw, true)
			checkPassword(t, h, pw+"!", false)
			checkPassword(t, h, "Correct horse battery", false)
			if h2, _ := auth.HashPassword(pw, tc.p); h2 == h {
				t.Errorf("two hashes of one password are equal: the salt is not random")
			}
		})
	}
}

func TestHashPasswordFormat(t *testing.T) {
	h, err := auth.HashPassword("0123456789", auth.DefaultPasswordParams)
	if err != nil {
		t.Fatal(err)
	}
	// 16 bytes of salt are 22 characters, 32 of key 43.
	const prefix = "$argon2id$v=19$m=65536,t=2,p=1$"
	if !strings.HasPrefix(h, prefix) || len(h) != len(prefix)+22+1+43 || h[len(prefix)+22] != '$' {
		t.Errorf("hash %q is not %s<22 chars>$<43 chars>", h, prefix)
	}
}

// TestCheckPasswordReference checks hashes made by the reference
// implementation (phc-winner-argon2, src/test.c), so HashPassword's format
// and CheckPassword's reading of it agree with other implementations.
func TestCheckPasswordReference(t *testing.T) {
	for _, tc := range []struct {
		name, pw, hash string
	}{
		{"m=256,p=1", "password", "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4"},
		{"m=256,p=2", "password", "$argon2id$v=19$m=256,t=2,p=2$c29tZXNhbHQ$bQk8UB/VmZZF4Oo79iDXuL5/0ttZwg2f/5U52iv1cDc"},
		{"default params", "password", "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkPassword(t, tc.hash, tc.pw, true)
			if !strings.Contains(tc.name, "default") {
				checkPassword(t, tc.hash, tc.pw+"x", false)
			}
		})
	}
}

func TestHashPasswordWeak(t *testing.T) {
	for _, pw := range []string{"", "short", "123456789", strings.Repeat("a", 1025)} {
		if _, err := auth.HashPassword(pw, cheap); !errors.Is(err, auth.ErrWeakPassword) {
			t.Errorf("HashPassword(%d bytes) = %v, want ErrWeakPassword", len(pw), err)
		}
	}
	for _, pw := range []string{"1234567890", strings.Repeat("a", 1024), "ééééé"} {
		if _, err := auth.HashPassword(pw, cheap); err != nil {
			t.Errorf("HashPassword(%d bytes) = %v", len(pw), err)
		}
	}
}

func TestHashPasswordBadParams(t *testing.T) {
	for name, p := range map[string]auth.PasswordParams{
		"zero":           {},
		"memory too big": {Memory: 1<<21 + 1, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32},
		"memory < 8*p":   {Memory: 31, Time: 1, Threads: 4, SaltLen: 16, KeyLen: 32},
		"time 11":        {Memory: 64, Time: 11, Threads: 1, SaltLen: 16, KeyLen: 32},
		"threads 17":     {Memory: 1024, Time: 1, Threads: 17, SaltLen: 16, KeyLen: 32},
		"salt 7":         {Memory: 64, Time: 1, Threads: 1, SaltLen: 7, KeyLen: 32},
		"key 65":         {Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 65},
	} {
		if h, err := auth.HashPassword("long enough password", p); err == nil {
			t.Errorf("%s: HashPassword = %q, want an error", name, h)
		}
	}
}

// TestCheckPasswordBadHash feeds malformed and hostile hashes; each must be
// refused with ErrBadHash before any memory is spent on it.
func TestCheckPasswordBadHash(t *testing.T) {
	const salt, key = "c29tZXNhbHQ", "nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4"
	for name, h := range map[string]string{
		"empty":            "",
		"argon2i":          "$argon2i$v=19$m=256,t=2,p=1$" + salt + "$" + key,
		"v=16":             "$argon2id$v=16$m=256,t=2,p=1$" + salt + "$" + key,
		"no version":       "$argon2id$m=256,t=2,p=1$" + salt + "$" + key,
		"memory 4 GiB":     "$argon2id$v=19$m=4294967295,t=2,p=1$" + salt + "$" + key,
		"memory 2 GiB + 1": "$argon2id$v=19$m=2097153,t=2,p=1$" + salt + "$" + key,
		"memory overflow":  "$argon2id$v=19$m=99999999999999999999,t=2,p=1$" + salt + "$" + key,
		"time 4294967295":  "$argon2id$v=19$m=256,t=4294967295,p=1$" + salt + "$" + key,
		"time 0":           "$argon2id$v=19$m=256,t=0,p=1$" + salt + "$" + key,
		"threads 255":      "$argon2id$v=19$m=4096,t=2,p=255$" + salt + "$" + key,
		"threads 0":        "$argon2id$v=19$m=256,t=2,p=0$" + salt + "$" + key,
		"memory < 8*p":     "$argon2id$v=19$m=8,t=2,p=2$" + salt + "$" + key,
		"leading zero":     "$argon2id$v=19$m=0256,t=2,p=1$" + salt + "$" + key,
		"plus sign":        "$argon2id$v=19$m=+256,t=2,p=1$" + salt + "$" + key,
		"costs reordered":  "$argon2id$v=19$t=2,m=256,p=1$" + salt + "$" + key,
		"extra cost":       "$argon2id$v=19$m=256,t=2,p=1,k=1$" + salt + "$" + key,
		"salt 6 bytes":     "$argon2id$v=19$m=256,t=2,p=1$c29tZXNh$" + key,
		"salt 65 bytes":    "$argon2id$v=19$m=256,t=2,p=1$" + strings.Repeat("A", 87) + "$" + key,
		"key 15 bytes":     "$argon2id$v=19$m=256,t=2,p=1$" + salt + "$" + key[:20],
		"key 2 KiB":        "$argon2id$v=19$m=256,t=2,p=1$" + salt + "$" + strings.Repeat("A", 2731),
		"padded salt":      "$argon2id$v=19$m=256,t=2,p=1$" + salt + "=$" + key,
		"url alphabet":     "$argon2id$v=19$m=256,t=2,p=1$" + salt + "$" + strings.ReplaceAll(key, "/", "_"),
		"non-zero tail":    "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHR$" + key,
		"newline in key":   "$argon2id$v=19$m=256,t=2,p=1$" + salt + "$" + key[:20] + "\n" + key[20:],
		"trailing field":   "$argon2id$v=19$m=256,t=2,p=1$" + salt + "$" + key + "$",
		"no key":           "$argon2id$v=19$m=256,t=2,p=1$" + salt,
	} {
		t.Run(name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			ok, err := auth.CheckPassword(h, "password")
			runtime.ReadMemStats(&after)
			if ok || !errors.Is(err, auth.ErrBadHash) {
				t.Errorf("CheckPassword = %v, %v; want false, ErrBadHash", ok, err)
			}
			if n := after.TotalAlloc - before.TotalAlloc; n > 64<<10 {
				t.Errorf("refusing the hash allocated %d bytes", n)
			}
		})
	}
}

func TestCheckPasswordTooLong(t *testing.T) {
	h, err := auth.HashPassword("0123456789", cheap)
	if err != nil {
		t.Fatal(err)
	}
	checkPassword(t, h, strings.Repeat("0123456789", 200), false)
}

func checkPassword(tb testing.TB, hash, pw string, want bool) {
	tb.Helper()
	ok, err := auth.CheckPassword(hash, pw)
	if err != nil || ok != want {
		tb.Errorf("CheckPassword(%q, %q) = %v, %v; want %v", hash, pw, ok, err, want)
	}
}

func BenchmarkCheckPassword(b *testing.B) {
	h, err := auth.HashPassword("correct horse battery", auth.DefaultPasswordParams)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if ok, err := auth.CheckPassword(h, "correct horse battery"); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}
