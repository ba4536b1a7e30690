package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestDiagnosticsScreen: a terminal whose central system and printer
// cannot be reached and whose queue holds a dead letter. The status panel's
// Diagnostics button opens the checks: each trouble with its code from
// docs/ERROR-CODES.md and what to do, the healthy parts OK, problems first;
// and the dialog passes axe.
func TestDiagnosticsScreen(t *testing.T) {
	bin := need(t, "chromium")
	axe := kioskAxe(t)
	data := t.TempDir()
	seedQueue(t, data, 1, 1)
	cfg := filepath.Join(data, "trouble.toml")
	os.WriteFile(cfg, []byte("language = \"en\"\n"+unreachableCentral(t, bin, data)+"[printer]\nqueue = \"Receipt\"\nuri = \"http://127.0.0.1:9\"\n"), 0o600)
	url := startServe(t, bin, data, "--config", cfg)
	ctx, cancel := chromium(t)
	defer cancel()
	r := &counterRun{t: t, ctx: ctx, tx: counterText{lang: "en"}, shots: counterShots(t), name: "diagnostics"}
	r.run("open", chromedp.Navigate(url), chromedp.WaitVisible(`#status-central.state-error`), chromedp.WaitVisible(`#status-printer.state-error`))
	r.run("diagnostics", chromedp.Click(`#diag-open`), chromedp.WaitVisible(`#diag-dialog #diag-checks`))
	var checks []struct{ Part, State, Code, Found, Fix string }
	r.eval(`[...document.querySelectorAll('#diag-checks li')].map(li => ({Part: li.dataset.part, State: li.dataset.state, Code: li.dataset.code,
		Found: li.querySelector('.diag-found').textContent, Fix: li.querySelector('.diag-fix')?.textContent ?? ''}))`, &checks)
	want := map[string]struct{ state, code, fix string }{
		"central": {"fail", "MDG-201", "network cable"},
		"printer": {"fail", "MDG-302", "sudo systemctl start cups"},
		"queue":   {"fail", "MDG-401", "Queue screen"},
		"reader":  {"demo", "", ""},
		"clock":   {"ok", "", ""}, // not compared: the central system never answered
		"store":   {"ok", "", ""},
		"disk":    {"ok", "", ""},
		"fonts":   {"ok", "", ""},
	}
	order := ""
	for _, c := range checks {
		w, ok := want[c.Part]
		if !ok {
			t.Errorf("unexpected check %+v", c)
			continue
		}
		if c.State != w.state || c.Code != w.code || !strings.Contains(c.Fix, w.fix) {
			t.Errorf("%s: %+v, want state %s code %q fix with %q", c.Part, c, w.state, w.code, w.fix)
		}
		if strings.Contains(c.Found, "diag.") || strings.Contains(c.Found, "{{") {
			t.Errorf("%s: untranslated %q", c.Part, c.Found)
		}
		delete(want, c.Part)
		order += c.State[:1]
	}
	if len(want) != 0 {
		t.Errorf("checks missing: %v", want)
	}
	if !strings.HasPrefix(order, "fff") {
		t.Errorf("problems not first: %s", order)
	}
	r.shot("dialog")
	r.axeCheck(axe, "diagnostics")
	r.run("close", chromedp.Click(`button[data-action="diag-close"]`), chromedp.WaitNotPresent(`#diag-dialog`))
	var focused string
	r.eval(`document.activeElement && document.activeElement.id`, &focused)
	if focused != "diag-open" {
		t.Errorf("focus after closing went to %q, want the Diagnostics button", focused)
	}
}
