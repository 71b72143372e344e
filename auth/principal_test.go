package auth_test

import (
	"slices"
	"testing"

	"github.com/cuecard/cuecard/auth"
)

// The people of the access tests: Ann administers, Cora coaches team north
// (and is a rep in south), Rex and Ray are reps in north, Sam a rep in
// south.
func people() map[string]*auth.Principal {
	cookie := func(id string, r auth.Role, teams map[string]auth.Role) *auth.Principal {
		return &auth.Principal{UserID: id, Role: r, Teams: teams, Scopes: auth.RoleScopes(r)}
	}
	return map[string]*auth.Principal{
		"admin":       cookie("ann", auth.RoleAdmin, nil),
		"coach":       cookie("cora", auth.RoleCoach, map[string]auth.Role{"north": auth.RoleCoach, "south": auth.RoleRep}),
		"rep":         cookie("rex", auth.RoleRep, map[string]auth.Role{"north": auth.RoleRep}),
		"teammate":    cookie("ray", auth.RoleRep, map[string]auth.Role{"north": auth.RoleRep}),
		"other team":  cookie("sam", auth.RoleRep, map[string]auth.Role{"south": auth.RoleRep}),
		"no team":     cookie("nia", auth.RoleRep, nil),
		"nobody":      nil,
		"rep no user": {Role: auth.RoleRep, Scopes: auth.RoleScopes(auth.RoleRep)},
		// Tokens hold some of their role's scopes.
		"admin read token":   {UserID: "ann", Role: auth.RoleAdmin, Scopes: []auth.Scope{auth.ScopeRead}, TokenID: "t1"},
		"rep stream token":   {UserID: "rex", Role: auth.RoleRep, Scopes: []auth.Scope{auth.ScopeStream}, TokenID: "t2"},
		"rep read token":     {UserID: "rex", Role: auth.RoleRep, Scopes: []auth.Scope{auth.ScopeRead}, TokenID: "t3"},
		"coach stream token": {UserID: "cora", Role: auth.RoleCoach, Teams: map[string]auth.Role{"north": auth.RoleCoach}, Scopes: []auth.Scope{auth.ScopeStream}, TokenID: "t4"},
		// An ingest token of Rex's session s1: it streams that session only.
		"ingest": {UserID: "rex", Role: auth.RoleRep, Scopes: []auth.Scope{auth.ScopeStream}, Ingest: "s1"},
	}
}

func TestCanReadAndStream(t *testing.T) {
	rexNorth := auth.Resource{Owner: "rex", Team: "north"}
	rexNoTeam := auth.Resource{Owner: "rex"}
	noOwner := auth.Resource{Team: "north"}
	ps := people()
	for _, tc := range []struct {
		who          string
		r            auth.Resource
		read, stream bool
	}{
		{"rep", rexNorth, true, true},
		{"rep", rexNoTeam, true, true},
		{"admin", rexNorth, true, false},
		{"admin", rexNoTeam, true, false},
		{"coach", rexNorth, true, false},
		{"coach", rexNoTeam, false, false},
		{"coach", auth.Resource{Owner: "sam", Team: "south"}, false, false},
		{"coach", auth.Resource{Owner: "cora", Team: "south"}, true, true},
		{"teammate", rexNorth, false, false},
		{"other team", rexNorth, false, false},
		{"no team", rexNoTeam, false, false},
		{"nobody", rexNorth, false, false},
		{"rep no user", noOwner, false, false},
		{"admin read token", rexNorth, true, false},
		{"rep stream token", rexNorth, false, true},
		{"rep read token", rexNorth, true, false},
		{"coach stream token", rexNorth, false, false},
		{"ingest", rexNorth, false, true},
	} {
		t.Run(tc.who+" on "+tc.r.Owner+"/"+tc.r.Team, func(t *testing.T) {
			p := ps[tc.who]
			if got := p.CanRead(tc.r); got != tc.read {
				t.Errorf("CanRead = %v, want %v", got, tc.read)
			}
			if got := p.CanStream(tc.r); got != tc.stream {
				t.Errorf("CanStream = %v, want %v", got, tc.stream)
			}
		})
	}
}

