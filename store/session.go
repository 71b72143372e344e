package store

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cuecard/cuecard/coach"
)

// Session sources.
const (
	// SourceLive is a session streamed to the server during the call.
	SourceLive = "live"
	// SourceUpload is a session analyzed from a recording made elsewhere.
	SourceUpload = "upload"
)

// Session statuses: created by POST, live while audio flows, ended once the
// summary is stored.
const (
	// StatusCreated is a session that has no audio yet.
	StatusCreated = "created"
	// StatusLive is a session whose audio is flowing (or may resume).
	StatusLive = "live"
	// StatusEnded is a finished session; its summary and metrics are set.
	StatusEnded = "ended"
)

// stageRank orders the contract's stages; 0 means no stage reached.
var stageRank = map[string]int{
	"rapport":      1,
	"discovery":    2,
	"future":       3,
	"relationship": 4,
	"commitment":   5,
}

// maxNameLen bounds the free-text fields of a session (rep, title, team,
// owner, backend), in characters.
const maxNameLen = 200

// maxConsentLen bounds Session.ConsentText, in characters.
const maxConsentLen = 4000

// Session is one call, live or uploaded. The metric fields are zero until
// the session has ended; Summary is nil until then and in list results.
type Session struct {
	ID          string    `json:"id"`
	Rep         string    `json:"rep"`
	Title       string    `json:"title"`
	Source      string    `json:"source"`
	Status      string    `json:"status"`
	Consent     bool      `json:"consent"`
	ConsentText string    `json:"consent_text,omitempty"`
	ConsentAt   time.Time `json:"consent_at,omitzero"`
	CreatedAt   time.Time `json:"created_at"`
	StartedAt   time.Time `json:"started_at,omitzero"`
	EndedAt     time.Time `json:"ended_at,omitzero"`
	SampleRate  int       `json:"sample_rate"`
	Backend     string    `json:"backend,omitempty"`
	Team        string    `json:"team,omitempty"`
	Owner       string    `json:"owner,omitempty"`
	// ConsentBy is the user who confirmed consent, ConsentVersion the
	// version of the team's consent text (0: a text of the rep's own), and
	// ConsentPolicy the team's policy then (one-party or all-party).
	ConsentBy      string `json:"consent_by,omitempty"`
	ConsentVersion int    `json:"consent_version,omitempty"`
	ConsentPolicy  string `json:"consent_policy,omitempty"`
	// LegalHold exempts the session from retention and erasure.
	LegalHold bool `json:"legal_hold"`
	// RecordingsPurgedAt and TranscriptsPurgedAt say when retention
	// removed them.
	RecordingsPurgedAt  time.Time `json:"recordings_purged_at,omitzero"`
	TranscriptsPurgedAt time.Time `json:"transcripts_purged_at,omitzero"`

	DurationMS            int64   `json:"duration_ms"`
	RepShare              float64 `json:"rep_share"`
	LongestRepMonologueMS int64   `json:"longest_rep_monologue_ms"`
	FurthestStage         string  `json:"furthest_stage"`
	CuesFired             int     `json:"cues_fired"`
	CuesTaken             int     `json:"cues_taken"`
	Uptake                float64 `json:"uptake"`

	Summary *coach.Summary `json:"summary,omitempty"`
}

// NewSession is what CreateSession needs. Source is SourceLive or
// SourceUpload (empty means live); a zero CreatedAt means now.
type NewSession struct {
	Rep         string
	Title       string
	Source      string
	Consent     bool
	ConsentText string
	ConsentAt   time.Time
	CreatedAt   time.Time
	SampleRate  int
	Backend     string
	Team        string
	Owner       string
	// The consent record (see Session).
	ConsentBy      string
	ConsentVersion int
	ConsentPolicy  string
}

// The consent policies.
const (
	PolicyOneParty = "one-party"
	PolicyAllParty = "all-party"
)

