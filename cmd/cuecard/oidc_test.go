package main

import (
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/cuecard/cuecard/auth"
)

func TestServeOIDCFlags(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	m := newServeMain(io.Discard, io.Discard)
	err := m.ParseFlags([]string{"--public-url", "https://coach.example.com/", "--oidc-issuer", "https://idp.example.com",
		"--oidc-client-id", "cuecard", "--oidc-client-secret-file", secret, "--oidc-map", "sales=East:rep",
		"--oidc-map", "it=admin", "--oidc-default-role", "rep"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	c := m.oidc
	if c == nil || c.ClientSecret != "s3cret" || c.RedirectURL != "https://coach.example.com/v1/auth/oidc/callback" ||
		len(c.Map) != 2 || c.Map[1].Role != auth.RoleAdmin || c.DefaultRole != auth.RoleRep || c.GroupsClaim != "groups" {
		t.Fatalf("config %+v", c)
	}
	t.Setenv("CUECARD_OIDC_CLIENT_SECRET", "from-env")
	for name, args := range map[string][]string{
		"bad rule":         {"--oidc-issuer", "https://idp", "--oidc-client-id", "c", "--oidc-map", "sales=East:boss"},
		"no mapping":       {"--oidc-issuer", "https://idp", "--oidc-client-id", "c"},
		"no client id":     {"--oidc-issuer", "https://idp", "--oidc-map", "it=admin"},
		"map no issuer":    {"--oidc-map", "it=admin"},
		"bad default role": {"--oidc-issuer", "https://idp", "--oidc-client-id", "c", "--oidc-default-role", "boss"},
	} {
		t.Run(name, func(t *testing.T) {
			if err := newServeMain(io.Discard, io.Discard).ParseFlags(args, io.Discard); err == nil {
				t.Errorf("%v accepted", args)
			}
		})
	}
	m = newServeMain(io.Discard, io.Discard)
	if err := m.ParseFlags([]string{"--oidc-issuer", "https://idp", "--oidc-client-id", "c", "--oidc-map", "it=admin"}, io.Discard); err != nil {
		t.Fatal(err)
	}
	if m.oidc.ClientSecret != "from-env" || m.oidc.RedirectURL != "" {
		t.Errorf("config %+v", m.oidc)
	}
}
