package report

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"madoguchi/app/i18n"
	"madoguchi/locales"
)

var testNow = time.Date(2026, 11, 22, 18, 30, 15, 0, i18n.Japan)

// want builds an expected procedure: the handling times (s) fill its
// histogram; the percentiles are given (nearest rank), not computed.
func want(durs []int, median, p90 int, outcomes, pins, near map[string]int) *Procedure {
	p := newProcedure()
	p.Count = len(durs)
	for _, d := range durs {
		p.Hist[BucketOf(time.Duration(d)*time.Second)]++
	}
	p.Median, p.P90, p.Exact = time.Duration(median)*time.Second, time.Duration(p90)*time.Second, true
	dst := []map[string]int{p.Outcomes, p.PINs, p.NearExpiry}
	for i, m := range []map[string]int{outcomes, pins, near} {
		for k, v := range m {
			dst[i][k] = v
		}
	}
	return p
}

type m = map[string]int

func group(terminal, counter string, procs map[string]*Procedure, kiosk map[string]*Funnel, reprinted, reprints int) Group {
	g := NewGroup(terminal, counter)
	for k, p := range procs {
		g.Procedures[k] = p
	}
	for k, f := range kiosk {
		g.Kiosk[k] = f
	}
	g.Reprinted, g.Reprints = reprinted, reprints
	return g
}

func funnel(started, completed, failed, dropped, unfinished int, at m) *Funnel {
	f := newFunnel()
	f.Started, f.Completed, f.Failed, f.Dropped, f.Unfinished = started, completed, failed, dropped, unfinished
	for k, v := range at {
		f.DroppedAt[k] = v
	}
	return f
}

// The test day's figures (see newOffice).
func wantT01() Group {
	return group("T-01", "窓口1", map[string]*Procedure{
		"issuance":     want([]int{300, 310, 320, 600, 900}, 320, 900, m{"ok": 4, "queued": 1}, nil, m{"card": 2, "auth": 1, "sign": 1, "any": 3}),
		"pin_reset":    want([]int{120, 130, 140, 150}, 130, 150, m{"ok": 4}, m{"sign": 2, "auth": 1, "input-assist": 1}, m{"card": 1, "any": 1}),
		"cert_renewal": want([]int{400, 500}, 400, 500, m{"ok": 2}, nil, nil),
	}, nil, 2, 3)
}

func kioskT02() map[string]*Funnel {
	return map[string]*Funnel{
		"reserved_reset": funnel(4, 1, 0, 2, 1, m{"card": 1, "pins": 1}),
		"status_check":   funnel(1, 1, 0, 0, 0, nil),
		"":               funnel(1, 0, 0, 1, 0, m{"start": 1}),
		"puk_unlock":     funnel(2, 0, 1, 1, 0, m{"start": 1}),
	}
}

func wantT02() Group {
	return group("T-02", "窓口2", map[string]*Procedure{
		"issuance":       want([]int{250, 700, 200}, 250, 700, m{"ok": 3}, nil, nil),
		"reserved_reset": want([]int{90, 60}, 60, 90, m{"ok": 2}, m{"sign": 1, "auth": 1}, nil),
		"suspension":     want([]int{0}, 0, 0, m{"queued": 1}, nil, nil),
	}, kioskT02(), 1, 1)
}

func wantT03() Group {
	return group("T-03", "窓口1", map[string]*Procedure{
		"issuance": want([]int{340, 330}, 330, 340, m{"ok": 2}, nil, nil),
	}, nil, 0, 0)
}

func wantCounter1() Group {
	t1 := wantT01()
	return group(All, "窓口1", map[string]*Procedure{
		"issuance":     want([]int{300, 310, 320, 600, 900, 340, 330}, 330, 900, m{"ok": 6, "queued": 1}, nil, m{"card": 2, "auth": 1, "sign": 1, "any": 3}),
		"pin_reset":    t1.Procedures["pin_reset"],
		"cert_renewal": t1.Procedures["cert_renewal"],
	}, nil, 2, 3)
}

