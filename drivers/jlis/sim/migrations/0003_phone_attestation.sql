-- Smartphone credentials with key attestation, suspension, notices, mdocs
-- and OpenID4VCI offers (docs/JLIS-API.md §6).

-- One-time challenges for a phone's key attestation: issued to a
-- terminal, used up by the phone credential granted with it.
CREATE TABLE phone_challenges (
    challenge  BLOB PRIMARY KEY,
    terminal   TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at    TEXT NOT NULL DEFAULT '',
    phone_id   TEXT NOT NULL DEFAULT '' -- the credential that used it
) STRICT;

ALTER TABLE phones ADD COLUMN app_version TEXT NOT NULL DEFAULT '';
ALTER TABLE phones ADD COLUMN key_id BLOB NOT NULL DEFAULT x'';

-- Notices for a phone: its credential changed state (revoked by the
-- cascade, replaced, suspended, resumed); a terminal delivers them at the
-- phone's next tap.
CREATE TABLE phone_notices (
    id       INTEGER PRIMARY KEY,
    phone_id TEXT NOT NULL REFERENCES phones(id),
    code     TEXT NOT NULL, -- revoked, suspended, resumed
    reason   TEXT NOT NULL,
    at       TEXT NOT NULL
) STRICT;
CREATE INDEX phone_notices_phone ON phone_notices (phone_id, id);

-- mdocs issued (no attributes kept: they are in the card record).
CREATE TABLE phone_mdocs (
    id          INTEGER PRIMARY KEY,
    phone_id    TEXT NOT NULL REFERENCES phones(id),
    doc_type    TEXT NOT NULL,
    device_key  BLOB NOT NULL, -- SPKI
    via         TEXT NOT NULL, -- 'terminal' or 'openid4vci'
    terminal    TEXT NOT NULL,
    issued_at   TEXT NOT NULL,
    valid_until TEXT NOT NULL
) STRICT;

-- OpenID4VCI pre-authorised code offers. The code is kept as its SHA-256;
-- the portrait only until the credential is issued or the offer dies.
CREATE TABLE vci_offers (
    code_hash    BLOB PRIMARY KEY,
    phone_id     TEXT NOT NULL REFERENCES phones(id),
    tx_code      TEXT NOT NULL,
    tries        INTEGER NOT NULL DEFAULT 0,
    state        TEXT NOT NULL DEFAULT 'open', -- open, redeemed, dead
    portrait     BLOB NOT NULL,
    terminal     TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    expires_at   TEXT NOT NULL
) STRICT;

-- Access tokens from the token endpoint (SHA-256 of the token), each good
-- for one credential, with the c_nonce the key proof must sign.
CREATE TABLE vci_tokens (
    token_hash  BLOB PRIMARY KEY,
    code_hash   BLOB NOT NULL REFERENCES vci_offers(code_hash),
    c_nonce     TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    used_at     TEXT NOT NULL DEFAULT ''
) STRICT;
