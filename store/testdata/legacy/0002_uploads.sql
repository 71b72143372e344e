-- Progress of recordings uploaded for analysis. Not tied to sessions by a
-- foreign key: a failed upload's session is deleted, and its row stays to
-- tell the uploader why.
CREATE TABLE uploads (
	id         TEXT PRIMARY KEY, -- the session id it creates
	state      TEXT NOT NULL CHECK (state IN ('analyzing', 'done', 'failed')),
	done_ms    INTEGER NOT NULL DEFAULT 0,
	total_ms   INTEGER NOT NULL DEFAULT 0,
	error      TEXT NOT NULL DEFAULT '',
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL
);
