-- 0006: procedures that started writing to a card and have not finished
-- (the card pulled out, the central system gone): the same procedure may
-- continue on that card. No personal data.
CREATE TABLE procedure_progress (
    card_serial TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    started_at  TEXT NOT NULL
) STRICT;
