package server

import (
	"context"
	"errors"
	"net/http"
	"slices"

	"github.com/cuecard/cuecard/auth"
	"github.com/cuecard/cuecard/store"
)

// signIn finds or creates the user the provider vouched for and applies
// the group mapping to it: its role, and its memberships in the teams the
// mapping names (other teams are left alone). It returns the user as it
// now is, or a *signinError when the user may not sign in.
func (o *oidcLogin) signIn(ctx context.Context, id identity) (store.User, error) {
	g, ok := o.cfg.grantFor(id.groups)
	if !ok {
		return store.User{}, &signinError{code: http.StatusForbidden, target: id.email,
			reason: "no mapped group", msg: "Your account is in none of the groups allowed to use cuecard. Ask your administrator for access."}
	}
	u, err := o.findUser(ctx, id, g.role)
	if err != nil {
		return store.User{}, err
	}
	if u.Disabled {
		return store.User{}, &signinError{code: http.StatusForbidden, target: id.email,
			reason: "user disabled", msg: "Your cuecard account is disabled. Ask your administrator."}
	}
	patch := store.UserPatch{}
	if u.Role != g.role {
		patch.Role = &g.role
	}
	if u.Name == "" && id.name != "" {
		patch.Name = &id.name
	}
	if patch.Role != nil || patch.Name != nil {
		if _, err := o.s.acc.UpdateUser(ctx, u.ID, patch); err != nil {
			return store.User{}, err
		}
	}
	if err := o.syncTeams(ctx, u, g); err != nil {
		return store.User{}, err
	}
	return o.s.acc.GetUser(ctx, u.ID)
}

// findUser returns the user linked to the subject; else the user with the
// provider-verified email, which it links; else a new user with role.
func (o *oidcLogin) findUser(ctx context.Context, id identity, role auth.Role) (store.User, error) {
	u, err := o.s.acc.UserByOIDC(ctx, id.subject)
	if !errors.Is(err, store.ErrNotFound) {
		return u, err
	}
	u, _, err = o.s.acc.UserByEmail(ctx, id.email)
	switch {
	case err == nil && (!id.emailVerified || u.OIDCSubject != ""):
		return store.User{}, &signinError{code: http.StatusForbidden, target: id.email,
			reason: "email taken by another account",
			msg:    "A cuecard account with your email address exists but cannot be linked to this sign-in. Ask your administrator."}
	case err == nil:
		return o.s.acc.UpdateUser(ctx, u.ID, store.UserPatch{OIDCSubject: &id.subject})
	case !errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrInvalid):
		return store.User{}, err
	}
	u, err = o.s.acc.CreateUser(ctx, store.User{Email: id.email, Name: id.name, Role: role, OIDCSubject: id.subject}, "")
	if errors.Is(err, store.ErrInvalid) {
		return store.User{}, &signinError{code: http.StatusForbidden, target: id.email, reason: err.Error(),
			msg: "The identity provider's account details are not usable by cuecard: " + oneLine(err.Error())}
	}
	if err != nil {
		return store.User{}, err
	}
	o.s.appendAudit(ctx, store.AuditEntry{Action: "user.create", Target: u.ID,
		Detail: jsonDetail(map[string]any{"email": u.Email, "role": u.Role, "via": "oidc"})})
	return u, nil
}

// syncTeams makes u's memberships in the teams the mapping names what g
// says, creating a team on first use.
func (o *oidcLogin) syncTeams(ctx context.Context, u store.User, g grant) error {
	for _, name := range g.managed {
		want := g.teams[name]
		i := slices.IndexFunc(u.Teams, func(m store.Membership) bool { return m.TeamName == name })
		switch {
		case want == "" && i >= 0:
			if err := o.s.acc.RemoveMember(ctx, u.Teams[i].TeamID, u.ID); err != nil {
				return err
			}
		case want != "" && (i < 0 || u.Teams[i].Role != want):
			t, err := o.team(ctx, name)
			if err != nil {
				return err
			}
			if err := o.s.acc.SetMember(ctx, t.ID, u.ID, want); err != nil {
				return err
			}
		}
	}
	return nil
}

// team returns the team named name, creating it if missing.
func (o *oidcLogin) team(ctx context.Context, name string) (store.Team, error) {
	t, err := o.s.acc.TeamByName(ctx, name)
	if !errors.Is(err, store.ErrNotFound) {
		return t, err
	}
	t, err = o.s.acc.CreateTeam(ctx, name)
	if errors.Is(err, store.ErrConflict) {
		return o.s.acc.TeamByName(ctx, name)
	}
	if err == nil {
		o.s.appendAudit(ctx, store.AuditEntry{Action: "team.create", Target: t.ID,
			Detail: jsonDetail(map[string]any{"name": t.Name, "via": "oidc"})})
	}
	return t, err
}
