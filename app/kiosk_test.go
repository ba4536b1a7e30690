package app

import (
	"context"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"madoguchi/app/config"
	"madoguchi/app/passhash"
	"madoguchi/app/secret"
	"madoguchi/app/staff"
)

// TestKioskIdleClears: without a touch for the idle time, the Go side
// forgets the citizen by itself (the screen may be frozen or closed).
func TestKioskIdleClears(t *testing.T) {
	cfg := config.Default()
	cfg.Kiosk.IdleSeconds = 1
	a := newApp(t, Deps{Config: cfg})
	v := a.KioskStart("vi-VN")
	if !v.Active || v.SecondsLeft != 1 {
		t.Fatalf("after start: %+v", v)
	}
	time.Sleep(600 * time.Millisecond)
	if v := a.KioskTouch(); !v.Active {
		t.Fatal("a touch did not keep the session")
	}
	time.Sleep(600 * time.Millisecond)
	if !a.KioskState().Active {
		t.Fatal("cleared although touched 0.6 s ago")
	}
	deadline := time.Now().Add(3 * time.Second)
	for a.KioskState().Active && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if v := a.KioskState(); v.Active || v.Lang != "" || v.Card {
		t.Fatalf("not cleared after the idle time: %+v", v)
	}
}

func TestKioskExit(t *testing.T) {
	var quit atomic.Int32
	a := newApp(t, Deps{Quit: func() { quit.Add(1) }})
	if ok, err := a.KioskExit("12345678"); ok || !errors.Is(err, ErrKioskCode) {
		t.Fatalf("wrong code: %v %v", ok, err)
	}
	if ok, err := a.KioskExit(DemoKioskCode); !ok || err != nil {
		t.Fatalf("demo code: %v %v", ok, err)
	}
	time.Sleep(50 * time.Millisecond)
	if quit.Load() != 1 {
		t.Fatal("the face was not closed")
	}
	// Five wrong codes lock it, the right one included afterwards.
	for i := 0; i < 4; i++ {
		a.KioskExit("0")
	}
	if _, err := a.KioskExit("0"); !errors.Is(err, ErrKioskLocked) {
		t.Fatalf("fifth wrong code: %v", err)
	}
	if ok, err := a.KioskExit(DemoKioskCode); ok || !errors.Is(err, ErrKioskLocked) {
		t.Fatalf("while locked: %v %v", ok, err)
	}

	// A configured hash replaces the demo code; outside the demo without
	// one there is no way out from the screen.
	cfg := config.Default()
	cfg.Kiosk.ExitCodeHash, _ = passhash.Hash(secret.NewPassword("supervisor-77"))
	b := newApp(t, Deps{Config: cfg})
	if ok, _ := b.KioskExit(DemoKioskCode); ok {
		t.Error("the demo code opened a configured kiosk")
	}
	if ok, err := b.KioskExit("supervisor-77"); !ok || err != nil {
		t.Errorf("configured code: %v %v", ok, err)
	}
	cfg = config.Default()
	cfg.Card.Reader, cfg.Central.Endpoint = "auto", "https://jlis.example"
	c := newApp(t, Deps{Config: cfg})
	if _, err := c.KioskExit(DemoKioskCode); !errors.Is(err, ErrNoWayOut) {
		t.Errorf("production without a hash: %v", err)
	}
}

func TestKioskLanguageOrder(t *testing.T) {
	a := newApp(t, Deps{})
	s := a.KioskSettings()
	if len(s.Languages) < 2 || s.Languages[0].Tag != "ja" {
		t.Fatalf("languages: %+v", s.Languages)
	}
	if s.IdleSeconds != 60 || !s.Shuffle {
		t.Errorf("settings: %+v", s)
	}
}