func wantTotal() Group {
	t1, t2 := wantT01(), wantT02()
	return group(All, All, map[string]*Procedure{
		"issuance":       want([]int{300, 310, 320, 600, 900, 340, 330, 250, 700, 200}, 320, 700, m{"ok": 9, "queued": 1}, nil, m{"card": 2, "auth": 1, "sign": 1, "any": 3}),
		"pin_reset":      t1.Procedures["pin_reset"],
		"cert_renewal":   t1.Procedures["cert_renewal"],
		"reserved_reset": t2.Procedures["reserved_reset"],
		"suspension":     t2.Procedures["suspension"],
	}, kioskT02(), 3, 4)
}

func generated() time.Time { return testNow.Truncate(time.Second).In(i18n.Japan) }

func dump(v any) string {
	b, _ := json.MarshalIndent(v, "", " ")
	return string(b)
}

func TestBuild(t *testing.T) {
	off := newOffice(t)
	c2 := wantT02()
	c2.Terminal = All
	for _, tc := range []struct {
		name string
		db   string // "" the union
		o    Options
		want Report
	}{
		{"the office", "", Options{Store: "office"}, Report{
			Groups:   []Group{wantT01(), wantT02(), wantT03()},
			Counters: []Group{wantCounter1(), c2},
			Total:    wantTotal(),
			Queues:   []Queue{{Store: "office", Pending: 3, Inflight: 1, Dead: 3}},
		}},
		{"one terminal of the office", "", Options{Terminal: "T-02", Store: "office"}, Report{
			Terminal: "T-02",
			Groups:   []Group{wantT02()},
			Counters: []Group{c2},
			Total:    func() Group { g := c2; g.Counter = All; return g }(),
			Queues:   []Queue{{Store: "office", Pending: 3, Inflight: 1, Dead: 3}},
		}},
		{"T-01's store", "T-01", Options{Store: "T-01"}, Report{
			Groups:   []Group{wantT01()},
			Counters: []Group{func() Group { g := wantT01(); g.Terminal = All; return g }()},
			Total:    func() Group { g := wantT01(); g.Terminal, g.Counter = All, All; return g }(),
			Queues:   []Queue{{Store: "T-01", Pending: 3, Inflight: 1, Dead: 2}},
		}},
		{"T-03's store", "T-03", Options{Store: "T-03"}, Report{
			Groups:   []Group{wantT03()},
			Counters: []Group{func() Group { g := wantT03(); g.Terminal = All; return g }()},
			Total:    func() Group { g := wantT03(); g.Terminal, g.Counter = All, All; return g }(),
			Queues:   []Queue{{Store: "T-03"}},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := off.union
			if tc.db != "" {
				db = off.terminals[tc.db]
			}
			tc.o.Now = testNow
			got, err := Build(context.Background(), db, testDay.Add(13*time.Hour), tc.o)
			if err != nil {
				t.Fatal(err)
			}
			w := tc.want
			w.Day, w.Generated = testDay, generated()
			for i := range w.Queues {
				w.Queues[i].At = generated()
			}
			if !reflect.DeepEqual(got, w) {
				t.Errorf("got\n%s\nwant\n%s", dump(got), dump(w))
			}
		})
	}
}

// TestBuildFigures spells a few figures out, for the reader.
func TestBuildFigures(t *testing.T) {
	off := newOffice(t)
	r, err := Build(context.Background(), off.union, testDay, Options{Now: testNow})
	if err != nil {
		t.Fatal(err)
	}
	tot := r.Total
	for _, tc := range []struct {
		what      string
		got, want any
	}{
		{"issuances", tot.Procedures["issuance"].Count, 10},
		{"issuances queued", tot.Procedures["issuance"].Outcomes["queued"], 1},
		{"issuance median", tot.Procedures["issuance"].Median, 320 * time.Second},
		{"issuance p90", tot.Procedures["issuance"].P90, 700 * time.Second},
		{"sign PIN resets at the counter", tot.Procedures["pin_reset"].PINs["sign"], 2},
		{"sign PIN resets at the kiosk", tot.Procedures["reserved_reset"].PINs["sign"], 1},
		{"cards near expiry at issuance", tot.Procedures["issuance"].NearExpiry["card"], 2},
		{"kiosk sessions for a reserved reset", tot.Kiosk["reserved_reset"].Started, 4},
		{"dropped at the card", tot.Kiosk["reserved_reset"].DroppedAt["card"], 1},
		{"dropped at the start without a procedure", tot.Kiosk[""].DroppedAt["start"], 1},
		{"receipts reprinted", tot.Reprinted, 3},
		{"reprints", tot.Reprints, 4},
		{"backlog", r.QueueTotal().Backlog(), 4},
		{"dead letters", r.QueueTotal().Dead, 3},
		{"T-01's counter", r.Groups[0].Counter, "窓口1"},
		{"窓口1's issuance median", r.Counters[0].Procedures["issuance"].Median, 330 * time.Second},
	} {
		if !reflect.DeepEqual(tc.got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.what, tc.got, tc.want)
		}
	}
}

