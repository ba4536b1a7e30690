package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestWindowSavesReport drives the real Wails window under Xvfb as a
// supervisor does with mouse and keyboard (xdotool): log in, press CSV,
// choose a file in GTK's save dialog. The window has no browser
// downloads, so the report must arrive through the dialog, in the file
// chosen, for today in Japan. Where to click is measured on the same page
// in Chromium at the window's size (the window offers no DOM to a test).
func TestWindowSavesReport(t *testing.T) {
	bin := need(t, "Xvfb", "xdotool", "chromium", "import")
	spots := supervisorSpots(t, bin)

	display := xvfb(t)
	data := t.TempDir()
	rep := filepath.Join(data, "report.json")
	cmd := exec.Command(bin, "--mode", "supervisor", "--data", data, "--config", filepath.Join(data, "none.toml"),
		"--selftest-report", rep, "--selftest-hold", "10m")
	cmd.Env = append(os.Environ(), "DISPLAY="+display)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	waitFor(t, 60*time.Second, "the window's first paint", func() bool {
		b, err := os.ReadFile(rep)
		return err == nil && len(b) > 0
	})

	x := func(args ...string) string {
		t.Helper()
		c := exec.Command("xdotool", args...)
		c.Env = append(os.Environ(), "DISPLAY="+display)
		b, err := c.CombinedOutput()
		if err != nil && args[0] != "search" {
			t.Fatalf("xdotool %v: %v %s\nwindow output:\n%s", args, err, b, out.String())
		}
		return strings.TrimSpace(string(b))
	}
	click := func(p [2]int) {
		x("mousemove", fmt.Sprint(p[0]), fmt.Sprint(p[1]), "click", "1")
		time.Sleep(300 * time.Millisecond)
	}
	// WebKitGTK drops keys typed faster than this under Xvfb.
	typeText := func(s string) { x("type", "--delay", "120", s); time.Sleep(300 * time.Millisecond) }

	click(spots["login"])
	typeText("supervisor")
	click(spots["password"])
	typeText("supervisor-demo")
	x("key", "Return")

	// The dashboard comes up after the login; press CSV until the dialog,
	// titled in the screen's language, opens.
	const title = "報告書の保存"
	var dialog string
	waitFor(t, 20*time.Second, "the save dialog", func() bool {
		if dialog = x("search", "--onlyvisible", "--name", title); dialog != "" {
			return true
		}
		click(spots["csv"])
		time.Sleep(time.Second)
		return false
	})
	dialog = strings.Fields(dialog)[0]
	x("windowfocus", "--sync", dialog)
	dest := filepath.Join(t.TempDir(), "日報.csv")
	x("key", "ctrl+a")
	typeText(dest)
	x("key", "Return")
	waitFor(t, 20*time.Second, "the report in "+dest, func() bool {
		_, err := os.Stat(dest)
		return err == nil
	})
	shot := filepath.Join(artifacts(t), "window-report-saved.png")
	c := exec.Command("import", "-display", display, "-window", "root", shot)
	if b, err := c.CombinedOutput(); err != nil {
		t.Logf("screenshot: %v %s", err, b)
	}

	b, err := os.ReadFile(dest)
	if err != nil {
		t.Fatal(err)
	}
	today := time.Now().In(time.FixedZone("JST", 9*3600)).Format("2006-01-02")
	s := string(b)
	if !strings.HasPrefix(s, "\xef\xbb\xbf") || !strings.Contains(s, "madoguchi-daily-report/1") || !strings.Contains(s, "meta,day,"+today+"\r\n") && !strings.Contains(s, "meta,day,"+today+"\n") {
		t.Fatalf("%s is not today's CSV report:\n%.300s", dest, s)
	}
	if strings.Count(s, "\n") < 5 {
		t.Fatalf("report too short:\n%s", s)
	}
}

// supervisorSpots measures, in Chromium at the window's size, the centres
// of the login and password fields and of the CSV export button.
func supervisorSpots(t *testing.T, bin string) map[string][2]int {
	t.Helper()
	url := startServe(t, bin, t.TempDir(), "--mode", "supervisor")
	ctx, cancel := chromium(t)
	defer cancel()
	spots := map[string][2]int{}
	centre := func(name, sel string) chromedp.Action {
		return chromedp.ActionFunc(func(ctx context.Context) error {
			var r []float64
			js := fmt.Sprintf(`(() => { const b = document.querySelector(%q).getBoundingClientRect(); return [b.left + b.width / 2, b.top + b.height / 2]; })()`, sel)
			if err := chromedp.Evaluate(js, &r).Do(ctx); err != nil {
				return err
			}
			spots[name] = [2]int{int(r[0]), int(r[1])}
			return nil
		})
	}
	err := chromedp.Run(ctx,
		chromedp.EmulateViewport(1280, 800),
		chromedp.Navigate(url),
		chromedp.WaitVisible(`section.supervisor[data-screen="login"] #sup-login`),
		centre("login", `#sup-login`),
		centre("password", `#sup-password`),
		chromedp.SendKeys(`#sup-login`, "supervisor"),
		chromedp.SendKeys(`#sup-password`, "supervisor-demo"),
		chromedp.Click(`button[data-action="login"]`),
		chromedp.WaitVisible(`section.supervisor[data-screen="dashboard"] #report`),
		centre("csv", `button[data-export="csv"]`),
	)
	if err != nil {
		t.Fatalf("measuring the supervisor screen in Chromium: %v", err)
	}
	j, _ := json.Marshal(spots)
	t.Logf("spots: %s", j)
	return spots
}

// waitFor polls ok until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s in vain", d, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
