package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/cuecard/cuecard/auth"
)

// Bounds of the account fields, in bytes.
const (
	maxEmailLen   = 254  // the longest address SMTP can carry
	maxLabelLen   = 200  // user, team and token names
	maxSubjectLen = 1024 // "issuer|sub" of single sign-on
	maxHashLen    = 512  // a password or token hash
)

// User is an account. Teams is filled by the methods that read users.
type User struct {
	ID       string    `json:"id"`
	Email    string    `json:"email"`
	Name     string    `json:"name"`
	Role     auth.Role `json:"role"`
	Disabled bool      `json:"disabled"`
	// OIDCSubject is "issuer|sub" for a user made by single sign-on, else "".
	OIDCSubject string       `json:"-"`
	CreatedAt   time.Time    `json:"created_at"`
	UpdatedAt   time.Time    `json:"updated_at"`
	Teams       []Membership `json:"teams"`
}

// Membership is a user's place in a team; Role is auth.RoleRep or
// auth.RoleCoach.
type Membership struct {
	TeamID   string    `json:"team_id"`
	TeamName string    `json:"team_name"`
	Role     auth.Role `json:"role"`
}

// Team is a group of reps and their coaches.
type Team struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

// UserPatch is a partial update of a user: nil fields stay as they are. An
// empty OIDCSubject unlinks the user from single sign-on.
type UserPatch struct {
	Name        *string
	Role        *auth.Role
	Disabled    *bool
	OIDCSubject *string
}

// checkField validates a bounded text field: valid UTF-8, no control
// characters, at most maxLen bytes, and not empty if required.
func checkField(name, v string, maxLen int, required bool) error {
	switch {
	case required && v == "":
		return fmt.Errorf("%w: %s is empty", ErrInvalid, name)
	case len(v) > maxLen:
		return fmt.Errorf("%w: %s longer than %d bytes", ErrTextTooLong, name, maxLen)
	case !utf8.ValidString(v):
		return fmt.Errorf("%w: %s is not UTF-8", ErrInvalid, name)
	case strings.ContainsFunc(v, unicode.IsControl):
		return fmt.Errorf("%w: %s has control characters", ErrInvalid, name)
	}
	return nil
}

