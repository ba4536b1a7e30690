package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"madoguchi/app/store"
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
	spots := spotsInChromium(t, bin, "supervisor", []chromedp.Action{
		chromedp.WaitVisible(`section.supervisor[data-screen="login"] #sup-login`),
		spotOf("login", `#sup-login`), spotOf("password", `#sup-password`),
		chromedp.SendKeys(`#sup-login`, "supervisor"),
		chromedp.SendKeys(`#sup-password`, "supervisor-demo"),
		chromedp.Click(`button[data-action="login"]`),
		chromedp.WaitVisible(`section.supervisor[data-screen="dashboard"] #report`),
		spotOf("csv", `button[data-export="csv"]`),
	})
	w := startWindow(t, bin, "supervisor")

	w.click(spots["login"])
	w.typeText("supervisor")
	w.click(spots["password"])
	w.typeText("supervisor-demo")
	w.x("key", "Return")

	// The dashboard comes up after the login; press CSV until the dialog,
	// titled in the screen's language, opens.
	const title = "報告書の保存"
	var dialog string
	waitFor(t, 20*time.Second, "the save dialog", func() bool {
		if dialog = w.x("search", "--onlyvisible", "--name", title); dialog != "" {
			return true
		}
		w.click(spots["csv"])
		time.Sleep(time.Second)
		return false
	})
	dialog = strings.Fields(dialog)[0]
	w.x("windowfocus", "--sync", dialog)
	dest := filepath.Join(t.TempDir(), "日報.csv")
	w.x("key", "ctrl+a")
	w.typeText(dest)
	w.x("key", "Return")
	waitFor(t, 20*time.Second, "the report in "+dest, func() bool {
		_, err := os.Stat(dest)
		return err == nil
	})
	w.shot("window-report-saved.png")

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

// TestWindowKioskStatusCheck: a citizen at the fullscreen kiosk window
// touches the screen, picks English, chooses the status check and places
// the demo card; the check runs through the real window (WebKitGTK) and
// is recorded in the store, and the result screen is painted.
func TestWindowKioskStatusCheck(t *testing.T) {
	bin := need(t, "Xvfb", "xdotool", "chromium", "import")
	spots := spotsInChromium(t, bin, "kiosk", []chromedp.Action{
		chromedp.WaitVisible(`#kiosk-start`), spotOf("start", `#kiosk-start`), chromedp.Click(`#kiosk-start`),
		chromedp.WaitVisible(`button[data-lang="en"]`), spotOf("english", `button[data-lang="en"]`), chromedp.Click(`button[data-lang="en"]`),
		chromedp.WaitVisible(`button[data-proc="status_check"]`), spotOf("status", `button[data-proc="status_check"]`), chromedp.Click(`button[data-proc="status_check"]`),
		chromedp.WaitVisible(`.kiosk-demo button[data-demo="issued"]`), spotOf("card", `.kiosk-demo button[data-demo="issued"]`),
	})
	w := startWindow(t, bin, "kiosk")
	db := filepath.Join(w.data, "madoguchi.db")
	checks := func() int {
		st, err := store.Open(context.Background(), db)
		if err != nil {
			return -1
		}
		defer st.Close()
		var n int
		if err := st.DB.QueryRow(`SELECT count(*) FROM procedures WHERE kind = 'status_check' AND outcome = 'ok'`).Scan(&n); err != nil {
			return -1
		}
		return n
	}
	if n := checks(); n != 0 {
		t.Fatalf("%d status checks before the citizen came", n)
	}
	for _, step := range []string{"start", "english", "status"} {
		w.click(spots[step])
		time.Sleep(700 * time.Millisecond)
	}
	waitFor(t, 20*time.Second, "the status check recorded", func() bool {
		if checks() > 0 {
			return true
		}
		w.click(spots["card"])
		time.Sleep(time.Second)
		return false
	})
	time.Sleep(time.Second)
	w.shot("window-kiosk-status.png")
}

