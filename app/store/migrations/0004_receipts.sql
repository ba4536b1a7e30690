-- 0004: receipts (app/receipt). One row per receipt handed to a citizen,
-- with what is needed to render it again: the procedure's details as JSON
-- (never the individual number, never a PIN), the holder's name sealed
-- with AES-GCM (personal data at rest), the verification code, and whether
-- it reached paper. Every print attempt is kept in receipt_prints.
CREATE TABLE receipts (
    id            INTEGER PRIMARY KEY,
    number        TEXT    NOT NULL UNIQUE,       -- <terminal>-<yyyymmdd>-<nnnn>
    procedure     TEXT    NOT NULL,
    lang          TEXT    NOT NULL,              -- the citizen's language
    terminal      TEXT    NOT NULL,
    municipality  TEXT    NOT NULL,
    counter       TEXT    NOT NULL,
    issued_at     TEXT    NOT NULL,              -- RFC 3339, UTC
    details       TEXT    NOT NULL,              -- JSON, no personal data
    personal      BLOB    NOT NULL,              -- sealed JSON (holder's name)
    key_id        TEXT    NOT NULL,              -- seal key that sealed it
    code          TEXT    NOT NULL,              -- verification code (HMAC)
    status        TEXT    NOT NULL DEFAULT 'unprinted'
                  CHECK (status IN ('unprinted', 'printed')),
    printer       TEXT    NOT NULL DEFAULT '',   -- queue of the last attempt
    job_id        INTEGER NOT NULL DEFAULT 0,    -- CUPS job of the last attempt
    attempts      INTEGER NOT NULL DEFAULT 0,
    last_problem  TEXT    NOT NULL DEFAULT '',   -- '' or a printing problem code
    last_error    TEXT    NOT NULL DEFAULT '',
    printed_at    TEXT    NOT NULL DEFAULT '',
    created_at    TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at    TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;

CREATE INDEX receipts_status ON receipts (status, id);

-- Receipt numbers count per terminal and day (Japan's date).
CREATE TABLE receipt_seq (
    terminal  TEXT    NOT NULL,
    day       TEXT    NOT NULL,                  -- yyyymmdd
    last      INTEGER NOT NULL,
    PRIMARY KEY (terminal, day)
) STRICT;

CREATE TABLE receipt_prints (
    id          INTEGER PRIMARY KEY,
    receipt_id  INTEGER NOT NULL REFERENCES receipts (id),
    at          TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    printer     TEXT    NOT NULL,
    job_id      INTEGER NOT NULL DEFAULT 0,
    problem     TEXT    NOT NULL DEFAULT '',     -- '' = printed
    detail      TEXT    NOT NULL DEFAULT ''
) STRICT;

CREATE INDEX receipt_prints_receipt ON receipt_prints (receipt_id, id);
