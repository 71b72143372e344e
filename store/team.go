package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/cuecard/cuecard/auth"
)

// CreateTeam stores a team named name (trimmed) with a fresh id and
// returns it. It returns ErrConflict if the name is taken and an error
// wrapping ErrInvalid for an empty or over-long name.
func (db *DB) CreateTeam(ctx context.Context, name string) (Team, error) {
	name = strings.TrimSpace(name)
	if err := checkField("team name", name, maxLabelLen, true); err != nil {
		return Team{}, fmt.Errorf("create team: %w", err)
	}
	t := Team{ID: newID(), Name: name, CreatedAt: msTime(db.now().UnixMilli())}
	_, err := db.w.ExecContext(ctx, `INSERT INTO teams (id, name, created_at) VALUES (?, ?, ?)`,
		t.ID, t.Name, t.CreatedAt.UnixMilli())
	if isUniqueViolation(err) {
		return Team{}, fmt.Errorf("create team %q: %w", name, ErrConflict)
	}
	if err != nil {
		return Team{}, fmt.Errorf("create team: %w", err)
	}
	return t, nil
}

// TeamByName returns the team named name (trimmed, compared exactly), or
// ErrNotFound.
func (db *DB) TeamByName(ctx context.Context, name string) (Team, error) {
	var (
		t       Team
		created int64
	)
	err := db.r.QueryRowContext(ctx, `SELECT id, name, created_at FROM teams WHERE name = ?`,
		strings.TrimSpace(name)).Scan(&t.ID, &t.Name, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return Team{}, fmt.Errorf("team %q: %w", name, ErrNotFound)
	}
	if err != nil {
		return Team{}, fmt.Errorf("team by name: %w", err)
	}
	t.CreatedAt = msTime(created)
	return t, nil
}

// ListTeams returns every team, ordered by name.
func (db *DB) ListTeams(ctx context.Context) ([]Team, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT id, name, created_at FROM teams ORDER BY name, id`)
	if err != nil {
		return nil, fmt.Errorf("list teams: %w", err)
	}
	defer rows.Close()
	ts := []Team{}
	for rows.Next() {
		var (
			t       Team
			created int64
		)
		if err := rows.Scan(&t.ID, &t.Name, &created); err != nil {
			return nil, fmt.Errorf("list teams: %w", err)
		}
		t.CreatedAt = msTime(created)
		ts = append(ts, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list teams: %w", err)
	}
	return ts, nil
}

// SetMember makes the user a member of the team with role (auth.RoleRep or
// auth.RoleCoach), or changes the role of a member. It returns ErrNotFound
// if the team or the user does not exist and an error wrapping ErrInvalid
// for another role.
func (db *DB) SetMember(ctx context.Context, teamID, userID string, role auth.Role) error {
	if role != auth.RoleRep && role != auth.RoleCoach {
		return fmt.Errorf("set member: %w: team role %q is not rep or coach", ErrInvalid, role)
	}
	_, err := db.w.ExecContext(ctx, `INSERT INTO team_members (team_id, user_id, role) VALUES (?, ?, ?)
		ON CONFLICT (team_id, user_id) DO UPDATE SET role = excluded.role`, teamID, userID, string(role))
	if isFKViolation(err) {
		return fmt.Errorf("set member: team %q or user %q: %w", teamID, userID, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("set member: %w", err)
	}
	return nil
}

// RemoveMember takes the user out of the team, or returns ErrNotFound if
// the user was not a member.
func (db *DB) RemoveMember(ctx context.Context, teamID, userID string) error {
	res, err := db.w.ExecContext(ctx, `DELETE FROM team_members WHERE team_id = ? AND user_id = ?`, teamID, userID)
	if err != nil {
		return fmt.Errorf("remove member: %w", err)
	}
	if err := oneRow(res); err != nil {
		return fmt.Errorf("remove member: user %q of team %q: %w", userID, teamID, err)
	}
	return nil
}
