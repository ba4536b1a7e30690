package main

// End-to-end tests through the real faces: the built binary serving the UI
// to Debian's headless Chromium, and the real Wails window under Xvfb.
// They need `make build` (MADOGUCHI_BIN) plus chromium, Xvfb and
// ImageMagick; they skip with a message when those are absent, and fail
// instead when MADOGUCHI_E2E=require (as `make test` and .ci/run set it).

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"madoguchi/app/receipt"
	"madoguchi/app/store"
	"madoguchi/printing"
)

// need returns the path of the built binary and checks the tools, or skips.
func need(t testing.TB, tools ...string) string {
	t.Helper()
	missing := func(what string) {
		t.Helper()
		if os.Getenv("MADOGUCHI_E2E") == "require" {
			t.Fatalf("end-to-end test needs %s", what)
		}
		t.Skipf("skipping: needs %s (run `make test`)", what)
	}
	bin := os.Getenv("MADOGUCHI_BIN")
	if bin == "" {
		bin = filepath.Join("build", "bin", "madoguchi")
	}
	if _, err := os.Stat(bin); err != nil {
		missing("the built binary (make build): " + err.Error())
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			missing(tool)
		}
	}
	abs, _ := filepath.Abs(bin)
	return abs
}

// cliRun runs the binary with the data dir and config file appended to
// its arguments; stdin, when given, is readable on descriptor 3 (the
// --…-fd flags). It returns the combined output.
func cliRun(bin, data, cfg string) func(stdin string, args ...string) (string, error) {
	return func(stdin string, args ...string) (string, error) {
		cmd := exec.Command(bin, append(args, "--data", data, "--config", cfg)...)
		if stdin != "" {
			r, w, _ := os.Pipe()
			cmd.ExtraFiles = []*os.File{r}
			w.Write([]byte(stdin))
			w.Close()
			defer r.Close()
		}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
}

// artifacts is where screenshots go; CI keeps the directory.
func artifacts(t testing.TB) string {
	t.Helper()
	d := filepath.Join("build", "artifacts")
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	return d
}

// seedQueue puts jobs in a fresh data dir so the UI has Go-side figures to
// show that no default could produce.
func seedQueue(t testing.TB, dataDir string, pending, dead int) {
	t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(dataDir, "madoguchi.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for i := 0; i < pending+dead; i++ {
		state := "pending"
		if i >= pending {
			state = "dead"
		}
		// Not due for a long time: the terminal's own worker leaves them be.
		if _, err := st.DB.Exec(`INSERT INTO outbox (idempotency_key, kind, payload, state, next_attempt_at) VALUES (?, 'test', x'00', ?, '2999-01-01T00:00:00.000000Z')`, fmt.Sprint("k", i), state); err != nil {
			t.Fatal(err)
		}
	}
}

// startServe runs `madoguchi serve` on a free loopback port and returns its URL.
func startServe(t testing.TB, bin, dataDir string, extra ...string) string {
	t.Helper()
	args := append([]string{"serve", "--addr", "127.0.0.1:0", "--data", dataDir, "--config", filepath.Join(dataDir, "none.toml")}, extra...)
	cmd := exec.Command(bin, args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("serve said nothing: %v", err)
	}
	i := strings.Index(line, "http://")
	if i < 0 {
		t.Fatalf("serve: %q", line)
	}
	return strings.Fields(line[i:])[0]
}

func chromium(t testing.TB) (context.Context, context.CancelFunc) {
	t.Helper()
	// Not t.TempDir: Chromium's helpers may still write to the profile for
	// a moment after the browser is gone, which fails TempDir's cleanup.
	profile, err := os.MkdirTemp("", "madoguchi-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath("/usr/bin/chromium"),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("lang", "ja"),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1280, 800),
	)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	ctx, cancelT := context.WithTimeout(ctx, 90*time.Second)
	return ctx, func() {
		cancelT()
		cancelC()
		cancelA()
		for i := 0; i < 20 && os.RemoveAll(profile) != nil; i++ {
			time.Sleep(100 * time.Millisecond)
		}
	}
}

func TestServeInChromium(t *testing.T) {
	bin := need(t, "chromium")
	dataDir := t.TempDir()
	seedQueue(t, dataDir, 3, 1)
	url := startServe(t, bin, dataDir)
	ctx, cancel := chromium(t)
	defer cancel()

	var title, queue, banner, today string
	var shotJA, shotEN []byte
	err := chromedp.Run(ctx,
		chromedp.Navigate(url),
		chromedp.WaitVisible(`#status-queue`),
		chromedp.Text(`h1`, &title),
		chromedp.Text(`#status-queue`, &queue),
		chromedp.Text(`#demo-banner`, &banner),
		chromedp.Text(`#today`, &today),
		chromedp.FullScreenshot(&shotJA, 90),
	)
	if err != nil {
		t.Fatal(err)
	}
	if title != "窓口" || queue != "3件 · 要確認 1件" || !strings.Contains(banner, "デモ") || !strings.Contains(today, "令和") {
		t.Fatalf("ja screen: title %q queue %q banner %q today %q", title, queue, banner, today)
	}

	// Switch to English at run time: no reload, figures still from Go.
	var htmlLang string
	err = chromedp.Run(ctx,
		chromedp.Click(`button[data-lang="en"]`),
		chromedp.WaitVisible(`//h1[text()="Madoguchi"]`),
		chromedp.Text(`#status-queue`, &queue),
		chromedp.Text(`#demo-banner`, &banner),
		chromedp.Text(`#today`, &today),
		chromedp.AttributeValue(`html`, "lang", &htmlLang, nil),
		chromedp.FullScreenshot(&shotEN, 90),
	)
	if err != nil {
		t.Fatal(err)
	}
	if queue != "3 jobs · 1 needs attention" || !strings.HasPrefix(banner, "DEMO") || !strings.Contains(today, "Reiwa") || htmlLang != "en" {
		t.Fatalf("en screen: queue %q banner %q today %q lang %q", queue, banner, today, htmlLang)
	}

	// Choose the counter mode and come back.
	var modeTitle string
	err = chromedp.Run(ctx,
		chromedp.Click(`button[data-mode="counter"]`),
		chromedp.Text(`#mode-title`, &modeTitle),
		chromedp.Click(`button.back`),
		chromedp.WaitVisible(`button[data-mode="kiosk"]`),
	)
	if err != nil || modeTitle != "Counter" {
		t.Fatalf("mode screen: %q, %v", modeTitle, err)
	}
	os.WriteFile(filepath.Join(artifacts(t), "serve-ja.jpg"), shotJA, 0o644)
	os.WriteFile(filepath.Join(artifacts(t), "serve-en.jpg"), shotEN, 0o644)
}

// xvfb starts a private X server and returns its DISPLAY.
func xvfb(t testing.TB) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("Xvfb", "-displayfd", "3", "-screen", "0", "1280x800x24", "-nolisten", "tcp")
	cmd.ExtraFiles = []*os.File{w}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil {
		t.Fatalf("Xvfb gave no display: %v", err)
	}
	return ":" + strings.TrimSpace(line)
}

