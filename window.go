package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/wailsapp/wails/v2"
	"github.com/wailsapp/wails/v2/pkg/options"
	"github.com/wailsapp/wails/v2/pkg/options/assetserver"
	"github.com/wailsapp/wails/v2/pkg/options/linux"
	"github.com/wailsapp/wails/v2/pkg/runtime"

	"madoguchi/app"
	"madoguchi/frontend"
)

// selftestReport is what --selftest-report writes once the window has
// painted: the frontend's report plus the process id, so a harness can
// take a screenshot and measure memory before the window closes.
type selftestReport struct {
	app.PaintReport
	PID int `json:"pid"`
}

func cmdWindow(ctx context.Context, args []string, stderr io.Writer) error {
	fs := newFlags("madoguchi", stderr)
	var c common
	c.register(fs)
	report := fs.String("selftest-report", "", "write a JSON report to FILE after the first paint (for tests and benchmarks)")
	hold := fs.Duration("selftest-hold", 0, "with --selftest-report: close the window this long after the first paint")
	if err := parse(fs, args); err != nil {
		return err
	}
	if os.Getenv("DISPLAY") == "" && os.Getenv("WAYLAND_DISPLAY") == "" {
		return errors.New("no display: run the window in a desktop session, or use `madoguchi serve` and a browser")
	}
	e, err := setup(ctx, c, nil)
	if err != nil {
		return err
	}
	defer e.Close()

	var wctx context.Context
	ready := make(chan struct{})
	onPaint := func(r app.PaintReport) {
		if *report == "" {
			return
		}
		data, _ := json.Marshal(selftestReport{PaintReport: r, PID: os.Getpid()})
		if err := os.WriteFile(*report, data, 0o600); err != nil {
			e.log.Error("selftest report", "err", err)
		}
		go func() {
			<-ready
			time.Sleep(*hold)
			runtime.Quit(wctx)
		}()
	}
	// Kiosk mode: fullscreen, no window chrome, and no way out but the
	// supervisor's code (app.KioskExit), which lets the close through.
	kiosk := e.mode == app.ModeKiosk
	var mayClose atomic.Bool
	a := e.app("window", faceHooks{
		onPaint: onPaint,
		quit: func() {
			mayClose.Store(true)
			<-ready
			runtime.Quit(wctx)
		},
		saveDialog: func(name, title string) (string, error) {
			<-ready
			return runtime.SaveFileDialog(wctx, saveDialogOptions(name, title))
		},
	})

	title := "窓口 Madoguchi"
	if a.Info().Demo {
		title += " — DEMO"
	}
	err = wails.Run(&options.App{
		Title:       title,
		Width:       1280,
		Height:      800,
		MinWidth:    800,
		MinHeight:   600,
		AssetServer: &assetserver.Options{Assets: frontend.Dist()},
		OnStartup: func(ctx context.Context) {
			wctx = ctx
			close(ready)
		},
		Bind:          []any{a},
		Fullscreen:    kiosk,
		Frameless:     kiosk,
		DisableResize: kiosk,
		AlwaysOnTop:   kiosk,
		OnBeforeClose: func(context.Context) (prevent bool) {
			return kiosk && !mayClose.Load()
		},
		Linux: &linux.Options{
			ProgramName: "madoguchi",
			// Counter PCs often lack a usable GPU; software rendering is
			// reliable everywhere and fast enough for these screens.
			WebviewGpuPolicy: linux.WebviewGpuPolicyNever,
		},
	})
	if err != nil {
		return fmt.Errorf("window: %w", err)
	}
	return nil
}

// saveDialogOptions suggests name in the user's Downloads folder (else
// home) and filters on its extension; GTK labels the dialog's buttons in
// the desktop's language.
func saveDialogOptions(name, title string) runtime.SaveDialogOptions {
	o := runtime.SaveDialogOptions{Title: title, DefaultFilename: name, CanCreateDirectories: true}
	if dir := downloadsDir(); dir != "" {
		o.DefaultDirectory = dir
	}
	if ext := filepath.Ext(name); ext != "" {
		o.Filters = []runtime.FileFilter{{DisplayName: strings.ToUpper(ext[1:]) + " (*" + ext + ")", Pattern: "*" + ext}}
	}
	return o
}

// downloadsDir is the XDG download directory from user-dirs.dirs, else
// ~/Downloads if it exists, else home.
func downloadsDir() string {
	home, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	if cfg, err := os.UserConfigDir(); err == nil {
		data, _ := os.ReadFile(filepath.Join(cfg, "user-dirs.dirs"))
		for _, line := range strings.Split(string(data), "\n") {
			v, ok := strings.CutPrefix(strings.TrimSpace(line), "XDG_DOWNLOAD_DIR=")
			if !ok {
				continue
			}
			v = strings.Trim(v, `"`)
			v = strings.Replace(v, "$HOME", home, 1)
			if st, err := os.Stat(v); err == nil && st.IsDir() {
				return v
			}
		}
	}
	if st, err := os.Stat(filepath.Join(home, "Downloads")); err == nil && st.IsDir() {
		return filepath.Join(home, "Downloads")
	}
	return home
}
