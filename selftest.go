package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"text/tabwriter"
	"time"

	"madoguchi/app"
	"madoguchi/app/config"
	"madoguchi/app/faceimg"
	"madoguchi/app/flow"
	"madoguchi/app/i18n"
	"madoguchi/app/identity"
	"madoguchi/app/queue"
	"madoguchi/app/secret"
	"madoguchi/drivers/card"
	"madoguchi/drivers/card/pcsc"
	"madoguchi/drivers/card/pcscd"
	cardsim "madoguchi/drivers/card/sim"
	"madoguchi/drivers/card/vpcd"
	"madoguchi/drivers/jlis"
	"madoguchi/drivers/jlis/api"
	"madoguchi/drivers/phone"
	phonesim "madoguchi/drivers/phone/sim"
)

// The self-test's citizen PINs: fixed, for virtual cards only. The long
// ones are distinctive so that the privacy scan finds any copy of them.
const (
	stPIN4     = "5307"
	stSign     = "SELFTESTQ7X"
	stSignNext = "NEXTPASSW9Z"
	stPUK      = "73915482"
	stNewPIN   = "8642"
	stSignNew  = "KIOSKRESET5W"
)

// acceptanceReport is what `madoguchi selftest` prints.
type acceptanceReport struct {
	OK         bool              `json:"ok"`
	DataDir    string            `json:"dataDir"`
	CardPath   string            `json:"cardPath"` // how the virtual card was reached
	Reader     string            `json:"reader,omitempty"`
	Procedures []acceptanceProc  `json:"procedures"`
	Queue      queue.Stats       `json:"queue"`
	Privacy    acceptancePrivacy `json:"privacy"`
	Fonts      []fontCheck       `json:"fonts"`
	Notes      []string          `json:"notes,omitempty"`
	Totals     map[string]string `json:"-"`
}

// acceptanceProc is one procedure's figures.
type acceptanceProc struct {
	Name       string  `json:"name"`
	Generation string  `json:"generation"`
	OK         bool    `json:"ok"`
	Ms         float64 `json:"ms"` // software time: connecting to the placed card + the flow (no human input, no wait for the card)
	Placements int     `json:"placements"`
	PhoneTaps  int     `json:"phoneTaps,omitempty"`
	PINEntries int     `json:"pinEntries"` // values the citizen types, confirmations not counted
	APDUs      int     `json:"apdus"`
	Receipt    string  `json:"receipt,omitempty"`
	Error      string  `json:"error,omitempty"`
}

// acceptancePrivacy is the scan of the data directory after the run.
type acceptancePrivacy struct {
	FilesScanned int      `json:"filesScanned"`
	Findings     []string `json:"findings"`
}

// cmdSelftest: madoguchi selftest [--json] [--data DIR] — the terminal's
// acceptance test (see docs/SELFTEST.md).
func cmdSelftest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("selftest", stderr)
	data := fs.String("data", "", "data directory (default: a scratch directory, removed afterwards)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	inProcess := fs.Bool("in-process", false, "reach the virtual card in-process instead of through pcscd (diagnosis only)")
	if err := parse(fs, args); err != nil {
		return err
	}
	rep, err := runSelftest(ctx, *data, *inProcess, stderr)
	if err != nil {
		return err
	}
	if *asJSON {
		printJSON(stdout, rep)
	} else {
		printSelftest(stdout, rep)
	}
	if !rep.OK {
		return errors.New("selftest: failed")
	}
	return nil
}

