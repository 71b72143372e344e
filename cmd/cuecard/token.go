package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/cuecard/cuecard/auth"
	"github.com/cuecard/cuecard/store"
)

// runToken is `cuecard token create`: it makes an API token for a user
// (created if missing) in a data directory, which a running server may be
// using, and prints the token as its last line.
func runToken(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "create" {
		return usagef("usage: cuecard token create (--data DIR | --database URL) --email EMAIL --role admin|coach|rep [--team NAME] [--scope stream,read,admin] [--name NAME] [--expires-days N]")
	}
	fs := newFlags("token create", stderr)
	var sf storeFlags
	sf.register(fs, "the server's data directory")
	email := fs.String("email", "", "the user's email (the user is created if missing)")
	roleName := fs.String("role", "", "the user's role: admin, coach or rep")
	team := fs.String("team", "", "a team the user joins (created if missing): as a rep, or as a coach when the role is coach")
	scope := fs.String("scope", "", "comma-separated scopes: stream, read, admin (default: all the role may hold)")
	name := fs.String("name", "cli", "the token's name")
	days := fs.Int("expires-days", 0, "days until the token expires (0: never)")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	role, err := auth.ParseRole(*roleName)
	if err != nil || strings.TrimSpace(*email) == "" {
		return usagef("--email and --role (admin, coach or rep) are required")
	}
	scopes := auth.RoleScopes(role)
	if *scope != "" {
		if scopes, err = auth.ParseScopes(*scope); err != nil {
			return usagef("--scope: %v", err)
		}
		if len(auth.Intersect(scopes, auth.RoleScopes(role))) != len(scopes) {
			return usagef("--scope: a %s cannot hold %s", role, auth.FormatScopes(scopes))
		}
	}
	if *days < 0 {
		return usagef("--expires-days must not be negative")
	}
	plain, err := createToken(ctx, sf, tokenSpec{email: *email, role: role, team: *team, scopes: scopes, name: *name, days: *days}, stderr)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, plain)
	return nil
}

// tokenSpec is the token to make and its user.
type tokenSpec struct {
	email  string
	role   auth.Role
	team   string
	scopes []auth.Scope
	name   string
	days   int
}

// createToken makes a token in the data directory for the user of spec
// (created if missing), records it in the audit log and returns it.
func createToken(ctx context.Context, sf storeFlags, spec tokenSpec, stderr io.Writer) (string, error) {
	db, err := sf.open(ctx)
	if err != nil {
		return "", err
	}
	defer db.Close()
	u, err := ensureUser(ctx, db, spec.email, spec.role, spec.team, stderr)
	if err != nil {
		return "", err
	}
	plain, t, err := auth.NewToken()
	if err != nil {
		return "", err
	}
	at := store.APIToken{ID: t.ID, UserID: u.ID, Name: spec.name, Scopes: spec.scopes, Hash: auth.HashSecret(t.Secret)}
	if spec.days > 0 {
		at.ExpiresAt = time.Now().Add(time.Duration(spec.days) * 24 * time.Hour)
	}
	if _, err := db.CreateToken(ctx, at); err != nil {
		return "", err
	}
	if _, err := db.AppendAudit(ctx, store.AuditEntry{Actor: "cli", Action: "token.create", Target: t.ID,
		Detail: fmt.Appendf(nil, `{"user":%q,"scopes":%q}`, u.ID, auth.FormatScopes(spec.scopes))}); err != nil {
		return "", err
	}
	fmt.Fprintf(stderr, "token %s for %s (%s, scopes %s)\n", t.ID, u.Email, u.Role, auth.FormatScopes(spec.scopes))
	return plain, nil
}

// ensureUser returns the user with email, created with role if missing,
// and a member of team (created if missing) when one is named.
func ensureUser(ctx context.Context, db *store.DB, email string, role auth.Role, team string, stderr io.Writer) (store.User, error) {
	u, _, err := db.UserByEmail(ctx, email)
	switch {
	case errors.Is(err, store.ErrNotFound):
		if u, err = db.CreateUser(ctx, store.User{Email: email, Role: role}, ""); err != nil {
			return u, err
		}
		fmt.Fprintf(stderr, "created user %s (%s); set a password in the web UI's admin page or sign in with single sign-on\n", u.Email, role)
	case err != nil:
		return u, err
	case u.Role != role:
		return u, usagef("%s is already a %s; change roles in the admin page", u.Email, u.Role)
	}
	if team == "" {
		return u, nil
	}
	t, err := db.TeamByName(ctx, team)
	if errors.Is(err, store.ErrNotFound) {
		t, err = db.CreateTeam(ctx, team)
	}
	if err != nil {
		return u, err
	}
	if err := db.SetMember(ctx, t.ID, u.ID, auth.MemberRole(role)); err != nil {
		return u, err
	}
	return db.GetUser(ctx, u.ID)
}
