package receipt

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"

	"madoguchi/app/i18n"
	"madoguchi/app/store"
)

// fakeRenderer renders a receipt as its number and name, so tests can see
// what reached the printer.
type fakeRenderer struct{}

func (fakeRenderer) Render(_ context.Context, r Record) (Document, error) {
	return Document{Name: r.Number, PDF: []byte("%PDF " + r.Number + " " + r.Details.HolderName), Media: "Custom.80x100mm"}, nil
}

// fakePrinter returns scripted results and records what it was given.
type fakePrinter struct {
	mu      sync.Mutex
	results []PrintResult
	err     error
	got     []Document
	queues  []string
}

func (p *fakePrinter) Print(_ context.Context, queue string, doc Document) (PrintResult, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.got = append(p.got, doc)
	p.queues = append(p.queues, queue)
	if p.err != nil {
		return PrintResult{}, p.err
	}
	r := p.results[0]
	if len(p.results) > 1 {
		p.results = p.results[1:]
	}
	return r, nil
}

type fixture struct {
	svc     *Service
	st      *store.Store
	printer *fakePrinter
	now     *time.Time
}

func newFixture(t *testing.T, queue string) fixture {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(context.Background(), filepath.Join(dir, "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	keys, err := LoadKeys(filepath.Join(dir, "receipt-keys.json"), "DEMO-01")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 22, 10, 15, 0, 0, i18n.Japan)
	p := &fakePrinter{results: []PrintResult{{JobID: 1}}}
	svc, err := New(Config{DB: st.DB, Keys: keys, Renderer: fakeRenderer{}, Printer: p, Queue: queue,
		Origin: Origin{Municipality: "デモ市", Counter: "窓口1", Terminal: "DEMO-01"},
		Now:    func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	return fixture{svc: svc, st: st, printer: p, now: &now}
}

var issuance = Data{Procedure: Issuance, Lang: "en", Details: Details{
	HolderName: "窓口　花子", CardLast4: "7C2A",
	CardExpiry: time.Date(2036, 4, 1, 23, 59, 59, 0, i18n.Japan),
	Certs:      []Cert{{Purpose: CertSignature, Action: CertIssued, Expiry: time.Date(2031, 4, 1, 23, 59, 59, 0, i18n.Japan)}},
}}

func TestIssueAndGet(t *testing.T) {
	f := newFixture(t, "Receipt")
	ctx := context.Background()
	r1, err := f.svc.Issue(ctx, issuance)
	if err != nil {
		t.Fatal(err)
	}
	r2, _ := f.svc.Issue(ctx, issuance)
	if r1.Number != "DEMO-01-20261122-0001" || r2.Number != "DEMO-01-20261122-0002" || r1.Status != Unprinted {
		t.Fatalf("numbers %q %q, status %q", r1.Number, r2.Number, r1.Status)
	}
	// The count starts again the next day in Japan.
	*f.now = f.now.Add(14 * time.Hour)
	r3, _ := f.svc.Issue(ctx, issuance)
	if r3.Number != "DEMO-01-20261123-0001" {
		t.Errorf("next day: %q", r3.Number)
	}
	for _, key := range []string{"1", r1.Number} {
		got, err := f.svc.Get(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		if got.Number != r1.Number || got.Details.HolderName != "窓口　花子" || got.Code != r1.Code ||
			!got.Details.CardExpiry.Equal(issuance.Details.CardExpiry) || len(got.Details.Certs) != 1 ||
			got.Municipality != "デモ市" || got.Lang != "en" {
			t.Errorf("Get(%s) = %+v", key, got)
		}
	}
	if _, err := f.svc.Get(ctx, "99"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get(99): %v", err)
	}
	list, err := f.svc.List(ctx, Filter{})
	if err != nil || len(list) != 3 || list[0].Number != r3.Number {
		t.Fatalf("List = %v, %v", list, err)
	}
	if list[0].Details.HolderName != "" {
		t.Error("List shows the holder's name")
	}
}

// TestStoreHoldsNoSecrets: the holder's name is sealed (not readable in
// the database file), and text shaped like an individual number is
// refused before anything is stored.
func TestStoreHoldsNoSecrets(t *testing.T) {
	f := newFixture(t, "")
	ctx := context.Background()
	if _, err := f.svc.Issue(ctx, issuance); err != nil {
		t.Fatal(err)
	}
	bad := issuance
	bad.Details.Reference = "123456789018"
	if _, err := f.svc.Issue(ctx, bad); !errors.Is(err, ErrIndividualNumber) {
		t.Fatalf("Issue with a number: %v", err)
	}
	if list, _ := f.svc.List(ctx, Filter{}); len(list) != 1 {
		t.Errorf("%d receipts stored, want 1", len(list))
	}
	if _, err := f.st.DB.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		t.Fatal(err)
	}
	for _, suffix := range []string{"", "-wal"} {
		data, err := os.ReadFile(f.st.Path + suffix)
		if err != nil {
			continue
		}
		if bytes.Contains(data, []byte("花子")) {
			t.Errorf("the holder's name is readable in %s", filepath.Base(f.st.Path+suffix))
		}
		if m := regexp.MustCompile(`\d{12}`).Find(data); m != nil {
			t.Errorf("twelve digits in %s: %s", filepath.Base(f.st.Path+suffix), m)
		}
	}
}

func TestPrintOutcomes(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		queue   string
		results []PrintResult
		err     error
		printed bool
		problem Problem
		message i18n.Key
	}{
		{"printed", "Receipt", []PrintResult{{JobID: 5}}, nil, true, ProblemNone, "receipt.print.printed"},
		{"no printer configured", "", nil, nil, false, ProblemNoPrinter, "receipt.print.no_printer"},
		{"offline", "Receipt", []PrintResult{{JobID: 6, Problem: ProblemOffline, Detail: "unreachable"}}, nil, false, ProblemOffline, "receipt.print.offline"},
		{"out of paper", "Receipt", []PrintResult{{Problem: ProblemNoPaper}}, nil, false, ProblemNoPaper, "receipt.print.no_paper"},
		{"CUPS down", "Receipt", nil, errors.New("connection refused"), false, ProblemUnreachable, "receipt.print.unreachable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.queue)
			f.printer.results, f.printer.err = tc.results, tc.err
			r, err := f.svc.Issue(ctx, issuance)
			if err != nil {
				t.Fatal(err)
			}
			o, err := f.svc.Print(ctx, r.Number, "")
			if err != nil {
				t.Fatal(err)
			}
			if o.Printed != tc.printed || o.Problem != tc.problem || o.Message != tc.message {
				t.Errorf("outcome %+v", o)
			}
			got, _ := f.svc.Get(ctx, r.Number)
			want := Unprinted
			if tc.printed {
				want = Printed
			}
			if got.Status != want || got.Attempts != 1 || got.LastProblem != tc.problem || (tc.printed && got.PrintedAt.IsZero()) {
				t.Errorf("stored %+v", got)
			}
			if tc.printed && (len(f.printer.got) != 1 || !bytes.Contains(f.printer.got[0].PDF, []byte(r.Number)) || f.printer.queues[0] != "Receipt") {
				t.Errorf("printer got %v on %v", f.printer.got, f.printer.queues)
			}
			att, _ := f.svc.Attempts(ctx, got.ID)
			if len(att) != 1 || att[0].Problem != tc.problem {
				t.Errorf("attempts %+v", att)
			}
		})
	}
}

// TestPrinterDownThenReprint: the receipt waits, unprinted, while the
// printer is down, and a reprint puts it on paper; a receipt printed once
// stays printed when a later reprint fails.
func TestPrinterDownThenReprint(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "Receipt")
	f.printer.results = []PrintResult{{Problem: ProblemOffline}, {JobID: 9}, {Problem: ProblemNoPaper}}
	r, _ := f.svc.Issue(ctx, issuance)
	if o, _ := f.svc.Print(ctx, r.Number, ""); o.Printed {
		t.Fatal("printed on a dead printer")
	}
	unprinted, _ := f.svc.List(ctx, Filter{Status: Unprinted})
	if len(unprinted) != 1 {
		t.Fatalf("unprinted = %v", unprinted)
	}
	o, err := f.svc.Print(ctx, "1", "Other")
	if err != nil || !o.Printed || o.Printer != "Other" || o.JobID != 9 {
		t.Fatalf("reprint = %+v, %v", o, err)
	}
	if o, _ := f.svc.Print(ctx, "1", ""); o.Printed {
		t.Fatal("third attempt should fail")
	}
	got, _ := f.svc.Get(ctx, "1")
	if got.Status != Printed || got.Attempts != 3 || got.LastProblem != ProblemNoPaper || got.JobID != 0 {
		t.Errorf("after a failed reprint: %+v", got)
	}
	if list, _ := f.svc.List(ctx, Filter{Status: Unprinted}); len(list) != 0 {
		t.Errorf("still unprinted: %v", list)
	}
}

func TestServiceVerify(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "")
	r, _ := f.svc.Issue(ctx, issuance)
	v, err := f.svc.Verify(ctx, r.QRPayload(), "")
	if err != nil || !v.Genuine || !v.Known || v.Record.Number != r.Number || v.Terminal != "DEMO-01" || v.Procedure != Issuance {
		t.Fatalf("Verify(QR) = %+v, %v", v, err)
	}
	if v.Record.Details.HolderName != "" {
		t.Error("Verify reveals the holder's name")
	}
	v, err = f.svc.Verify(ctx, r.Number, GroupCode(r.Code))
	if err != nil || !v.Genuine {
		t.Errorf("Verify(number, grouped code) = %+v, %v", v, err)
	}
	// A genuine code for a number this store does not hold (issued on
	// another day's database, or another terminal's copy of the key).
	other := "DEMO-01-20261122-0099"
	code, _ := f.svc.keys.Code(other, Suspension)
	if v, err := f.svc.Verify(ctx, other, code); err != nil || !v.Genuine || v.Known || v.Procedure != Suspension {
		t.Errorf("Verify(unknown number) = %+v, %v", v, err)
	}
	if v, err := f.svc.Verify(ctx, r.Number, "AAAAAAAAAAAAAAAA"); err != nil || v.Genuine {
		t.Errorf("Verify(forged) = %+v, %v", v, err)
	}
	if _, err := f.svc.Verify(ctx, "ELSEWHERE-20261122-0001", "AAAAAAAAAAAAAAAA"); !errors.Is(err, ErrUnknownTerminal) {
		t.Errorf("Verify(other terminal) = %v", err)
	}
	if _, err := f.svc.Verify(ctx, "garbage", ""); err == nil {
		t.Error("Verify(garbage) accepted")
	}
}

func TestNewChecks(t *testing.T) {
	dir := t.TempDir()
	keys, _ := LoadKeys(filepath.Join(dir, "k.json"), "A")
	st, err := store.Open(context.Background(), filepath.Join(dir, "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := New(Config{DB: st.DB, Keys: keys, Origin: Origin{Terminal: "B"}}); err == nil {
		t.Error("keys of another terminal accepted")
	}
	if _, err := New(Config{Keys: keys, Origin: Origin{Terminal: "A"}}); err == nil {
		t.Error("no store accepted")
	}
}
