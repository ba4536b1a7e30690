-- 0005: the record of each procedure performed at this terminal (no
-- personal data: the card serial, what was done, the outcome).
CREATE TABLE procedures (
    id           INTEGER PRIMARY KEY,
    kind         TEXT    NOT NULL,
    card_serial  TEXT    NOT NULL,
    terminal     TEXT    NOT NULL,
    started_at   TEXT    NOT NULL,
    finished_at  TEXT    NOT NULL,
    outcome      TEXT    NOT NULL,
    detail       TEXT    NOT NULL DEFAULT '{}', -- JSON, never a PIN or the individual number
    receipt      TEXT    NOT NULL DEFAULT ''    -- the receipt number
) STRICT;
CREATE INDEX procedures_day ON procedures (started_at);
