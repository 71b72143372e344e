package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/cuecard/cuecard/auth"
	"github.com/cuecard/cuecard/server"
)

// oidcFlags configure single sign-on.
type oidcFlags struct {
	issuer, clientID, secretFile string
	groupsClaim, defaultRole     string
	rules                        stringList
}

func (f *oidcFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.issuer, "oidc-issuer", "", "OpenID Connect issuer URL: enables single sign-on")
	fs.StringVar(&f.clientID, "oidc-client-id", "", "client id registered at the OpenID provider")
	fs.StringVar(&f.secretFile, "oidc-client-secret-file", "", "file holding the client secret (default: $CUECARD_OIDC_CLIENT_SECRET)")
	fs.StringVar(&f.groupsClaim, "oidc-groups-claim", "groups", "claim listing the user's groups")
	fs.Var(&f.rules, "oidc-map", `map a provider group: "group=team:role" (role rep or coach) or "group=admin" (repeatable)`)
	fs.StringVar(&f.defaultRole, "oidc-default-role", "", "role of users in no mapped group (rep, coach or admin; default: they are refused)")
}

// config returns the single sign-on configuration, nil when no issuer is
// set. The callback URL is publicURL's when it is set, else the
// request's.
func (f *oidcFlags) config(publicURL string) (*server.OIDCConfig, error) {
	if f.issuer == "" {
		if f.clientID != "" || len(f.rules) > 0 {
			return nil, usagef("--oidc-client-id and --oidc-map need --oidc-issuer")
		}
		return nil, nil
	}
	c := &server.OIDCConfig{Issuer: f.issuer, ClientID: f.clientID, GroupsClaim: f.groupsClaim,
		DefaultRole: auth.Role(f.defaultRole), ClientSecret: os.Getenv("CUECARD_OIDC_CLIENT_SECRET")}
	if f.secretFile != "" {
		b, err := os.ReadFile(f.secretFile)
		if err != nil {
			return nil, fmt.Errorf("--oidc-client-secret-file: %w", err)
		}
		c.ClientSecret = strings.TrimSpace(string(b))
	}
	if publicURL != "" {
		c.RedirectURL = strings.TrimSuffix(publicURL, "/") + "/v1/auth/oidc/callback"
	}
	for _, s := range f.rules {
		r, err := server.ParseOIDCRule(s)
		if err != nil {
			return nil, usagef("--oidc-map: %v", err)
		}
		c.Map = append(c.Map, r)
	}
	if err := c.Validate(); err != nil {
		return nil, usagef("%v", err)
	}
	return c, nil
}
