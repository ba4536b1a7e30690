package sim

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"fmt"
	"time"

	"madoguchi/app/store"
	"madoguchi/drivers/jlis/api"
	"madoguchi/drivers/jlis/jpki"
)

//go:embed migrations/*.sql
var migrations embed.FS

func openDB(path string) (*store.Store, error) {
	return store.OpenFS(context.Background(), path, migrations)
}

func ts(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func parseTS(s string) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, s)
	return t
}

// demoHolders are fictitious people for the demo card records.
var demoHolders = []api.Holder{
	{Name: "窓口　花子", Address: "デモ県デモ市中央一丁目２番３号", BirthDate: "19850401", Sex: "2"},
	{Name: "見本　太郎", Address: "デモ県デモ市北町三丁目４番５号", BirthDate: "19520710", Sex: "1"},
	{Name: "Nguyen Van An", Address: "デモ県デモ市南町七丁目８番９号", BirthDate: "19990115", Sex: "1"},
}

func createDemoCards(st *store.Store, now time.Time) ([]string, error) {
	var serials []string
	for i, h := range demoHolders {
		serial := fmt.Sprintf("DEMO%012d", i+1)
		v, err := jpki.ValidityFor(h.BirthDate, now, false)
		if err != nil {
			return nil, err
		}
		hj, _ := json.Marshal(h)
		if _, err := st.DB.Exec(`INSERT INTO cards (serial, profile, state, municipality, holder, card_expiry, updated_at) VALUES (?, 'current', ?, '99999', ?, ?, ?)`,
			serial, api.StateDelivered, string(hj), v.Card.Format("20060102"), ts(now)); err != nil {
			return nil, err
		}
		serials = append(serials, serial)
	}
	return serials, nil
}

func demoCardSerials(st *store.Store) ([]string, error) {
	rows, err := st.DB.Query(`SELECT serial FROM cards WHERE serial LIKE 'DEMO%' ORDER BY serial`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// loadCard reads a card record with its certificates and history.
func loadCard(ctx context.Context, q querier, serial string) (api.Card, error) {
	var c api.Card
	var holder, updated string
	err := q.QueryRowContext(ctx, `SELECT serial, profile, state, municipality, holder, card_expiry, updated_at FROM cards WHERE serial = ?`, serial).
		Scan(&c.Serial, &c.Profile, &c.State, &c.Municipality, &holder, &c.CardExpiry, &updated)
	if err != nil {
		return c, err
	}
	_ = json.Unmarshal([]byte(holder), &c.Holder)
	c.UpdatedAt = parseTS(updated)
	c.Certificates, c.History = []api.CertStatus{}, []api.Transition{}
	rows, err := q.QueryContext(ctx, `SELECT serial, purpose, card_serial, state, not_after, revoked_at, reason FROM certificates WHERE card_serial = ? ORDER BY not_before`, serial)
	if err != nil {
		return c, err
	}
	for rows.Next() {
		var s api.CertStatus
		var na, ra string
		if err := rows.Scan(&s.Serial, &s.Purpose, &s.CardSerial, &s.State, &na, &ra, &s.Reason); err != nil {
			rows.Close()
			return c, err
		}
		s.NotAfter, s.RevokedAt = parseTS(na), parseTS(ra)
		c.Certificates = append(c.Certificates, s)
	}
	rows.Close()
	rows, err = q.QueryContext(ctx, `SELECT from_state, to_state, reason, terminal, at FROM transitions WHERE card_serial = ? ORDER BY id`, serial)
	if err != nil {
		return c, err
	}
	defer rows.Close()
	for rows.Next() {
		var t api.Transition
		var at string
		if err := rows.Scan(&t.From, &t.To, &t.Reason, &t.Terminal, &at); err != nil {
			return c, err
		}
		t.At = parseTS(at)
		c.History = append(c.History, t)
	}
	return c, rows.Err()
}

// querier is *sql.DB or *sql.Tx.
type querier interface {
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
	ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error)
}