func TestEmptyDay(t *testing.T) {
	db := openStore(t, "empty")
	r, err := Build(context.Background(), db, testDay, Options{Now: testNow})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Groups) != 0 || r.Total.Procedures == nil || len(r.Queues) != 1 {
		t.Fatalf("empty day: %s", dump(r))
	}
	for _, lang := range []string{"ja", "en"} {
		var c, x, p bytes.Buffer
		if err := WriteCSV(&c, r, lang); err != nil {
			t.Fatal(err)
		}
		back, err := ReadCSV(&c)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(back, r) {
			t.Errorf("%s: empty report round trip\n%s\n%s", lang, dump(back), dump(r))
		}
		if err := WriteXLSX(&x, r, lang); err != nil {
			t.Fatal(err)
		}
		if err := WritePDF(&p, r, lang); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCSVRoundTrip(t *testing.T) {
	off := newOffice(t)
	r, err := Build(context.Background(), off.union, testDay, Options{Store: "office", Now: testNow})
	if err != nil {
		t.Fatal(err)
	}
	b, err := messages()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range b.Languages() {
		var buf bytes.Buffer
		if err := WriteCSV(&buf, r, l.Tag); err != nil {
			t.Fatal(err)
		}
		text := buf.String()
		if !strings.HasPrefix(text, "\uFEFF# ") && !strings.HasPrefix(text, "\uFEFF\"# ") {
			t.Fatalf("%s: no byte order mark and header row: %q", l.Tag, text[:min(20, len(text))])
		}
		if strings.Contains(text, "report.") {
			t.Errorf("%s: a label without a message: %s", l.Tag, text[strings.Index(text, "report."):][:40])
		}
		for _, row := range []string{
			"procedure,T-01,窓口1,issuance,ok,4,",
			"procedure,*,*,issuance,queued,1,",
			"duration,*,*,issuance,10,320.000,700.000,exact,",
			"pin_reset,T-01,窓口1,pin_reset,input-assist,1,",
			"funnel,T-02,窓口2,reserved_reset,4,1,0,2,1,",
			"dropped_at,T-02,窓口2,reserved_reset,pins,1,",
			"near_expiry,T-01,窓口1,issuance,any,3,",
			"reprint,*,*,3,4\r\n",
			"queue,office,2026-11-22T18:30:15+09:00,3,1,4,3\r\n",
			"duration_bucket,T-01,窓口1,issuance,900,910,1\r\n",
		} {
			if !strings.Contains(text, row) {
				t.Errorf("%s: no row %q", l.Tag, row)
			}
		}
		back, err := ReadCSV(strings.NewReader(text))
		if err != nil {
			t.Fatalf("%s: %v", l.Tag, err)
		}
		if !reflect.DeepEqual(back, r) {
			t.Errorf("%s: round trip\n%s\nwant\n%s", l.Tag, dump(back), dump(r))
		}
	}
	if testing.Verbose() {
		var buf bytes.Buffer
		WriteCSV(&buf, r, "ja")
		t.Logf("ja CSV:\n%s", buf.String())
	}
}

func TestReadCSVRefuses(t *testing.T) {
	for _, tc := range []struct {
		name, csv, msg string
	}{
		{"not a report", "a,b,c\n1,2,3\n", "not a daily report"},
		{"no meta", "procedure,T,C,issuance,ok,1\n", "not a daily report"},
		{"another format", "meta,format,other/9\n", "format"},
		{"a bad count", "meta,format," + formatID + "\nprocedure,T,C,issuance,ok,many\n", "line 2"},
		{"a short row", "meta,format," + formatID + "\nfunnel,T,C,x,1\n", "cells"},
		{"a bucket off the grid", "meta,format," + formatID + "\nduration_bucket,T,C,issuance,901,902,1\n", "bucket"},
		{"other buckets", "meta,format," + formatID + "\nmeta,histogram,5s\n", "buckets"},
	} {
		_, err := ReadCSV(strings.NewReader(tc.csv))
		if err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: %v, want an error with %q", tc.name, err, tc.msg)
		}
	}
}

