-- 0009: staff accounts (app/staff): roles, argon2id password hashes,
-- lockout after repeated failures.
CREATE TABLE staff (
    id            INTEGER PRIMARY KEY,
    login         TEXT    NOT NULL UNIQUE,
    name          TEXT    NOT NULL,
    role          TEXT    NOT NULL CHECK (role IN ('clerk', 'supervisor', 'kiosk')),
    hash          TEXT    NOT NULL,
    failures      INTEGER NOT NULL DEFAULT 0,
    locked_until  TEXT    NOT NULL DEFAULT '',
    disabled      INTEGER NOT NULL DEFAULT 0,
    created_at    TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;
