package printing

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	ipp "github.com/phin1x/go-ipp"

	"madoguchi/app/receipt"
)

func TestPrinterStateProblem(t *testing.T) {
	for _, tc := range []struct {
		st   PrinterState
		want receipt.Problem
	}{
		{PrinterState{State: "idle", Accepting: true}, receipt.ProblemNone},
		{PrinterState{State: "processing", Accepting: true, Message: "Printing page 1"}, receipt.ProblemNone},
		{PrinterState{State: "idle", Accepting: true, Reasons: []string{"media-low-warning"}}, receipt.ProblemNone},
		{PrinterState{State: "processing", Accepting: true, Reasons: []string{"media-empty-error"}}, receipt.ProblemNoPaper},
		{PrinterState{State: "stopped", Accepting: true, Reasons: []string{"media-needed"}}, receipt.ProblemNoPaper},
		{PrinterState{State: "processing", Accepting: true, Reasons: []string{"cover-open-error"}}, receipt.ProblemNoPaper},
		{PrinterState{State: "idle", Accepting: true, Reasons: []string{"offline-report"}}, receipt.ProblemOffline},
		{PrinterState{State: "processing", Accepting: true, Reasons: []string{"connecting-to-device"}}, receipt.ProblemOffline},
		{PrinterState{State: "stopped", Accepting: true, Reasons: []string{"paused"}}, receipt.ProblemStopped},
		{PrinterState{State: "idle", Accepting: false}, receipt.ProblemStopped},
		{PrinterState{State: "stopped", Accepting: true, Reasons: []string{"offline-report", "paused"}}, receipt.ProblemOffline},
	} {
		if got := tc.st.Problem(); got != tc.want {
			t.Errorf("%v: Problem() = %q, want %q", tc.st, got, tc.want)
		}
	}
}

func TestNewCUPSURIs(t *testing.T) {
	for _, tc := range []struct {
		uri, base, host string
		ok              bool
	}{
		{"", "http://localhost:631", "localhost:631", true},
		{"http://localhost:631", "http://localhost:631", "localhost:631", true},
		{"ipp://printserver", "http://printserver:631", "printserver:631", true},
		{"https://printserver:8631", "https://printserver:8631", "printserver:8631", true},
		{"unix:///run/cups/cups.sock", "http://localhost:631", "localhost:631", true},
		{"lpd://x", "", "", false},
		{"http://:631", "", "", false},
		{"unix://", "", "", false},
	} {
		c, err := NewCUPS(tc.uri, CUPSOptions{})
		if (err == nil) != tc.ok {
			t.Errorf("%q: err = %v", tc.uri, err)
			continue
		}
		if err == nil && (c.base != tc.base || c.host != tc.host) {
			t.Errorf("%q: base %q host %q", tc.uri, c.base, c.host)
		}
	}
}

// fakeCUPS answers the IPP operations the client uses, from a script.
type fakeCUPS struct {
	mu           sync.Mutex
	state        int // printer-state
	reasons      []string
	message      string
	accepting    bool
	notFound     bool
	jobStates    []int // successive job-state answers; the last repeats
	afterSubmit  func(f *fakeCUPS)
	submitted    int
	media, user  string
	format       string
	cancelled    []int
	sawPeerCred  string
	jobStateAsks int
}

func newFake() *fakeCUPS {
	return &fakeCUPS{state: 3, accepting: true, jobStates: []int{5, 9}}
}