func TestCanEditComment(t *testing.T) {
	ps := people()
	for _, tc := range []struct {
		who, author string
		want        bool
	}{
		{"rep", "rex", true},
		{"rep", "ray", false},
		{"rep", "", false},
		{"admin", "rex", true},
		{"admin", "", true},
		{"coach", "rex", false},
		{"coach", "cora", true},
		{"nobody", "rex", false},
		{"rep no user", "", false},
		{"rep read token", "rex", true},
		{"rep stream token", "rex", false},
		// A token without the admin scope does not act as an administrator.
		{"admin read token", "rex", false},
		{"admin read token", "ann", true},
		{"ingest", "rex", false},
	} {
		t.Run(tc.who+" on "+tc.author, func(t *testing.T) {
			if got := ps[tc.who].CanEditComment(tc.author); got != tc.want {
				t.Errorf("CanEditComment(%q) = %v, want %v", tc.author, got, tc.want)
			}
		})
	}
}

func TestPrincipalScopes(t *testing.T) {
	ps := people()
	for _, tc := range []struct {
		who            string
		admin, coachOf bool
		has            []auth.Scope
	}{
		{"admin", true, false, []auth.Scope{auth.ScopeAdmin, auth.ScopeRead, auth.ScopeStream}},
		{"coach", false, true, []auth.Scope{auth.ScopeRead, auth.ScopeStream}},
		{"rep", false, false, []auth.Scope{auth.ScopeRead, auth.ScopeStream}},
		{"admin read token", false, false, []auth.Scope{auth.ScopeRead}},
		{"nobody", false, false, nil},
	} {
		t.Run(tc.who, func(t *testing.T) {
			p := ps[tc.who]
			if p.IsAdmin() != tc.admin || p.CoachOf("north") != tc.coachOf {
				t.Errorf("IsAdmin = %v, CoachOf(north) = %v; want %v, %v", p.IsAdmin(), p.CoachOf("north"), tc.admin, tc.coachOf)
			}
			if p.CoachOf("") {
				t.Error(`CoachOf("") = true`)
			}
			for _, s := range []auth.Scope{auth.ScopeAdmin, auth.ScopeRead, auth.ScopeStream} {
				if p.Has(s) != slices.Contains(tc.has, s) {
					t.Errorf("Has(%s) = %v", s, p.Has(s))
				}
			}
		})
	}
}

func TestParseRole(t *testing.T) {
	for in, want := range map[string]auth.Role{"admin": auth.RoleAdmin, " coach ": auth.RoleCoach, "rep": auth.RoleRep} {
		if got, err := auth.ParseRole(in); err != nil || got != want {
			t.Errorf("ParseRole(%q) = %q, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "Admin", "root", "reps"} {
		if got, err := auth.ParseRole(in); err == nil {
			t.Errorf("ParseRole(%q) = %q, want an error", in, got)
		}
	}
}

func TestScopes(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		bad      bool
	}{
		{in: "stream,read", want: "read,stream"},
		{in: " read , read,,admin", want: "admin,read"},
		{in: "", want: ""},
		{in: "read,write", bad: true},
		{in: "READ", bad: true},
	} {
		got, err := auth.ParseScopes(tc.in)
		if (err != nil) != tc.bad || auth.FormatScopes(got) != tc.want {
			t.Errorf("ParseScopes(%q) = %v, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	if got := auth.FormatScopes(auth.RoleScopes(auth.RoleAdmin)); got != "admin,read,stream" {
		t.Errorf("RoleScopes(admin) = %s", got)
	}
	for _, r := range []auth.Role{auth.RoleCoach, auth.RoleRep} {
		if got := auth.FormatScopes(auth.RoleScopes(r)); got != "read,stream" {
			t.Errorf("RoleScopes(%s) = %s", r, got)
		}
	}
	if got := auth.Intersect([]auth.Scope{auth.ScopeStream, auth.ScopeAdmin, auth.ScopeStream}, auth.RoleScopes(auth.RoleRep)); !slices.Equal(got, []auth.Scope{auth.ScopeStream}) {
		t.Errorf("Intersect = %v, want [stream]", got)
	}
}

func TestMemberRole(t *testing.T) {
	for r, want := range map[auth.Role]auth.Role{auth.RoleCoach: auth.RoleCoach, auth.RoleRep: auth.RoleRep, auth.RoleAdmin: auth.RoleRep} {
		if got := auth.MemberRole(r); got != want {
			t.Errorf("MemberRole(%s) = %s, want %s", r, got, want)
		}
	}
}
