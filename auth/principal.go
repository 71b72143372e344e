// Package auth holds cuecard's access rules and credentials: roles and
// scopes, who may read or stream a session, password hashes, API tokens,
// TURN credentials and a keyed rate limiter. It imports nothing of
// cuecard's, so the store and the server both build on it.
package auth

import (
	"fmt"
	"slices"
	"strings"
)

// Role is what a user is on the whole server, and what a member is in one
// team (rep or coach).
type Role string

// The roles.
const (
	RoleAdmin Role = "admin"
	RoleCoach Role = "coach"
	RoleRep   Role = "rep"
)

// ParseRole returns the role named s.
func ParseRole(s string) (Role, error) {
	switch r := Role(strings.TrimSpace(s)); r {
	case RoleAdmin, RoleCoach, RoleRep:
		return r, nil
	}
	return "", fmt.Errorf("role %q is not admin, coach or rep", s)
}

// Scope is what an API token may be used for.
type Scope string

// The scopes.
const (
	ScopeStream Scope = "stream"
	ScopeRead   Scope = "read"
	ScopeAdmin  Scope = "admin"
)

// ParseScopes reads a comma-separated list of scopes; the result is sorted
// and has no duplicates. An unknown scope is an error.
func ParseScopes(s string) ([]Scope, error) {
	var out []Scope
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		switch sc := Scope(f); sc {
		case ScopeStream, ScopeRead, ScopeAdmin:
			out = append(out, sc)
		default:
			return nil, fmt.Errorf("scope %q is not stream, read or admin", f)
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// FormatScopes writes scopes as ParseScopes reads them.
func FormatScopes(scopes []Scope) string {
	ss := make([]string, len(scopes))
	for i, s := range scopes {
		ss[i] = string(s)
	}
	slices.Sort(ss)
	return strings.Join(slices.Compact(ss), ",")
}

// RoleScopes returns every scope a user of role r may hold.
func RoleScopes(r Role) []Scope {
	if r == RoleAdmin {
		return []Scope{ScopeAdmin, ScopeRead, ScopeStream}
	}
	return []Scope{ScopeRead, ScopeStream}
}

// Intersect returns the scopes in both a and b, sorted.
func Intersect(a, b []Scope) []Scope {
	var out []Scope
	for _, s := range a {
		if slices.Contains(b, s) && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return out
}

// Principal is who is asking, built by the server from a browser session
// or a token.
type Principal struct {
	UserID string
	Email  string
	Name   string
	Role   Role
	// Teams maps each team the user belongs to onto the user's role in it
	// (RoleRep or RoleCoach).
	Teams map[string]Role
	// Scopes are the credential's: a browser session holds RoleScopes(Role),
	// a token its own scopes within those.
	Scopes []Scope
	// TokenID is the API token's id; "" for a browser session.
	TokenID string
	// Ingest is the session id when the credential is that session's
	// ingest token, which allows streaming it and nothing else.
	Ingest string
}

// Has reports whether the credential holds scope s.
func (p *Principal) Has(s Scope) bool { return p != nil && slices.Contains(p.Scopes, s) }

// IsAdmin reports whether p is an administrator acting with the admin
// scope.
func (p *Principal) IsAdmin() bool { return p != nil && p.Role == RoleAdmin && p.Has(ScopeAdmin) }

// CoachOf reports whether p coaches team.
func (p *Principal) CoachOf(team string) bool {
	return p != nil && team != "" && p.Teams[team] == RoleCoach
}

// Resource is a session as the access rules see it: the user who owns it
// and the team it belongs to.
type Resource struct{ Owner, Team string }

// CanRead reports whether p may see a session: its owner, a coach of its
// team, or an administrator, with the read scope.
func (p *Principal) CanRead(r Resource) bool {
	if p == nil || p.Ingest != "" || !p.Has(ScopeRead) {
		return false
	}
	return p.Role == RoleAdmin || (r.Owner != "" && r.Owner == p.UserID) || p.CoachOf(r.Team)
}

// CanStream reports whether p may send a session's audio: only its owner,
// with the stream scope. An ingest credential is checked against the
// session id by the caller.
func (p *Principal) CanStream(r Resource) bool {
	return p != nil && p.Has(ScopeStream) && r.Owner != "" && r.Owner == p.UserID
}

// CanEditComment reports whether p may change or delete a comment written
// by the user authorID: its author or an administrator.
func (p *Principal) CanEditComment(authorID string) bool {
	if p == nil || p.Ingest != "" || !p.Has(ScopeRead) {
		return false
	}
	return p.IsAdmin() || (authorID != "" && authorID == p.UserID)
}

// MemberRole is the role a user of role r takes in a team they join: a
// coach coaches it; anyone else (a rep, an administrator who takes calls)
// is a rep in it.
func MemberRole(r Role) Role {
	if r == RoleCoach {
		return RoleCoach
	}
	return RoleRep
}
