package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"madoguchi/app/store"
)

// seedReportDay writes a terminal's day into the store under dataDir: n
// issuances (5 min each) with receipts at counter, one PIN reset, a kiosk
// session dropped at the card, two pending jobs and a dead one.
func seedReportDay(t *testing.T, dataDir, terminal, counter string, n int) {
	t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(dataDir, "madoguchi.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	jst := time.FixedZone("JST", 9*3600)
	at := func(h, m int) string {
		return time.Date(2026, 11, 22, h, m, 0, 0, jst).UTC().Format("2006-01-02T15:04:05.000Z")
	}
	do := func(q string, args ...any) {
		t.Helper()
		if _, err := st.DB.Exec(q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	for i := range n {
		number := fmt.Sprintf("%s-20261122-%04d", terminal, i+1)
		do(`INSERT INTO receipts (number, procedure, lang, terminal, municipality, counter, issued_at, details, personal, key_id, code)
			VALUES (?, 'issuance', 'ja', ?, 'テスト市', ?, ?, '{}', x'00', 'k', 'c')`, number, terminal, counter, at(9, 5+i))
		do(`INSERT INTO procedures (kind, card_serial, terminal, started_at, finished_at, outcome, detail, receipt)
			VALUES ('issuance', ?, ?, ?, ?, 'ok', '{"profile":"current","expiry":{"card":"2027-01-01"}}', ?)`,
			fmt.Sprintf("S%d", i), terminal, at(9, i), at(9, 5+i), number)
	}
	do(`INSERT INTO procedures (kind, card_serial, terminal, started_at, finished_at, outcome, detail)
		VALUES ('pin_reset', 'P', ?, ?, ?, 'ok', '{"pin":"sign","profile":"current"}')`, terminal, at(11, 0), at(11, 2))
	for i, step := range []string{"start", "procedure", "card", "dropped"} {
		do(`INSERT INTO kiosk_steps (session, at, terminal, procedure, step) VALUES ('k1', ?, ?, 'reserved_reset', ?)`, at(12, i), terminal, step)
	}
	for i, state := range []string{"pending", "pending", "dead"} {
		do(`INSERT INTO outbox (idempotency_key, kind, payload, state) VALUES (?, 'event', x'00', ?)`, fmt.Sprint("k", i), state)
	}
}

// TestReportCLI drives `madoguchi report` of the built binary: the daily
// report of two terminals in every format, their merge, and refusals.
func TestReportCLI(t *testing.T) {
	bin := need(t)
	dir := t.TempDir()
	type term struct{ name, counter, data, config string }
	terms := []term{{"T-01", "窓口1", "", ""}, {"T-02", "窓口2", "", ""}}
	for i := range terms {
		tm := &terms[i]
		tm.data = filepath.Join(dir, tm.name)
		tm.config = filepath.Join(dir, tm.name+".toml")
		if err := os.WriteFile(tm.config, fmt.Appendf(nil, "terminal = %q\ncounter = %q\n", tm.name, tm.counter), 0o600); err != nil {
			t.Fatal(err)
		}
		seedReportDay(t, tm.data, tm.name, tm.counter, 3+i)
	}
	run := func(want int, args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, args...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != want {
			t.Fatalf("%v: exit %d, want %d\n%s", args, code, want, out.String())
		}
		return out.String()
	}
	daily := func(tm term, format, out string, extra ...string) string {
		return run(0, append([]string{"report", "daily", "--data", tm.data, "--config", tm.config,
			"--date", "2026-11-22", "--format", format, "--out", out}, extra...)...)
	}
	read := func(p string) []byte {
		t.Helper()
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	pdfText := func(p string) string {
		t.Helper()
		if _, err := exec.LookPath("pdftotext"); err != nil {
			return ""
		}
		out, err := exec.Command("pdftotext", "-layout", p, "-").Output()
		if err != nil {
			t.Fatalf("pdftotext %s: %v", p, err)
		}
		return string(out)
	}
	var csvs []string
	for _, tm := range terms {
		c := filepath.Join(dir, tm.name+".csv")
		if out := daily(tm, "csv", c); !strings.Contains(out, "wrote "+c) {
			t.Errorf("daily csv: %s", out)
		}
		csvs = append(csvs, c)
	}
	// CSV: a byte order mark, Japanese labels, machine-readable rows.
	text := string(read(csvs[0]))
	for _, w := range []string{"\uFEFF", "令和8年11月22日 (2026-11-22)", "procedure,T-01,窓口1,issuance,ok,3,カードの交付",
		"pin_reset,T-01,窓口1,pin_reset,sign,1,", "dropped_at,T-01,窓口1,reserved_reset,card,1,",
		"near_expiry,T-01,窓口1,issuance,card,3,", "queue,T-01,", ",2,0,2,1\r\n"} {
		if !strings.Contains(text, w) {
			t.Errorf("T-01's CSV lacks %q:\n%s", w, text)
		}
	}
	// XLSX and PDF of T-02, in English.
	x := filepath.Join(dir, "T-02.xlsx")
	daily(terms[1], "xlsx", x, "--lang", "en")
	f, err := excelize.OpenFile(x)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, sh := range f.GetSheetList() {
		rows, _ := f.GetRows(sh)
		for _, r := range rows {
			found = found || strings.Join(r, ",") == "procedure,T-02,窓口2,issuance,ok,4,Card issuance,Done"
		}
	}
	f.Close()
	if !found {
		t.Error("T-02's workbook lacks its issuance row")
	}
	p := filepath.Join(dir, "T-02.pdf")
	daily(terms[1], "pdf", p, "--lang", "en")
	if !bytes.HasPrefix(read(p), []byte("%PDF-")) {
		t.Fatal("T-02's PDF is not a PDF")
	}
	if pt := pdfText(p); pt != "" && (!strings.Contains(pt, "Daily report, November 22, Reiwa 8 (2026-11-22)") || !strings.Contains(pt, "Card issuance")) {
		t.Errorf("T-02's PDF text:\n%s", pt)
	}
	// --terminal restricts; another terminal's name gives an empty report.
	none := filepath.Join(dir, "none.csv")
	daily(terms[0], "csv", none, "--terminal", "T-09")
	if strings.Contains(string(read(none)), "procedure,T-01") {
		t.Error("--terminal T-09 reported T-01's procedures")
	}

	// The merge, in all three formats; CSV inputs in any order of flags.
	merged := filepath.Join(dir, "office.csv")
	run(0, append([]string{"report", "merge", "--config", terms[0].config, "--out", merged}, csvs...)...)
	text = string(read(merged))
	for _, w := range []string{"procedure,*,*,issuance,ok,7,", "procedure,T-02,窓口2,issuance,ok,4,", "reprint,*,窓口1,0,0",
		"funnel,*,*,reserved_reset,2,0,0,2,0,", ",4,0,4,2\r\n"} {
		if !strings.Contains(text, w) {
			t.Errorf("merged CSV lacks %q:\n%s", w, text)
		}
	}
	mx := filepath.Join(dir, "office.xlsx")
	run(0, "report", "merge", csvs[0], "--out", mx, "--config", terms[0].config, csvs[1])
	if f, err := excelize.OpenFile(mx); err != nil {
		t.Error(err)
	} else {
		f.Close()
	}
	mp := filepath.Join(dir, "office.pdf")
	run(0, append([]string{"report", "merge", "--format", "pdf", "--out", mp, "--config", terms[0].config}, csvs...)...)
	if pt := pdfText(mp); pt != "" && (!strings.Contains(pt, "窓口業務日報") || !strings.Contains(pt, "カードの交付") || !regexpMatch(pt, `カードの交付\s+7\s+7`)) {
		t.Errorf("merged PDF text:\n%s", pt)
	}

	// Refusals: usage errors, exit 2, and nothing written.
	bad := filepath.Join(dir, "bad.csv")
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"report"}, "daily or merge"},
		{[]string{"report", "weekly"}, "want daily or merge"},
		{[]string{"report", "daily", "--date", "2026-02-30", "--out", bad}, `--date "2026-02-30": want a date as YYYY-MM-DD`},
		{[]string{"report", "daily", "--date", "22/11/2026", "--out", bad}, "want a date as YYYY-MM-DD"},
		{[]string{"report", "daily", "--format", "docx", "--out", bad}, `--format "docx": want csv, xlsx or pdf`},
		{[]string{"report", "daily", "--out", filepath.Join(dir, "bad.txt")}, "needs --format csv, xlsx or pdf"},
		{[]string{"report", "daily", "--format", "csv"}, "needs --out FILE"},
		{[]string{"report", "merge", "--out", bad}, "needs the CSV files"},
		{[]string{"report", "merge", "--out", bad, "--date", "2026-11-22", csvs[0]}, "neither --date nor --terminal"},
	} {
		args := append(tc.args, "--data", terms[0].data, "--config", terms[0].config)
		if out := run(2, args...); !strings.Contains(out, tc.msg) {
			t.Errorf("%v: %q, want %q", tc.args, out, tc.msg)
		}
	}
	if _, err := os.Stat(bad); err == nil {
		t.Error("a refused report wrote its file")
	}
	// Not a report, or reports of different days: errors, exit 1.
	if out := run(1, "report", "merge", "--out", bad, "--config", terms[0].config, csvs[0], terms[0].config); !strings.Contains(out, "not a daily report") {
		t.Errorf("merge of a non-report: %s", out)
	}
	other := filepath.Join(dir, "other-day.csv")
	run(0, "report", "daily", "--data", terms[0].data, "--config", terms[0].config, "--date", "2026-11-23", "--out", other)
	if out := run(1, "report", "merge", "--out", bad, "--config", terms[0].config, csvs[0], other); !strings.Contains(out, "merge the reports of one day") {
		t.Errorf("merge of two days: %s", out)
	}
}

func regexpMatch(text, re string) bool {
	return regexp.MustCompile(re).MatchString(text)
}
