package printing

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os/user"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	ipp "github.com/phin1x/go-ipp"

	"madoguchi/app/receipt"
)

// CUPS submits receipts to a CUPS server over IPP (github.com/phin1x/go-ipp)
// and follows them to paper: it reads the printer's state before
// submitting, then the job's state until it completes, and reports a
// printer that is offline, out of paper or stopped as a receipt.Problem.
//
// A job that cannot finish because the printer is down is cancelled
// rather than left in the queue: CUPS keeps retrying a dead printer
// (ErrorPolicy retry-job), and a receipt with a citizen's name coming out
// unattended minutes later could be taken by the next person. The receipt
// stays stored as unprinted and the clerk reprints it.
type CUPS struct {
	adapter *ipp.HttpAdapter
	host    string // host:port as written in printer and job URIs
	base    string // http(s)://host:port, or http://localhost for a socket
	user    string
	log     *slog.Logger
	o       CUPSOptions
	reqID   atomic.Int32
}

// CUPSOptions tune a CUPS client. Zero values take the defaults.
type CUPSOptions struct {
	// User is the requesting user name; default the OS user.
	User string
	Log  *slog.Logger
	// Poll is the interval between state reads (default 250 ms).
	Poll time.Duration
	// Timeout bounds one job from submission to completion (default 15 s:
	// a receipt printer finishes in a few seconds; a printer CUPS cannot
	// reach reports nothing but a message while CUPS retries it).
	Timeout time.Duration
	// Grace is how long a job may wait while the printer reports a
	// problem before it is cancelled (default 5 s).
	Grace time.Duration
	// RequestTimeout bounds one IPP request (default 10 s).
	RequestTimeout time.Duration
}

// DefaultCUPSURI is CUPS on this machine.
const DefaultCUPSURI = "http://localhost:631"

// NewCUPS makes a client for the CUPS server at uri: http://host:port,
// https://host:port, ipp://host:port (plain HTTP, default port 631), or
// unix:///run/cups/cups.sock for the local socket, where CUPS
// authenticates the OS user (PeerCred) — the way to let a terminal cancel
// its own jobs under CUPS's default policy. Empty is DefaultCUPSURI.
func NewCUPS(uri string, o CUPSOptions) (*CUPS, error) {
	if uri == "" {
		uri = DefaultCUPSURI
	}
	u, err := url.Parse(uri)
	if err != nil {
		return nil, fmt.Errorf("printing: CUPS URI %q: %w", uri, err)
	}
	if o.User == "" {
		if cur, err := user.Current(); err == nil {
			o.User = cur.Username
		} else {
			o.User = "madoguchi"
		}
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Poll <= 0 {
		o.Poll = 250 * time.Millisecond
	}
	if o.Timeout <= 0 {
		o.Timeout = 15 * time.Second
	}
	if o.Grace <= 0 {
		o.Grace = 5 * time.Second
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = 10 * time.Second
	}
	c := &CUPS{user: o.User, log: o.Log, o: o}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil // a print server is never reached through a web proxy
	var rt http.RoundTripper = tr
	tls := false
	switch u.Scheme {
	case "http", "ipp":
	case "https", "ipps":
		tls = true
	case "unix":
		sock := u.Path
		if sock == "" {
			return nil, fmt.Errorf("printing: CUPS URI %q: no socket path", uri)
		}
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		}
		rt = peerCred{tr, o.User}
		u = &url.URL{Scheme: "http", Host: "localhost"}
	default:
		return nil, fmt.Errorf("printing: CUPS URI %q: want http, https, ipp, ipps or unix", uri)
	}
	host, port := u.Hostname(), u.Port()
	if host == "" {
		return nil, fmt.Errorf("printing: CUPS URI %q: no host", uri)
	}
	if port == "" {
		port = "631"
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return nil, fmt.Errorf("printing: CUPS URI %q: port: %w", uri, err)
	}
	client := &http.Client{Transport: rt, Timeout: o.RequestTimeout}
	c.adapter = ipp.NewHttpAdapter(host, p, "", "", tls, ipp.WithHttpClient(client))
	c.host = net.JoinHostPort(host, port)
	c.base = c.adapter.GetHttpUri("", nil)
	return c, nil
}

// peerCred asks CUPS to authenticate the OS user from the socket's peer
// credentials (CUPS's AuthType PeerCred, local sockets only).
type peerCred struct {
	rt   http.RoundTripper
	user string
}

