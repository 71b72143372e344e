-- +goose Up
-- Accounts: users, teams and their members, API tokens, browser sessions,
-- server settings and the audit log. Times are BIGINT Unix milliseconds.

-- Emails are stored trimmed and lower-cased, so the unique index is
-- case-insensitive. oidc_subject ("issuer|sub") is NULL for users who do
-- not sign on through OIDC; UNIQUE allows many NULLs.
CREATE TABLE users (
	id            TEXT PRIMARY KEY,
	email         TEXT NOT NULL UNIQUE CHECK (email <> '' AND email = lower(email)),
	name          TEXT NOT NULL DEFAULT '',
	role          TEXT NOT NULL CHECK (role IN ('admin', 'coach', 'rep')),
	disabled      BOOLEAN NOT NULL DEFAULT FALSE,
	password_hash TEXT NOT NULL DEFAULT '',
	oidc_subject  TEXT UNIQUE,
	created_at    BIGINT NOT NULL,
	updated_at    BIGINT NOT NULL
);

CREATE TABLE teams (
	id         TEXT PRIMARY KEY,
	name       TEXT NOT NULL UNIQUE CHECK (name <> ''),
	created_at BIGINT NOT NULL
);

-- +dialect sqlite
CREATE TABLE team_members (
	team_id TEXT NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
	user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	role    TEXT NOT NULL CHECK (role IN ('rep', 'coach')),
	PRIMARY KEY (team_id, user_id)
) WITHOUT ROWID;
-- +dialect postgres
CREATE TABLE team_members (
	team_id TEXT NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
	user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	role    TEXT NOT NULL CHECK (role IN ('rep', 'coach')),
	PRIMARY KEY (team_id, user_id)
);
-- +dialect end
-- A user's teams are read on every request.
CREATE INDEX team_members_user ON team_members (user_id, team_id);

-- hash is the hex SHA-256 of the token's secret; the secret is never stored.
CREATE TABLE api_tokens (
	id           TEXT PRIMARY KEY,
	user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	name         TEXT NOT NULL DEFAULT '',
	hash         TEXT NOT NULL,
	scopes       TEXT NOT NULL,
	created_at   BIGINT NOT NULL,
	expires_at   BIGINT,
	last_used_at BIGINT,
	revoked_at   BIGINT
);
CREATE INDEX api_tokens_user ON api_tokens (user_id, created_at);

-- Browser sessions (alexedwards/scs); expiry is Unix milliseconds.
-- +dialect sqlite
CREATE TABLE web_sessions (
	token  TEXT PRIMARY KEY,
	data   BLOB NOT NULL,
	expiry BIGINT NOT NULL
);
-- +dialect postgres
CREATE TABLE web_sessions (
	token  TEXT PRIMARY KEY,
	data   BYTEA NOT NULL,
	expiry BIGINT NOT NULL
);
-- +dialect end
CREATE INDEX web_sessions_expiry ON web_sessions (expiry);

CREATE TABLE settings (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
);

-- Append-only: the triggers below refuse every UPDATE and DELETE (and, in
-- PostgreSQL, TRUNCATE). seq is never reused: AUTOINCREMENT in SQLite, an
-- identity column in PostgreSQL.
-- +dialect sqlite
CREATE TABLE audit_log (
	seq      INTEGER PRIMARY KEY AUTOINCREMENT,
	at       BIGINT NOT NULL,
	actor_id TEXT NOT NULL DEFAULT '',
	actor    TEXT NOT NULL DEFAULT '',
	action   TEXT NOT NULL,
	target   TEXT NOT NULL DEFAULT '',
	ip       TEXT NOT NULL DEFAULT '',
	detail   TEXT -- a JSON object, or NULL
);
-- +dialect postgres
CREATE TABLE audit_log (
	seq      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	at       BIGINT NOT NULL,
	actor_id TEXT NOT NULL DEFAULT '',
	actor    TEXT NOT NULL DEFAULT '',
	action   TEXT NOT NULL,
	target   TEXT NOT NULL DEFAULT '',
	ip       TEXT NOT NULL DEFAULT '',
	detail   TEXT -- a JSON object, or NULL
);
-- +dialect end
CREATE INDEX audit_log_action ON audit_log (action, seq);
CREATE INDEX audit_log_actor  ON audit_log (actor_id, seq);
CREATE INDEX audit_log_target ON audit_log (target, seq);

-- +dialect sqlite
-- +goose StatementBegin
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
	SELECT RAISE(ABORT, 'audit_log is append-only');
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
	SELECT RAISE(ABORT, 'audit_log is append-only');
END;
-- +goose StatementEnd
-- +dialect postgres
-- +goose StatementBegin
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'audit_log is append-only';
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
	FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
	FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
-- +dialect end