// TestMergeEqualsBuild: the three terminals' exports, each in another
// language, merge into the office's report: equal figures, the roll-ups'
// percentiles from histograms to within half a bucket.
func TestMergeEqualsBuild(t *testing.T) {
	off := newOffice(t)
	var parts []Report
	for i, name := range []string{"T-01", "T-02", "T-03"} {
		r, err := Build(context.Background(), off.terminals[name], testDay, Options{Store: name, Now: testNow})
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := WriteCSV(&buf, r, []string{"ja", "en", "th"}[i]); err != nil {
			t.Fatal(err)
		}
		back, err := ReadCSV(&buf)
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, back)
	}
	got := Merge(parts...)
	all, err := Build(context.Background(), off.union, testDay, Options{Now: testNow})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Groups, all.Groups) {
		t.Errorf("groups\n%s\nwant\n%s", dump(got.Groups), dump(all.Groups))
	}
	within := func(where string, g, w Group) Group {
		g.Procedures = maps.Clone(g.Procedures)
		for kind, p := range g.Procedures {
			e := w.Procedures[kind]
			if e == nil {
				continue
			}
			for _, v := range [][2]time.Duration{{p.Median, e.Median}, {p.P90, e.P90}} {
				from, to, _ := Bucket(BucketOf(v[1]))
				if d := (v[0] - v[1]).Abs(); d > (to-from)/2 {
					t.Errorf("%s %s: merged %v, exact %v", where, kind, v[0], v[1])
				}
			}
			if p.Exact {
				t.Errorf("%s %s: merged percentiles said exact", where, kind)
			}
			cp := *p
			cp.Median, cp.P90, cp.Exact = e.Median, e.P90, e.Exact
			g.Procedures[kind] = &cp
		}
		return g
	}
	// The total issuance median from the merged histogram: 320 s's bucket.
	if g := got.Total.Procedures["issuance"]; g.Median != 320500*time.Millisecond || g.P90 != 705*time.Second {
		t.Errorf("merged issuance: median %v, p90 %v", g.Median, g.P90)
	}
	if len(got.Counters) != len(all.Counters) {
		t.Fatalf("counters: %d, want %d", len(got.Counters), len(all.Counters))
	}
	for i := range got.Counters {
		if c := within(got.Counters[i].Counter, got.Counters[i], all.Counters[i]); !reflect.DeepEqual(c, all.Counters[i]) {
			t.Errorf("counter %s\n%s\nwant\n%s", c.Counter, dump(c), dump(all.Counters[i]))
		}
	}
	if tot := within("total", got.Total, all.Total); !reflect.DeepEqual(tot, all.Total) {
		t.Errorf("total\n%s\nwant\n%s", dump(tot), dump(all.Total))
	}
	// Each store's queue; the sum is the union's.
	var stores []string
	for _, q := range got.Queues {
		stores = append(stores, q.Store)
	}
	if !slices.Equal(stores, []string{"T-01", "T-02", "T-03"}) {
		t.Errorf("queues of %v", stores)
	}
	if gq, wq := got.QueueTotal(), all.QueueTotal(); gq.Pending != wq.Pending || gq.Inflight != wq.Inflight || gq.Dead != wq.Dead {
		t.Errorf("queue total %+v, want %+v", gq, wq)
	}
	if !got.Day.Equal(testDay) || got.Terminal != "" {
		t.Errorf("day %v, terminal %q", got.Day, got.Terminal)
	}
	// A merged report survives its own CSV.
	var buf bytes.Buffer
	if err := WriteCSV(&buf, got, "en"); err != nil {
		t.Fatal(err)
	}
	back, err := ReadCSV(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, got) {
		t.Errorf("merged round trip\n%s\nwant\n%s", dump(back), dump(got))
	}
}

