// Package app is the core of Madoguchi and the facade its faces bind to:
// the Wails window and the browser (`madoguchi serve`) call the exported
// methods of App with plain structs in and out. Every exported method of
// App is part of the UI contract mirrored in frontend/src/api.ts; a test
// in app/web keeps the two equal.
//
// Nothing in this package tree imports Wails, fpdf or scard.
package app

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"madoguchi/app/audit"
	"madoguchi/app/config"
	"madoguchi/app/flow"
	"madoguchi/app/i18n"
	"madoguchi/app/queue"
	"madoguchi/app/staff"
	"madoguchi/app/store"
)

// Error is a user-facing error: a message key the frontend localizes.
// Its Error() is the key itself, so it travels unchanged through the
// Wails bridge and the HTTP face.
type Error struct{ Code i18n.Key }

func (e *Error) Error() string { return string(e.Code) }

// ErrorCode returns the message key; the HTTP face uses it.
func (e *Error) ErrorCode() string { return string(e.Code) }

// Errors every face may show.
var (
	ErrInternal = &Error{Code: i18n.Key("error.internal")}
	ErrStore    = &Error{Code: i18n.Key("error.store")}
)

// Mode is how the terminal is used.
type Mode string

// The modes a terminal runs in.
const (
	ModeChoose     Mode = ""
	ModeCounter    Mode = "counter"
	ModeKiosk      Mode = "kiosk"
	ModeSupervisor Mode = "supervisor"
)

// ParseMode accepts counter, kiosk, supervisor or the empty string.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case ModeChoose, ModeCounter, ModeKiosk, ModeSupervisor:
		return m, nil
	}
	return "", errors.New("mode must be counter, kiosk or supervisor")
}

// Deps are what App is built from; main wires them explicitly.
type Deps struct {
	Config   config.Config
	Store    *store.Store
	Messages *i18n.Bundle
	Log      *slog.Logger
	Version  string
	DataDir  string
	Mode     Mode
	// Face is "window" or "browser"; shown in diagnostics.
	Face string
	// Started is when the process started, for the first-paint figure.
	Started time.Time
	// Reader reports the card reader's state; nil means the built-in
	// virtual card (demo).
	Reader func(ctx context.Context) Component
	// Central reports the central system's state; nil means the built-in
	// simulator (demo).
	Central func(ctx context.Context) Component
	// Printer reports the receipt printer's state; nil: none configured.
	Printer func(ctx context.Context) Component
	// OnFirstPaint, if set, receives the frontend's first-paint report.
	OnFirstPaint func(PaintReport)
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Counter wires the counter procedures; nil: not available.
	Counter *CounterDeps
	// Quit closes the face (kiosk mode's supervisor exit); nil: nothing.
	Quit func()
	// FreeSpace reports the free bytes on the disk holding a path, and
	// MissingFonts the screen languages no installed font covers, for the
	// diagnostics screen. Nil: not checked.
	FreeSpace    func(path string) (uint64, error)
	MissingFonts func(ctx context.Context) ([]string, error)
	// ClockSkew is the central system's clock minus this PC's, from its
	// last answer (ok false before one). Nil: not compared.
	ClockSkew func() (skew time.Duration, ok bool)
	// SaveDialog asks where to save a file, suggesting name, under the
	// dialog's title: the chosen path, or "" when cancelled. Nil: no
	// dialog (the browser face, which downloads instead).
	SaveDialog func(name, title string) (string, error)
	// Staff holds the accounts and the terminal's staff session; Audit
	// the audit trail. Nil: not wired (some tests).
	Staff *staff.Service
	Audit *audit.Log
}

// App is the facade bound to the UI.
type App struct {
	d         Deps
	paintOnce sync.Once

	mu   sync.Mutex
	sess *counterSession // the card on the counter's reader

	kiosk kiosk
	// holder is the card's proof for the phone tap that follows (no PIN).
	holder *flow.PhoneHolder
}

// New builds the facade.
func New(d Deps) *App {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	return &App{d: d}
}

// Info is what the UI needs once at start.
type Info struct {
	Version      string          `json:"version"`
	Municipality string          `json:"municipality"`
	Counter      string          `json:"counter"`
	Terminal     string          `json:"terminal"`
	Language     string          `json:"language"` // the configured start-up language
	Languages    []i18n.Language `json:"languages"`
	Mode         Mode            `json:"mode"` // "" lets the user choose
	Demo         bool            `json:"demo"`
	Face         string          `json:"face"`
}