func (f *fakeCUPS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// go-ipp's decoder fails on a reader that returns data with io.EOF
	// (an HTTP body may): decode from memory.
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	req, err := ipp.NewRequestDecoder(bytes.NewReader(body)).Decode(&bytes.Buffer{})
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if a := r.Header.Get("Authorization"); a != "" {
		f.sawPeerCred = a
	}
	var b respBuilder
	status := uint16(0)
	groups := []group{}
	switch req.Operation {
	case ipp.OperationGetPrinterAttributes:
		if f.notFound {
			status = uint16(ipp.StatusErrorNotFound)
			break
		}
		g := group{tag: 0x04, attrs: []attr{
			{0x23, "printer-state", []any{f.state}},
			{0x22, "printer-is-accepting-jobs", []any{f.accepting}},
			{0x41, "printer-state-message", []any{f.message}},
		}}
		reasons := []any{"none"}
		if len(f.reasons) > 0 {
			reasons = nil
			for _, r := range f.reasons {
				reasons = append(reasons, r)
			}
		}
		g.attrs = append(g.attrs, attr{0x44, "printer-state-reasons", reasons})
		groups = append(groups, g)
	case ipp.OperationPrintJob:
		f.submitted++
		f.media, _ = req.JobAttributes["media"].(string)
		f.format, _ = req.OperationAttributes["document-format"].(string)
		f.user, _ = req.OperationAttributes["requesting-user-name"].(string)
		groups = append(groups, group{tag: 0x02, attrs: []attr{{0x21, "job-id", []any{7}}, {0x23, "job-state", []any{3}}}})
		if f.afterSubmit != nil {
			f.afterSubmit(f)
		}
	case ipp.OperationGetJobAttributes:
		st := f.jobStates[min(f.jobStateAsks, len(f.jobStates)-1)]
		f.jobStateAsks++
		groups = append(groups, group{tag: 0x02, attrs: []attr{
			{0x23, "job-state", []any{st}}, {0x44, "job-state-reasons", []any{"none"}}}})
	case ipp.OperationCancelJob:
		uri, _ := req.OperationAttributes["job-uri"].(string)
		if strings.HasSuffix(uri, "/jobs/7") {
			f.cancelled = append(f.cancelled, 7)
		}
	default:
		status = 0x0501 // server-error-operation-not-supported
	}
	w.Header().Set("Content-Type", "application/ipp")
	w.Write(b.encode(status, uint32(req.RequestId), groups))
}

type attr struct {
	tag  byte
	name string
	vals []any
}

type group struct {
	tag   byte
	attrs []attr
}

type respBuilder struct{ bytes.Buffer }

func (b *respBuilder) value(tag byte, name string, v any) {
	b.WriteByte(tag)
	binary.Write(b, binary.BigEndian, uint16(len(name)))
	b.WriteString(name)
	switch v := v.(type) {
	case int:
		binary.Write(b, binary.BigEndian, uint16(4))
		binary.Write(b, binary.BigEndian, int32(v))
	case bool:
		binary.Write(b, binary.BigEndian, uint16(1))
		if v {
			b.WriteByte(1)
		} else {
			b.WriteByte(0)
		}
	case string:
		binary.Write(b, binary.BigEndian, uint16(len(v)))
		b.WriteString(v)
	}
}

// encode writes an IPP/2.0 response (RFC 8010 §3.1).
func (b *respBuilder) encode(status uint16, reqID uint32, groups []group) []byte {
	b.Write([]byte{2, 0})
	binary.Write(b, binary.BigEndian, status)
	binary.Write(b, binary.BigEndian, reqID)
	b.WriteByte(0x01)
	b.value(0x47, "attributes-charset", "utf-8")
	b.value(0x48, "attributes-natural-language", "en")
	for _, g := range groups {
		b.WriteByte(g.tag)
		for _, a := range g.attrs {
			for i, v := range a.vals {
				name := a.name
				if i > 0 {
					name = ""
				}
				b.value(a.tag, name, v)
			}
		}
	}
	b.WriteByte(0x03)
	return b.Bytes()
}