func printSelftest(w io.Writer, r *acceptanceReport) {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "procedure\tgeneration\tresult\tms\tplacements\tphone taps\tPIN entries\tAPDUs\n")
	for _, p := range r.Procedures {
		res := "ok"
		if !p.OK {
			res = "FAILED: " + p.Error
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.0f\t%d\t%d\t%d\t%d\n", p.Name, p.Generation, res, p.Ms, p.Placements, p.PhoneTaps, p.PINEntries, p.APDUs)
	}
	tw.Flush()
	fmt.Fprintf(w, "card path: %s %s\n", r.CardPath, r.Reader)
	fmt.Fprintf(w, "queue after the run: %d pending, %d dead letters\n", r.Queue.Pending, r.Queue.Dead)
	if len(r.Privacy.Findings) == 0 {
		fmt.Fprintf(w, "privacy: no PIN and no individual number in %d files of %s\n", r.Privacy.FilesScanned, r.DataDir)
	} else {
		fmt.Fprintf(w, "privacy: FOUND %s\n", strings.Join(r.Privacy.Findings, "; "))
	}
	noFont := missingLangs(r.Fonts)
	if len(noFont) == 0 && len(r.Fonts) > 0 {
		fmt.Fprintf(w, "fonts: every one of the %d screen languages has a font\n", len(r.Fonts))
	} else if len(noFont) > 0 {
		fmt.Fprintf(w, "fonts: NO FONT for %s — their text shows as empty boxes; %s\n", strings.Join(noFont, ", "), fontHint)
	}
	for _, n := range r.Notes {
		fmt.Fprintln(w, "note:", n)
	}
	if r.OK {
		fmt.Fprintln(w, "selftest: ok")
	} else {
		fmt.Fprintln(w, "selftest: FAILED")
	}
}

// selftest is one run's wiring.
type selftest struct {
	e      *env
	ports  flow.Ports
	client *jlis.Client
	simDir string

	inProcess bool
	addr      string // vpcd address
	reader    string // its PC/SC name
	release   func() // stops a private pcscd
	report    *acceptanceReport
}

func runSelftest(ctx context.Context, data string, inProcess bool, stderr io.Writer) (*acceptanceReport, error) {
	scratch := data == ""
	if scratch {
		d, err := os.MkdirTemp("", "madoguchi-selftest-")
		if err != nil {
			return nil, err
		}
		data = d
		defer os.RemoveAll(d)
	}
	if err := os.MkdirAll(data, 0o700); err != nil {
		return nil, err
	}
	rep := &acceptanceReport{DataDir: data}
	st := &selftest{report: rep, inProcess: inProcess, simDir: filepath.Join(data, "central-sim")}

	// The card path first: a private pcscd must be set up before this
	// process makes its first PC/SC call.
	if !inProcess {
		if err := st.cardPath(); err != nil {
			rep.Notes = append(rep.Notes, "pcscd unavailable, the virtual card is reached in-process: "+err.Error())
			st.inProcess = true
		} else if st.release != nil {
			defer st.release()
		}
	}
	if st.inProcess {
		rep.CardPath = "in-process"
	}

	// A config of embedded defaults in the data directory: the built-in
	// central simulator, no printer.
	cfgPath := filepath.Join(data, "selftest.toml")
	if _, err := os.Stat(cfgPath); errors.Is(err, fs.ErrNotExist) {
		if err := os.WriteFile(cfgPath, []byte(config.Template), 0o600); err != nil {
			return nil, err
		}
	}
	e, err := setup(ctx, common{data: data, config: cfgPath}, nil)
	if err != nil {
		return nil, err
	}
	st.e = e
	client, stopCentral, err := connectCentral(ctx, config.Central{}, data, e.log)
	if err != nil {
		e.Close()
		return nil, err
	}
	st.client = client
	rs, err := receiptService(e, cfgPath)
	if err != nil {
		stopCentral()
		e.Close()
		return nil, err
	}
	st.ports = flow.Ports{Central: client, Store: e.store, Queue: e.queue, Receipts: rs, Terminal: e.cfg.Terminal, Log: e.log}

	st.run(ctx)

	// Everything queued goes to the central system; nothing may be left.
	w := queue.NewWorker(e.queue, queue.Options{Kinds: queue.CentralKinds(client)})
	if _, err := w.Drain(ctx); err != nil {
		rep.Notes = append(rep.Notes, "queue drain: "+err.Error())
	}
	rep.Queue, _ = queue.Backlog(ctx, e.store.DB)
	fontsOK := true
	if fc, err := checkFonts(ctx, e.msgs.Languages()); err != nil {
		rep.Notes = append(rep.Notes, "fonts: "+err.Error())
	} else {
		rep.Fonts = fc
		fontsOK = len(missingLangs(fc)) == 0
	}
	stopCentral()
	e.Close()

	rep.Privacy = scanPrivacy(data)
	rep.OK = rep.Queue.Dead == 0 && rep.Queue.Pending == 0 && len(rep.Privacy.Findings) == 0 && fontsOK
	for _, p := range rep.Procedures {
		rep.OK = rep.OK && p.OK
	}
	if scratch {
		rep.DataDir += " (removed)"
	}
	_ = stderr
	return rep, nil
}