// normalizeEmail is how emails are stored and looked up.
func normalizeEmail(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// normalize trims and lower-cases what is stored that way and validates
// every field a caller sets.
func (u *User) normalize() error {
	u.Email = normalizeEmail(u.Email)
	u.Name = strings.TrimSpace(u.Name)
	if err := checkField("email", u.Email, maxEmailLen, true); err != nil {
		return err
	}
	if at := strings.LastIndexByte(u.Email, '@'); at <= 0 || at == len(u.Email)-1 || strings.ContainsFunc(u.Email, unicode.IsSpace) {
		return fmt.Errorf("%w: email %q is not an address", ErrInvalid, u.Email)
	}
	if err := checkField("name", u.Name, maxLabelLen, false); err != nil {
		return err
	}
	if err := checkField("single sign-on subject", u.OIDCSubject, maxSubjectLen, false); err != nil {
		return err
	}
	switch u.Role {
	case auth.RoleAdmin, auth.RoleCoach, auth.RoleRep:
		return nil
	}
	return fmt.Errorf("%w: role %q is not admin, coach or rep", ErrInvalid, u.Role)
}

// userConflict says which unique field of users err is about.
func userConflict(err error) error {
	if strings.Contains(err.Error(), "oidc_subject") {
		return fmt.Errorf("single sign-on subject: %w", ErrConflict)
	}
	return fmt.Errorf("email: %w", ErrConflict)
}

// CountUsers returns how many users exist (zero before the first set-up).
func (db *DB) CountUsers(ctx context.Context) (int, error) {
	var n int
	if err := db.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM users`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count users: %w", err)
	}
	return n, nil
}

// CreateUser stores u with a fresh id and the given password hash ("" for
// a user who cannot sign in with a password) and returns it. The email is
// stored trimmed and lower-cased; a zero CreatedAt means now; u.ID and
// u.Teams are ignored. It returns ErrConflict if the email or single
// sign-on subject is taken, and an error wrapping ErrInvalid for a bad
// field.
func (db *DB) CreateUser(ctx context.Context, u User, passwordHash string) (User, error) {
	if err := u.normalize(); err != nil {
		return User{}, fmt.Errorf("create user: %w", err)
	}
	if err := checkField("password hash", passwordHash, maxHashLen, false); err != nil {
		return User{}, fmt.Errorf("create user: %w", err)
	}
	if u.CreatedAt.IsZero() {
		u.CreatedAt = db.now()
	}
	u.ID, u.CreatedAt, u.Teams = newID(), msTime(u.CreatedAt.UnixMilli()), []Membership{}
	u.UpdatedAt = u.CreatedAt
	_, err := db.w.ExecContext(ctx, `INSERT INTO users
		(id, email, name, role, disabled, password_hash, oidc_subject, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		u.ID, u.Email, u.Name, string(u.Role), u.Disabled, passwordHash, nullString(u.OIDCSubject),
		u.CreatedAt.UnixMilli(), u.UpdatedAt.UnixMilli())
	if isUniqueViolation(err) {
		return User{}, fmt.Errorf("create user %q: %w", u.Email, userConflict(err))
	}
	if err != nil {
		return User{}, fmt.Errorf("create user: %w", err)
	}
	return u, nil
}

type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// userSelect reads users with their memberships, one row per membership
// (or one row with NULL team columns for a user in no team).
const userSelect = `SELECT u.id, u.email, u.name, u.role, u.disabled, u.password_hash, u.oidc_subject,
	u.created_at, u.updated_at, m.team_id, t.name, m.role
	FROM users u
	LEFT JOIN team_members m ON m.user_id = u.id
	LEFT JOIN teams t ON t.id = m.team_id`

// queryUsers returns the users matching where (with its args), ordered by
// email, their teams by name, and their password hashes.
func queryUsers(ctx context.Context, q queryer, where string, args ...any) ([]User, []string, error) {
	rows, err := q.QueryContext(ctx, userSelect+where+` ORDER BY u.email, t.name, m.team_id`, args...)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	users, hashes := []User{}, []string{}
	for rows.Next() {
		var (
			u                 User
			hash              string
			subject           sql.NullString
			created, updated  int64
			team, name, mrole sql.NullString
		)
		if err := rows.Scan(&u.ID, &u.Email, &u.Name, &u.Role, &u.Disabled, &hash, &subject,
			&created, &updated, &team, &name, &mrole); err != nil {
			return nil, nil, err
		}
		if n := len(users); n == 0 || users[n-1].ID != u.ID {
			u.OIDCSubject, u.CreatedAt, u.UpdatedAt = subject.String, msTime(created), msTime(updated)
			u.Teams = []Membership{}
			users, hashes = append(users, u), append(hashes, hash)
		}
		if team.Valid {
			last := &users[len(users)-1]
			last.Teams = append(last.Teams, Membership{TeamID: team.String, TeamName: name.String, Role: auth.Role(mrole.String)})
		}
	}
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	return users, hashes, nil
}

// getUser returns the one user matching where, or ErrNotFound.
func getUser(ctx context.Context, q queryer, where string, arg any) (User, string, error) {
	users, hashes, err := queryUsers(ctx, q, " WHERE "+where, arg)
	if err != nil {
		return User{}, "", err
	}
	if len(users) == 0 {
		return User{}, "", ErrNotFound
	}
	return users[0], hashes[0], nil
}

// GetUser returns the user with its teams, or ErrNotFound.
func (db *DB) GetUser(ctx context.Context, id string) (User, error) {
	u, _, err := getUser(ctx, db.r, "u.id = ?", id)
	if err != nil {
		return User{}, fmt.Errorf("user %q: %w", id, err)
	}
	return u, nil
}

// UserByEmail returns the user with that email (compared trimmed and
// case-insensitively), its teams and its password hash ("" if it has
// none), or ErrNotFound. Disabled users are returned too: the caller
// checks Disabled.
func (db *DB) UserByEmail(ctx context.Context, email string) (User, string, error) {
	u, hash, err := getUser(ctx, db.r, "u.email = ?", normalizeEmail(email))
	if err != nil {
		return User{}, "", fmt.Errorf("user by email: %w", err)
	}
	return u, hash, nil
}

// UserByOIDC returns the user linked to the single sign-on subject
// ("issuer|sub") with its teams, or ErrNotFound.
func (db *DB) UserByOIDC(ctx context.Context, subject string) (User, error) {
	u, _, err := getUser(ctx, db.r, "u.oidc_subject = ?", subject)
	if err != nil {
		return User{}, fmt.Errorf("user by single sign-on subject: %w", err)
	}
	return u, nil
}

// ListUsers returns every user with its teams, ordered by email.
func (db *DB) ListUsers(ctx context.Context) ([]User, error) {
	users, _, err := queryUsers(ctx, db.r, "")
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return users, nil
}

// UpdateUser applies p to the user and returns the result. It returns
// ErrNotFound for an unknown id, ErrConflict if the single sign-on subject
// belongs to another user, and an error wrapping ErrInvalid for a bad
// field.
func (db *DB) UpdateUser(ctx context.Context, id string, p UserPatch) (User, error) {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return User{}, fmt.Errorf("update user: %w", err)
	}
	defer tx.Rollback()
	var locked string
	err = tx.QueryRowContext(ctx, `SELECT id FROM users WHERE id = ?`+db.forUpdate(), id).Scan(&locked)
	if err != nil {
		return User{}, fmt.Errorf("update user %q: %w", id, notFound(err))
	}
	u, _, err := getUser(ctx, tx, "u.id = ?", id)
	if err != nil {
		return User{}, fmt.Errorf("update user %q: %w", id, err)
	}
	if p.Name != nil {
		u.Name = *p.Name
	}
	if p.Role != nil {
		u.Role = *p.Role
	}
	if p.Disabled != nil {
		u.Disabled = *p.Disabled
	}
	if p.OIDCSubject != nil {
		u.OIDCSubject = *p.OIDCSubject
	}
	if err := u.normalize(); err != nil {
		return User{}, fmt.Errorf("update user: %w", err)
	}
	u.UpdatedAt = msTime(db.now().UnixMilli())
	_, err = tx.ExecContext(ctx, `UPDATE users SET name = ?, role = ?, disabled = ?, oidc_subject = ?, updated_at = ?
		WHERE id = ?`, u.Name, string(u.Role), u.Disabled, nullString(u.OIDCSubject), u.UpdatedAt.UnixMilli(), u.ID)
	if isUniqueViolation(err) {
		return User{}, fmt.Errorf("update user %q: %w", id, userConflict(err))
	}
	if err != nil {
		return User{}, fmt.Errorf("update user: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return User{}, fmt.Errorf("update user: %w", err)
	}
	return u, nil
}

// SetPassword replaces the user's password hash. It returns ErrNotFound for
// an unknown id and an error wrapping ErrInvalid for an empty or over-long
// hash.
func (db *DB) SetPassword(ctx context.Context, id, hash string) error {
	if err := checkField("password hash", hash, maxHashLen, true); err != nil {
		return fmt.Errorf("set password: %w", err)
	}
	res, err := db.w.ExecContext(ctx, `UPDATE users SET password_hash = ?, updated_at = ? WHERE id = ?`,
		hash, db.now().UnixMilli(), id)
	if err != nil {
		return fmt.Errorf("set password: %w", err)
	}
	if err := oneRow(res); err != nil {
		return fmt.Errorf("set password of user %q: %w", id, err)
	}
	return nil
}

// oneRow returns ErrNotFound when res changed no row.
func oneRow(res sql.Result) error {
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}