type windowRun struct {
	report struct {
		Screen       string `json:"screen"`
		Lang         string `json:"lang"`
		BannerShown  bool   `json:"bannerShown"`
		StatusLoaded bool   `json:"statusLoaded"`
		SinceStartMs int64  `json:"sinceStartMs"`
		PID          int    `json:"pid"`
	}
	pssKiB int64
}

// runWindow starts the real window, waits for its first-paint report,
// measures memory and calls during(), then waits for it to close.
func runWindow(t testing.TB, bin, display, dataDir string, during func()) windowRun {
	t.Helper()
	rep := filepath.Join(dataDir, "report.json")
	cmd := exec.Command(bin, "--data", dataDir, "--config", filepath.Join(dataDir, "none.toml"),
		"--selftest-report", rep, "--selftest-hold", "2s")
	cmd.Env = append(os.Environ(), "DISPLAY="+display)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var r windowRun
	deadline := time.Now().Add(60 * time.Second)
	for {
		if data, err := os.ReadFile(rep); err == nil && len(data) > 0 {
			if err := json.Unmarshal(data, &r.report); err != nil {
				t.Fatalf("report: %v", err)
			}
			break
		}
		select {
		case err := <-done:
			t.Fatalf("window exited before painting: %v\n%s", err, out.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("no first paint in 60 s\n%s", out.String())
		}
	}
	r.pssKiB = treePSS(cmd.Process.Pid)
	if during != nil {
		during()
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("window exit: %v\n%s", err, out.String())
		}
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatal("window did not close")
	}
	return r
}

