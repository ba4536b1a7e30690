-- 0003: the outbox grows into the durable job queue (app/queue):
-- encryption key id, dead-letter reason, a discarded state, update time,
-- an index for per-ordering-key delivery, and the audit of supervisor
-- actions on jobs. SQLite cannot change a CHECK constraint, so the table
-- is rebuilt and the rows copied.
CREATE TABLE outbox_new (
    id               INTEGER PRIMARY KEY,
    idempotency_key  TEXT    NOT NULL UNIQUE,
    kind             TEXT    NOT NULL,
    ordering_key     TEXT    NOT NULL DEFAULT '',
    priority         INTEGER NOT NULL DEFAULT 0,
    payload          BLOB    NOT NULL,
    key_id           TEXT    NOT NULL DEFAULT '',  -- '' = not encrypted
    state            TEXT    NOT NULL DEFAULT 'pending'
                     CHECK (state IN ('pending', 'inflight', 'done', 'dead', 'discarded')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    last_error       TEXT    NOT NULL DEFAULT '',
    dead_reason      TEXT    NOT NULL DEFAULT '',
    -- refused: the central system refused the request (4xx), so it took
    -- no effect and a supervisor's retry may send it with a new key.
    refused          INTEGER NOT NULL DEFAULT 0,
    created_at       TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at       TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;

INSERT INTO outbox_new (id, idempotency_key, kind, ordering_key, priority, payload, state, attempts, next_attempt_at, last_error, created_at)
    SELECT id, idempotency_key, kind, ordering_key, priority, payload, state, attempts, next_attempt_at, last_error, created_at FROM outbox;

DROP TABLE outbox;
ALTER TABLE outbox_new RENAME TO outbox;

CREATE INDEX outbox_due ON outbox (state, priority DESC, next_attempt_at);
CREATE INDEX outbox_order ON outbox (ordering_key, id) WHERE state IN ('pending', 'inflight');

CREATE TABLE queue_actions (
    id      INTEGER PRIMARY KEY,
    job_id  INTEGER NOT NULL,
    action  TEXT    NOT NULL CHECK (action IN ('retry', 'discard')),
    actor   TEXT    NOT NULL,
    reason  TEXT    NOT NULL DEFAULT '',
    at      TEXT    NOT NULL
) STRICT;