func (n *NewSession) validate() error {
	if n.Source == "" {
		n.Source = SourceLive
	}
	if n.Source != SourceLive && n.Source != SourceUpload {
		return fmt.Errorf("%w: source %q is not live or upload", ErrInvalid, n.Source)
	}
	if n.SampleRate < 0 {
		return fmt.Errorf("%w: negative sample rate", ErrInvalid)
	}
	for _, f := range []struct{ name, v string }{
		{"rep", n.Rep}, {"title", n.Title}, {"backend", n.Backend}, {"team", n.Team}, {"owner", n.Owner},
	} {
		if utf8.RuneCountInString(f.v) > maxNameLen {
			return fmt.Errorf("%w: %s longer than %d characters", ErrTextTooLong, f.name, maxNameLen)
		}
	}
	if utf8.RuneCountInString(n.ConsentText) > maxConsentLen {
		return fmt.Errorf("%w: consent text longer than %d characters", ErrTextTooLong, maxConsentLen)
	}
	if n.Consent && n.ConsentAt.IsZero() {
		n.ConsentAt = n.CreatedAt
	}
	if n.ConsentPolicy != "" && n.ConsentPolicy != PolicyOneParty && n.ConsentPolicy != PolicyAllParty {
		return fmt.Errorf("%w: consent policy %q is not one-party or all-party", ErrInvalid, n.ConsentPolicy)
	}
	if len(n.ConsentBy) > maxNameLen || n.ConsentVersion < 0 {
		return fmt.Errorf("%w: consent record", ErrInvalid)
	}
	return nil
}