func (p peerCred) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "PeerCred "+p.user)
	return p.rt.RoundTrip(r)
}

func (c *CUPS) printerURI(queue string) string {
	return "ipp://" + c.host + "/printers/" + url.PathEscape(queue)
}

func (c *CUPS) send(ctx context.Context, path string, req *ipp.Request) (*ipp.Response, error) {
	req.RequestId = c.reqID.Add(1)
	if _, ok := req.OperationAttributes[ipp.AttributeRequestingUserName]; !ok {
		req.OperationAttributes[ipp.AttributeRequestingUserName] = c.user
	}
	return c.adapter.SendRequestContext(ctx, c.base+path, req, nil)
}

// PrinterState is what CUPS says about a queue.
type PrinterState struct {
	// State is idle, processing or stopped.
	State string `json:"state"`
	// Reasons are printer-state-reasons other than "none", e.g.
	// media-empty-error, offline-report, paused.
	Reasons   []string `json:"reasons,omitempty"`
	Message   string   `json:"message,omitempty"`
	Accepting bool     `json:"accepting"`
}

// ErrNoSuchQueue: CUPS has no queue of that name.
var ErrNoSuchQueue = errors.New("printing: no such printer queue")

// Printer reads a queue's state.
func (c *CUPS) Printer(ctx context.Context, queue string) (PrinterState, error) {
	req := ipp.NewRequest(ipp.OperationGetPrinterAttributes, 0)
	req.OperationAttributes[ipp.AttributePrinterURI] = c.printerURI(queue)
	req.OperationAttributes[ipp.AttributeRequestedAttributes] = []string{
		ipp.AttributePrinterState, ipp.AttributePrinterStateReasons,
		ipp.AttributePrinterStateMessage, ipp.AttributePrinterIsAcceptingJobs,
	}
	resp, err := c.send(ctx, "/printers/"+url.PathEscape(queue), req)
	if err != nil {
		var ie ipp.IPPError
		if errors.As(err, &ie) && ie.Status == ipp.StatusErrorNotFound {
			return PrinterState{}, fmt.Errorf("%w: %s", ErrNoSuchQueue, queue)
		}
		return PrinterState{}, fmt.Errorf("printing: printer %s: %w", queue, err)
	}
	if len(resp.PrinterAttributes) == 0 {
		return PrinterState{}, fmt.Errorf("printing: printer %s: no attributes in the answer", queue)
	}
	a := resp.PrinterAttributes[0]
	st := PrinterState{
		State:     printerStateName(intOf(a, ipp.AttributePrinterState)),
		Message:   stringOf(a, ipp.AttributePrinterStateMessage),
		Accepting: boolOf(a, ipp.AttributePrinterIsAcceptingJobs, true),
	}
	for _, r := range stringsOf(a, ipp.AttributePrinterStateReasons) {
		if r != "none" {
			st.Reasons = append(st.Reasons, r)
		}
	}
	return st, nil
}

func printerStateName(v int) string {
	switch v {
	case 3:
		return "idle"
	case 4:
		return "processing"
	case 5:
		return "stopped"
	}
	return strconv.Itoa(v)
}

// Keywords of printer-state-reasons (RFC 8011 §5.4.12, PWG 5100.9) by the
// problem they mean. A reason may carry a -error, -warning or -report
// suffix; warnings (media-low, …) do not stop a receipt.
var (
	paperReasons   = []string{"media-empty", "media-needed", "media-jam", "cover-open", "door-open", "input-tray-missing", "output-area-full"}
	offlineReasons = []string{"offline", "shutdown", "timed-out", "connecting-to-device"}
	stopReasons    = []string{"paused", "moving-to-paused", "stopped-partly", "stopping", "cups-missing-filter", "cups-insecure-filter"}
)

func baseReason(r string) (base string, warning bool) {
	for _, s := range []string{"-error", "-warning", "-report"} {
		if b, ok := strings.CutSuffix(r, s); ok {
			return b, s == "-warning"
		}
	}
	return r, false
}

// Problem says why this printer cannot print a receipt now, if it cannot.
func (s PrinterState) Problem() receipt.Problem {
	has := func(set []string) bool {
		for _, r := range s.Reasons {
			b, warning := baseReason(r)
			if !warning && slices.Contains(set, b) {
				return true
			}
		}
		return false
	}
	switch {
	case has(paperReasons):
		return receipt.ProblemNoPaper
	case has(offlineReasons):
		return receipt.ProblemOffline
	case s.State == "stopped" || !s.Accepting || has(stopReasons):
		return receipt.ProblemStopped
	}
	return receipt.ProblemNone
}