// Info returns the terminal's identity and start-up settings.
func (a *App) Info() Info {
	return Info{
		Version:      a.d.Version,
		Municipality: a.d.Config.Municipality,
		Counter:      a.d.Config.Counter,
		Terminal:     a.d.Config.Terminal,
		Language:     a.d.Messages.Match(a.d.Config.Language),
		Languages:    a.d.Messages.Languages(),
		Mode:         a.d.Mode,
		Demo:         a.demo(),
		Face:         a.d.Face,
	}
}

// demo reports whether the terminal runs on the built-in virtual card or
// the built-in central simulator: then the DEMO banner shows.
func (a *App) demo() bool { return a.d.Config.Card.Demo() || a.d.Config.Central.Demo() }

// Catalog returns every message of lang for the frontend, completed from
// Japanese, with today's date already formatted in that language.
func (a *App) Catalog(lang string) LocalCatalog {
	c := a.d.Messages.Catalog(lang)
	return LocalCatalog{Catalog: c, Today: a.d.Messages.FormatDate(c.Lang, a.d.Now())}
}

// LocalCatalog is a Catalog plus today's date in that language.
type LocalCatalog struct {
	i18n.Catalog
	Today string `json:"today"`
}

// Component is the state of one part the terminal depends on.
type Component struct {
	// State is "demo", "ok", "absent" or "error".
	State string `json:"state"`
	// Label is the message key that describes the state.
	Label i18n.Key `json:"label"`
	// Detail is a non-localized detail for diagnostics (a reader name).
	Detail string `json:"detail,omitempty"`
}

// Status is the terminal's state, shown on the first screen and in the
// header of every mode.
type Status struct {
	Demo    bool        `json:"demo"`
	Reader  Component   `json:"reader"`
	Central Component   `json:"central"`
	Queue   queue.Stats `json:"queue"`
	Printer Component   `json:"printer"`
	// Unprinted counts receipts stored but not printed (printer trouble);
	// the clerk reprints them.
	Unprinted int       `json:"unprinted"`
	DataDir   string    `json:"dataDir"`
	CheckedAt time.Time `json:"checkedAt"`
}

// Status reports the reader, the central system and the queue.
func (a *App) Status() (Status, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	q, err := queue.Backlog(ctx, a.d.Store.DB)
	if err != nil {
		a.d.Log.Error("status: queue backlog", "err", err)
		return Status{}, ErrStore
	}
	return Status{
		Demo:      a.demo(),
		Reader:    a.reader(ctx),
		Central:   a.central(ctx),
		Queue:     q,
		Printer:   a.printer(ctx),
		Unprinted: a.unprinted(ctx),
		DataDir:   a.d.DataDir,
		CheckedAt: a.d.Now().UTC(),
	}, nil
}

func (a *App) reader(ctx context.Context) Component {
	if a.d.Reader == nil {
		return Component{State: "demo", Label: i18n.Key("status.reader.demo")}
	}
	return a.d.Reader(ctx)
}

func (a *App) printer(ctx context.Context) Component {
	if a.d.Printer == nil {
		return Component{State: "absent", Label: i18n.Key("receipt.print.no_printer")}
	}
	return a.d.Printer(ctx)
}

// unprinted counts stored receipts that did not reach paper.
func (a *App) unprinted(ctx context.Context) int {
	var n int
	if err := a.d.Store.DB.QueryRowContext(ctx, `SELECT count(*) FROM receipts WHERE status = 'unprinted'`).Scan(&n); err != nil {
		a.d.Log.Warn("status: unprinted receipts", "err", err)
	}
	return n
}

func (a *App) central(ctx context.Context) Component {
	if a.d.Central == nil {
		return Component{State: "demo", Label: i18n.Key("status.central.demo")}
	}
	return a.d.Central(ctx)
}

// PaintReport is what the frontend says about its first paint.
type PaintReport struct {
	Screen       string `json:"screen"`       // the screen shown
	Lang         string `json:"lang"`         // its language
	BannerShown  bool   `json:"bannerShown"`  // the DEMO banner is visible
	StatusLoaded bool   `json:"statusLoaded"` // the status came from Go
	// SinceStartMs is filled in by Go: process start to this report.
	SinceStartMs int64 `json:"sinceStartMs"`
}

// FirstPaint records the frontend's first paint (once per process) and
// returns the report with the time since the process started.
func (a *App) FirstPaint(r PaintReport) PaintReport {
	r.SinceStartMs = a.d.Now().Sub(a.d.Started).Milliseconds()
	a.paintOnce.Do(func() {
		a.d.Log.Info("first paint", "face", a.d.Face, "screen", r.Screen, "ms", r.SinceStartMs)
		if a.d.OnFirstPaint != nil {
			a.d.OnFirstPaint(r)
		}
	})
	return r
}
