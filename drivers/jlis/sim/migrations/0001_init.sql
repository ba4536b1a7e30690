-- The central simulator's state (drivers/jlis/sim).
CREATE TABLE cards (
    serial        TEXT PRIMARY KEY,
    profile       TEXT NOT NULL,
    state         TEXT NOT NULL,
    municipality  TEXT NOT NULL,
    holder        TEXT NOT NULL, -- JSON of api.Holder
    card_expiry   TEXT NOT NULL, -- YYYYMMDD
    updated_at    TEXT NOT NULL
) STRICT;

CREATE TABLE transitions (
    id          INTEGER PRIMARY KEY,
    card_serial TEXT NOT NULL REFERENCES cards(serial),
    from_state  TEXT NOT NULL,
    to_state    TEXT NOT NULL,
    reason      TEXT NOT NULL,
    terminal    TEXT NOT NULL,
    at          TEXT NOT NULL
) STRICT;
CREATE INDEX transitions_card ON transitions (card_serial, id);

CREATE TABLE certificates (
    serial      TEXT PRIMARY KEY, -- hex, upper case
    ca          TEXT NOT NULL,
    purpose     TEXT NOT NULL,
    card_serial TEXT NOT NULL,
    der         BLOB NOT NULL,
    not_before  TEXT NOT NULL,
    not_after   TEXT NOT NULL,
    state       TEXT NOT NULL DEFAULT 'good',
    revoked_at  TEXT NOT NULL DEFAULT '',
    reason      TEXT NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX certificates_card ON certificates (card_serial);
CREATE INDEX certificates_ca_state ON certificates (ca, state);

CREATE TABLE authorisations (
    id          TEXT PRIMARY KEY,
    card_serial TEXT NOT NULL,
    op          TEXT NOT NULL,
    ref         INTEGER NOT NULL,
    digest      BLOB NOT NULL,
    challenge   BLOB NOT NULL,
    terminal    TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    UNIQUE (card_serial, challenge)
) STRICT;

CREATE TABLE idempotency (
    terminal     TEXT NOT NULL,
    key          TEXT NOT NULL,
    request_hash BLOB NOT NULL,
    status       INTEGER NOT NULL,
    content_type TEXT NOT NULL,
    body         BLOB NOT NULL,
    created_at   TEXT NOT NULL,
    PRIMARY KEY (terminal, key)
) STRICT;

CREATE TABLE events (
    terminal    TEXT NOT NULL,
    id          TEXT NOT NULL,
    type        TEXT NOT NULL,
    at          TEXT NOT NULL,
    data        TEXT NOT NULL,
    received_at TEXT NOT NULL,
    PRIMARY KEY (terminal, id)
) STRICT;

CREATE TABLE phones (
    id             TEXT PRIMARY KEY,
    card_serial    TEXT NOT NULL,
    device_id      TEXT NOT NULL,
    secure_element TEXT NOT NULL,
    app            TEXT NOT NULL,
    cert_serial    TEXT NOT NULL,
    state          TEXT NOT NULL,
    replaced       TEXT NOT NULL DEFAULT '',
    created_at     TEXT NOT NULL
) STRICT;
CREATE INDEX phones_card ON phones (card_serial, state);

-- Terminals whose certificate was revoked (the terminal CA's CRL).
CREATE TABLE revoked_terminals (
    cert_serial TEXT PRIMARY KEY,
    cn          TEXT NOT NULL,
    revoked_at  TEXT NOT NULL
) STRICT;
