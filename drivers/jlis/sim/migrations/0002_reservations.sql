-- Reservations for the kiosk PIN reset (docs/JLIS-API.md §5.1): the holder
-- passed a remote face check; one reset of the signature password or the
-- auth PIN at an unattended kiosk is allowed until expires_at.
CREATE TABLE reservations (
    id            TEXT PRIMARY KEY,
    card_serial   TEXT NOT NULL REFERENCES cards(serial),
    pin           TEXT NOT NULL,               -- 'sign' or 'auth': the PIN to reset
    state         TEXT NOT NULL DEFAULT 'open', -- 'open' or 'used'; an open one past expires_at reads as 'expired'
    created_by    TEXT NOT NULL,               -- the client that made it (in reality the face-check service)
    created_at    TEXT NOT NULL,
    expires_at    TEXT NOT NULL,
    used_at       TEXT NOT NULL DEFAULT '',
    authorisation TEXT NOT NULL DEFAULT ''     -- the reset-pin authorisation that used it
) STRICT;
CREATE INDEX reservations_card ON reservations (card_serial, state);
