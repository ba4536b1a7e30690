package report

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"madoguchi/app/i18n"
)

// bom is UTF-8's byte order mark: Excel takes a CSV file for UTF-8 only
// when it starts with one.
const bom = "\uFEFF"

// WriteCSV writes r as CSV in UTF-8 with a byte order mark: one block of
// rows per section, each under a header row whose first cell is "# " and
// the section's title, the blocks separated by an empty row. Labels are
// in lang; the first cells of a data row are machine-readable (the
// section id, terminal, counter, ids and numbers), so that ReadCSV reads
// any language's export back.
func WriteCSV(w io.Writer, r Report, lang string) error {
	l, err := newLabeler(lang)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(w)
	bw.WriteString(bom)
	cw := csv.NewWriter(bw)
	cw.UseCRLF = true // what Excel writes
	rec := make([]string, 0, 16)
	for i, s := range sections(r, l) {
		if i > 0 {
			cw.Write([]string{})
		}
		cw.Write(append([]string{"# " + s.title}, s.header...))
		for _, row := range s.rows {
			rec = rec[:0]
			for _, c := range row {
				switch v := c.(type) {
				case string:
					rec = append(rec, v)
				case int:
					rec = append(rec, strconv.Itoa(v))
				case secs:
					rec = append(rec, v.String())
				default:
					rec = append(rec, fmt.Sprint(v))
				}
			}
			cw.Write(rec)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("report: csv: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("report: csv: %w", err)
	}
	return nil
}

// ErrNotAReport: the CSV is not a daily report's export.
var ErrNotAReport = errors.New("report: not a daily report CSV (no meta row of format " + formatID + ")")

// minFields is the number of machine-readable cells of each section's rows.
var minFields = map[string]int{
	secMeta: 3, secProcedure: 6, secDuration: 8, secFunnel: 9, secDropped: 6,
	secPIN: 6, secExpiry: 6, secReprint: 5, secQueue: 7, secBucket: 7,
}

// ReadCSV reads a report back from WriteCSV's output, in any language:
// header rows (starting with "#") and empty rows are skipped, data rows
// are read by their section id and machine-readable cells. Rows of
// unknown sections are ignored.
func ReadCSV(rd io.Reader) (Report, error) {
	br := bufio.NewReader(rd)
	if b, err := br.Peek(len(bom)); err == nil && string(b) == bom {
		br.Discard(len(bom))
	}
	cr := csv.NewReader(br)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	var r Report
	groups := map[string]*Group{}
	var order []string
	counters := map[string]*Group{}
	var counterOrder []string
	var total *Group
	group := func(terminal, counter string) *Group {
		switch {
		case terminal == All && counter == All:
			if total == nil {
				g := NewGroup(All, All)
				total = &g
			}
			return total
		case terminal == All:
			g := counters[counter]
			if g == nil {
				n := NewGroup(All, counter)
				g = &n
				counters[counter] = g
				counterOrder = append(counterOrder, counter)
			}
			return g
		}
		g := groups[terminal]
		if g == nil {
			n := NewGroup(terminal, counter)
			g = &n
			groups[terminal] = g
			order = append(order, terminal)
		}
		return g
	}
	sawFormat := false
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			if !sawFormat {
				return Report{}, fmt.Errorf("%w: %v", ErrNotAReport, err)
			}
			return Report{}, fmt.Errorf("report: csv: %w", err)
		}
		if len(rec) == 0 || rec[0] == "" || strings.HasPrefix(rec[0], "#") {
			continue
		}
		id := rec[0]
		need, known := minFields[id]
		if !known {
			continue
		}
		ln, _ := cr.FieldPos(0)
		if len(rec) < need {
			return Report{}, fmt.Errorf("report: csv line %d: %s row has %d cells, want %d", ln, id, len(rec), need)
		}
		bad := func(what string, err error) error {
			return fmt.Errorf("report: csv line %d: %s row: %s: %v", ln, id, what, err)
		}
		ints := func(from, n int) ([]int, error) {
			out := make([]int, n)
			for i := range n {
				v, err := strconv.Atoi(rec[from+i])
				if err != nil {
					return nil, bad("a count", err)
				}
				out[i] = v
			}
			return out, nil
		}
		if id == secMeta {
			switch rec[1] {
			case "format":
				if rec[2] != formatID {
					return Report{}, fmt.Errorf("report: csv line %d: format %q, want %q", ln, rec[2], formatID)
				}
				sawFormat = true
			case "day":
				d, err := time.ParseInLocation("2006-01-02", rec[2], i18n.Japan)
				if err != nil {
					return Report{}, bad("day", err)
				}
				r.Day = d
			case "terminal":
				r.Terminal = rec[2]
			case "generated":
				t, err := time.Parse(time.RFC3339, rec[2])
				if err != nil {
					return Report{}, bad("generated", err)
				}
				r.Generated = t.In(i18n.Japan)
			case "histogram":
				if rec[2] != Precision {
					return Report{}, fmt.Errorf("report: csv line %d: histogram buckets %q, want %q", ln, rec[2], Precision)
				}
			}
			continue
		}
		if !sawFormat {
			return Report{}, ErrNotAReport
		}
		if id == secQueue {
			if rec[1] == All {
				continue // the total of the stores: derived
			}
			n, err := ints(3, 2)
			if err != nil {
				return Report{}, err
			}
			dead, err := ints(6, 1)
			if err != nil {
				return Report{}, err
			}
			q := Queue{Store: rec[1], Pending: n[0], Inflight: n[1], Dead: dead[0]}
			if rec[2] != "" {
				t, err := time.Parse(time.RFC3339, rec[2])
				if err != nil {
					return Report{}, bad("time", err)
				}
				q.At = t.In(i18n.Japan)
			}
			r.Queues = append(r.Queues, q)
			continue
		}
		g := group(rec[1], rec[2])
		switch id {
		case secProcedure:
			n, err := ints(5, 1)
			if err != nil {
				return Report{}, err
			}
			p := g.procedure(rec[3])
			p.Outcomes[rec[4]] += n[0]
		case secDuration:
			n, err := ints(4, 1)
			if err != nil {
				return Report{}, err
			}
			p := g.procedure(rec[3])
			p.Count = n[0]
			if p.Median, err = parseSecs(rec[5]); err != nil {
				return Report{}, bad("median", err)
			}
			if p.P90, err = parseSecs(rec[6]); err != nil {
				return Report{}, bad("90th percentile", err)
			}
			p.Exact = rec[7] == "exact"
		case secFunnel:
			n, err := ints(4, 5)
			if err != nil {
				return Report{}, err
			}
			f := g.funnel(rec[3])
			f.Started, f.Completed, f.Failed, f.Dropped, f.Unfinished = n[0], n[1], n[2], n[3], n[4]
		case secDropped:
			n, err := ints(5, 1)
			if err != nil {
				return Report{}, err
			}
			g.funnel(rec[3]).DroppedAt[rec[4]] += n[0]
		case secPIN:
			n, err := ints(5, 1)
			if err != nil {
				return Report{}, err
			}
			g.procedure(rec[3]).PINs[rec[4]] += n[0]
		case secExpiry:
			n, err := ints(5, 1)
			if err != nil {
				return Report{}, err
			}
			g.procedure(rec[3]).NearExpiry[rec[4]] += n[0]
		case secReprint:
			n, err := ints(3, 2)
			if err != nil {
				return Report{}, err
			}
			g.Reprinted, g.Reprints = n[0], n[1]
		case secBucket:
			n, err := ints(4, 1)
			if err != nil {
				return Report{}, err
			}
			c, err := ints(6, 1)
			if err != nil {
				return Report{}, err
			}
			i := BucketOf(time.Duration(n[0]) * time.Second)
			if from, _, _ := Bucket(i); from != time.Duration(n[0])*time.Second {
				return Report{}, bad("bucket", fmt.Errorf("%d s is not where a bucket starts", n[0]))
			}
			g.procedure(rec[3]).Hist[i] += c[0]
		}
	}
	if !sawFormat {
		return Report{}, ErrNotAReport
	}
	for _, t := range order {
		r.Groups = append(r.Groups, *groups[t])
	}
	for _, c := range counterOrder {
		r.Counters = append(r.Counters, *counters[c])
	}
	if total != nil {
		r.Total = *total
	} else {
		r.Total = NewGroup(All, All)
	}
	return r, nil
}
