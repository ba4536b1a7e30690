package report

import (
	"fmt"
	"slices"
	"strconv"
	"time"

	"madoguchi/app/i18n"
)

// The CSV and XLSX exports hold the report as sections: a header row of
// localized column names, then data rows whose first cell is the
// section's id and whose next cells are machine-readable (terminal,
// counter, ids, numbers); localized names follow at the end of a row.
// Rows of the roll-ups have the terminal All ("*"), and the counter All
// for the total. This file lists the sections; csv.go reads them back.

// Section ids, the first cell of every data row.
const (
	secMeta      = "meta"
	secProcedure = "procedure"
	secDuration  = "duration"
	secFunnel    = "funnel"
	secDropped   = "dropped_at"
	secPIN       = "pin_reset"
	secExpiry    = "near_expiry"
	secReprint   = "reprint"
	secQueue     = "queue"
	secBucket    = "duration_bucket"
)

// formatID names the CSV format (the meta row "format").
const formatID = "madoguchi-daily-report/1"

// secs is a duration written as seconds with milliseconds (123.456).
type secs time.Duration

func (s secs) String() string {
	ms := time.Duration(s).Milliseconds()
	sign := ""
	if ms < 0 {
		sign, ms = "-", -ms
	}
	return fmt.Sprintf("%s%d.%03d", sign, ms/1000, ms%1000)
}

func parseSecs(s string) (time.Duration, error) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, err
	}
	return time.Duration(f*1000+0.5*sign(f)) * time.Millisecond, nil
}

func sign(f float64) float64 {
	if f < 0 {
		return -1
	}
	return 1
}

// section is one block of rows.
type section struct {
	id     string
	title  string
	header []string // column names after the first
	rows   [][]any  // string, int or secs cells; the first is id
}

// scopes lists a report's groups, then its counters, then the total.
func scopes(r Report) []Group {
	out := slices.Clone(r.Groups)
	out = append(out, r.Counters...)
	if r.Total.Procedures != nil {
		out = append(out, r.Total)
	}
	return out
}

func method(p *Procedure) string {
	if p.Exact {
		return "exact"
	}
	return "histogram"
}