// CreateSession stores a new session in status created with a fresh random
// id and returns it. It returns an error wrapping ErrInvalid for a bad
// source, sample rate or over-long field.
func (db *DB) CreateSession(ctx context.Context, n NewSession) (Session, error) {
	if n.CreatedAt.IsZero() {
		n.CreatedAt = db.now()
	}
	n.CreatedAt = msTime(n.CreatedAt.UnixMilli())
	if err := n.validate(); err != nil {
		return Session{}, fmt.Errorf("create session: %w", err)
	}
	if !n.ConsentAt.IsZero() {
		n.ConsentAt = msTime(n.ConsentAt.UnixMilli())
	}
	s := Session{
		ID: newID(), Rep: n.Rep, Title: n.Title, Source: n.Source, Status: StatusCreated,
		Consent: n.Consent, ConsentText: n.ConsentText, ConsentAt: n.ConsentAt,
		CreatedAt: n.CreatedAt, SampleRate: n.SampleRate, Backend: n.Backend, Team: n.Team, Owner: n.Owner,
		ConsentBy: n.ConsentBy, ConsentVersion: n.ConsentVersion, ConsentPolicy: n.ConsentPolicy,
	}
	_, err := db.w.ExecContext(ctx, `INSERT INTO sessions
		(id, rep, title, source, status, consent, consent_text, consent_at, created_at, sample_rate, backend, team, owner,
		 consent_by, consent_version, consent_policy)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		s.ID, s.Rep, s.Title, s.Source, s.Status, s.Consent, s.ConsentText, nullMS(s.ConsentAt),
		s.CreatedAt.UnixMilli(), s.SampleRate, s.Backend, nullString(s.Team), nullString(s.Owner),
		s.ConsentBy, s.ConsentVersion, s.ConsentPolicy)
	if err != nil {
		return Session{}, fmt.Errorf("create session: %w", err)
	}
	return s, nil
}

// MarkLive sets the session live (when its audio starts) and records the
// sample rate the client announced, if sampleRate > 0. Marking a live
// session live again (a reconnect) keeps its first start time. It returns
// ErrNotFound for an unknown id and ErrEnded for an ended session.
func (db *DB) MarkLive(ctx context.Context, id string, sampleRate int) error {
	if sampleRate < 0 {
		return fmt.Errorf("mark live: %w: negative sample rate", ErrInvalid)
	}
	res, err := db.w.ExecContext(ctx, `UPDATE sessions SET status = 'live',
		started_at = COALESCE(started_at, ?),
		sample_rate = CASE WHEN ? > 0 THEN ? ELSE sample_rate END
		WHERE id = ? AND status <> 'ended'`,
		db.now().UnixMilli(), sampleRate, sampleRate, id)
	if err != nil {
		return fmt.Errorf("mark live: %w", err)
	}
	return db.checkUpdated(ctx, res, "mark live", id)
}

// EndSession marks the session ended now and stores the summary and its
// metrics in the library's columns. With a nil summary (a session left live
// by a crash) the duration is taken from the last stored event. It returns
// ErrNotFound for an unknown id and ErrEnded if it had already ended: the
// stored summary is never overwritten.
func (db *DB) EndSession(ctx context.Context, id string, sum *coach.Summary) error {
	var (
		m       coach.Metrics
		sumJSON sql.NullString
	)
	if sum != nil {
		m = sum.Metrics
		b, err := json.Marshal(sum)
		if err != nil {
			return fmt.Errorf("end session: %w", err)
		}
		sumJSON = sql.NullString{String: string(b), Valid: true}
	}
	duration := sql.NullInt64{Int64: m.DurationMS, Valid: sum != nil}
	res, err := db.w.ExecContext(ctx, `UPDATE sessions SET status = 'ended', ended_at = ?,
		duration_ms = COALESCE(?, (SELECT COALESCE(MAX(at_ms), 0) FROM events WHERE session_id = ?)),
		rep_share = ?, longest_rep_monologue_ms = ?, furthest_stage = ?, furthest_stage_rank = ?,
		cues_fired = ?, cues_taken = ?, uptake = ?, summary = ?
		WHERE id = ? AND status <> 'ended'`,
		db.now().UnixMilli(), duration, id,
		m.RepShare, m.LongestRepMonologueMS, m.FurthestStage, stageRank[m.FurthestStage],
		m.CuesFired, m.CuesTaken, m.Uptake, sumJSON, id)
	if err != nil {
		return fmt.Errorf("end session: %w", err)
	}
	return db.checkUpdated(ctx, res, "end session", id)
}

// checkUpdated turns "no row updated" into ErrNotFound or ErrEnded.
func (db *DB) checkUpdated(ctx context.Context, res sql.Result, op, id string) error {
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if n > 0 {
		return nil
	}
	var status string
	err = db.w.QueryRowContext(ctx, `SELECT status FROM sessions WHERE id = ?`, id).Scan(&status)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("%s: session %q: %w", op, id, ErrNotFound)
	case err != nil:
		return fmt.Errorf("%s: %w", op, err)
	}
	return fmt.Errorf("%s: session %q: %w", op, id, ErrEnded)
}

const sessionCols = `id, rep, title, source, status, consent, consent_text, consent_at, created_at,
	started_at, ended_at, sample_rate, backend, team, owner, duration_ms, rep_share,
	longest_rep_monologue_ms, furthest_stage, cues_fired, cues_taken, uptake,
	consent_by, consent_version, consent_policy, legal_hold, recordings_purged_at, transcripts_purged_at`

type scanner interface{ Scan(...any) error }

func scanSession(sc scanner, extra ...any) (Session, error) {
	var (
		s                   Session
		consentAt, created  sql.NullInt64
		started, ended      sql.NullInt64
		team, owner         sql.NullString
		recPurged, trPurged sql.NullInt64
	)
	dest := []any{&s.ID, &s.Rep, &s.Title, &s.Source, &s.Status, &s.Consent, &s.ConsentText, &consentAt, &created,
		&started, &ended, &s.SampleRate, &s.Backend, &team, &owner, &s.DurationMS, &s.RepShare,
		&s.LongestRepMonologueMS, &s.FurthestStage, &s.CuesFired, &s.CuesTaken, &s.Uptake,
		&s.ConsentBy, &s.ConsentVersion, &s.ConsentPolicy, &s.LegalHold, &recPurged, &trPurged}
	if err := sc.Scan(append(dest, extra...)...); err != nil {
		return Session{}, err
	}
	s.ConsentAt, s.CreatedAt = nullTime(consentAt), nullTime(created)
	s.StartedAt, s.EndedAt = nullTime(started), nullTime(ended)
	s.Team, s.Owner = team.String, owner.String
	s.RecordingsPurgedAt, s.TranscriptsPurgedAt = nullTime(recPurged), nullTime(trPurged)
	return s, nil
}

// GetSession returns one session with its summary, or ErrNotFound.
func (db *DB) GetSession(ctx context.Context, id string) (Session, error) {
	var sum sql.NullString
	s, err := scanSession(db.r.QueryRowContext(ctx, `SELECT `+sessionCols+`, summary FROM sessions WHERE id = ?`, id), &sum)
	if errors.Is(err, sql.ErrNoRows) {
		return Session{}, fmt.Errorf("get session %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return Session{}, fmt.Errorf("get session %q: %w", id, err)
	}
	if sum.Valid {
		s.Summary = new(coach.Summary)
		if err := json.Unmarshal([]byte(sum.String), s.Summary); err != nil {
			return Session{}, fmt.Errorf("get session %q: summary: %w", id, err)
		}
	}
	return s, nil
}

// Sort is a sort key of ListSessions.
type Sort string

// Sort keys. The zero value sorts by date.
const (
	// SortDate sorts by creation time.
	SortDate Sort = "date"
	// SortDuration sorts by the call's duration.
	SortDuration Sort = "duration"
	// SortRepShare sorts by the rep's share of talk time.
	SortRepShare Sort = "rep_share"
	// SortUptake sorts by the share of cues the rep took.
	SortUptake Sort = "uptake"
)

// sortColumn maps a Sort to its column and whether the column is REAL.
func sortColumn(s Sort) (col string, real bool, ok bool) {
	switch s {
	case "", SortDate:
		return "created_at", false, true
	case SortDuration:
		return "duration_ms", false, true
	case SortRepShare:
		return "rep_share", true, true
	case SortUptake:
		return "uptake", true, true
	}
	return "", false, false
}

const (
	// DefaultLimit is the page size when ListFilter.Limit is 0.
	DefaultLimit = 50
	// MaxLimit caps ListFilter.Limit; larger limits are lowered to it.
	MaxLimit = 500
)

// ListFilter selects, orders and pages sessions. Zero fields do not filter;
// the zero ListFilter lists the newest DefaultLimit sessions.
type ListFilter struct {
	Rep      string    // exact rep name
	From     time.Time // created at or after
	To       time.Time // created before
	Stage    string    // furthest stage is exactly this
	MinStage string    // furthest stage is this one or later
	// MinUptake keeps sessions with uptake >= MinUptake (when > 0).
	MinUptake float64
	Source    string // SourceLive or SourceUpload
	Status    string // StatusCreated, StatusLive or StatusEnded
	Team      string
	Owner     string
	// Access, when set, keeps only the sessions its holder may see.
	Access *Access

	Sort Sort // default SortDate
	Asc  bool // default newest / largest first

	// Limit is the page size (0 means DefaultLimit, at most MaxLimit).
	Limit int
	// Cursor is a Page.NextCursor from the same filter and sort (keyset
	// paging); Offset is the alternative for jumping to a page number.
	// Setting both is invalid.
	Cursor string
	Offset int
}

// Page is one page of ListSessions. Total counts every session that matches
// the filter, regardless of paging; NextCursor is empty on the last page.
type Page struct {
	Sessions   []Session `json:"sessions"`
	Total      int       `json:"total"`
	NextCursor string    `json:"next_cursor,omitempty"`
}

// ListSessions returns one page of sessions (without their summaries). It
// returns an error wrapping ErrInvalid for an unknown sort, stage, source or
// status, a bad cursor, or a negative limit or offset.
func (db *DB) ListSessions(ctx context.Context, f ListFilter) (Page, error) {
	q, err := buildList(f)
	if err != nil {
		return Page{}, fmt.Errorf("list sessions: %w", err)
	}
	// One read transaction so that Total and the page see the same snapshot.
	tx, err := db.r.readTx(ctx)
	if err != nil {
		return Page{}, fmt.Errorf("list sessions: %w", err)
	}
	defer tx.Rollback()
	var p Page
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM sessions`+q.where, q.args...).Scan(&p.Total); err != nil {
		return Page{}, fmt.Errorf("list sessions: count: %w", err)
	}
	rows, err := tx.QueryContext(ctx, `SELECT `+sessionCols+` FROM sessions`+q.pageWhere+q.order, q.pageArgs...)
	if err != nil {
		return Page{}, fmt.Errorf("list sessions: %w", err)
	}
	defer rows.Close()
	p.Sessions = make([]Session, 0, q.limit)
	more := false
	for rows.Next() {
		if len(p.Sessions) == q.limit {
			more = true
			break
		}
		s, err := scanSession(rows)
		if err != nil {
			return Page{}, fmt.Errorf("list sessions: %w", err)
		}
		p.Sessions = append(p.Sessions, s)
	}
	if err := rows.Err(); err != nil {
		return Page{}, fmt.Errorf("list sessions: %w", err)
	}
	if more {
		p.NextCursor = encodeCursor(f, p.Sessions[len(p.Sessions)-1])
	}
	return p, nil
}