// cardPath finds the pcscd to use: the machine's, when its vpcd reader
// listens, or a private one started for the run.
func (st *selftest) cardPath() error {
	if c, err := net.DialTimeout("tcp", vpcd.DefaultAddr, 300*time.Millisecond); err == nil {
		c.Close()
		st.addr = vpcd.DefaultAddr
		st.report.CardPath = "pcscd (the machine's, vpcd reader)"
		return nil
	}
	dir, err := os.MkdirTemp("", "madoguchi-selftest-pcscd-")
	if err != nil {
		return err
	}
	d, err := pcscd.Start(dir)
	if err != nil {
		os.RemoveAll(dir)
		return err
	}
	st.addr, st.reader = d.VPCDAddr, d.ReaderName
	st.release = func() { d.Release(); os.RemoveAll(dir) }
	st.report.CardPath = "pcscd (private, started by the self-test)"
	st.report.Reader = d.ReaderName
	return nil
}

// placed is a virtual card placed on the reader: the card opened through
// pcscd (or in-process), and how to take it away.
type placed struct {
	card *card.Card
	take func()
	open time.Duration // connecting to the card once pcscd saw it
}

// place puts a virtual card on the reader and opens it: one placement.
func (st *selftest) place(ctx context.Context, vc *cardsim.Card) (*placed, error) {
	if st.inProcess {
		t0 := time.Now()
		c, err := card.Open(ctx, cardsim.NewSlot(vc), card.Options{Log: st.e.log})
		if err != nil {
			return nil, err
		}
		return &placed{card: c, take: func() {}, open: time.Since(t0)}, nil
	}
	cl, stopClient := st.insert(ctx, vc)
	deadline := time.Now().Add(placeTimeout)
	reseat := time.Now().Add(reseatAfter)
	for {
		t0 := time.Now()
		s, err := st.open(ctx)
		if err == nil {
			return &placed{card: s.card, take: func() { s.close(); stopClient(); st.waitEmpty(ctx) }, open: time.Since(t0)}, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			stopClient()
			return nil, fmt.Errorf("the virtual card did not show in %s: %w", st.reader, err)
		}
		reseat = st.reseat(cl, err, reseat)
		time.Sleep(50 * time.Millisecond)
	}
}

// Timings of a virtual placement through pcscd.
const (
	placeTimeout = 10 * time.Second
	// reseatAfter: a card that pcscd still does not see is taken out and
	// placed again, as a person would.
	reseatAfter = 2 * time.Second
	// removalTimeout bounds the wait for pcscd to see a card go.
	removalTimeout = 3 * time.Second
)

// insert connects a virtual card (or phone) to the vpcd reader; stop
// takes it away again.
func (st *selftest) insert(ctx context.Context, c vpcd.Card) (cl *vpcd.Client, stop func()) {
	cctx, cancel := context.WithCancel(ctx)
	cl = vpcd.New(st.addr, c, st.e.log)
	done := make(chan struct{})
	go func() { _ = cl.Run(cctx); close(done) }()
	return cl, func() { cancel(); <-done }
}

