package server_test

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cuecard/cuecard/auth"
	"github.com/cuecard/cuecard/server/servertest"
)

// FuzzCredentials feeds arbitrary Authorization headers and session
// cookies to authentication: nothing panics, and only a real credential
// authenticates.
func FuzzCredentials(f *testing.F) {
	srv := servertest.Start(f, servertest.Options{})
	u, tok := srv.NewUser(f, "rep@example.com", auth.RoleRep, "A")
	for _, s := range []string{"", "Bearer ", "Bearer " + tok, "Bearer " + tok[:len(tok)-1] + "x", "bearer cc_", "Basic Zm9vOmJhcg==",
		"Bearer cci_abc.def", "Bearer cci_.", "Bearer cci_x", "Bearer cc_" + tok[3:19] + "_", "Bearer \x00\xff"} {
		f.Add(s, "")
		f.Add("", s)
	}
	f.Fuzz(func(t *testing.T, authz, cookie string) {
		r := httptest.NewRequest("GET", "/v1/me", nil)
		if authz != "" {
			r.Header.Set("Authorization", authz)
		}
		if cookie != "" {
			r.Header.Set("Cookie", "cuecard_session="+cookie)
		}
		uid, err := srv.Srv.Authenticate(r)
		if uid != "" && (err != nil || uid != u.ID || !slices.Contains([]string{"Bearer " + tok}, authz)) {
			t.Fatalf("authenticated as %q (%v) from Authorization %q, cookie %q", uid, err, authz, cookie)
		}
	})
}

// BenchmarkAuthenticate measures what authentication adds to a request:
// a token (parse, lookup, hash compare, user and teams) and a browser
// session (cookie, stored session, user and teams). It reports the 99th
// percentile.
func BenchmarkAuthenticate(b *testing.B) {
	srv := servertest.Start(b, servertest.Options{})
	u, tok := srv.NewUser(b, "rep@example.com", auth.RoleRep, "A")
	cookie := signInCookie(b, srv, u.ID)
	for _, c := range []struct{ name, header, value string }{
		{"token", "Authorization", "Bearer " + tok},
		{"cookie", "Cookie", "cuecard_session=" + cookie},
	} {
		b.Run(c.name, func(b *testing.B) {
			r := httptest.NewRequest("GET", "/v1/me", nil)
			r.Header.Set(c.header, c.value)
			lat := make([]time.Duration, 0, b.N)
			b.ReportAllocs()
			for b.Loop() {
				t0 := time.Now()
				if uid, err := srv.Srv.Authenticate(r); err != nil || uid != u.ID {
					b.Fatalf("%q %v", uid, err)
				}
				lat = append(lat, time.Since(t0))
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
		})
	}
}

// signInCookie signs user in with a password and returns the session
// cookie's value.
func signInCookie(tb testing.TB, srv *servertest.Server, userID string) string {
	tb.Helper()
	hash, err := auth.HashPassword("a long enough password", auth.PasswordParams{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32})
	if err != nil {
		tb.Fatal(err)
	}
	if err := srv.DB.SetPassword(tb.Context(), userID, hash); err != nil {
		tb.Fatal(err)
	}
	u, err := srv.DB.GetUser(tb.Context(), userID)
	if err != nil {
		tb.Fatal(err)
	}
	req, _ := http.NewRequest("POST", srv.URL+"/v1/auth/login", strings.NewReader(`{"email":"`+u.Email+`","password":"a long enough password"}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	resp.Body.Close()
	for _, c := range resp.Cookies() {
		if c.Name == "cuecard_session" {
			return c.Value
		}
	}
	tb.Fatalf("no session cookie (status %d)", resp.StatusCode)
	return ""
}
