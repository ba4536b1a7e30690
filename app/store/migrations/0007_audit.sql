-- 0007: the audit trail (app/audit). Append-only: every row carries the
-- HMAC of its content chained to the previous row's, and triggers refuse
-- updates and deletes (a determined editor of the file still breaks the
-- chain, which `madoguchi audit verify` finds). No personal data.
CREATE TABLE audit_events (
    seq       INTEGER PRIMARY KEY,
    at        TEXT    NOT NULL,   -- RFC 3339, UTC, milliseconds
    terminal  TEXT    NOT NULL,
    actor     TEXT    NOT NULL,   -- staff login, "kiosk", "system"
    kind      TEXT    NOT NULL,   -- procedure.step, login, approval, reprint, queue.discard…
    subject   TEXT    NOT NULL,   -- what it is about: a card's last four, a job id, a receipt number
    detail    TEXT    NOT NULL,   -- JSON
    key_id    TEXT    NOT NULL,   -- the chain key that made mac
    prev      BLOB    NOT NULL,   -- the previous row's mac (32 zero bytes for the first)
    mac       BLOB    NOT NULL
) STRICT;
CREATE INDEX audit_events_at ON audit_events (at);
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;