type listQuery struct {
	where, pageWhere, order string
	args, pageArgs          []any
	limit                   int
}

func buildList(f ListFilter) (listQuery, error) {
	var q listQuery
	conds, args, err := filterConds(f)
	if err != nil {
		return q, err
	}
	q.args = args
	col, real, ok := sortColumn(f.Sort)
	if !ok {
		return q, fmt.Errorf("%w: unknown sort %q", ErrInvalid, f.Sort)
	}
	q.limit = f.Limit
	switch {
	case q.limit < 0 || f.Offset < 0:
		return q, fmt.Errorf("%w: negative limit or offset", ErrInvalid)
	case q.limit == 0:
		q.limit = DefaultLimit
	case q.limit > MaxLimit:
		q.limit = MaxLimit
	}
	if f.Cursor != "" && f.Offset > 0 {
		return q, fmt.Errorf("%w: both cursor and offset", ErrInvalid)
	}
	dir, cmp := "DESC", "<"
	if f.Asc {
		dir, cmp = "ASC", ">"
	}
	pageConds := conds
	q.pageArgs = q.args
	if f.Cursor != "" {
		v, id, err := decodeCursor(f, real)
		if err != nil {
			return q, err
		}
		// Row values compare lexicographically and use the (col, id) index
		// in SQLite and PostgreSQL alike.
		pageConds = append(conds[:len(conds):len(conds)], "("+col+", id) "+cmp+" (?, ?)")
		q.pageArgs = append(q.args[:len(q.args):len(q.args)], v, id)
	}
	q.where = whereClause(conds)
	q.pageWhere = whereClause(pageConds)
	q.order = " ORDER BY " + col + " " + dir + ", id " + dir + " LIMIT ? OFFSET ?"
	q.pageArgs = append(q.pageArgs[:len(q.pageArgs):len(q.pageArgs)], q.limit+1, f.Offset)
	return q, nil
}

