package app

import (
	"bytes"
	"context"
	"encoding/base64"
	"path/filepath"
	"sort"
	"time"

	"madoguchi/app/atomicfile"
	"madoguchi/app/i18n"
	"madoguchi/app/report"
	"madoguchi/app/staff"
)

// ReportView is the supervisor's dashboard: one day's figures of this
// terminal's store.
type ReportView struct {
	Date       string           `json:"date"` // YYYY-MM-DD
	Terminal   string           `json:"terminal"`
	Procedures []ProcedureCount `json:"procedures"`
	Handling   []HandlingTime   `json:"handling"`
	Kiosk      []FunnelView     `json:"kiosk"`
	PINResets  map[string]int   `json:"pinResets"`
	Queue      QueueFigures     `json:"queue"`
	Reprints   int              `json:"reprints"`
	NearExpiry map[string]int   `json:"nearExpiry"`
}

// ProcedureCount is a count per procedure and outcome.
type ProcedureCount struct {
	Kind    string `json:"kind"`
	Outcome string `json:"outcome"`
	Count   int    `json:"count"`
}

// HandlingTime is a procedure's median and p90 handling time.
type HandlingTime struct {
	Kind      string  `json:"kind"`
	Count     int     `json:"count"`
	MedianSec float64 `json:"medianSec"`
	P90Sec    float64 `json:"p90Sec"`
}

// FunnelView is the kiosk's funnel of one procedure.
type FunnelView struct {
	Procedure string         `json:"procedure"`
	Started   int            `json:"started"`
	Completed int            `json:"completed"`
	Failed    int            `json:"failed"`
	Dropped   int            `json:"dropped"`
	DroppedAt map[string]int `json:"droppedAt"`
}

// QueueFigures is the queue now.
type QueueFigures struct {
	Backlog int `json:"backlog"`
	Dead    int `json:"dead"`
}

// ExportView is a report file for the browser to save.
type ExportView struct {
	Filename string `json:"filename"`
	Mime     string `json:"mime"`
	Data     string `json:"data"` // base64
}

// ErrBadDate: the date is not YYYY-MM-DD.
var ErrBadDate = &Error{Code: i18n.Key("supervisor.error.date")}