// TestCounterNeedsALogin: outside the demo a counter procedure needs a
// logged-in clerk; a kiosk device's account is not enough to discard a
// queued job, and a clerk needs a supervisor's approval for it.
func TestCounterNeedsALogin(t *testing.T) {
	cfg := config.Default()
	cfg.Card.Reader, cfg.Central.Endpoint = "auto", "https://jlis.example"
	a := newApp(t, Deps{Config: cfg})
	a.d.Staff = staff.New(a.d.Store.DB, nil)
	if err := a.d.Staff.EnsureDemo(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := a.RunProcedure(ProcedureRequest{Procedure: "issuance"}); !errors.Is(err, ErrNoSession) {
		t.Fatalf("without a login: %v", err)
	}
	if _, err := a.Login("kiosk", "kiosk-demo"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.RunProcedure(ProcedureRequest{Procedure: "issuance"}); !errors.Is(err, ErrForbidden) {
		t.Fatalf("a kiosk device at the counter: %v", err)
	}
	if _, err := a.QueueDiscard(1, "test", nil); !errors.Is(err, ErrForbidden) {
		t.Fatalf("a kiosk discarding: %v", err)
	}
	if _, err := a.ExportReport("", "csv", ""); !errors.Is(err, ErrForbidden) {
		t.Fatalf("a kiosk exporting: %v", err)
	}
	if _, err := a.Reprint("X", nil); !errors.Is(err, ErrForbidden) {
		t.Fatalf("a kiosk reprinting: %v", err)
	}
	a.Logout()
	if _, err := a.Login("clerk", "clerk-demo"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.QueueDiscard(1, "test", nil); !errors.Is(err, ErrForbidden) {
		t.Fatalf("a clerk discarding alone: %v", err)
	}
	if _, err := a.ExportReport("", "csv", ""); !errors.Is(err, ErrForbidden) {
		t.Fatalf("a clerk exporting: %v", err)
	}
	if _, err := a.QueueDiscard(1, "test", &Approval{Login: "clerk", Password: "clerk-demo"}); !errors.Is(err, ErrForbidden) {
		t.Fatalf("a clerk approving himself: %v", err)
	}
	// With a supervisor's approval the check passes (job 1 does not exist:
	// the discard itself then fails, which is not a permission error).
	if _, err := a.QueueDiscard(1, "test", &Approval{Login: "supervisor", Password: "supervisor-demo"}); errors.Is(err, ErrForbidden) {
		t.Fatalf("with approval: %v", err)
	}
}

// TestSupervisorExports: a supervisor sees the day's figures and exports
// them in the three formats.
func TestSupervisorExports(t *testing.T) {
	a := newApp(t, Deps{})
	a.d.Staff = staff.New(a.d.Store.DB, nil)
	if err := a.d.Staff.EnsureDemo(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Login("supervisor", "supervisor-demo"); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Format("2006-01-02T15:04:05.000Z")
	if _, err := a.d.Store.DB.Exec(`INSERT INTO procedures (kind, card_serial, terminal, started_at, finished_at, outcome, detail) VALUES ('pin_reset', 'X1', ?, ?, ?, 'ok', '{"pin":"auth"}')`, a.d.Config.Terminal, now, now); err != nil {
		t.Fatal(err)
	}
	v, err := a.DailyReport("")
	if err != nil || len(v.Procedures) != 1 || v.Procedures[0].Kind != "pin_reset" || v.PINResets["auth"] != 1 {
		t.Fatalf("dashboard: %+v %v", v, err)
	}
	for format, magic := range map[string]string{"csv": "\xef\xbb\xbf", "xlsx": "PK", "pdf": "%PDF"} {
		f, err := a.ExportReport("", format, "en")
		if err != nil {
			t.Fatalf("%s: %v", format, err)
		}
		b, _ := base64.StdEncoding.DecodeString(f.Data)
		if !strings.HasPrefix(string(b), magic) || !strings.HasSuffix(f.Filename, "."+format) {
			t.Errorf("%s: %q… %s", format, b[:min(8, len(b))], f.Filename)
		}
	}
	if _, err := a.ExportReport("2026-13-40", "csv", ""); !errors.Is(err, ErrBadDate) {
		t.Errorf("bad date: %v", err)
	}
}

// TestSupervisorSavesReport: in the window, the report is written where the
// supervisor chooses in the save dialog, in the screen's language; a
// cancelled dialog writes nothing, a failed write leaves nothing behind,
// and a clerk never sees the dialog.
func TestSupervisorSavesReport(t *testing.T) {
	dir := t.TempDir()
	var asked, titles []string
	choose := filepath.Join(dir, "chosen.csv")
	a := newApp(t, Deps{SaveDialog: func(name, title string) (string, error) {
		asked, titles = append(asked, name), append(titles, title)
		return choose, nil
	}})
	a.d.Staff = staff.New(a.d.Store.DB, nil)
	if err := a.d.Staff.EnsureDemo(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Login("clerk", "clerk-demo"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.SaveReport("", "csv", "en"); !errors.Is(err, ErrForbidden) || len(asked) != 0 {
		t.Fatalf("a clerk saving: %v, dialog asked %v", err, asked)
	}
	a.Logout()
	if _, err := a.Login("supervisor", "supervisor-demo"); err != nil {
		t.Fatal(err)
	}
	header := func(lang string) string {
		t.Helper()
		v, err := a.SaveReport("", "csv", lang)
		if err != nil || v.Path != choose || v.Cancelled {
			t.Fatalf("save (%s): %+v %v", lang, v, err)
		}
		b, err := os.ReadFile(choose)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(b), "\xef\xbb\xbf") {
			t.Fatalf("not the CSV report: %q", b[:min(16, len(b))])
		}
		first, _, _ := strings.Cut(string(b), "\n")
		return first
	}
	en, ja := header("en"), header("ja")
	if en == ja {
		t.Errorf("the report's language did not follow the screen: %q", en)
	}
	if len(asked) != 2 || !strings.HasPrefix(asked[0], "madoguchi-") || !strings.HasSuffix(asked[0], ".csv") {
		t.Errorf("suggested names: %v", asked)
	}
	if len(titles) != 2 || titles[0] != "Save the report" || titles[1] != "報告書の保存" {
		t.Errorf("dialog titles: %q", titles)
	}

	// Cancelled: nothing written.
	os.Remove(choose)
	choose = ""
	if v, err := a.SaveReport("", "pdf", "en"); err != nil || !v.Cancelled {
		t.Fatalf("cancelled: %+v %v", v, err)
	}
	// A folder that does not exist: a clear error, nothing left behind.
	choose = filepath.Join(dir, "missing", "r.csv")
	if _, err := a.SaveReport("", "csv", "en"); !errors.Is(err, ErrSaveFailed) {
		t.Fatalf("unwritable: %v", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("left behind: %v", ents)
	}
	// The browser face has no dialog.
	a.d.SaveDialog = nil
	if _, err := a.SaveReport("", "csv", "en"); !errors.Is(err, ErrNoSaveDialog) {
		t.Fatalf("no dialog: %v", err)
	}
}