// filterConds turns the filter's fields into SQL conditions and their
// arguments; unknown values are ErrInvalid.
func filterConds(f ListFilter) ([]string, []any, error) {
	var (
		conds []string
		args  []any
	)
	add := func(cond string, arg any) {
		conds = append(conds, cond)
		args = append(args, arg)
	}
	if f.Rep != "" {
		add("rep = ?", f.Rep)
	}
	if !f.From.IsZero() {
		add("created_at >= ?", f.From.UnixMilli())
	}
	if !f.To.IsZero() {
		add("created_at < ?", f.To.UnixMilli())
	}
	if f.Stage != "" {
		if _, ok := stageRank[f.Stage]; !ok {
			return nil, nil, fmt.Errorf("%w: unknown stage %q", ErrInvalid, f.Stage)
		}
		add("furthest_stage = ?", f.Stage)
	}
	if f.MinStage != "" {
		r, ok := stageRank[f.MinStage]
		if !ok {
			return nil, nil, fmt.Errorf("%w: unknown stage %q", ErrInvalid, f.MinStage)
		}
		add("furthest_stage_rank >= ?", r)
	}
	if f.MinUptake > 0 {
		add("uptake >= ?", f.MinUptake)
	}
	if f.Source != "" {
		if f.Source != SourceLive && f.Source != SourceUpload {
			return nil, nil, fmt.Errorf("%w: unknown source %q", ErrInvalid, f.Source)
		}
		add("source = ?", f.Source)
	}
	if f.Status != "" {
		if f.Status != StatusCreated && f.Status != StatusLive && f.Status != StatusEnded {
			return nil, nil, fmt.Errorf("%w: unknown status %q", ErrInvalid, f.Status)
		}
		add("status = ?", f.Status)
	}
	if f.Team != "" {
		add("team = ?", f.Team)
	}
	if f.Owner != "" {
		add("owner = ?", f.Owner)
	}
	if f.Access != nil {
		c, a := f.Access.cond()
		conds, args = append(conds, c), append(args, a...)
	}
	return conds, args, nil
}

