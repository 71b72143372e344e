package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// MaxCommentLen is the longest comment text accepted, in characters.
const MaxCommentLen = 4000

// MaxAuthorLen is the longest comment author accepted, in characters.
const MaxAuthorLen = 200

// Comment is a coach's note at a media time of a session.
type Comment struct {
	ID        string `json:"id"`
	SessionID string `json:"session_id"`
	AtMS      int64  `json:"at_ms"`
	Text      string `json:"text"`
	Author    string `json:"author"`
	// AuthorID is the user id of the author; "" for comments made before
	// accounts.
	AuthorID  string    `json:"author_id,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// CommentPatch is a partial update of a comment: nil fields stay as they are.
type CommentPatch struct {
	AtMS *int64
	Text *string
}

// validateComment checks the fields a caller can set and returns the text
// with surrounding space trimmed.
func validateComment(atMS int64, text, author, authorID string) (string, error) {
	text = strings.TrimSpace(text)
	switch {
	case atMS < 0:
		return "", ErrNegativeTime
	case text == "":
		return "", ErrEmptyText
	case utf8.RuneCountInString(text) > MaxCommentLen:
		return "", fmt.Errorf("%w: comment longer than %d characters", ErrTextTooLong, MaxCommentLen)
	case utf8.RuneCountInString(author) > MaxAuthorLen:
		return "", fmt.Errorf("%w: author longer than %d characters", ErrTextTooLong, MaxAuthorLen)
	case len(authorID) > maxAuditIDLen:
		return "", fmt.Errorf("%w: author id longer than %d bytes", ErrTextTooLong, maxAuditIDLen)
	}
	return text, nil
}

// AddComment stores a comment on the session at atMS by author (a display
// name) and authorID (the author's user id, or "") and returns it with its
// new id. It returns ErrNegativeTime, ErrEmptyText or ErrTextTooLong
// (all wrapping ErrInvalid) for bad input and ErrNotFound for an unknown
// session.
func (db *DB) AddComment(ctx context.Context, sessionID string, atMS int64, text, author, authorID string) (Comment, error) {
	text, err := validateComment(atMS, text, author, authorID)
	if err != nil {
		return Comment{}, fmt.Errorf("add comment: %w", err)
	}
	now := msTime(db.now().UnixMilli())
	c := Comment{ID: newID(), SessionID: sessionID, AtMS: atMS, Text: text, Author: author, AuthorID: authorID,
		CreatedAt: now, UpdatedAt: now}
	_, err = db.w.ExecContext(ctx, `INSERT INTO comments (id, session_id, at_ms, text, author, author_id, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, c.ID, c.SessionID, c.AtMS, c.Text, c.Author, c.AuthorID, now.UnixMilli(), now.UnixMilli())
	if isFKViolation(err) {
		return Comment{}, fmt.Errorf("add comment: session %q: %w", sessionID, ErrNotFound)
	}
	if err != nil {
		return Comment{}, fmt.Errorf("add comment: %w", err)
	}
	return c, nil
}

const commentCols = `id, session_id, at_ms, text, author, author_id, created_at, updated_at`

func scanComment(sc scanner) (Comment, error) {
	var (
		c                Comment
		created, updated int64
	)
	if err := sc.Scan(&c.ID, &c.SessionID, &c.AtMS, &c.Text, &c.Author, &c.AuthorID, &created, &updated); err != nil {
		return Comment{}, err
	}
	c.CreatedAt, c.UpdatedAt = msTime(created), msTime(updated)
	return c, nil
}

// Comments returns the session's comments ordered by media time (then
// creation), or ErrNotFound for an unknown session.
func (db *DB) Comments(ctx context.Context, sessionID string) ([]Comment, error) {
	tx, err := db.r.readTx(ctx)
	if err != nil {
		return nil, fmt.Errorf("comments: %w", err)
	}
	defer tx.Rollback()
	var one int
	err = tx.QueryRowContext(ctx, `SELECT 1 FROM sessions WHERE id = ?`, sessionID).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("comments: session %q: %w", sessionID, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("comments: %w", err)
	}
	rows, err := tx.QueryContext(ctx, `SELECT `+commentCols+` FROM comments
		WHERE session_id = ? ORDER BY at_ms, created_at, id`, sessionID)
	if err != nil {
		return nil, fmt.Errorf("comments: %w", err)
	}
	defer rows.Close()
	cs := []Comment{}
	for rows.Next() {
		c, err := scanComment(rows)
		if err != nil {
			return nil, fmt.Errorf("comments: %w", err)
		}
		cs = append(cs, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("comments: %w", err)
	}
	return cs, nil
}

// GetComment returns one comment of the session, or ErrNotFound.
func (db *DB) GetComment(ctx context.Context, sessionID, commentID string) (Comment, error) {
	return db.getComment(ctx, db.r, sessionID, commentID, "")
}

type queryRower interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// getComment reads a comment; lock is "" or db.forUpdate().
func (db *DB) getComment(ctx context.Context, q queryRower, sessionID, commentID, lock string) (Comment, error) {
	c, err := scanComment(q.QueryRowContext(ctx, `SELECT `+commentCols+` FROM comments
		WHERE id = ? AND session_id = ?`+lock, commentID, sessionID))
	if errors.Is(err, sql.ErrNoRows) {
		return Comment{}, fmt.Errorf("comment %q of session %q: %w", commentID, sessionID, ErrNotFound)
	}
	if err != nil {
		return Comment{}, fmt.Errorf("comment %q: %w", commentID, err)
	}
	return c, nil
}

// UpdateComment applies p to the session's comment and returns the result,
// with the same validation errors as AddComment; ErrNotFound if the comment
// does not exist or belongs to another session.
func (db *DB) UpdateComment(ctx context.Context, sessionID, commentID string, p CommentPatch) (Comment, error) {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return Comment{}, fmt.Errorf("update comment: %w", err)
	}
	defer tx.Rollback()
	c, err := db.getComment(ctx, tx, sessionID, commentID, db.forUpdate())
	if err != nil {
		return Comment{}, fmt.Errorf("update comment: %w", err)
	}
	if p.AtMS == nil && p.Text == nil {
		return c, nil
	}
	if p.AtMS != nil {
		c.AtMS = *p.AtMS
	}
	if p.Text != nil {
		c.Text = *p.Text
	}
	if c.Text, err = validateComment(c.AtMS, c.Text, c.Author, c.AuthorID); err != nil {
		return Comment{}, fmt.Errorf("update comment: %w", err)
	}
	c.UpdatedAt = msTime(db.now().UnixMilli())
	if _, err := tx.ExecContext(ctx, `UPDATE comments SET at_ms = ?, text = ?, updated_at = ? WHERE id = ?`,
		c.AtMS, c.Text, c.UpdatedAt.UnixMilli(), c.ID); err != nil {
		return Comment{}, fmt.Errorf("update comment: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return Comment{}, fmt.Errorf("update comment: %w", err)
	}
	return c, nil
}

// DeleteComment removes the session's comment, or returns ErrNotFound.
func (db *DB) DeleteComment(ctx context.Context, sessionID, commentID string) error {
	res, err := db.w.ExecContext(ctx, `DELETE FROM comments WHERE id = ? AND session_id = ?`, commentID, sessionID)
	if err != nil {
		return fmt.Errorf("delete comment: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("delete comment: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("delete comment %q of session %q: %w", commentID, sessionID, ErrNotFound)
	}
	return nil
}
