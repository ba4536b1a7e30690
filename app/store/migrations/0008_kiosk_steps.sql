-- 0008: the kiosk's funnel (the daily report's started / completed /
-- dropped at each step): one row per step a kiosk session reached. A
-- session is a random id; nothing of the citizen.
CREATE TABLE kiosk_steps (
    session   TEXT NOT NULL,
    at        TEXT NOT NULL,   -- RFC 3339, UTC, milliseconds
    terminal  TEXT NOT NULL,
    procedure TEXT NOT NULL DEFAULT '',
    step      TEXT NOT NULL    -- start, language, procedure, card, pins, done, failed, dropped
) STRICT;
CREATE INDEX kiosk_steps_at ON kiosk_steps (at);