func (s PrinterState) String() string {
	out := s.State
	if len(s.Reasons) > 0 {
		out += " (" + strings.Join(s.Reasons, ", ") + ")"
	}
	if !s.Accepting {
		out += ", rejecting jobs"
	}
	if s.Message != "" {
		out += ": " + s.Message
	}
	return out
}

// JobState is what CUPS says about a job.
type JobState struct {
	// State is pending, held, processing, stopped, canceled, aborted or
	// completed.
	State   string   `json:"state"`
	Reasons []string `json:"reasons,omitempty"`
	Message string   `json:"message,omitempty"`
}

// Done reports whether the job has ended, one way or another.
func (j JobState) Done() bool {
	return j.State == "completed" || j.State == "canceled" || j.State == "aborted"
}

func jobStateName(v int) string {
	switch v {
	case 3:
		return "pending"
	case 4:
		return "held"
	case 5:
		return "processing"
	case 6:
		return "stopped"
	case 7:
		return "canceled"
	case 8:
		return "aborted"
	case 9:
		return "completed"
	}
	return strconv.Itoa(v)
}

// Submit sends a PDF to queue (Print-Job) and returns the job ID.
func (c *CUPS) Submit(ctx context.Context, queue string, doc receipt.Document) (int, error) {
	req := ipp.NewRequest(ipp.OperationPrintJob, 0)
	req.OperationAttributes[ipp.AttributePrinterURI] = c.printerURI(queue)
	req.OperationAttributes[ipp.AttributeJobName] = doc.Name
	req.OperationAttributes[ipp.AttributeDocumentFormat] = "application/pdf"
	if doc.Media != "" {
		// Without it a roll receipt would be centred on the queue's
		// default page (often A4).
		req.JobAttributes[ipp.AttributeMedia] = doc.Media
	}
	req.File, req.FileSize = bytes.NewReader(doc.PDF), len(doc.PDF)
	resp, err := c.send(ctx, "/printers/"+url.PathEscape(queue), req)
	if err != nil {
		return 0, fmt.Errorf("printing: submit to %s: %w", queue, err)
	}
	if len(resp.JobAttributes) == 0 {
		return 0, fmt.Errorf("printing: submit to %s: no job in the answer", queue)
	}
	id := intOf(resp.JobAttributes[0], ipp.AttributeJobID)
	if id <= 0 {
		return 0, fmt.Errorf("printing: submit to %s: no job ID in the answer", queue)
	}
	return id, nil
}

// Job reads a job's state.
func (c *CUPS) Job(ctx context.Context, id int) (JobState, error) {
	req := ipp.NewRequest(ipp.OperationGetJobAttributes, 0)
	req.OperationAttributes[ipp.AttributeJobURI] = "ipp://" + c.host + "/jobs/" + strconv.Itoa(id)
	req.OperationAttributes[ipp.AttributeRequestedAttributes] = []string{
		ipp.AttributeJobState, ipp.AttributeJobStateReasons, ipp.AttributeJobPrinterStateMessage,
	}
	resp, err := c.send(ctx, "/jobs/"+strconv.Itoa(id), req)
	if err != nil {
		return JobState{}, fmt.Errorf("printing: job %d: %w", id, err)
	}
	if len(resp.JobAttributes) == 0 {
		return JobState{}, fmt.Errorf("printing: job %d: no attributes in the answer", id)
	}
	a := resp.JobAttributes[0]
	return JobState{
		State:   jobStateName(intOf(a, ipp.AttributeJobState)),
		Reasons: stringsOf(a, ipp.AttributeJobStateReasons),
		Message: stringOf(a, ipp.AttributeJobPrinterStateMessage),
	}, nil
}

// Cancel cancels a job (and purges it: a receipt's data does not linger
// in the spool).
func (c *CUPS) Cancel(ctx context.Context, id int) error {
	req := ipp.NewRequest(ipp.OperationCancelJob, 0)
	req.OperationAttributes[ipp.AttributeJobURI] = "ipp://" + c.host + "/jobs/" + strconv.Itoa(id)
	req.OperationAttributes[ipp.AttributePurgeJobs] = true
	if _, err := c.send(ctx, "/jobs/", req); err != nil {
		return fmt.Errorf("printing: cancel job %d: %w", id, err)
	}
	return nil
}

