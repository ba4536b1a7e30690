package report

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"madoguchi/app/i18n"
	"madoguchi/app/store"
)

// testDay is the report day of the tests: 2026-11-22 in Japan.
var testDay = time.Date(2026, 11, 22, 0, 0, 0, 0, i18n.Japan)

// at is a time of the test day in Japan (h may pass 24 for the next day,
// or be negative for the day before).
func at(h, m, s int) time.Time { return testDay.Add(time.Duration(h*3600+m*60+s) * time.Second) }

func stamp(t time.Time) string { return t.UTC().Format(stampLayout) }

// sink writes the same rows into several stores (a terminal's own and the
// office's union of them).
type sink struct {
	t   testing.TB
	dbs []*sql.DB
	seq *int
}

func (s sink) exec(q string, args ...any) {
	s.t.Helper()
	for _, db := range s.dbs {
		if _, err := db.Exec(q, args...); err != nil {
			s.t.Fatalf("%s: %v", q, err)
		}
	}
}

func openStore(t testing.TB, name string) *sql.DB {
	t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), name+".db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st.DB
}

// proc records a procedure started at start and lasting dur seconds,
// with its receipt at counter (none when counter is "").
func (s sink) proc(terminal, counter, kind, outcome string, start time.Time, dur int, detail string) {
	s.t.Helper()
	*s.seq++
	number := ""
	if counter != "" {
		number = fmt.Sprintf("%s-%04d", terminal, *s.seq)
		s.receipt(number, terminal, counter, kind)
	}
	if detail == "" {
		detail = "{}"
	}
	s.exec(`INSERT INTO procedures (kind, card_serial, terminal, started_at, finished_at, outcome, detail, receipt) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		kind, fmt.Sprintf("SERIAL%06d", *s.seq), terminal, stamp(start), stamp(start.Add(time.Duration(dur)*time.Second)), outcome, detail, number)
}

func (s sink) receipt(number, terminal, counter, kind string) {
	s.t.Helper()
	s.exec(`INSERT INTO receipts (number, procedure, lang, terminal, municipality, counter, issued_at, details, personal, key_id, code)
		VALUES (?, ?, 'ja', ?, 'テスト市', ?, ?, '{}', x'00', 'k', 'c')`, number, kind, terminal, counter, stamp(testDay))
}

// print records a print attempt of receipt number ("" problem: printed).
func (s sink) print(number string, when time.Time, problem string) {
	s.t.Helper()
	s.exec(`INSERT INTO receipt_prints (receipt_id, at, printer, problem) VALUES ((SELECT id FROM receipts WHERE number = ?), ?, 'pr', ?)`,
		number, stamp(when), problem)
}

func (s sink) steps(terminal, session string, start time.Time, steps ...[2]string) {
	s.t.Helper()
	for i, st := range steps {
		s.exec(`INSERT INTO kiosk_steps (session, at, terminal, procedure, step) VALUES (?, ?, ?, ?, ?)`,
			session, stamp(start.Add(time.Duration(i)*time.Second)), terminal, st[0], st[1])
	}
}

func (s sink) jobs(state string, n int) {
	s.t.Helper()
	for range n {
		*s.seq++
		s.exec(`INSERT INTO outbox (idempotency_key, kind, payload, state) VALUES (?, 'event', x'00', ?)`, fmt.Sprintf("key-%d", *s.seq), state)
	}
}

// office is the test's stores: one per terminal and their union.
type office struct {
	union     *sql.DB
	terminals map[string]*sql.DB
}

// step pairs for the kiosk.
func st(proc, step string) [2]string { return [2]string{proc, step} }

// newOffice writes the test day: three terminals (T-01 and T-03 at 窓口1,
// T-02, also a kiosk, at 窓口2), with figures the tests know.
func newOffice(t testing.TB) office {
	o := office{union: openStore(t, "union"), terminals: map[string]*sql.DB{}}
	seq := 0
	term := func(name string) sink {
		db := openStore(t, name)
		o.terminals[name] = db
		return sink{t: t, dbs: []*sql.DB{db, o.union}, seq: &seq}
	}
	t1, t2, t3 := term("T-01"), term("T-02"), term("T-03")

	// T-01, 窓口1. Issuance: 300 310 320 600 900 s; 4 ok, 1 queued.
	t1.proc("T-01", "窓口1", "issuance", "ok", at(0, 0, 0), 300, `{"profile":"current","expiry":{"card":"2027-02-22","auth":"2027-02-23"}}`)
	t1.proc("T-01", "窓口1", "issuance", "ok", at(9, 0, 0), 310, `{"profile":"current","pins":["auth","sign"],"expiry":{"card":"2031-01-01","auth":"2026-12-01","sign":"2026-12-01"}}`)
	t1.proc("T-01", "窓口1", "issuance", "ok", at(9, 30, 0), 320, `{"profile":"next","expiry":{"card":"2027-11-22","auth":"2027-11-23"}}`)
	t1.proc("T-01", "窓口9", "issuance", "ok", at(10, 0, 0), 600, `{"profile":"current","expiry":{"card":"2030-05-31"}}`)
	t1.proc("T-01", "窓口1", "issuance", "queued", at(23, 59, 0), 900, "")
	// PIN resets: 120 130 140 150 s; sign, sign, auth, input-assist.
	t1.proc("T-01", "窓口1", "pin_reset", "ok", at(11, 0, 0), 140, `{"pin":"sign","profile":"current","expiry":{"card":"2026-11-01"}}`)
	t1.proc("T-01", "窓口1", "pin_reset", "ok", at(11, 10, 0), 120, `{"pin":"sign","profile":"current"}`)
	t1.proc("T-01", "窓口1", "pin_reset", "ok", at(11, 20, 0), 150, `{"pin":"auth","profile":"current"}`)
	t1.proc("T-01", "", "pin_reset", "ok", at(11, 30, 0), 130, `{"pin":"input-assist","profile":"current"}`)
	// Certificate renewals: 400 500 s.
	t1.proc("T-01", "窓口1", "cert_renewal", "ok", at(13, 0, 0), 500, `{"profile":"current","expiry":{"auth":"2031-11-22"}}`)
	t1.proc("T-01", "窓口1", "cert_renewal", "ok", at(13, 30, 0), 400, "")
	// Not of the day: the last second before, and the next day's first.
	t1.proc("T-01", "窓口1", "issuance", "ok", at(0, 0, -1), 100, "")
	t1.proc("T-01", "窓口1", "issuance", "ok", at(24, 0, 0), 100, "")
	// Reprints: A printed three times (2 reprints), B failed then
	// printed (none), C printed the day before and again (1).
	t1.receipt("A", "T-01", "窓口1", "issuance")
	t1.receipt("B", "T-01", "窓口1", "issuance")
	t1.receipt("C", "T-01", "窓口1", "issuance")
	t1.print("A", at(9, 0, 0), "")
	t1.print("A", at(9, 5, 0), "")
	t1.print("A", at(9, 6, 0), "")
	t1.print("B", at(9, 0, 0), "paper-out")
	t1.print("B", at(9, 10, 0), "")
	t1.print("C", at(-2, 0, 0), "")
	t1.print("C", at(10, 0, 0), "")
	t1.print("C", at(24, 1, 0), "") // the next day's
	t1.jobs("pending", 3)
	t1.jobs("inflight", 1)
	t1.jobs("dead", 2)
	t1.jobs("done", 5)
	t1.jobs("discarded", 1)

	// T-02, 窓口2 and a kiosk. Issuance: 200 250 700 s.
	t2.proc("T-02", "窓口2", "issuance", "ok", at(9, 0, 0), 250, `{"profile":"current","expiry":{"card":"2027-02-23"}}`)
	t2.proc("T-02", "窓口2", "issuance", "ok", at(10, 0, 0), 700, "")
	t2.proc("T-02", "窓口2", "issuance", "ok", at(11, 0, 0), 200, "")
	t2.proc("T-02", "窓口2", "reserved_reset", "ok", at(12, 0, 0), 90, `{"pin":"sign","profile":"current"}`)
	t2.proc("T-02", "窓口2", "reserved_reset", "ok", at(12, 10, 0), 60, `{"pin":"auth","profile":"next"}`)
	t2.proc("T-02", "窓口2", "suspension", "queued", at(14, 0, 0), 0, `{"reason":"lost"}`)
	t2.receipt("D", "T-02", "窓口2", "issuance")
	t2.print("D", at(15, 0, 0), "")
	t2.print("D", at(15, 1, 0), "")
	t2.jobs("dead", 1)
	t2.jobs("done", 2)
	// The kiosk's sessions.
	t2.steps("T-02", "s1", at(9, 0, 0), st("", "start"), st("reserved_reset", "procedure"), st("reserved_reset", "card"), st("reserved_reset", "pins"), st("reserved_reset", "done"))
	t2.steps("T-02", "s2", at(9, 10, 0), st("", "start"), st("reserved_reset", "procedure"), st("reserved_reset", "card"), st("reserved_reset", "dropped"))
	t2.steps("T-02", "s3", at(9, 20, 0), st("", "start"), st("status_check", "card"), st("status_check", "done"))
	t2.steps("T-02", "s4", at(9, 30, 0), st("", "start"), st("", "dropped"))
	t2.steps("T-02", "s5", at(9, 40, 0), st("", "start"), st("puk_unlock", "procedure"), st("puk_unlock", "card"), st("puk_unlock", "pins"), st("puk_unlock", "failed"))
	t2.steps("T-02", "s6", at(9, 50, 0), st("", "start"), st("reserved_reset", "procedure"))
	t2.steps("T-02", "s7", at(10, 0, 0), st("", "start"), st("", "language"), st("reserved_reset", "procedure"), st("reserved_reset", "card"), st("reserved_reset", "pins"), st("reserved_reset", "dropped"))
	t2.steps("T-02", "s8", at(10, 10, 0), st("", "start"), st("puk_unlock", "procedure"), st("puk_unlock", "start"), st("puk_unlock", "dropped"))
	t2.steps("T-02", "s9", at(-1, 0, 0), st("", "start"), st("", "dropped")) // the day before

	// T-03, also at 窓口1. Issuance: 330 340 s.
	t3.proc("T-03", "窓口1", "issuance", "ok", at(9, 0, 0), 340, "")
	t3.proc("T-03", "窓口1", "issuance", "ok", at(9, 30, 0), 330, "")
	return o
}
