package app

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"madoguchi/app/i18n"
)

// TestDiagnostics: each part's trouble shows with its catalogue code and
// fix; a healthy terminal shows no code at all.
func TestDiagnostics(t *testing.T) {
	healthy := newApp(t, Deps{
		ClockSkew:    func() (time.Duration, bool) { return -time.Second, true },
		FreeSpace:    func(string) (uint64, error) { return 50 << 30, nil },
		MissingFonts: func(context.Context) ([]string, error) { return nil, nil },
	})
	v, err := healthy.Diagnostics()
	if err != nil {
		t.Fatal(err)
	}
	parts := map[string]Check{}
	for _, c := range v.Checks {
		parts[c.Part] = c
		if c.Part != "printer" && (c.Code != "" || c.State != "ok" && c.State != "demo") {
			t.Errorf("healthy terminal: %+v", c)
		}
	}
	for _, p := range []string{"reader", "central", "clock", "printer", "queue", "store", "disk", "fonts"} {
		if _, ok := parts[p]; !ok {
			t.Errorf("no %s check in %+v", p, v.Checks)
		}
	}
	if parts["disk"].Data["Free"] != "53.7 GB" {
		t.Errorf("disk: %+v", parts["disk"])
	}
	// No printer configured: saved, not printed — a warning with its code.
	if p := parts["printer"]; p.State != "warn" || p.Code != "MDG-301" {
		t.Errorf("printer: %+v", p)
	}

	broken := newApp(t, Deps{
		Reader:  func(context.Context) Component { return Component{State: "error", Label: "status.reader.no_service"} },
		Central: func(context.Context) Component { return Component{State: "error", Label: "status.central.unreachable"} },
		Printer: func(context.Context) Component {
			return Component{State: "error", Label: "receipt.print.no_paper", Detail: "Receipts"}
		},
		FreeSpace:    func(string) (uint64, error) { return 200 << 20, nil },
		MissingFonts: func(context.Context) ([]string, error) { return []string{"th", "ne"}, nil },
		ClockSkew:    func() (time.Duration, bool) { return -7*time.Minute - 10*time.Second, true },
	})
	if _, err := broken.d.Store.DB.Exec(`INSERT INTO outbox (idempotency_key, kind, payload, state) VALUES ('k', 'x', x'00', 'dead')`); err != nil {
		t.Fatal(err)
	}
	v, err = broken.Diagnostics()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"reader": "MDG-101", "central": "MDG-201", "clock": "MDG-205", "printer": "MDG-304", "queue": "MDG-401", "disk": "MDG-403", "fonts": "MDG-501"}
	for _, c := range v.Checks {
		if w, ok := want[c.Part]; ok && (c.Code != w || c.Fix == "" || c.State == "ok") {
			t.Errorf("%s: %+v, want code %s", c.Part, c, w)
		}
		delete(want, c.Part)
	}
	if len(want) != 0 {
		t.Errorf("missing checks: %v", want)
	}

	for _, c := range v.Checks {
		if c.Part == "clock" && c.Data["Minutes"] != 7 {
			t.Errorf("clock: %+v, want 7 minutes off", c)
		}
	}
	if c := clockCheck(0, false); c.State != "ok" || c.Label != "diag.clock.unknown" {
		t.Errorf("before the central system answered: %+v", c)
	}

	// A failing free-space probe is reported, not hidden.
	broken.d.FreeSpace = func(string) (uint64, error) { return 0, errors.New("statfs: no such file") }
	v, _ = broken.Diagnostics()
	for _, c := range v.Checks {
		if c.Part == "disk" && (c.Code != "MDG-403" || !strings.Contains(c.Detail, "statfs")) {
			t.Errorf("disk probe failure: %+v", c)
		}
	}
}

// TestErrorCodesCatalogue: codes are unique and well formed, every label
// and fix exists in every language, and docs/ERROR-CODES.md lists every
// code with its English fix — the document is generated from this table
// (go run ./app/cmd/errorcodes > docs/ERROR-CODES.md).
func TestErrorCodesCatalogue(t *testing.T) {
	b, err := i18n.Load(os.DirFS("../locales"), "ja")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, e := range ErrorCodes {
		if !regexp.MustCompile(`^MDG-[1-9][0-9]{2}$`).MatchString(e.Code) || seen[e.Code] {
			t.Errorf("code %q malformed or reused", e.Code)
		}
		seen[e.Code] = true
		if e.Severity != "warn" && e.Severity != "fail" {
			t.Errorf("%s: severity %q", e.Code, e.Severity)
		}
		for _, l := range b.Languages() {
			ids := map[string]bool{}
			for _, id := range b.IDs(l.Tag) {
				ids[id] = true
			}
			if !ids[string(e.Label)] || !ids[string(e.Fix)] {
				t.Errorf("%s: %s or %s missing in %s", e.Code, e.Label, e.Fix, l.Tag)
			}
		}
	}
	doc, err := os.ReadFile(filepath.Join("..", "docs", "ERROR-CODES.md"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(doc), ErrorCodesMarkdown(b); got != want {
		t.Errorf("docs/ERROR-CODES.md is stale: regenerate it with `go run ./app/cmd/errorcodes > docs/ERROR-CODES.md`")
	}
}