// TestMergeSameTerminal: one terminal's report twice adds up, and its
// percentiles come from the histogram; Merge of one report is that report.
func TestMergeSameTerminal(t *testing.T) {
	off := newOffice(t)
	r, err := Build(context.Background(), off.terminals["T-01"], testDay, Options{Store: "T-01", Now: testNow})
	if err != nil {
		t.Fatal(err)
	}
	if one := Merge(r); !reflect.DeepEqual(one, r) {
		t.Errorf("merge of one\n%s\nwant\n%s", dump(one), dump(r))
	}
	later := r
	later.Queues = []Queue{{Store: "T-01", At: r.Generated.Add(time.Hour), Pending: 7}}
	two := Merge(r, later)
	iss := two.Groups[0].Procedures["issuance"]
	if iss.Count != 10 || iss.Outcomes["ok"] != 8 || iss.Exact || iss.Median != 320500*time.Millisecond || iss.P90 != 905*time.Second {
		t.Errorf("twice: %+v", iss)
	}
	if len(two.Queues) != 1 || two.Queues[0].Pending != 7 {
		t.Errorf("queues: %+v (want the later snapshot only)", two.Queues)
	}
	// The inputs are untouched.
	if r.Groups[0].Procedures["issuance"].Count != 5 {
		t.Error("Merge changed its input")
	}
}

func TestHistogram(t *testing.T) {
	for _, tc := range []struct {
		d        time.Duration
		i        int
		from, to time.Duration
	}{
		{-time.Second, 0, 0, time.Second},
		{0, 0, 0, time.Second},
		{999 * time.Millisecond, 0, 0, time.Second},
		{time.Second, 1, time.Second, 2 * time.Second},
		{10*time.Minute - time.Millisecond, 599, 599 * time.Second, 600 * time.Second},
		{10 * time.Minute, 600, 600 * time.Second, 610 * time.Second},
		{time.Hour - time.Millisecond, 899, 3590 * time.Second, time.Hour},
		{time.Hour, 900, time.Hour, time.Hour + time.Minute},
		{8*time.Hour - time.Millisecond, 1319, 8*time.Hour - time.Minute, 8 * time.Hour},
		{8 * time.Hour, 1320, 8 * time.Hour, 0},
		{48 * time.Hour, 1320, 8 * time.Hour, 0},
	} {
		i := BucketOf(tc.d)
		from, to, ok := Bucket(i)
		if i != tc.i || from != tc.from || to != tc.to || !ok {
			t.Errorf("%v: bucket %d [%v, %v) %v; want %d [%v, %v)", tc.d, i, from, to, ok, tc.i, tc.from, tc.to)
		}
	}
	if NumBuckets != 1321 {
		t.Errorf("NumBuckets %d", NumBuckets)
	}
	if _, _, ok := Bucket(NumBuckets); ok {
		t.Error("bucket past the last")
	}
	for _, tc := range []struct {
		h           map[int]int
		median, p90 time.Duration
	}{
		{map[int]int{}, 0, 0},
		{map[int]int{5: 1}, 5500 * time.Millisecond, 5500 * time.Millisecond},
		{map[int]int{1: 1, 2: 1}, 1500 * time.Millisecond, 2500 * time.Millisecond},
		{map[int]int{10: 5, 700: 4, 1320: 1}, 10500 * time.Millisecond, 1605 * time.Second},
		{map[int]int{10: 5, 700: 3, 1320: 2}, 10500 * time.Millisecond, 8 * time.Hour},
	} {
		if m, p := histPercentiles(tc.h); m != tc.median || p != tc.p90 {
			t.Errorf("%v: %v %v, want %v %v", tc.h, m, p, tc.median, tc.p90)
		}
	}
}

