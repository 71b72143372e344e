package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/cuecard/cuecard/coach"
)

// eventsPerInsert is the number of rows per multi-row INSERT: 5 parameters
// each, far below SQLite's 32766-parameter limit, and enough that a
// second's worth of events is one statement.
const eventsPerInsert = 200

// insertSQL caches the multi-row INSERT text per row count.
var insertSQL sync.Map // int -> string

func insertEventsSQL(n int) string {
	if s, ok := insertSQL.Load(n); ok {
		return s.(string)
	}
	var b strings.Builder
	b.WriteString("INSERT INTO events (session_id, seq, at_ms, type, data) VALUES ")
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("(?,?,?,?,?)")
	}
	b.WriteString(" ON CONFLICT (session_id, seq) DO NOTHING")
	s := b.String()
	insertSQL.Store(n, s)
	return s
}

// AppendEvents stores evs as the session's events numbered firstSeq,
// firstSeq+1, … in one transaction; firstSeq starts at 1 for a session. An
// event whose sequence number is already stored is skipped, so re-sending a
// batch after a reconnect never duplicates it. When AppendEvents returns nil
// the batch survives a crash of the process. It returns ErrNotFound if the
// session does not exist and an error wrapping ErrInvalid if firstSeq < 1.
func (db *DB) AppendEvents(ctx context.Context, sessionID string, firstSeq int64, evs []coach.Event) error {
	if firstSeq < 1 {
		return fmt.Errorf("append events: %w: sequence numbers start at 1", ErrInvalid)
	}
	if len(evs) == 0 {
		return nil
	}
	// Encode before taking the single writer connection.
	size := 0
	for i := range evs {
		size += 160 + len(evs[i].Text) + len(evs[i].Body) + len(evs[i].Evidence)
	}
	buf := make([]byte, 0, size)
	args := make([]any, 0, 5*min(len(evs), eventsPerInsert))
	type enc struct{ start, end int }
	spans := make([]enc, len(evs))
	for i := range evs {
		start := len(buf)
		var err error
		if buf, err = evs[i].AppendJSON(buf); err != nil {
			return fmt.Errorf("append events: event %d: %w", firstSeq+int64(i), err)
		}
		spans[i] = enc{start, len(buf)}
	}
	data := string(buf) // one allocation; rows are substrings of it

	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("append events: %w", err)
	}
	defer tx.Rollback()
	for lo := 0; lo < len(evs); lo += eventsPerInsert {
		hi := min(lo+eventsPerInsert, len(evs))
		args = args[:0]
		for i := lo; i < hi; i++ {
			args = append(args, sessionID, firstSeq+int64(i), evs[i].AtMS, evs[i].Type, data[spans[i].start:spans[i].end])
		}
		if _, err := tx.ExecContext(ctx, insertEventsSQL(hi-lo), args...); err != nil {
			if isFKViolation(err) {
				return fmt.Errorf("append events: session %q: %w", sessionID, ErrNotFound)
			}
			return fmt.Errorf("append events: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("append events: %w", err)
	}
	return nil
}

// LastSeq returns the highest stored sequence number of the session's
// events (0 if none), where a resumed session continues numbering. It
// returns ErrNotFound for an unknown session.
func (db *DB) LastSeq(ctx context.Context, sessionID string) (int64, error) {
	var seq sql.NullInt64
	err := db.r.QueryRowContext(ctx, `SELECT (SELECT MAX(seq) FROM events WHERE session_id = ?)
		FROM sessions WHERE id = ?`, sessionID, sessionID).Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("last seq: session %q: %w", sessionID, ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("last seq: %w", err)
	}
	return seq.Int64, nil
}

// ReadEvents calls fn, in sequence order, for each stored event of the
// session whose sequence number is above afterSeq (0 for all), with the
// event's JSON in the contract's shape (no trailing newline). data is only
// valid during the call: copy it to keep it. ReadEvents blocks until all
// events are read, fn returns an error (returned as is) or ctx is done; it
// returns ErrNotFound for an unknown session.
func (db *DB) ReadEvents(ctx context.Context, sessionID string, afterSeq int64, fn func(seq int64, data []byte) error) error {
	// Existence and rows in one snapshot, so a concurrent delete cannot
	// turn a missing session into an empty one.
	tx, err := db.r.readTx(ctx)
	if err != nil {
		return fmt.Errorf("read events: %w", err)
	}
	defer tx.Rollback()
	var one int
	err = tx.QueryRowContext(ctx, `SELECT 1 FROM sessions WHERE id = ?`, sessionID).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("read events: session %q: %w", sessionID, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("read events: %w", err)
	}
	rows, err := tx.QueryContext(ctx, `SELECT seq, data FROM events
		WHERE session_id = ? AND seq > ? ORDER BY seq`, sessionID, afterSeq)
	if err != nil {
		return fmt.Errorf("read events: %w", err)
	}
	defer rows.Close()
	var (
		seq  int64
		data sql.RawBytes
	)
	for rows.Next() {
		if err := rows.Scan(&seq, &data); err != nil {
			return fmt.Errorf("read events: %w", err)
		}
		if err := fn(seq, data); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read events: %w", err)
	}
	return nil
}
