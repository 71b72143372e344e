package store

import (
	"context"
	"database/sql"
	"strconv"
	"strings"
)

// conn is a connection pool that speaks one engine's SQL. Queries are
// written once with ? placeholders; on PostgreSQL they are rebound to $n.
type conn struct {
	db *sql.DB
	pg bool
}

func (c conn) sql(query string) string {
	if c.pg {
		return rebind(query)
	}
	return query
}

// ExecContext is sql.DB.ExecContext with the query rebound.
func (c conn) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return c.db.ExecContext(ctx, c.sql(query), args...)
}

// QueryContext is sql.DB.QueryContext with the query rebound.
func (c conn) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return c.db.QueryContext(ctx, c.sql(query), args...)
}

// QueryRowContext is sql.DB.QueryRowContext with the query rebound.
func (c conn) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return c.db.QueryRowContext(ctx, c.sql(query), args...)
}

// BeginTx starts a transaction whose queries are rebound too.
func (c conn) BeginTx(ctx context.Context, opts *sql.TxOptions) (*tx, error) {
	t, err := c.db.BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	return &tx{t: t, pg: c.pg}, nil
}

// readTx starts a read-only transaction that sees one snapshot: SQLite's
// read transactions always do; PostgreSQL needs REPEATABLE READ for it.
func (c conn) readTx(ctx context.Context) (*tx, error) {
	opts := &sql.TxOptions{ReadOnly: true}
	if c.pg {
		opts.Isolation = sql.LevelRepeatableRead
	}
	return c.BeginTx(ctx, opts)
}

// tx is a transaction of a conn.
type tx struct {
	t  *sql.Tx
	pg bool
}

func (t *tx) sql(query string) string {
	if t.pg {
		return rebind(query)
	}
	return query
}

// ExecContext is sql.Tx.ExecContext with the query rebound.
func (t *tx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return t.t.ExecContext(ctx, t.sql(query), args...)
}

// QueryContext is sql.Tx.QueryContext with the query rebound.
func (t *tx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return t.t.QueryContext(ctx, t.sql(query), args...)
}

// QueryRowContext is sql.Tx.QueryRowContext with the query rebound.
func (t *tx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return t.t.QueryRowContext(ctx, t.sql(query), args...)
}

// Commit commits the transaction.
func (t *tx) Commit() error { return t.t.Commit() }

// Rollback aborts the transaction; after Commit it does nothing.
func (t *tx) Rollback() error { return t.t.Rollback() }

// rebind numbers the ? placeholders of query $1, $2, … for PostgreSQL. A ?
// inside a string literal ('…'), a quoted identifier ("…"), a dollar-quoted
// string ($$…$$) or a -- comment is left alone.
func rebind(query string) string {
	if strings.IndexByte(query, '?') < 0 {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 16)
	n := 0
	for i := 0; i < len(query); i++ {
		c := query[i]
		switch {
		case c == '?':
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		case c == '\'' || c == '"':
			end := closing(query, i+1, string(c))
			b.WriteString(query[i:end])
			i = end - 1
			continue
		case c == '$' && strings.HasPrefix(query[i:], "$$"):
			end := closing(query, i+2, "$$")
			b.WriteString(query[i:end])
			i = end - 1
			continue
		case c == '-' && strings.HasPrefix(query[i:], "--"):
			end := closing(query, i+2, "\n")
			b.WriteString(query[i:end])
			i = end - 1
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// closing returns the index just past the first delim at or after from, or
// len(s) if there is none. A quote doubled inside a quoted string, its escape,
// needs no care: it reads as two adjacent literals.
func closing(s string, from int, delim string) int {
	j := strings.Index(s[from:], delim)
	if j < 0 {
		return len(s)
	}
	return from + j + len(delim)
}