// TestDue: the renewal window on the report's day, at its boundaries.
func TestDue(t *testing.T) {
	off := openStore(t, "due")
	s := sink{t: t, dbs: []*sql.DB{off}, seq: new(int)}
	for i, tc := range []struct {
		profile, card string
	}{
		{"current", "2027-02-22"}, // due: three months from the day
		{"current", "2027-02-23"},
		{"current", "2020-01-01"}, // expired: due
		{"next", "2027-11-22"},    // due: a year
		{"next", "2027-11-23"},
		{"", "2027-02-22"},   // no profile: current
		{"current", "bogus"}, // not a date
		{"current", "2027-2-1"},
	} {
		s.proc("T", "", "status_check", "ok", at(10, i, 0), 1, `{"profile":"`+tc.profile+`","expiry":{"card":"`+tc.card+`"}}`)
	}
	r, err := Build(context.Background(), off, testDay, Options{Now: testNow})
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Total.Procedures["status_check"].NearExpiry; !reflect.DeepEqual(got, map[string]int{"card": 4, "any": 4}) {
		t.Errorf("near expiry %v, want 4 cards", got)
	}
}

func TestXLSX(t *testing.T) {
	off := newOffice(t)
	r, err := Build(context.Background(), off.union, testDay, Options{Store: "office", Now: testNow})
	if err != nil {
		t.Fatal(err)
	}
	for _, lang := range []string{"ja", "en"} {
		var buf bytes.Buffer
		if err := WriteXLSX(&buf, r, lang); err != nil {
			t.Fatal(err)
		}
		f, err := excelize.OpenReader(&buf)
		if err != nil {
			t.Fatalf("%s: %v", lang, err)
		}
		sheets := f.GetSheetList()
		if f.GetActiveSheetIndex() != 0 {
			t.Errorf("%s: active sheet %d, want the summary", lang, f.GetActiveSheetIndex())
		}
		if len(sheets) != 11 {
			t.Errorf("%s: sheets %v", lang, sheets)
		}
		// Find rows by their first cells, on any sheet.
		find := func(prefix ...string) []string {
			for _, sh := range sheets {
				rows, _ := f.GetRows(sh)
				for _, row := range rows {
					if len(row) >= len(prefix) && slices.Equal(row[:len(prefix)], prefix) {
						return row
					}
				}
			}
			return nil
		}
		for _, tc := range []struct {
			prefix []string
			at     int
			want   string
		}{
			{[]string{"procedure", "T-01", "窓口1", "issuance", "ok"}, 5, "4"},
			{[]string{"procedure", "*", "*", "issuance", "ok"}, 5, "9"},
			{[]string{"duration", "*", "*", "issuance"}, 5, "320"},
			{[]string{"funnel", "T-02", "窓口2", "reserved_reset"}, 4, "4"},
			{[]string{"reprint", "*", "*"}, 4, "4"},
			{[]string{"queue", "office"}, 6, "3"},
		} {
			row := find(tc.prefix...)
			if len(row) <= tc.at || row[tc.at] != tc.want {
				t.Errorf("%s: row %v: %v, want %s at %d", lang, tc.prefix, row, tc.want, tc.at)
			}
		}
		// The summary: issuance's total beside its name, and the chart.
		sum := sheets[0]
		rows, _ := f.GetRows(sum)
		if len(rows) < 6 || !strings.Contains(rows[0][0], "2026-11-22") {
			t.Errorf("%s: summary %v", lang, rows)
		}
		if row := find(localize(t, lang, "procedure.issuance"), "10", "issuance"); row == nil {
			t.Errorf("%s: no issuance total on the summary: %v", lang, rows)
		}
		head, _ := f.GetCellStyle(sheets[1], "A1")
		st, _ := f.GetStyle(head)
		if st == nil || st.Font == nil || !st.Font.Bold {
			t.Errorf("%s: header not bold", lang)
		}
		f.Close()
	}
}

func localize(t testing.TB, lang, key string) string {
	b, err := i18n.Load(locales.FS, "ja")
	if err != nil {
		t.Fatal(err)
	}
	return b.T(lang, i18n.Key(key), nil)
}