// window is the real Wails window under a private Xvfb, driven with
// xdotool.
type window struct {
	t       *testing.T
	display string
	data    string
	out     *bytes.Buffer
}

// startWindow starts the window in a mode with a fresh data dir (the
// demo) and waits for its first paint; it is killed when the test ends.
func startWindow(t *testing.T, bin, mode string) *window {
	t.Helper()
	w := &window{t: t, display: xvfb(t), data: t.TempDir(), out: &bytes.Buffer{}}
	rep := filepath.Join(w.data, "report.json")
	cmd := exec.Command(bin, "--mode", mode, "--data", w.data, "--config", filepath.Join(w.data, "none.toml"),
		"--selftest-report", rep, "--selftest-hold", "10m")
	cmd.Env = append(os.Environ(), "DISPLAY="+w.display)
	cmd.Stdout, cmd.Stderr = w.out, w.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	waitFor(t, 60*time.Second, "the window's first paint", func() bool {
		b, err := os.ReadFile(rep)
		return err == nil && len(b) > 0
	})
	return w
}

// x runs xdotool on the window's display; "search" may find nothing.
func (w *window) x(args ...string) string {
	w.t.Helper()
	c := exec.Command("xdotool", args...)
	c.Env = append(os.Environ(), "DISPLAY="+w.display)
	b, err := c.CombinedOutput()
	if err != nil && args[0] != "search" {
		w.t.Fatalf("xdotool %v: %v %s\nwindow output:\n%s", args, err, b, w.out.String())
	}
	return strings.TrimSpace(string(b))
}

func (w *window) click(p [2]int) {
	w.t.Helper()
	w.x("mousemove", fmt.Sprint(p[0]), fmt.Sprint(p[1]), "click", "1")
	time.Sleep(300 * time.Millisecond)
}

// typeText types s; WebKitGTK drops keys typed faster than this under
// Xvfb.
func (w *window) typeText(s string) {
	w.t.Helper()
	w.x("type", "--delay", "120", s)
	time.Sleep(300 * time.Millisecond)
}

// shot saves a screenshot of the display among the artifacts.
func (w *window) shot(name string) {
	c := exec.Command("import", "-display", w.display, "-window", "root", filepath.Join(artifacts(w.t), name))
	if b, err := c.CombinedOutput(); err != nil {
		w.t.Logf("screenshot: %v %s", err, b)
	}
}

// spotsInChromium opens the same page in Chromium at the window's size
// (serve in the same mode, on its own demo data) and runs actions that
// record, with spotOf, the centres of the elements the test will click in
// the window. The window offers no DOM to a test; the layout is the same.
func spotsInChromium(t *testing.T, bin, mode string, actions []chromedp.Action) map[string][2]int {
	t.Helper()
	url := startServe(t, bin, t.TempDir(), "--mode", mode)
	ctx, cancel := chromium(t)
	defer cancel()
	spots := map[string][2]int{}
	ctx = context.WithValue(ctx, spotsKey{}, spots)
	if err := chromedp.Run(ctx, append([]chromedp.Action{chromedp.EmulateViewport(1280, 800), chromedp.Navigate(url)}, actions...)...); err != nil {
		t.Fatalf("measuring the %s screens in Chromium: %v", mode, err)
	}
	j, _ := json.Marshal(spots)
	t.Logf("spots: %s", j)
	return spots
}

type spotsKey struct{}

// spotOf records the centre of the element sel under name.
func spotOf(name, sel string) chromedp.Action {
	return chromedp.ActionFunc(func(ctx context.Context) error {
		var r []float64
		js := fmt.Sprintf(`(() => { const b = document.querySelector(%q).getBoundingClientRect(); return [b.left + b.width / 2, b.top + b.height / 2]; })()`, sel)
		if err := chromedp.Evaluate(js, &r).Do(ctx); err != nil {
			return err
		}
		ctx.Value(spotsKey{}).(map[string][2]int)[name] = [2]int{int(r[0]), int(r[1])}
		return nil
	})
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
