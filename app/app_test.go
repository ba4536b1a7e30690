package app

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"madoguchi/app/config"
	"madoguchi/app/i18n"
	"madoguchi/app/store"
	"madoguchi/locales"
)

func newApp(t *testing.T, d Deps) *App {
	t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	b, err := i18n.Load(locales.FS, "ja")
	if err != nil {
		t.Fatal(err)
	}
	d.Store, d.Messages = st, b
	if d.Config.Terminal == "" {
		d.Config = config.Default()
	}
	return New(d)
}

func TestStatusCountsTheQueue(t *testing.T) {
	a := newApp(t, Deps{DataDir: "/data"})
	for i, state := range []string{"pending", "dead"} {
		if _, err := a.d.Store.DB.Exec(`INSERT INTO outbox (idempotency_key, kind, payload, state) VALUES (?, 'x', x'00', ?)`, string(rune('a'+i)), state); err != nil {
			t.Fatal(err)
		}
	}
	s, err := a.Status()
	if err != nil {
		t.Fatal(err)
	}
	if s.Queue.Pending != 1 || s.Queue.Dead != 1 || !s.Demo || s.Reader.State != "demo" || s.DataDir != "/data" {
		t.Fatalf("status = %+v", s)
	}
}

func TestStatusStoreFailureIsAUserError(t *testing.T) {
	a := newApp(t, Deps{})
	a.d.Store.DB.Close()
	_, err := a.Status()
	var ue *Error
	if !errors.As(err, &ue) || ue.Code != "error.store" {
		t.Fatalf("err = %v, want error.store", err)
	}
}

func TestCatalogAndInfo(t *testing.T) {
	day := time.Date(2019, 5, 1, 3, 0, 0, 0, time.UTC)
	cfg := config.Default()
	cfg.Language = "en-US"
	a := newApp(t, Deps{Config: cfg, Now: func() time.Time { return day }, Mode: ModeKiosk, Version: "v1"})
	if c := a.Catalog("ja"); c.Today != "令和元年5月1日 (2019-05-01)" || c.Messages["app.title"] != "窓口" {
		t.Fatalf("ja catalog today=%q title=%q", c.Today, c.Messages["app.title"])
	}
	if c := a.Catalog("en"); c.Today != "May 1, Reiwa 1 (2019-05-01)" {
		t.Fatalf("en today = %q", c.Today)
	}
	i := a.Info()
	if i.Language != "en" || i.Mode != ModeKiosk || i.Version != "v1" || len(i.Languages) < 2 || i.Languages[0].Tag != "ja" {
		t.Fatalf("info = %+v", i)
	}
}

func TestFirstPaintOnce(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := start.Add(1500 * time.Millisecond)
	var got []PaintReport
	a := newApp(t, Deps{Started: start, Now: func() time.Time { return now }, OnFirstPaint: func(r PaintReport) { got = append(got, r) }})
	r := a.FirstPaint(PaintReport{Screen: "modes", BannerShown: true})
	a.FirstPaint(PaintReport{Screen: "again"})
	if r.SinceStartMs != 1500 || len(got) != 1 || got[0].Screen != "modes" {
		t.Fatalf("report %+v, hook calls %+v", r, got)
	}
}

func TestParseMode(t *testing.T) {
	for _, ok := range []string{"", "counter", "kiosk", "supervisor"} {
		if _, err := ParseMode(ok); err != nil {
			t.Errorf("ParseMode(%q) = %v", ok, err)
		}
	}
	if _, err := ParseMode("admin"); err == nil {
		t.Error("ParseMode(admin) accepted")
	}
}