func TestPDF(t *testing.T) {
	if _, err := exec.LookPath("pdftotext"); err != nil {
		t.Skip("needs pdftotext (poppler-utils)")
	}
	off := newOffice(t)
	r, err := Build(context.Background(), off.union, testDay, Options{Store: "office", Now: testNow})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, tc := range []struct {
		lang string
		want []string
	}{
		{"ja", []string{"窓口業務日報", "令和8年11月22日 (2026-11-22)", "カードの交付", "手続別件数", "10", "窓口1", "署名用電子証明書"}},
		{"en", []string{"Daily report, November 22, Reiwa 8 (2026-11-22)", "Card issuance", "Procedures per kind", "10"}},
		// Thai: the font has no Thai, so labels fall back to English.
		{"th", []string{"Daily report", "Card issuance"}},
	} {
		var buf bytes.Buffer
		if err := WritePDF(&buf, r, tc.lang); err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(buf.Bytes(), []byte("%PDF-")) {
			t.Fatalf("%s: not a PDF", tc.lang)
		}
		p := filepath.Join(dir, tc.lang+".pdf")
		os.WriteFile(p, buf.Bytes(), 0o600)
		out, err := exec.Command("pdftotext", "-layout", p, "-").Output()
		if err != nil {
			t.Fatalf("%s: pdftotext: %v", tc.lang, err)
		}
		text := string(out)
		for _, w := range tc.want {
			if !strings.Contains(text, w) {
				t.Errorf("%s: PDF text lacks %q:\n%s", tc.lang, w, text)
			}
		}
		if strings.Contains(text, "〓") || strings.Contains(text, "report.") {
			t.Errorf("%s: missing glyphs or labels:\n%s", tc.lang, text)
		}
		// The issuance line of the procedures table: 9 done, 1 queued, 10.
		if !regexpLine(text, `カードの交付\s+9\s+1\s+10`, `Card issuance\s+9\s+1\s+10`) {
			t.Errorf("%s: no issuance row with 9, 1, 10:\n%s", tc.lang, text)
		}
		info, _ := exec.Command("pdfinfo", p).Output()
		if len(info) > 0 && !strings.Contains(string(info), "A4") {
			t.Errorf("%s: not A4:\n%s", tc.lang, info)
		}
	}
}

// TestEveryLabelHasAMessage: every label the exports use exists in every
// language (the completeness test checks the languages against each
// other; this checks the code against Japanese).
func TestEveryLabelHasAMessage(t *testing.T) {
	b, err := messages()
	if err != nil {
		t.Fatal(err)
	}
	src, _ := filepath.Glob("*.go")
	keys := map[string]bool{}
	for _, f := range src {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		data, _ := os.ReadFile(f)
		for _, m := range labelRE.FindAllStringSubmatch(string(data), -1) {
			keys[m[1]] = true
		}
	}
	for _, k := range []string{"report.procedure.suspension", "report.procedure.suspension_lift"} {
		keys[k] = true
	}
	if len(keys) < 60 {
		t.Fatalf("found %d keys: the scan is broken", len(keys))
	}
	for _, l := range b.Languages() {
		for k := range keys {
			if got := b.T(l.Tag, i18n.Key(k), map[string]any{"Date": "D", "Terminal": "T", "At": "A"}); got == k {
				t.Errorf("%s: no message %q", l.Tag, k)
			}
		}
	}
	l, _ := newLabeler("ja")
	for _, tc := range [][2]string{
		{l.kind("issuance"), "カードの交付"}, {l.kind("suspension_lift"), "一時停止の解除"}, {l.kind("frobnicate"), "frobnicate"},
		{l.kind(""), "手続未選択"}, {l.pin("input-assist"), localize(t, "ja", "pin.input_assist")}, {l.outcome("weird"), "weird"},
		{l.step("pins"), "暗証番号の入力"}, {l.item("sign"), "署名用電子証明書"},
	} {
		if tc[0] != tc[1] {
			t.Errorf("label %q, want %q", tc[0], tc[1])
		}
	}
}

var labelRE = regexp.MustCompile(`"(report\.[a-z0-9_.]*[a-z0-9_])"`)

// regexpLine reports whether text has a line matching any of res.
func regexpLine(text string, res ...string) bool {
	for _, re := range res {
		if regexp.MustCompile(re).MatchString(text) {
			return true
		}
	}
	return false
}