func fastCUPS(t *testing.T, uri string) *CUPS {
	t.Helper()
	c, err := NewCUPS(uri, CUPSOptions{User: "clerk", Poll: 5 * time.Millisecond, Grace: 40 * time.Millisecond,
		Timeout: 300 * time.Millisecond, RequestTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var testDoc = receipt.Document{Name: "DEMO-01-20261122-0001", PDF: []byte("%PDF-1.4 test"), Media: "Custom.80x200mm"}

func TestCUPSPrint(t *testing.T) {
	for _, tc := range []struct {
		name       string
		setup      func(f *fakeCUPS)
		problem    receipt.Problem
		submitted  int
		cancelled  bool
		detailHint string
	}{
		{"printed", func(f *fakeCUPS) {}, receipt.ProblemNone, 1, false, ""},
		{"queue paused (cupsdisable)", func(f *fakeCUPS) { f.state, f.reasons = 5, []string{"paused"} }, receipt.ProblemStopped, 0, false, "paused"},
		{"queue rejects jobs", func(f *fakeCUPS) { f.accepting = false }, receipt.ProblemStopped, 0, false, "rejecting"},
		{"out of paper before", func(f *fakeCUPS) { f.reasons = []string{"media-empty-error"} }, receipt.ProblemNoPaper, 0, false, "media-empty"},
		{"out of paper during", func(f *fakeCUPS) {
			f.jobStates = []int{5}
			f.afterSubmit = func(f *fakeCUPS) { f.state, f.reasons, f.message = 4, []string{"media-empty-error"}, "Out of paper" }
		}, receipt.ProblemNoPaper, 1, true, "Out of paper"},
		{"printer offline (report)", func(f *fakeCUPS) { f.reasons = []string{"offline-report"} }, receipt.ProblemOffline, 0, false, "offline"},
		{"dead printer: CUPS retries", func(f *fakeCUPS) {
			f.jobStates = []int{5}
			f.afterSubmit = func(f *fakeCUPS) {
				f.state, f.message = 4, "The printer may not exist or is unavailable at this time."
			}
		}, receipt.ProblemOffline, 1, true, "may not exist"},
		{"slow job, no sign", func(f *fakeCUPS) { f.jobStates = []int{3} }, receipt.ProblemTimeout, 1, true, "pending"},
		{"job aborted", func(f *fakeCUPS) { f.jobStates = []int{5, 8} }, receipt.ProblemFailed, 1, false, "aborted"},
		{"no such queue", func(f *fakeCUPS) { f.notFound = true }, receipt.ProblemStopped, 0, false, "no such printer queue"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake()
			tc.setup(f)
			srv := httptest.NewServer(f)
			defer srv.Close()
			c := fastCUPS(t, srv.URL)
			res, err := c.Print(context.Background(), "Receipt", testDoc)
			if err != nil {
				t.Fatal(err)
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			if res.Problem != tc.problem || f.submitted != tc.submitted || (len(f.cancelled) > 0) != tc.cancelled ||
				!strings.Contains(res.Detail, tc.detailHint) {
				t.Errorf("result %+v, submitted %d, cancelled %v", res, f.submitted, f.cancelled)
			}
			if f.submitted > 0 && (f.media != testDoc.Media || f.format != "application/pdf" || f.user != "clerk") {
				t.Errorf("submitted media %q format %q user %q", f.media, f.format, f.user)
			}
			if tc.problem == receipt.ProblemNone && res.JobID != 7 {
				t.Errorf("job ID %d", res.JobID)
			}
		})
	}
}

func TestCUPSUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	c := fastCUPS(t, "http://"+addr)
	if _, err := c.Print(context.Background(), "Receipt", testDoc); err == nil {
		t.Fatal("Print to a closed port succeeded")
	}
}

// TestCUPSOverSocket: over CUPS's local socket the client names the OS
// user (PeerCred), so that CUPS's default policy lets it cancel its jobs.
func TestCUPSOverSocket(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "cups.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	f := newFake()
	srv := &http.Server{Handler: f}
	go srv.Serve(l)
	defer srv.Close()
	c := fastCUPS(t, "unix://"+sock)
	res, err := c.Print(context.Background(), "Receipt", testDoc)
	if err != nil || res.Problem != receipt.ProblemNone {
		t.Fatalf("Print = %+v, %v", res, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.sawPeerCred != "PeerCred clerk" {
		t.Errorf("Authorization = %q", f.sawPeerCred)
	}
}

func TestCUPSContextEnds(t *testing.T) {
	f := newFake()
	f.jobStates = []int{5}
	srv := httptest.NewServer(f)
	defer srv.Close()
	c, _ := NewCUPS(srv.URL, CUPSOptions{Poll: 5 * time.Millisecond, Timeout: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	res, err := c.Print(ctx, "Receipt", testDoc)
	if err != nil || res.Problem != receipt.ProblemTimeout {
		t.Fatalf("Print = %+v, %v", res, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.cancelled) != 1 {
		t.Errorf("an abandoned job was not cancelled: %v", f.cancelled)
	}
}