// treePSS sums the proportional set size of pid and its descendants (the
// WebKit web and network processes), in KiB.
func treePSS(pid int) int64 {
	children := map[int][]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// Fields after the parenthesised command: state ppid ...
		s := string(stat)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) > 1 {
			pp, _ := strconv.Atoi(f[1])
			children[pp] = append(children[pp], p)
		}
	}
	var total int64
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = append(queue[1:], children[p]...)
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", p))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "Pss:" {
				v, _ := strconv.ParseInt(f[1], 10, 64)
				total += v
			}
		}
	}
	return total
}

func TestWindowSmoke(t *testing.T) {
	bin := need(t, "Xvfb", "import")
	display := xvfb(t)
	dataDir := t.TempDir()
	seedQueue(t, dataDir, 2, 0)
	shot := filepath.Join(artifacts(t), "window.png")
	os.Remove(shot)
	r := runWindow(t, bin, display, dataDir, func() {
		if out, err := exec.Command("import", "-display", display, "-window", "root", shot).CombinedOutput(); err != nil {
			t.Errorf("screenshot: %v %s", err, out)
		}
	})
	if r.report.Screen != "modes" || !r.report.BannerShown || !r.report.StatusLoaded || r.report.Lang != "ja" {
		t.Fatalf("first paint report: %+v", r.report)
	}
	// The screenshot shows the painted window: the DEMO banner's yellow
	// (#ffd60a) covers a band across the top.
	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if n := countColor(img, 0xff, 0xd6, 0x0a); n < 5000 {
		t.Fatalf("only %d banner-yellow pixels in %s: the window did not paint its DEMO banner", n, shot)
	}
	t.Logf("first paint %d ms after start, PSS %d MiB", r.report.SinceStartMs, r.pssKiB/1024)
}

func countColor(img image.Image, r, g, b uint8) int {
	n := 0
	bd := img.Bounds()
	for y := bd.Min.Y; y < bd.Max.Y; y++ {
		for x := bd.Min.X; x < bd.Max.X; x++ {
			cr, cg, cb, _ := img.At(x, y).RGBA()
			if uint8(cr>>8) == r && uint8(cg>>8) == g && uint8(cb>>8) == b {
				n++
			}
		}
	}
	return n
}

// BenchmarkWindowColdStart measures process start to first paint of the
// real window under Xvfb, and the memory (PSS) of the app and its WebKit
// processes at that moment.
func BenchmarkWindowColdStart(b *testing.B) {
	bin := need(b, "Xvfb")
	display := xvfb(b)
	var ms, pss int64
	for i := 0; i < b.N; i++ {
		r := runWindow(b, bin, display, b.TempDir(), nil)
		ms += r.report.SinceStartMs
		pss += r.pssKiB
	}
	b.ReportMetric(float64(ms)/float64(b.N), "ms-to-first-paint")
	b.ReportMetric(float64(pss)/float64(b.N)/1024, "MiB-PSS")
	b.ReportMetric(0, "ns/op")
}