// maxAccessTeams bounds the teams of one Access.
const maxAccessTeams = 500

// Access is what a user who is not an administrator may see: the
// sessions they own and those of the teams they coach.
type Access struct {
	Owner string
	Teams []string
}

// cond is the SQL condition of a, with its arguments.
func (a *Access) cond() (string, []any) {
	teams := a.Teams[:min(len(a.Teams), maxAccessTeams)]
	args := []any{a.Owner}
	if len(teams) == 0 {
		return "owner = ?", args
	}
	for _, t := range teams {
		args = append(args, t)
	}
	return "(owner = ? OR team IN (?" + strings.Repeat(", ?", len(teams)-1) + "))", args
}

func whereClause(conds []string) string {
	if len(conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(conds, " AND ")
}

// A cursor is "sort:dir:value:id", base64url-encoded. It carries the sort
// so that a cursor reused with another order is rejected, not misapplied.
func encodeCursor(f ListFilter, last Session) string {
	col, _, _ := sortColumn(f.Sort)
	var v string
	switch col {
	case "created_at":
		v = strconv.FormatInt(last.CreatedAt.UnixMilli(), 10)
	case "duration_ms":
		v = strconv.FormatInt(last.DurationMS, 10)
	case "rep_share":
		v = strconv.FormatFloat(last.RepShare, 'g', -1, 64)
	case "uptake":
		v = strconv.FormatFloat(last.Uptake, 'g', -1, 64)
	}
	return base64.RawURLEncoding.EncodeToString([]byte(col + ":" + cursorDir(f) + ":" + v + ":" + last.ID))
}

func cursorDir(f ListFilter) string {
	if f.Asc {
		return "a"
	}
	return "d"
}

func decodeCursor(f ListFilter, real bool) (v any, id string, err error) {
	raw, err := base64.RawURLEncoding.DecodeString(f.Cursor)
	if err != nil {
		return nil, "", ErrBadCursor
	}
	parts := strings.SplitN(string(raw), ":", 4)
	col, _, _ := sortColumn(f.Sort)
	if len(parts) != 4 || parts[0] != col || parts[1] != cursorDir(f) {
		return nil, "", ErrBadCursor
	}
	if real {
		v, err = strconv.ParseFloat(parts[2], 64)
	} else {
		v, err = strconv.ParseInt(parts[2], 10, 64)
	}
	if err != nil {
		return nil, "", ErrBadCursor
	}
	return v, parts[3], nil
}

// DeleteSession removes the session with its events, comments, recording
// rows and audio directory. It returns ErrNotFound for an unknown id. If the
// audio files cannot be removed the rows are gone already and the error
// says so; calling it again then returns ErrNotFound.
func (db *DB) DeleteSession(ctx context.Context, id string) error {
	res, err := db.w.ExecContext(ctx, `DELETE FROM sessions WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("delete session %q: %w", id, ErrNotFound)
	}
	if !validID(id) { // ids of stored sessions are always valid; be safe with paths
		return nil
	}
	if err := os.RemoveAll(filepath.Join(db.dir, "audio", id)); err != nil {
		return fmt.Errorf("delete session %q: audio: %w", id, err)
	}
	return nil
}
