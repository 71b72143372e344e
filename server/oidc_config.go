package server

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/cuecard/cuecard/auth"
)

// OIDCConfig configures single sign-on through an OpenID Connect provider.
type OIDCConfig struct {
	// Issuer is the provider's issuer URL; its discovery document is at
	// Issuer + "/.well-known/openid-configuration".
	Issuer string
	// ClientID and ClientSecret are the server's registration at the
	// provider.
	ClientID, ClientSecret string
	// RedirectURL is the callback registered at the provider; "" derives
	// it from the request (scheme and Host + /v1/auth/oidc/callback).
	RedirectURL string
	// Scopes are requested besides "openid"; nil means profile, email and
	// groups.
	Scopes []string
	// GroupsClaim names the claim listing the user's groups (in the ID
	// token, else in the userinfo answer); "" means "groups".
	GroupsClaim string
	// Map turns the provider's groups into a role and team memberships.
	Map []OIDCRule
	// DefaultRole is the role of a user in no mapped group; "" refuses
	// such users.
	DefaultRole auth.Role
	// DiscoveryTimeout bounds fetching the provider's discovery document;
	// 0 means 10 seconds.
	DiscoveryTimeout time.Duration
	// HTTPClient talks to the provider; nil is a client with a 15-second
	// timeout.
	HTTPClient *http.Client
}

// OIDCRule maps one provider group: to a team with a membership role
// (Team set, Role rep or coach), or to administrators (Team "", Role
// admin).
type OIDCRule struct {
	Group string
	Team  string
	Role  auth.Role
}

// ErrBadOIDCRule is a mapping rule that is not "group=team:role" or
// "group=admin".
var ErrBadOIDCRule = errors.New(`want "group=team:role" (role rep or coach) or "group=admin"`)

// ParseOIDCRule parses "group=team:role" (role rep or coach) or
// "group=admin". The group ends at the last "=", so that LDAP-style group
// names ("cn=sales,ou=groups") work. It returns an error wrapping
// ErrBadOIDCRule otherwise.
func ParseOIDCRule(s string) (OIDCRule, error) {
	eq := strings.LastIndexByte(s, '=')
	if eq < 0 {
		return OIDCRule{}, fmt.Errorf("mapping %q: %w", s, ErrBadOIDCRule)
	}
	group, target := strings.TrimSpace(s[:eq]), strings.TrimSpace(s[eq+1:])
	if group == "" || target == "" {
		return OIDCRule{}, fmt.Errorf("mapping %q: %w", s, ErrBadOIDCRule)
	}
	if target == string(auth.RoleAdmin) {
		return OIDCRule{Group: group, Role: auth.RoleAdmin}, nil
	}
	i := strings.LastIndexByte(target, ':')
	if i <= 0 {
		return OIDCRule{}, fmt.Errorf("mapping %q: %w", s, ErrBadOIDCRule)
	}
	team, role := strings.TrimSpace(target[:i]), auth.Role(strings.TrimSpace(target[i+1:]))
	if team == "" || role != auth.RoleRep && role != auth.RoleCoach {
		return OIDCRule{}, fmt.Errorf("mapping %q: %w", s, ErrBadOIDCRule)
	}
	return OIDCRule{Group: group, Team: team, Role: role}, nil
}

// String is the rule as ParseOIDCRule reads it.
func (r OIDCRule) String() string {
	if r.Team == "" {
		return r.Group + "=" + string(r.Role)
	}
	return r.Group + "=" + r.Team + ":" + string(r.Role)
}

// Validate reports a configuration that cannot work.
func (c OIDCConfig) Validate() error {
	switch {
	case c.Issuer == "":
		return errors.New("single sign-on: the issuer URL is missing")
	case c.ClientID == "":
		return errors.New("single sign-on: the client id is missing")
	case c.DefaultRole != "" && c.DefaultRole != auth.RoleRep && c.DefaultRole != auth.RoleCoach && c.DefaultRole != auth.RoleAdmin:
		return fmt.Errorf("single sign-on: default role %q is not rep, coach or admin", c.DefaultRole)
	case len(c.Map) == 0 && c.DefaultRole == "":
		return errors.New("single sign-on: no group mapping and no default role: nobody could sign in")
	}
	for _, r := range c.Map {
		if r.Group == "" || (r.Team == "") != (r.Role == auth.RoleAdmin) {
			return fmt.Errorf("single sign-on: rule %q: %w", r, ErrBadOIDCRule)
		}
	}
	return nil
}

// withDefaults returns c with its zero fields set.
func (c OIDCConfig) withDefaults() OIDCConfig {
	if c.GroupsClaim == "" {
		c.GroupsClaim = "groups"
	}
	if c.Scopes == nil {
		c.Scopes = []string{"profile", "email", "groups"}
	}
	if c.DiscoveryTimeout <= 0 {
		c.DiscoveryTimeout = 10 * time.Second
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Timeout: 15 * time.Second}
	}
	return c
}

// grant is what a user's groups give: a role, the memberships wanted in
// each team the mapping names, and those teams.
type grant struct {
	role    auth.Role
	teams   map[string]auth.Role // team name -> rep or coach
	managed []string             // every team a rule names, sorted
}

// roleRank orders roles from least to most powerful.
var roleRank = map[auth.Role]int{auth.RoleRep: 1, auth.RoleCoach: 2, auth.RoleAdmin: 3}

// grantFor maps groups through the rules: the user's role is the highest
// any matching rule gives (a team coach is a coach), its membership in a
// team the highest any rule gives there. A user no rule matches gets the
// default role and no memberships; ok is false if there is none.
func (c OIDCConfig) grantFor(groups []string) (g grant, ok bool) {
	g.teams = map[string]auth.Role{}
	for _, r := range c.Map {
		if r.Team != "" && !slices.Contains(g.managed, r.Team) {
			g.managed = append(g.managed, r.Team)
		}
		if !slices.Contains(groups, r.Group) {
			continue
		}
		if roleRank[r.Role] > roleRank[g.role] {
			g.role = r.Role
		}
		if r.Team != "" && roleRank[r.Role] > roleRank[g.teams[r.Team]] {
			g.teams[r.Team] = r.Role
		}
	}
	slices.Sort(g.managed)
	if g.role == "" {
		g.role = c.DefaultRole
	}
	return g, g.role != ""
}