func (a *App) reportOf(date string) (report.Report, error) {
	day := a.d.Now()
	if date != "" {
		d, err := time.ParseInLocation("2006-01-02", date, i18n.Japan)
		if err != nil {
			return report.Report{}, ErrBadDate
		}
		day = d
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r, err := report.Build(ctx, a.d.Store.DB, day, report.Options{Store: a.d.Config.Terminal, Now: a.d.Now()})
	if err != nil {
		a.d.Log.Error("report", "err", err)
		return report.Report{}, ErrStore
	}
	return r, nil
}

// DailyReport returns a day's figures for the dashboard (supervisors).
func (a *App) DailyReport(date string) (ReportView, error) {
	if _, err := a.authorize(staff.ActExport, nil); err != nil {
		return ReportView{}, err
	}
	r, err := a.reportOf(date)
	if err != nil {
		return ReportView{}, err
	}
	t := r.Total
	v := ReportView{Date: r.Day.Format("2006-01-02"), Terminal: a.d.Config.Terminal, Procedures: []ProcedureCount{}, Handling: []HandlingTime{},
		Kiosk: []FunnelView{}, PINResets: map[string]int{}, NearExpiry: map[string]int{}, Reprints: t.Reprinted}
	kinds := make([]string, 0, len(t.Procedures))
	for k := range t.Procedures {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		p := t.Procedures[k]
		outs := make([]string, 0, len(p.Outcomes))
		for o := range p.Outcomes {
			outs = append(outs, o)
		}
		sort.Strings(outs)
		for _, o := range outs {
			v.Procedures = append(v.Procedures, ProcedureCount{Kind: k, Outcome: o, Count: p.Outcomes[o]})
		}
		v.Handling = append(v.Handling, HandlingTime{Kind: k, Count: p.Count, MedianSec: p.Median.Seconds(), P90Sec: p.P90.Seconds()})
		for pin, n := range p.PINs {
			v.PINResets[pin] += n
		}
		for what, n := range p.NearExpiry {
			v.NearExpiry[what] += n
		}
	}
	procs := make([]string, 0, len(t.Kiosk))
	for k := range t.Kiosk {
		procs = append(procs, k)
	}
	sort.Strings(procs)
	for _, k := range procs {
		f := t.Kiosk[k]
		v.Kiosk = append(v.Kiosk, FunnelView{Procedure: k, Started: f.Started, Completed: f.Completed, Failed: f.Failed, Dropped: f.Dropped, DroppedAt: f.DroppedAt})
	}
	q := r.QueueTotal()
	v.Queue = QueueFigures{Backlog: q.Backlog(), Dead: q.Dead}
	return v, nil
}

// ExportReport renders a day's report as csv, xlsx or pdf in lang (the
// supervisor's screen language; "" the terminal's) for the browser to
// save as a download (supervisors; a kiosk may not export).
func (a *App) ExportReport(date, format, lang string) (ExportView, error) {
	f, err := a.renderReport(date, format, lang)
	if err != nil {
		return ExportView{}, err
	}
	a.audit("report.export", f.day, map[string]any{"format": format, "by": f.actor})
	return ExportView{Filename: f.name, Mime: f.mime, Data: base64.StdEncoding.EncodeToString(f.data)}, nil
}

// SavedView is where SaveReport wrote the report; Cancelled when the
// supervisor closed the dialog without choosing a file.
type SavedView struct {
	Path      string `json:"path"`
	Cancelled bool   `json:"cancelled"`
}

// ErrNoSaveDialog: this face has no save dialog (a browser downloads the
// file instead, through ExportReport).
var ErrNoSaveDialog = &Error{Code: i18n.Key("supervisor.error.nosave")}

// ErrSaveFailed: the file could not be written where the supervisor chose.
var ErrSaveFailed = &Error{Code: i18n.Key("supervisor.error.save")}

// SaveReport renders a day's report like ExportReport and writes it where
// the supervisor chooses in the window's save dialog (the desktop window
// has no browser downloads).
func (a *App) SaveReport(date, format, lang string) (SavedView, error) {
	f, err := a.renderReport(date, format, lang)
	if err != nil {
		return SavedView{}, err
	}
	if a.d.SaveDialog == nil {
		return SavedView{}, ErrNoSaveDialog
	}
	title := i18n.PlainText(a.d.Messages.T(f.lang, i18n.Key("supervisor.export.dialog"), nil))
	path, err := a.d.SaveDialog(f.name, title)
	if err != nil {
		a.d.Log.Error("report save dialog", "err", err)
		return SavedView{}, ErrSaveFailed
	}
	if path == "" {
		return SavedView{Cancelled: true}, nil
	}
	if err := atomicfile.Write(path, f.data, 0o644); err != nil {
		a.d.Log.Error("report save", "format", format, "err", err)
		return SavedView{}, ErrSaveFailed
	}
	a.audit("report.export", f.day, map[string]any{"format": format, "by": f.actor, "file": filepath.Base(path)})
	return SavedView{Path: path}, nil
}

// renderedReport is a report file ready to hand over.
type renderedReport struct {
	name, mime, day, actor, lang string
	data                         []byte
}

// renderReport checks the caller may export and renders the report.
func (a *App) renderReport(date, format, lang string) (renderedReport, error) {
	actor, err := a.authorize(staff.ActExport, nil)
	if err != nil {
		return renderedReport{}, err
	}
	r, err := a.reportOf(date)
	if err != nil {
		return renderedReport{}, err
	}
	if lang == "" {
		lang = a.d.Config.Language
	}
	tag := a.d.Messages.Match(lang)
	var buf bytes.Buffer
	var mime string
	switch format {
	case "csv":
		err, mime = report.WriteCSV(&buf, r, tag), "text/csv"
	case "xlsx":
		err, mime = report.WriteXLSX(&buf, r, tag), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
	case "pdf":
		err, mime = report.WritePDF(&buf, r, tag), "application/pdf"
	default:
		return renderedReport{}, &Error{Code: i18n.Key("supervisor.error.format")}
	}
	if err != nil {
		a.d.Log.Error("report export", "format", format, "err", err)
		return renderedReport{}, ErrInternal
	}
	day := r.Day.Format("2006-01-02")
	name := "madoguchi-" + a.d.Config.Terminal + "-" + r.Day.Format("20060102") + "." + format
	return renderedReport{name: name, mime: mime, day: day, actor: actor, lang: tag, data: buf.Bytes()}, nil
}