// reseat takes the card out and puts it back when pcscd has not seen it by
// at (and returns the next time to do so). pcsc-lite keeps a reader
// marked empty after a failed reset while the driver keeps reporting a
// card, which happens when a card is placed before pcscd noticed the
// previous one leave; only a removal it sees clears that.
func (st *selftest) reseat(cl *vpcd.Client, err error, at time.Time) time.Time {
	if time.Now().Before(at) || !errors.Is(err, card.ErrNoCard) || !cl.Inserted() {
		return at
	}
	st.e.log.Debug("selftest: the reader still shows no card; placing it again")
	cl.Remove()
	time.Sleep(700 * time.Millisecond) // pcscd polls vpcd every 400 ms
	cl.Insert()
	return time.Now().Add(reseatAfter)
}

// waitEmpty waits until pcscd reports the reader empty (or
// removalTimeout passes), so that the next card placed is a new insertion
// to pcscd and not the previous card's ghost.
func (st *selftest) waitEmpty(ctx context.Context) {
	if st.reader == "" {
		return
	}
	deadline := time.Now().Add(removalTimeout)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		states, err := pcsc.Snapshot(ctx)
		if err != nil {
			return
		}
		present := false
		for _, s := range states {
			if s.Reader == st.reader && s.CardPresent {
				present = true
			}
		}
		if !present {
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// open connects to the card in the vpcd reader.
func (st *selftest) open(ctx context.Context) (*session, error) {
	if st.reader == "" {
		pc, err := pcsc.Open(ctx)
		if err != nil {
			return nil, err
		}
		states, err := pc.Snapshot(ctx)
		pc.Close()
		if err != nil {
			return nil, err
		}
		for _, s := range states {
			if strings.HasPrefix(s.Reader, "Virtual PCD") && strings.HasSuffix(s.Reader, " 00") {
				st.reader = s.Reader
				st.report.Reader = s.Reader
			}
		}
		if st.reader == "" {
			return nil, errors.New("no vpcd reader")
		}
	}
	return openCard(ctx, st.e, st.reader)
}

// placePhone holds a virtual phone to the reader and opens its wallet:
// one tap.
func (st *selftest) placePhone(ctx context.Context, sp *phonesim.Phone) (*phone.Phone, func(), error) {
	if st.inProcess {
		p, err := phone.Open(ctx, phonesim.NewSlot(sp))
		return p, func() {}, err
	}
	cl, stopClient := st.insert(ctx, sp)
	deadline := time.Now().Add(placeTimeout)
	reseat := time.Now().Add(reseatAfter)
	for {
		conn, closeFn, _, err := openReader(ctx, st.e, st.reader)
		if err == nil {
			p, perr := phone.Open(ctx, conn)
			if perr == nil {
				return p, func() { closeFn(); stopClient(); st.waitEmpty(ctx) }, nil
			}
			closeFn()
			err = perr
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			stopClient()
			return nil, nil, fmt.Errorf("the virtual phone did not show in %s: %w", st.reader, err)
		}
		reseat = st.reseat(cl, err, reseat)
		time.Sleep(50 * time.Millisecond)
	}
}

// phoneProcedures stores credentials on a virtual phone for card a (card
// placed once, phone tapped once), changes to a second phone, refuses an
// unapproved one, and revokes the second as lost.
func (st *selftest) phoneProcedures(ctx context.Context, a *cardsim.Card) {
	p := st.ports
	vendor, err := phonesim.LoadOrCreateVendor(filepath.Join(st.simDir, phonesim.VendorFile), phonesim.DefaultVendorName)
	if err != nil {
		st.report.Procedures = append(st.report.Procedures, acceptanceProc{Name: "phone_store", Error: err.Error()})
		return
	}
	newPhone := func(v *phonesim.Vendor) (*phonesim.Phone, error) {
		return phonesim.New(phonesim.Options{Vendor: v, SecureElement: phonesim.DefaultSecureElement, App: phonesim.DefaultApp, Model: "Selftest Phone", AutoApprove: true})
	}
	store := func(name string, sp *phonesim.Phone, replace bool) (flow.PhoneResult, error) {
		var res flow.PhoneResult
		pr := acceptanceProc{Name: name, Generation: a.State().Profile, PINEntries: 1}
		pl, err := st.place(ctx, a)
		var took time.Duration
		if err == nil {
			pr.Placements = 1
			start := time.Now()
			var h flow.PhoneHolder
			h, err = p.PhoneCard(ctx, pl.card, flow.PhoneCardInput{Visit: visit(), SignPIN: secret.NewPIN(stSignNew), FaceCheck: secret.NewPIN(st.checkB(ctx, pl.card))})
			took = pl.open + time.Since(start)
			pr.APDUs = pl.card.APDUCount()
			pl.take()
			if err == nil {
				var ph *phone.Phone
				var closePhone func()
				if ph, closePhone, err = st.placePhone(ctx, sp); err == nil {
					start = time.Now()
					res, err = p.PhoneStore(ctx, ph, flow.PhoneStoreInput{Holder: h, Replace: replace, Mdoc: true, Lang: "en"})
					took += time.Since(start)
					pr.PhoneTaps, pr.APDUs = 1, pr.APDUs+ph.APDUCount()
					closePhone()
				}
			}
		}
		pr.Ms, pr.OK, pr.Receipt = float64(took.Microseconds())/1000, err == nil, res.Receipt.Number
		if err != nil {
			pr.Error = err.Error()
		}
		st.report.Procedures = append(st.report.Procedures, pr)
		return res, err
	}
	first, _ := newPhone(vendor)
	if _, err := store("phone_store", first, false); err != nil {
		return
	}
	second, _ := newPhone(vendor)
	res, err := store("phone_change", second, true)
	if err != nil {
		return
	}
	// An unapproved secure element is refused (the step that must fail).
	other, _ := phonesim.NewVendor("Unknown SE Vendor")
	bad, _ := newPhone(other)
	if _, err := store("phone_unapproved", bad, true); err != nil {
		last := &st.report.Procedures[len(st.report.Procedures)-1]
		last.OK, last.Error = strings.Contains(err.Error(), "attestation"), "refused as it must be: "+last.Error
		if last.OK {
			last.Error = ""
		}
	} else {
		last := &st.report.Procedures[len(st.report.Procedures)-1]
		last.OK, last.Error = false, "an unapproved phone was accepted"
	}
	st.procedure(ctx, "phone_revoke", nil, 0, func(*card.Card) (flow.Result, error) {
		return p.PhoneRevoke(ctx, res.PhoneID, "en")
	})
	// The first phone learns at its next tap that it was replaced.
	st.procedure(ctx, "phone_notices", nil, 0, func(*card.Card) (flow.Result, error) {
		ph, closePhone, err := st.placePhone(ctx, first)
		if err != nil {
			return flow.Result{}, err
		}
		defer closePhone()
		if err := p.DeliverNotices(ctx, ph); err != nil {
			return flow.Result{}, err
		}
		if len(first.Inbox()) == 0 {
			return flow.Result{}, errors.New("the replaced phone got no notice")
		}
		return flow.Result{}, nil
	})
}

// checkB is the number printed on a current card that opens its photo.
func (st *selftest) checkB(ctx context.Context, c *card.Card) string {
	rec, err := st.client.Card(ctx, c.Serial())
	if err != nil || len(rec.CardExpiry) < 4 {
		return ""
	}
	b, err := time.Parse("20060102", rec.Holder.BirthDate)
	if err != nil {
		return ""
	}
	_, ey, _ := i18n.EraOf(b.Year(), int(b.Month()), b.Day())
	return fmt.Sprintf("%02d%s%s%s", ey%100, rec.Holder.BirthDate[4:], rec.CardExpiry[:4], cardsim.DemoHolder.SecurityCode)
}

// visit is the identity step as a clerk records it for the self-test's
// demo holder (an adult with a driving licence, face compared).
func visit() identity.Visit {
	return identity.Visit{Documents: []identity.Document{identity.DrivingLicence}, FaceMatched: true}
}

// pins builds a PIN map from plain values (wiped by the flow).
func pins(kv ...string) map[card.PINKind]secret.Value {
	m := map[card.PINKind]secret.Value{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[card.PINKind(kv[i])] = secret.NewPIN(kv[i+1])
	}
	return m
}

// procedure runs one procedure on a card placed once, and records its
// figures.
func (st *selftest) procedure(ctx context.Context, name string, vc *cardsim.Card, entries int, run func(c *card.Card) (flow.Result, error)) (flow.Result, bool) {
	gen := "—"
	pr := acceptanceProc{Name: name}
	var res flow.Result
	var err error
	var took time.Duration
	if vc != nil {
		gen = vc.State().Profile
		var p *placed
		if p, err = st.place(ctx, vc); err == nil {
			pr.Placements = 1
			start := time.Now()
			res, err = run(p.card)
			took = p.open + time.Since(start)
			pr.APDUs = p.card.APDUCount()
			p.take()
		}
	} else {
		start := time.Now()
		res, err = run(nil)
		took = time.Since(start)
	}
	pr.Ms = float64(took.Microseconds()) / 1000
	pr.Generation, pr.PINEntries, pr.OK, pr.Receipt = gen, entries, err == nil, res.Receipt.Number
	if err != nil {
		var c *card.Card
		f := app.Describe(c, err, st.e.msgs, "en")
		pr.Error = fmt.Sprintf("%s: %s (%v)", f.Step, st.e.msgs.N("en", f.Code, f.Count, f.Data), err)
	}
	st.report.Procedures = append(st.report.Procedures, pr)
	return res, err == nil
}

// makeCard makes a virtual card at the central simulator's factory.
func (st *selftest) makeCard(ctx context.Context, kind string) (*cardsim.Card, error) {
	return demoCard(ctx, st.simDir, st.client, kind, time.Now())
}

// run performs every counter procedure once.
func (st *selftest) run(ctx context.Context) {
	fail := func(what string, err error) {
		st.report.Procedures = append(st.report.Procedures, acceptanceProc{Name: what, Error: err.Error()})
	}
	p := st.ports

	// Issuance of a blank current card, with the face photo shown: the
	// three 4-digit PINs set to one value (entered once) and the
	// signature password.
	a, err := st.makeCard(ctx, "blank")
	if err != nil {
		fail("issuance", err)
		return
	}
	st.procedure(ctx, "issuance", a, 2, func(c *card.Card) (flow.Result, error) {
		if err := st.showFace(ctx, c); err != nil {
			return flow.Result{}, err
		}
		return p.Issue(ctx, c, flow.IssueInput{Visit: visit(), Entries: 2, Lang: "en",
			PINs: pins("auth", stPIN4, "sign", stSign, "input-assist", stPIN4, "resident", stPIN4)})
	})
	st.procedure(ctx, "pin_reset", a, 1, func(c *card.Card) (flow.Result, error) {
		r, err := p.PINReset(ctx, c, flow.PINResetInput{PIN: card.PINAuth, NewPIN: secret.NewPIN(stNewPIN), Visit: visit(), Lang: "ja"})
		return flow.Result{Receipt: r.Receipt, Expiry: r.Expiry}, err
	})
	st.procedure(ctx, "change_of_details", a, 2, func(c *card.Card) (flow.Result, error) {
		return p.ChangeDetails(ctx, c, flow.DetailsInput{Visit: visit(), Address: "デモ県デモ市北二丁目４番５号", Lang: "ja",
			PINs: pins("input-assist", stPIN4, "sign", stSign)})
	})
	// The kiosk's procedures on the same card: the status check, and the
	// signature password reset after a smartphone face-check reservation,
	// proven with the auth PIN.
	st.procedure(ctx, "status_check", a, 0, func(c *card.Card) (flow.Result, error) {
		s, err := p.StatusCheck(ctx, c)
		if err == nil && (!s.Online || s.AuthState != flow.StateGood) {
			err = fmt.Errorf("status check: online %v, auth certificate %s", s.Online, s.AuthState)
		}
		return flow.Result{Expiry: s.Expiry}, err
	})
	st.procedure(ctx, "reserved_reset", a, 2, func(c *card.Card) (flow.Result, error) {
		if _, err := st.client.CreateReservation(ctx, jlis.NewIdempotencyKey(), api.Reservation{CardSerial: c.Serial(), PIN: api.ReservationPINSign}); err != nil {
			return flow.Result{}, err
		}
		return p.ReservedReset(ctx, c, flow.ReservedResetInput{PIN: card.PINSign, Proof: secret.NewPIN(stNewPIN), NewPIN: secret.NewPIN(stSignNew), Lang: "en"})
	})
	if b, err := st.makeCard(ctx, "due"); err != nil {
		fail("cert_renewal", err)
	} else {
		st.procedure(ctx, "cert_renewal", b, 2, func(c *card.Card) (flow.Result, error) {
			return p.RenewCert(ctx, c, flow.RenewCertInput{Visit: visit(), Lang: "en",
				PINs: pins("auth", cardsim.DemoPINs.Auth, "sign", cardsim.DemoPINs.Sign)})
		})
		st.procedure(ctx, "return", nil, 0, func(*card.Card) (flow.Result, error) {
			r, err := p.Return(ctx, flow.ReturnInput{Serial: b.State().Serial, Lang: "ja"})
			return flow.Result{Receipt: r.Receipt, Queued: true}, err
		})
	}
	// Smartphone credentials for card a, before it is replaced.
	st.phoneProcedures(ctx, a)
	if n, err := st.makeCard(ctx, "blank"); err != nil {
		fail("card_renewal", err)
	} else {
		st.procedure(ctx, "card_renewal", n, 2, func(c *card.Card) (flow.Result, error) {
			return p.RenewCard(ctx, c, flow.IssueInput{Visit: visit(), Entries: 2, Lang: "ja", OldSerial: a.State().Serial,
				PINs: pins("auth", stPIN4, "sign", stSign, "input-assist", stPIN4, "resident", stPIN4)})
		})
	}

	// The next generation: issuance with its two PINs and a PUK, the PUK
	// unlock, renewal, suspension and its lifting.
	d, err := st.makeCard(ctx, "blank-next")
	if err != nil {
		fail("issuance", err)
		return
	}
	st.procedure(ctx, "issuance", d, 3, func(c *card.Card) (flow.Result, error) {
		if err := st.showFace(ctx, c); err != nil {
			return flow.Result{}, err
		}
		return p.Issue(ctx, c, flow.IssueInput{Visit: visit(), Entries: 3, Lang: "en",
			PINs: pins("auth", stPIN4, "sign", stSignNext, "puk", stPUK)})
	})
	st.procedure(ctx, "change_of_details", d, 2, func(c *card.Card) (flow.Result, error) {
		return p.ChangeDetails(ctx, c, flow.DetailsInput{Visit: visit(), Name: "窓口　花江", Lang: "en",
			PINs: pins("auth", stPIN4, "sign", stSignNext)})
	})
	st.procedure(ctx, "puk_unlock", d, 2, func(c *card.Card) (flow.Result, error) {
		r, err := p.PUKUnlock(ctx, c, flow.PUKUnlockInput{PUK: secret.NewPUK(stPUK), NewPIN: secret.NewPIN(stNewPIN), Lang: "en"})
		return flow.Result{Receipt: r.Receipt, Queued: true}, err
	})
	st.procedure(ctx, "pin_reset", d, 1, func(c *card.Card) (flow.Result, error) {
		r, err := p.PINReset(ctx, c, flow.PINResetInput{PIN: card.PINSign, NewPIN: secret.NewPIN(stSignNext), Visit: visit(), Lang: "en"})
		return flow.Result{Receipt: r.Receipt, Expiry: r.Expiry}, err
	})
	if b, err := st.makeCard(ctx, "due-next"); err != nil {
		fail("cert_renewal", err)
	} else {
		st.procedure(ctx, "cert_renewal", b, 2, func(c *card.Card) (flow.Result, error) {
			return p.RenewCert(ctx, c, flow.RenewCertInput{Visit: visit(), Lang: "en",
				PINs: pins("auth", cardsim.DemoPINs.Auth, "sign", cardsim.DemoPINs.Sign)})
		})
	}
	st.procedure(ctx, "suspension", nil, 0, func(*card.Card) (flow.Result, error) {
		r, err := p.Suspend(ctx, flow.SuspendInput{Serial: d.State().Serial, Reason: "lost", Lang: "en"}, true)
		if err == nil {
			// A suspension is sent at once when the central system answers.
			w := queue.NewWorker(st.e.queue, queue.Options{Kinds: queue.CentralKinds(st.client)})
			_, err = w.Drain(ctx)
		}
		return flow.Result{Receipt: r.Receipt}, err
	})
	st.procedure(ctx, "suspension_lift", nil, 0, func(*card.Card) (flow.Result, error) {
		r, err := p.Resume(ctx, d.State().Serial, "en", "")
		return flow.Result{Receipt: r}, err
	})
	if n, err := st.makeCard(ctx, "blank-next"); err != nil {
		fail("card_renewal", err)
	} else {
		st.procedure(ctx, "card_renewal", n, 2, func(c *card.Card) (flow.Result, error) {
			return p.RenewCard(ctx, c, flow.IssueInput{Visit: visit(), Entries: 2, Lang: "en", OldSerial: d.State().Serial,
				PINs: pins("auth", stPIN4, "sign", stSignNext)})
		})
	}
}

// showFace reads the face photo as the identity step does (the number
// printed on the card opens it) and decodes it for display.
func (st *selftest) showFace(ctx context.Context, c *card.Card) error {
	check := cardsim.DemoFaceCheck
	if c.Profile() != card.Next {
		check = st.checkB(ctx, c)
	}
	v := secret.NewPIN(check)
	defer v.Wipe()
	f, err := c.Face(ctx, v)
	if err != nil {
		return fmt.Errorf("face photo: %w", err)
	}
	if _, _, err := faceimg.PNG(ctx, f.Photo, 0); err != nil {
		return fmt.Errorf("face photo: %w", err)
	}
	return nil
}

// scanPrivacy looks through every file of the data directory for the
// self-test's PINs and the demo individual number. The long secrets are
// searched byte for byte everywhere; the 4-digit PINs, which occur by
// chance in binary files and timestamps, only as whole tokens of text
// files (logs, JSON, TOML).
func scanPrivacy(dir string) acceptancePrivacy {
	var out acceptancePrivacy
	long := []string{stSign, stSignNext, stSignNew, stPUK, cardsim.DemoHolder.IndividualNumber}
	short := []*regexp.Regexp{}
	for _, p := range []string{stPIN4, stNewPIN} {
		short = append(short, regexp.MustCompile(`(^|[^0-9:.\-T_])`+p+`($|[^0-9:.\-Z_])`))
	}
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil
		}
		out.FilesScanned++
		rel, _ := filepath.Rel(dir, path)
		for _, s := range long {
			if bytes.Contains(b, []byte(s)) {
				out.Findings = append(out.Findings, fmt.Sprintf("%s contains a secret of %d characters", rel, len(s)))
			}
		}
		if ext := filepath.Ext(path); ext == ".log" || ext == ".json" || ext == ".toml" || strings.Contains(path, string(filepath.Separator)+"logs"+string(filepath.Separator)) {
			for _, re := range short {
				if re.Match(b) {
					out.Findings = append(out.Findings, rel+" contains a 4-digit PIN")
				}
			}
		}
		return nil
	})
	if out.Findings == nil {
		out.Findings = []string{}
	}
	return out
}