// TestParseDetail: the quick scan agrees with encoding/json.
func TestParseDetail(t *testing.T) {
	for _, in := range []string{
		`{}`, ` { } `, `{"pin":"sign","profile":"current"}`,
		`{"expiry":{"auth":"2027-01-02","card":"2030-01-01","sign":"2026-01-01"},"pin":"auth","pins":["auth","sign"],"profile":"next","signCert":true}`,
		`{"changed":{"name":true,"pin":"x"},"profile":"current","reissue":false,"n":-1.5e3,"z":null}`,
		`{"expiry":{},"pin":""}`, `{"expiry":null}`, `{"expiry":"none"}`, `{"expiry":{"card":"2030-01-01","other":[1,{"a":"]"}]}}`,
		`{"pin":"s\u0069gn"}`, `{"pin":"a\"b"}`, `{ "pin" : "sign" , "profile" : "next" }`,
		// Invalid, or of the wrong types: refused by both.
		`{"pin":5}`, `{"pin":"sign"`, `{"pin":"sign"}x`, `[]`, ``, `{"pin":tru}`, `{"expiry":{"card":1}}`, `{"a":{"b":"c"}`, `{,}`,
	} {
		var want detail
		werr := json.Unmarshal([]byte(in), &want)
		f, ok := parseDetail([]byte(in))
		var got detail
		got.PIN, got.Profile = string(f.pin), string(f.profile)
		got.Expiry.Card, got.Expiry.Auth, got.Expiry.Sign = string(f.card), string(f.auth), string(f.sign)
		if ok != (werr == nil) || (ok && got != want) {
			t.Errorf("%s: %+v %v; encoding/json %+v %v", in, got, ok, want, werr)
		}
	}
}

// TestDayRows: a day's rows are read by rowid range when they lie close
// together, through the time index when they are spread out; the figures
// are the same.
func TestDayRows(t *testing.T) {
	ctx := context.Background()
	for _, spread := range []bool{false, true} {
		db := openStore(t, "spread")
		s := sink{t: t, dbs: []*sql.DB{db}, seq: new(int)}
		s.proc("T", "窓口1", "issuance", "ok", at(10, 0, 0), 60, "")
		s.steps("T", "a", at(10, 0, 0), st("", "start"))
		if spread {
			for i := range 1200 {
				s.proc("T", "", "status_check", "ok", at(-30, 0, i), 1, "")
				s.steps("T", fmt.Sprint("old", i), at(-30, 0, i), st("", "start"))
			}
		}
		s.proc("T", "窓口2", "issuance", "queued", at(9, 0, 0), 120, "")
		s.steps("T", "a", at(10, 0, 5), st("reserved_reset", "procedure"), st("reserved_reset", "dropped"))
		from, to := testDay.UTC().Format(stampLayout), testDay.AddDate(0, 0, 1).UTC().Format(stampLayout)
		for _, tc := range [][2]string{{"procedures", "started_at"}, {"kiosk_steps", "at"}} {
			q, args, err := dayRows(ctx, db, tc[0], tc[1], from, to, "SELECT * FROM "+tc[0])
			if err != nil {
				t.Fatal(err)
			}
			var plan strings.Builder
			rows, err := db.Query("EXPLAIN QUERY PLAN "+q, args...)
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var id, parent, notused int
				var detail string
				rows.Scan(&id, &parent, &notused, &detail)
				plan.WriteString(detail + "; ")
			}
			rows.Close()
			byRowid := strings.Contains(plan.String(), "INTEGER PRIMARY KEY")
			if byRowid == spread {
				t.Errorf("spread %v, %s: plan %s", spread, tc[0], plan.String())
			}
		}
		r, err := Build(ctx, db, testDay, Options{Now: testNow})
		if err != nil {
			t.Fatal(err)
		}
		p := r.Total.Procedures["issuance"]
		if len(r.Total.Procedures) != 1 || p.Count != 2 || p.Outcomes["queued"] != 1 || p.Median != 60*time.Second || p.P90 != 120*time.Second {
			t.Errorf("spread %v: %s", spread, dump(r.Total))
		}
		// The counter of the last procedure to start (the first written).
		if r.Groups[0].Counter != "窓口1" {
			t.Errorf("spread %v: counter %q", spread, r.Groups[0].Counter)
		}
		if f := r.Total.Kiosk["reserved_reset"]; len(r.Total.Kiosk) != 1 || f == nil || f.Dropped != 1 || f.DroppedAt["procedure"] != 1 {
			t.Errorf("spread %v: kiosk %s", spread, dump(r.Total.Kiosk))
		}
	}
}