// sections lays the report out as sections in l's language.
func sections(r Report, l labeler) []section {
	col := func(k string) string { return l.t(i18n.Key(k), nil) }
	tc := []string{col("report.col.terminal"), col("report.col.counter")}
	with := func(extra ...string) []string { return append(slices.Clone(tc), extra...) }
	all := scopes(r)

	meta := section{id: secMeta, title: l.heading(r),
		header: []string{col("report.col.item"), col("report.col.value")}}
	meta.rows = [][]any{
		{secMeta, "format", formatID},
		{secMeta, "day", r.Day.Format("2006-01-02")},
		{secMeta, "terminal", r.Terminal},
		{secMeta, "generated", r.Generated.Format(time.RFC3339)},
		{secMeta, "histogram", Precision},
	}

	proc := section{id: secProcedure, title: col("report.section.procedures"),
		header: with(col("report.col.procedure"), col("report.col.outcome"), col("report.col.count"),
			col("report.col.procedure_name"), col("report.col.outcome_name"))}
	dur := section{id: secDuration, title: col("report.section.durations"),
		header: with(col("report.col.procedure"), col("report.col.count"), col("report.col.median_s"),
			col("report.col.p90_s"), col("report.col.method"), col("report.col.procedure_name"),
			col("report.col.median"), col("report.col.p90"))}
	fun := section{id: secFunnel, title: col("report.section.kiosk"),
		header: with(col("report.col.procedure"), col("report.col.started"), col("report.col.completed"),
			col("report.col.failed"), col("report.col.dropped"), col("report.col.unfinished"),
			col("report.col.procedure_name"))}
	drop := section{id: secDropped, title: col("report.section.dropped"),
		header: with(col("report.col.procedure"), col("report.col.step"), col("report.col.count"),
			col("report.col.procedure_name"), col("report.col.step_name"))}
	pin := section{id: secPIN, title: col("report.section.pins"),
		header: with(col("report.col.procedure"), col("report.col.pin"), col("report.col.count"),
			col("report.col.procedure_name"), col("report.col.pin_name"))}
	exp := section{id: secExpiry, title: col("report.section.expiry"),
		header: with(col("report.col.procedure"), col("report.col.expiry"), col("report.col.count"),
			col("report.col.procedure_name"), col("report.col.expiry_name"))}
	rep := section{id: secReprint, title: col("report.section.reprints"),
		header: with(col("report.col.reprinted"), col("report.col.reprints"))}
	que := section{id: secQueue, title: col("report.section.queue"),
		header: []string{col("report.col.terminal"), col("report.col.at"), col("report.col.pending"),
			col("report.col.inflight"), col("report.col.backlog"), col("report.col.dead")}}
	hist := section{id: secBucket, title: col("report.section.histogram"),
		header: with(col("report.col.procedure"), col("report.col.bucket_from"), col("report.col.bucket_to"),
			col("report.col.count"))}

	for _, g := range all {
		for _, kind := range sortedKinds(g.Procedures) {
			p := g.Procedures[kind]
			for _, o := range sortedKinds(p.Outcomes) {
				proc.rows = append(proc.rows, []any{secProcedure, g.Terminal, g.Counter, kind, o, p.Outcomes[o], l.kind(kind), l.outcome(o)})
			}
			dur.rows = append(dur.rows, []any{secDuration, g.Terminal, g.Counter, kind, p.Count, secs(p.Median), secs(p.P90),
				method(p), l.kind(kind), hms(p.Median), hms(p.P90)})
			for _, pn := range sortedKinds(p.PINs) {
				pin.rows = append(pin.rows, []any{secPIN, g.Terminal, g.Counter, kind, pn, p.PINs[pn], l.kind(kind), l.pin(pn)})
			}
			for _, it := range expiryItems {
				if n := p.NearExpiry[it]; n > 0 {
					exp.rows = append(exp.rows, []any{secExpiry, g.Terminal, g.Counter, kind, it, n, l.kind(kind), l.item(it)})
				}
			}
			idx := slices.Sorted(func(yield func(int) bool) {
				for i := range p.Hist {
					if !yield(i) {
						return
					}
				}
			})
			for _, i := range idx {
				from, to, _ := Bucket(i)
				end := ""
				if to > 0 {
					end = strconv.FormatInt(int64(to/time.Second), 10)
				}
				hist.rows = append(hist.rows, []any{secBucket, g.Terminal, g.Counter, kind, int(from / time.Second), end, p.Hist[i]})
			}
		}
		for _, pr := range sortedKinds(g.Kiosk) {
			f := g.Kiosk[pr]
			fun.rows = append(fun.rows, []any{secFunnel, g.Terminal, g.Counter, pr, f.Started, f.Completed, f.Failed, f.Dropped, f.Unfinished, l.kind(pr)})
			for _, st := range sortedSteps(f.DroppedAt) {
				drop.rows = append(drop.rows, []any{secDropped, g.Terminal, g.Counter, pr, st, f.DroppedAt[st], l.kind(pr), l.step(st)})
			}
		}
		rep.rows = append(rep.rows, []any{secReprint, g.Terminal, g.Counter, g.Reprinted, g.Reprints})
	}
	qs := slices.Clone(r.Queues)
	if len(qs) > 1 {
		qs = append(qs, r.QueueTotal())
	}
	for _, q := range qs {
		at := ""
		if !q.At.IsZero() {
			at = q.At.In(i18n.Japan).Format(time.RFC3339)
		}
		que.rows = append(que.rows, []any{secQueue, q.Store, at, q.Pending, q.Inflight, q.Backlog(), q.Dead})
	}
	return []section{meta, proc, dur, fun, drop, pin, exp, rep, que, hist}
}
