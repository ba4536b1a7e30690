package report

import (
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/xuri/excelize/v2"

	"madoguchi/app/i18n"
)

// WriteXLSX writes r as an Excel workbook: a summary sheet (title, day,
// procedures per kind and a bar chart of them), then one sheet per
// section with the CSV's rows under a bold header row, numbers as
// numbers (durations in seconds).
func WriteXLSX(w io.Writer, r Report, lang string) error {
	l, err := newLabeler(lang)
	if err != nil {
		return err
	}
	f := excelize.NewFile()
	defer f.Close()
	fail := func(err error) error { return fmt.Errorf("report: xlsx: %w", err) }
	bold, err := f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true},
		Fill: excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{"DDE4EE"}}})
	if err != nil {
		return fail(err)
	}
	title, err := f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true, Size: 14}})
	if err != nil {
		return fail(err)
	}
	used := map[string]bool{}
	name := func(s, fallback string) string {
		s = strings.Map(func(r rune) rune {
			if strings.ContainsRune(`:\/?*[]'`, r) {
				return '_'
			}
			return r
		}, strings.TrimSpace(s))
		for utf8.RuneCountInString(s) > 31 {
			_, n := utf8.DecodeLastRuneInString(s)
			s = s[:len(s)-n]
		}
		if s == "" || used[strings.ToLower(s)] {
			s = fallback
		}
		used[strings.ToLower(s)] = true
		return s
	}

	// The summary sheet.
	sum := name(l.t(i18n.Key("report.section.summary"), nil), "summary")
	if err := f.SetSheetName("Sheet1", sum); err != nil {
		return fail(err)
	}
	cells := func(sheet string, row int, vals ...any) error {
		c, _ := excelize.CoordinatesToCellName(1, row)
		return f.SetSheetRow(sheet, c, &vals)
	}
	if err := cells(sum, 1, l.heading(r)); err != nil {
		return fail(err)
	}
	f.SetCellStyle(sum, "A1", "A1", title)
	cells(sum, 2, l.scope(r))
	cells(sum, 3, l.t(i18n.Key("report.generated"), map[string]any{"At": r.Generated.In(i18n.Japan).Format("2006-01-02 15:04")}))
	cells(sum, 5, l.t(i18n.Key("report.col.procedure_name"), nil), l.t(i18n.Key("report.col.count"), nil),
		l.t(i18n.Key("report.col.procedure"), nil))
	f.SetCellStyle(sum, "A5", "C5", bold)
	kinds := sortedKinds(r.Total.Procedures)
	for i, k := range kinds {
		cells(sum, 6+i, l.kind(k), r.Total.Procedures[k].Count, k)
	}
	row := 7 + len(kinds)
	q := r.QueueTotal()
	cells(sum, row, l.t(i18n.Key("report.col.backlog"), nil), q.Backlog())
	cells(sum, row+1, l.t(i18n.Key("report.col.dead"), nil), q.Dead)
	cells(sum, row+2, l.t(i18n.Key("report.col.reprints"), nil), r.Total.Reprints)
	f.SetColWidth(sum, "A", "A", 34)
	f.SetColWidth(sum, "B", "C", 14)
	if len(kinds) > 0 {
		ref := "'" + sum + "'!"
		last := 5 + len(kinds)
		if err := f.AddChart(sum, "E5", &excelize.Chart{
			Type: excelize.Bar,
			Series: []excelize.ChartSeries{{
				Name:       ref + "$B$5",
				Categories: fmt.Sprintf("%s$A$6:$A$%d", ref, last),
				Values:     fmt.Sprintf("%s$B$6:$B$%d", ref, last),
			}},
			Title:  excelize.ChartTitle{Paragraph: []excelize.RichTextRun{{Text: l.t(i18n.Key("report.section.chart"), nil)}}},
			Legend: excelize.ChartLegend{Position: "none"},
			Format: excelize.GraphicOptions{ScaleX: 1.2, ScaleY: 1.2},
		}); err != nil {
			return fail(err)
		}
	}

	// One sheet per section, streamed: the histogram of a busy office has
	// tens of thousands of rows.
	for _, s := range sections(r, l) {
		sh := name(s.title, s.id)
		if _, err := f.NewSheet(sh); err != nil {
			return fail(err)
		}
		sw, err := f.NewStreamWriter(sh)
		if err != nil {
			return fail(err)
		}
		n := len(s.header) + 1
		if err := sw.SetColWidth(1, n, 14); err != nil {
			return fail(err)
		}
		if err := sw.SetPanes(&excelize.Panes{Freeze: true, YSplit: 1, TopLeftCell: "A2", ActivePane: "bottomLeft"}); err != nil {
			return fail(err)
		}
		head := make([]any, 0, n)
		for _, h := range append([]string{l.t(i18n.Key("report.col.section"), nil)}, s.header...) {
			head = append(head, excelize.Cell{StyleID: bold, Value: h})
		}
		if err := sw.SetRow("A1", head); err != nil {
			return fail(err)
		}
		vals := make([]any, 0, n+4)
		for i, rw := range s.rows {
			vals = vals[:0]
			for _, c := range rw {
				if d, ok := c.(secs); ok {
					vals = append(vals, time.Duration(d).Seconds())
				} else {
					vals = append(vals, c)
				}
			}
			cell, _ := excelize.CoordinatesToCellName(1, i+2)
			if err := sw.SetRow(cell, vals); err != nil {
				return fail(err)
			}
		}
		if err := sw.Flush(); err != nil {
			return fail(err)
		}
	}
	// The summary stays the active sheet (SetActiveSheet would read
	// every streamed sheet back into memory).
	f.SetDocProps(&excelize.DocProperties{Title: l.heading(r), Creator: "Madoguchi", Language: l.lang})
	if err := f.Write(w); err != nil {
		return fail(err)
	}
	return nil
}