// Print implements receipt.Printer: it checks the printer, submits the
// PDF and follows the job until it completes, the printer reports a
// problem for longer than Grace, or Timeout passes. A printer that is
// down yields a PrintResult with a Problem (and a cancelled job); an error
// means CUPS could not be asked at all.
func (c *CUPS) Print(ctx context.Context, queue string, doc receipt.Document) (receipt.PrintResult, error) {
	st, err := c.Printer(ctx, queue)
	if errors.Is(err, ErrNoSuchQueue) {
		return receipt.PrintResult{Problem: receipt.ProblemStopped, Detail: err.Error()}, nil
	}
	if err != nil {
		return receipt.PrintResult{}, err
	}
	if p := st.Problem(); p != receipt.ProblemNone {
		return receipt.PrintResult{Problem: p, Detail: st.String()}, nil
	}
	id, err := c.Submit(ctx, queue, doc)
	if err != nil {
		return receipt.PrintResult{}, err
	}
	c.log.Debug("print job submitted", "printer", queue, "job", id, "receipt", doc.Name)
	res := receipt.PrintResult{JobID: id}
	deadline := time.Now().Add(c.o.Timeout)
	var troubleSince time.Time
	tick := time.NewTicker(c.o.Poll)
	defer tick.Stop()
	for {
		js, err := c.Job(ctx, id)
		if err != nil && ctx.Err() == nil {
			res.Problem, res.Detail = receipt.ProblemUnreachable, err.Error()
			c.cancel(id)
			return res, nil
		}
		switch js.State {
		case "completed":
			return res, nil
		case "canceled", "aborted":
			res.Problem, res.Detail = receipt.ProblemFailed, "job "+js.State+" "+strings.Join(js.Reasons, ", ")
			return res, nil
		}
		// Still on its way: is the printer in trouble?
		if ps, err := c.Printer(ctx, queue); err == nil {
			if p := ps.Problem(); p != receipt.ProblemNone || js.State == "stopped" {
				if p == receipt.ProblemNone {
					p = receipt.ProblemStopped
				}
				if troubleSince.IsZero() {
					troubleSince = time.Now()
				}
				if time.Since(troubleSince) >= c.o.Grace {
					res.Problem, res.Detail = p, ps.String()
					c.cancel(id)
					return res, nil
				}
			} else {
				troubleSince = time.Time{}
			}
		}
		if time.Now().After(deadline) {
			// A printer CUPS cannot reach shows no reason keyword, only a
			// message from its backend ("The printer may not exist or is
			// unavailable at this time.") while CUPS retries: offline.
			res.Problem, res.Detail = receipt.ProblemTimeout, "job "+js.State+" after "+c.o.Timeout.String()
			if ps, err := c.Printer(ctx, queue); err == nil && (ps.Message != "" || len(ps.Reasons) > 0) {
				res.Problem, res.Detail = receipt.ProblemOffline, res.Detail+"; printer "+ps.String()
			}
			c.cancel(id)
			return res, nil
		}
		select {
		case <-ctx.Done():
			res.Problem, res.Detail = receipt.ProblemTimeout, "abandoned: "+ctx.Err().Error()
			c.cancel(id)
			return res, nil
		case <-tick.C:
		}
	}
}

// cancel cancels a job whatever the caller's context, and logs a failure:
// the job then stays queued and may print when the printer comes back.
func (c *CUPS) cancel(id int) {
	ctx, done := context.WithTimeout(context.Background(), c.o.RequestTimeout)
	defer done()
	if err := c.Cancel(ctx, id); err != nil {
		c.log.Warn("could not cancel a print job; it may print when the printer is back", "job", id, "err", err)
	}
}

// Attribute helpers: go-ipp decodes integers and enums as int, keywords
// and texts as string, booleans as bool.

func intOf(a ipp.Attributes, name string) int {
	if v := a[name]; len(v) > 0 {
		if i, ok := v[0].Value.(int); ok {
			return i
		}
	}
	return 0
}

func stringOf(a ipp.Attributes, name string) string {
	if v := a[name]; len(v) > 0 {
		if s, ok := v[0].Value.(string); ok {
			return s
		}
	}
	return ""
}

func stringsOf(a ipp.Attributes, name string) []string {
	var out []string
	for _, v := range a[name] {
		if s, ok := v.Value.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func boolOf(a ipp.Attributes, name string, def bool) bool {
	if v := a[name]; len(v) > 0 {
		if b, ok := v[0].Value.(bool); ok {
			return b
		}
	}
	return def
}
