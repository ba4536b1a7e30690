package report

import (
	"bufio"
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// bigDay writes a day of n procedures over four terminals (two counters),
// most with a receipt, one in twenty receipts reprinted, a kiosk session
// for every fifth procedure and a thousand queue jobs.
func bigDay(t testing.TB, db *sql.DB, n int) {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	prep := func(q string) *sql.Stmt {
		s, err := tx.Prepare(q)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	proc := prep(`INSERT INTO procedures (kind, card_serial, terminal, started_at, finished_at, outcome, detail, receipt) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)
	rec := prep(`INSERT INTO receipts (number, procedure, lang, terminal, municipality, counter, issued_at, details, personal, key_id, code) VALUES (?, ?, 'ja', ?, 'テスト市', ?, ?, '{}', x'00', 'k', 'c')`)
	prn := prep(`INSERT INTO receipt_prints (receipt_id, at, printer, problem) VALUES (?, ?, 'pr', '')`)
	step := prep(`INSERT INTO kiosk_steps (session, at, terminal, procedure, step) VALUES (?, ?, ?, ?, ?)`)
	job := prep(`INSERT INTO outbox (idempotency_key, kind, payload, state) VALUES (?, 'event', x'00', ?)`)
	must := func(res sql.Result, err error) sql.Result {
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	kinds := []string{"issuance", "issuance", "issuance", "card_renewal", "cert_renewal", "cert_renewal", "change_of_details",
		"pin_reset", "pin_reset", "puk_unlock", "reserved_reset", "suspension", "return", "status_check"}
	pins := []string{"auth", "sign", "input-assist", "resident"}
	terms := []string{"T-01", "T-02", "T-03", "T-04"}
	counters := []string{"窓口1", "窓口1", "窓口2", "窓口2"}
	// Records are written as procedures finish, so in about the order of
	// their start: the generator writes them in order of their end.
	type span struct{ start, dur time.Duration }
	spans := make([]span, n)
	for i := range spans {
		spans[i] = span{time.Duration(rng.IntN(10*3600*1000)) * time.Millisecond, time.Duration(60_000+rng.IntN(20*60_000)) * time.Millisecond}
		if rng.IntN(100) == 0 {
			spans[i].dur += 2 * time.Hour
		}
	}
	slices.SortFunc(spans, func(a, b span) int { return cmp.Compare(a.start+a.dur, b.start+b.dur) })
	day := testDay.Add(8 * time.Hour)
	for i := range n {
		ti := rng.IntN(len(terms))
		kind := kinds[rng.IntN(len(kinds))]
		start, dur := day.Add(spans[i].start), spans[i].dur
		outcome := "ok"
		if rng.IntN(10) == 0 {
			outcome = "queued"
		}
		exp := testDay.AddDate(0, rng.IntN(60), rng.IntN(28))
		detail := fmt.Sprintf(`{"profile":"current","expiry":{"card":%q,"auth":%q,"sign":%q}}`,
			exp.Format("2006-01-02"), exp.AddDate(-5, 0, 0).Format("2006-01-02"), exp.AddDate(0, -1, 0).Format("2006-01-02"))
		if kind == "pin_reset" || kind == "reserved_reset" {
			detail = fmt.Sprintf(`{"pin":%q,"profile":"current","expiry":{"card":%q}}`, pins[rng.IntN(len(pins))], exp.Format("2006-01-02"))
		}
		number := ""
		if rng.IntN(10) < 9 {
			number = fmt.Sprintf("%s-20261122-%06d", terms[ti], i)
			id, _ := must(rec.Exec(number, kind, terms[ti], counters[ti], stamp(start))).LastInsertId()
			must(prn.Exec(id, stamp(start.Add(dur))))
			if rng.IntN(20) == 0 {
				must(prn.Exec(id, stamp(start.Add(dur+time.Minute))))
			}
		}
		must(proc.Exec(kind, "SERIAL"+strconv.Itoa(i), terms[ti], stamp(start), stamp(start.Add(dur)), outcome, detail, number))
		if i%5 == 0 {
			sess := "k" + strconv.Itoa(i)
			path := [][2]string{st("", "start"), st("reserved_reset", "procedure"), st("reserved_reset", "card"), st("reserved_reset", "pins")}
			end := []string{"done", "done", "failed", "dropped"}[rng.IntN(4)]
			path = append(path[:1+rng.IntN(len(path))], st("reserved_reset", end))
			for j, s := range path {
				must(step.Exec(sess, stamp(start.Add(time.Duration(j)*time.Second)), terms[3], s[0], s[1]))
			}
		}
	}
	for i := range 1000 {
		must(job.Exec("key-"+strconv.Itoa(i), []string{"pending", "inflight", "dead", "done"}[i%4]))
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	// A day's records reach the database file through SQLite's automatic
	// checkpoints as they are written; one big transaction leaves them in
	// the write-ahead log.
	if _, err := db.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		t.Fatal(err)
	}
}

// heapPeak samples the heap's live objects every millisecond until stop.
func heapPeak(stop <-chan struct{}, peak *atomic.Uint64) {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		metrics.Read(s)
		if v := s[0].Value.Uint64(); v > peak.Load() {
			peak.Store(v)
		}
		select {
		case <-stop:
			return
		case <-tick.C:
		}
	}
}

// peakRSS resets (reset) or reads the process's peak resident set, in
// bytes; 0 where /proc does not tell.
func peakRSS(reset bool) uint64 {
	if reset {
		os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
		return 0
	}
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// cpuTime is the process's user and system CPU time so far: unlike
// ns/op, it hardly depends on what else the machine runs.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkDaily100k builds the report of a day of 100,000 procedures
// and writes it (goals: CSV under 1 s, PDF under 3 s, under 200 MB).
//
//	go test -run '^$' -bench Daily100k -benchtime 5x ./app/report/
func BenchmarkDaily100k(b *testing.B) {
	db := openStore(b, "big")
	t0 := time.Now()
	bigDay(b, db, 100_000)
	b.Logf("generated 100,000 procedures in %v", time.Since(t0).Round(time.Millisecond))
	for _, f := range []struct {
		name  string
		write func(io.Writer, Report, string) error
	}{{"csv", WriteCSV}, {"xlsx", WriteXLSX}, {"pdf", WritePDF}} {
		b.Run(f.name, func(b *testing.B) {
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			peakRSS(true)
			var peak atomic.Uint64
			stop := make(chan struct{})
			done := make(chan struct{})
			go func() { heapPeak(stop, &peak); close(done) }()
			cpu0 := cpuTime()
			b.ResetTimer()
			procs := 0
			for b.Loop() {
				r, err := Build(context.Background(), db, testDay, Options{Store: "T-01"})
				if err != nil {
					b.Fatal(err)
				}
				procs = 0
				for _, p := range r.Total.Procedures {
					procs += p.Count
				}
				if err := f.write(io.Discard, r, "ja"); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			cpu := cpuTime() - cpu0
			close(stop)
			<-done
			runtime.ReadMemStats(&after)
			if procs != 100_000 {
				b.Fatalf("the report counts %d procedures", procs)
			}
			b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cpu-ms/op")
			b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/float64(b.N)/1e6, "MB-alloc/op")
			b.ReportMetric(float64(peak.Load())/1e6, "MB-heap-peak")
			if rss := peakRSS(false); rss > 0 {
				b.ReportMetric(float64(rss)/1e6, "MB-rss-peak")
			}
		})
	}
}
