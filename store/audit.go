package store

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Bounds of audit entries, in bytes, and of a page of them.
const (
	maxAuditActionLen = 100
	maxAuditActorLen  = maxEmailLen
	maxAuditIDLen     = 64
	maxAuditTargetLen = 200
	maxAuditIPLen     = 64
	maxAuditDetailLen = 16 << 10

	defaultAuditLimit = 100
	maxAuditLimit     = 1000
)

// AuditEntry is one record of the append-only audit log.
type AuditEntry struct {
	Seq     int64     `json:"seq"`
	At      time.Time `json:"at"`
	ActorID string    `json:"actor_id,omitempty"`
	Actor   string    `json:"actor,omitempty"`
	Action  string    `json:"action"`
	Target  string    `json:"target,omitempty"`
	IP      string    `json:"ip,omitempty"`
	// Detail is a JSON object, or nil.
	Detail json.RawMessage `json:"detail,omitempty"`
}

// AuditFilter selects audit entries: those after AfterSeq that match every
// non-empty field. Limit 0 means 100; more than 1000 means 1000.
type AuditFilter struct {
	AfterSeq int64
	Action   string
	ActorID  string
	Target   string
	Limit    int
}

// validate checks the bounds of e and compacts its detail.
func (e *AuditEntry) validate() error {
	for _, f := range []struct {
		name, v  string
		max      int
		required bool
	}{
		{"action", e.Action, maxAuditActionLen, true},
		{"actor id", e.ActorID, maxAuditIDLen, false},
		{"actor", e.Actor, maxAuditActorLen, false},
		{"target", e.Target, maxAuditTargetLen, false},
		{"ip", e.IP, maxAuditIPLen, false},
	} {
		if err := checkField(f.name, f.v, f.max, f.required); err != nil {
			return err
		}
	}
	d := bytes.TrimSpace(e.Detail)
	if len(d) == 0 || string(d) == "null" {
		e.Detail = nil
		return nil
	}
	if len(d) > maxAuditDetailLen {
		return fmt.Errorf("%w: detail longer than %d bytes", ErrTextTooLong, maxAuditDetailLen)
	}
	var buf bytes.Buffer
	if d[0] != '{' || !json.Valid(d) || json.Compact(&buf, d) != nil {
		return fmt.Errorf("%w: detail is not a JSON object", ErrInvalid)
	}
	e.Detail = buf.Bytes()
	return nil
}

// AppendAudit adds e to the audit log and returns it with its sequence
// number, its time (a zero At means now) and its detail compacted. It
// returns an error wrapping ErrInvalid for an empty action, an over-long
// field, or a detail that is not a JSON object.
func (db *DB) AppendAudit(ctx context.Context, e AuditEntry) (AuditEntry, error) {
	if err := e.validate(); err != nil {
		return AuditEntry{}, fmt.Errorf("append audit: %w", err)
	}
	if e.At.IsZero() {
		e.At = db.now()
	}
	e.At = msTime(e.At.UnixMilli())
	var detail sql.NullString
	if e.Detail != nil {
		detail = sql.NullString{String: string(e.Detail), Valid: true}
	}
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return AuditEntry{}, fmt.Errorf("append audit: %w", err)
	}
	defer tx.Rollback()
	if db.pg {
		// Sequence numbers are handed out when a row is inserted, not when
		// it commits: without the lock a reader paging by AfterSeq could
		// pass a number whose row another node has yet to commit, and never
		// see it. EXCLUSIVE mode lets readers through. SQLite's single
		// writer already commits in sequence order.
		if _, err := tx.ExecContext(ctx, `LOCK TABLE audit_log IN EXCLUSIVE MODE`); err != nil {
			return AuditEntry{}, fmt.Errorf("append audit: %w", err)
		}
	}
	err = tx.QueryRowContext(ctx, `INSERT INTO audit_log (at, actor_id, actor, action, target, ip, detail)
		VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING seq`, e.At.UnixMilli(), e.ActorID, e.Actor, e.Action, e.Target, e.IP, detail).Scan(&e.Seq)
	if err != nil {
		return AuditEntry{}, fmt.Errorf("append audit: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return AuditEntry{}, fmt.Errorf("append audit: %w", err)
	}
	return e, nil
}

// ListAudit returns the entries that f selects, by ascending sequence
// number; a caller pages on by passing the last Seq as AfterSeq. It
// returns an error wrapping ErrInvalid for a negative Limit or AfterSeq.
func (db *DB) ListAudit(ctx context.Context, f AuditFilter) ([]AuditEntry, error) {
	if f.Limit < 0 || f.AfterSeq < 0 {
		return nil, fmt.Errorf("list audit: %w: negative limit or sequence number", ErrInvalid)
	}
	limit := f.Limit
	if limit == 0 {
		limit = defaultAuditLimit
	}
	limit = min(limit, maxAuditLimit)
	conds, args := []string{"seq > ?"}, []any{f.AfterSeq}
	for _, c := range []struct{ col, v string }{{"action", f.Action}, {"actor_id", f.ActorID}, {"target", f.Target}} {
		if c.v != "" {
			conds, args = append(conds, c.col+" = ?"), append(args, c.v)
		}
	}
	rows, err := db.r.QueryContext(ctx, `SELECT seq, at, actor_id, actor, action, target, ip, detail FROM audit_log
		WHERE `+strings.Join(conds, " AND ")+` ORDER BY seq LIMIT ?`, append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("list audit: %w", err)
	}
	defer rows.Close()
	es := []AuditEntry{}
	for rows.Next() {
		var (
			e      AuditEntry
			at     int64
			detail sql.NullString
		)
		if err := rows.Scan(&e.Seq, &at, &e.ActorID, &e.Actor, &e.Action, &e.Target, &e.IP, &detail); err != nil {
			return nil, fmt.Errorf("list audit: %w", err)
		}
		e.At = msTime(at)
		if detail.Valid {
			e.Detail = json.RawMessage(detail.String)
		}
		es = append(es, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list audit: %w", err)
	}
	return es, nil
}