// TestServeShowsOffline configures a central system that cannot be
// reached: the status panel says so, and the backlog stays visible.
func TestServeShowsOffline(t *testing.T) {
	bin := need(t, "chromium")
	data := t.TempDir()
	seedQueue(t, data, 2, 0)
	cfg := filepath.Join(data, "offline.toml")
	os.WriteFile(cfg, []byte("language = \"en\"\n"+unreachableCentral(t, bin, data)), 0o600)
	url := startServe(t, bin, data, "--config", cfg)
	ctx, cancel := chromium(t)
	defer cancel()
	var central, queue, cls string
	err := chromedp.Run(ctx,
		chromedp.Navigate(url),
		chromedp.WaitVisible(`#status-central.state-error`),
		chromedp.Text(`#status-central`, &central),
		chromedp.Text(`#status-queue`, &queue),
		chromedp.AttributeValue(`#status-central`, "class", &cls, nil),
	)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(central, "Unreachable") || queue != "2 jobs" {
		t.Fatalf("offline panel: central %q queue %q", central, queue)
	}
	var shot []byte
	chromedp.Run(ctx, chromedp.FullScreenshot(&shot, 90))
	os.WriteFile(filepath.Join(artifacts(t), "serve-offline.jpg"), shot, 0o644)
}

// unreachableCentral is a [central] section with real terminal
// credentials (from a fresh simulator in data) for an endpoint nobody
// answers.
func unreachableCentral(t *testing.T, bin, data string) string {
	t.Helper()
	out, err := exec.Command(bin, "jlis-sim", "init", "--data", filepath.Join(data, "sim"), "--json").Output()
	if err != nil {
		t.Fatal(err)
	}
	var p struct{ RootCA, TerminalCert, TerminalKey string }
	if err := json.Unmarshal(out, &p); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("[central]\nendpoint = \"https://127.0.0.1:9\"\ncert = %q\nkey = %q\nca = %q\n", p.TerminalCert, p.TerminalKey, p.RootCA)
}

// TestServeShowsPrinterTrouble: a receipt printer CUPS cannot reach, and a
// receipt stored unprinted: the status panel says both.
func TestServeShowsPrinterTrouble(t *testing.T) {
	bin := need(t, "chromium")
	data := t.TempDir()
	cfg := filepath.Join(data, "printer.toml")
	os.WriteFile(cfg, []byte("language = \"en\"\n[printer]\nqueue = \"Receipt\"\nuri = \"http://127.0.0.1:9\"\n"), 0o600)
	// A receipt issued while the printer was down.
	st, err := store.Open(context.Background(), filepath.Join(data, "madoguchi.db"))
	if err != nil {
		t.Fatal(err)
	}
	keys, err := receipt.LoadKeys(filepath.Join(data, "receipt-keys.json"), "DEMO-01")
	if err != nil {
		t.Fatal(err)
	}
	origin := receipt.Origin{Municipality: "デモ市", Counter: "窓口1", Terminal: "DEMO-01"}
	svc, err := receipt.New(receipt.Config{DB: st.DB, Keys: keys, Origin: origin})
	if err != nil {
		t.Fatal(err)
	}
	sample := printing.Sample(receipt.PINReset, "en", origin, time.Now())
	if _, err := svc.Issue(context.Background(), receipt.Data{Procedure: receipt.PINReset, Lang: "en", Details: sample.Details}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	url := startServe(t, bin, data, "--config", cfg)
	ctx, cancel := chromium(t)
	defer cancel()
	var printer string
	err = chromedp.Run(ctx,
		chromedp.Navigate(url),
		chromedp.WaitVisible(`#status-printer.state-error`),
		chromedp.Text(`#status-printer`, &printer),
	)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(printer, "1 receipt not printed") || !strings.Contains(strings.ToLower(printer), "print") {
		t.Fatalf("printer status: %q", printer)
	}
	t.Logf("printer status: %s", printer)
}
