package main

import (
	"bufio"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/term"

	"madoguchi/app/i18n"
	"madoguchi/app/secret"
	"madoguchi/drivers/card"
	"madoguchi/drivers/card/pcsc"
	"madoguchi/drivers/card/sim"
	"madoguchi/drivers/card/vpcd"
)

func cmdCard(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: card needs read or readers", errUsage)
	}
	switch args[0] {
	case "read":
		return cmdCardRead(ctx, args[1:], stdout, stderr)
	case "readers":
		return cmdCardReaders(ctx, args[1:], stdout, stderr)
	}
	return fmt.Errorf("%w: card %s: want read or readers", errUsage, args[0])
}

// session is an open card with what closes it.
type session struct {
	card   *card.Card
	reader string
	demo   bool
	close  func()
}

// openCard opens a session on reader: "" means the configured reader, and
// when none is configured, the built-in virtual card; "auto" the first
// PC/SC reader holding a card; anything else a PC/SC reader by name.
func openCard(ctx context.Context, e *env, reader string) (*session, error) {
	if reader == "" {
		reader = e.cfg.Card.Reader
	}
	if reader == "" || reader == "builtin" {
		prof, err := card.ProfileByName(e.cfg.Card.VirtualProfile)
		if err != nil {
			return nil, err
		}
		vc, _, err := sim.LoadOrCreateDemo(e.dataDir, prof, e.log)
		if err != nil {
			return nil, err
		}
		c, err := card.Open(ctx, sim.NewSlot(vc), card.Options{Log: e.log})
		if err != nil {
			return nil, err
		}
		return &session{card: c, reader: "builtin virtual card", demo: true, close: func() {}}, nil
	}
	conn, closeAll, name, err := openReader(ctx, e, reader)
	if err != nil {
		return nil, err
	}
	c, err := card.Open(ctx, conn, card.Options{Log: e.log})
	if err != nil {
		closeAll()
		return nil, err
	}
	return &session{card: c, reader: name, close: closeAll}, nil
}

// openReader connects to what is on a PC/SC reader ("auto": the first
// one holding something) inside a PC/SC transaction: a card, or a phone.
func openReader(ctx context.Context, e *env, reader string) (card.Transceiver, func(), string, error) {
	pc, err := pcsc.Open(ctx, pcsc.WithLogger(e.log))
	if err != nil {
		return nil, nil, "", err
	}
	if reader == "auto" {
		states, err := pc.Snapshot(ctx)
		if err != nil {
			pc.Close()
			return nil, nil, "", err
		}
		reader = ""
		for _, s := range states {
			if s.CardPresent {
				reader = s.Reader
				break
			}
		}
		if reader == "" {
			pc.Close()
			return nil, nil, "", card.ErrNoCard
		}
	}
	conn, err := pc.Connect(ctx, reader)
	if err != nil {
		pc.Close()
		return nil, nil, "", err
	}
	if err := conn.Begin(ctx); err != nil {
		conn.Close()
		pc.Close()
		return nil, nil, "", err
	}
	return conn, func() { conn.End(); conn.Close(); pc.Close() }, reader, nil
}

// certInfo is one certificate in `card read`.
type certInfo struct {
	Role      string `json:"role"`
	Subject   string `json:"subject"`
	Issuer    string `json:"issuer"`
	Serial    string `json:"serial"`
	NotBefore string `json:"notBefore"`
	NotAfter  string `json:"notAfter"`
	Expiry    string `json:"expiry"` // both calendars, in the config language
}

type cardReport struct {
	Reader           string               `json:"reader"`
	Demo             bool                 `json:"demo"`
	Profile          string               `json:"profile"`
	TokenLabel       string               `json:"tokenLabel"`
	Serial           string               `json:"serial"`
	Certificates     []certInfo           `json:"certificates"`
	SignCertificate  bool                 `json:"signCertificatePresent"`
	Tries            map[card.PINKind]int `json:"tries"`
	BasicFour        *card.BasicFour      `json:"basicFour,omitempty"`
	IndividualNumber string               `json:"individualNumber,omitempty"`
	IntegrityChecked bool                 `json:"integrityChecked"`
}

func cmdCardRead(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("card read", stderr)
	var c common
	c.register(fs)
	reader := fs.String("reader", "", `PC/SC reader name, "auto", or "builtin" (default: the configured reader, else the built-in virtual card)`)
	asJSON := fs.Bool("json", false, "print JSON")
	pinFD := fs.Int("pin-fd", -1, "read the PIN from this file descriptor (one line) instead of the terminal")
	showNumber := fs.Bool("show-number", false, "print the individual number in full (it is masked otherwise)")
	noPIN := fs.Bool("no-pin", false, "read only what needs no PIN")
	if err := parse(fs, args); err != nil {
		return err
	}
	e, err := setup(ctx, c, nil)
	if err != nil {
		return err
	}
	defer e.Close()
	lang := e.msgs.Match(e.cfg.Language)
	s, err := openCard(ctx, e, *reader)
	if err != nil {
		return err
	}
	defer s.close()
	cd := s.card
	rep := cardReport{Reader: s.reader, Demo: s.demo, Profile: cd.Profile().Name, TokenLabel: cd.TokenLabel(), Serial: cd.Serial()}
	if s.demo && !*asJSON {
		fmt.Fprintln(stderr, e.msgs.T(lang, i18n.Key("cli.card.demo"), nil))
	}

	ask := func(ctx context.Context, tries map[card.PINKind]int) (card.PINKind, secret.Value, bool, error) {
		if *noPIN {
			return "", secret.Value{}, false, nil
		}
		kind := cd.Profile().InputAssistPINs[0]
		left := tries[kind]
		if left == 0 {
			fmt.Fprintln(stderr, e.msgs.T(lang, i18n.Key("cli.card.pin_blocked"), nil))
			return "", secret.Value{}, false, nil
		}
		pin, ok, err := readPIN(*pinFD, stderr, e.msgs.N(lang, i18n.Key("cli.card.pin_prompt"), left, map[string]any{"PIN": e.msgs.T(lang, pinName(kind), nil)}))
		return kind, pin, ok, err
	}
	sum, err := cd.ReadSummary(ctx, ask)
	if sum == nil {
		return err
	}
	rep.Tries = sum.Tries
	var wrong *card.WrongPINError
	switch {
	case errors.As(err, &wrong):
		fmt.Fprintln(stderr, e.msgs.N(lang, i18n.Key("cli.card.pin_wrong"), wrong.Remaining, nil))
		rep.Tries[wrong.PIN] = wrong.Remaining
	case err != nil:
		return err
	}
	rep.BasicFour = sum.BasicFour
	if sum.BasicFour != nil {
		num, err := cd.MyNumber(ctx)
		if err != nil {
			return err
		}
		defer num.Wipe()
		rep.IndividualNumber = secret.MaskIndividualNumber(num)
		if *showNumber {
			_ = num.Reveal(func(b []byte) error { rep.IndividualNumber = string(b); return nil })
		}
		if s.demo {
			_, iss, err := sim.LoadOrCreateDemo(e.dataDir, cd.Profile(), e.log)
			if err == nil && cd.VerifyInputAssist(ctx, []card.IssuerKey{{ID: iss.CVRootID, Key: iss.CVRootPublicKey()}}) == nil {
				rep.IntegrityChecked = true
			}
		}
	}
	av, err := cd.CertAvailability(ctx)
	if err != nil {
		return err
	}
	rep.SignCertificate = av.Sign
	authCA, signCA, err := cd.CACertificates(ctx)
	if err != nil {
		return err
	}
	for _, ci := range []struct {
		role string
		c    *x509.Certificate
	}{{"auth", sum.AuthCert}, {"auth-ca", authCA}, {"sign-ca", signCA}} {
		rep.Certificates = append(rep.Certificates, certInfo{
			Role: ci.role, Subject: ci.c.Subject.String(), Issuer: ci.c.Issuer.String(), Serial: fmt.Sprintf("%X", ci.c.SerialNumber),
			NotBefore: ci.c.NotBefore.UTC().Format("2006-01-02T15:04:05Z"), NotAfter: ci.c.NotAfter.UTC().Format("2006-01-02T15:04:05Z"),
			Expiry: e.msgs.FormatDate(lang, ci.c.NotAfter),
		})
	}
	if *asJSON {
		return printJSON(stdout, rep)
	}
	printReport(stdout, e.msgs, lang, rep)
	return nil
}

func pinName(k card.PINKind) i18n.Key {
	switch k {
	case card.PINAuth:
		return i18n.Key("pin.auth")
	case card.PINSign:
		return i18n.Key("pin.sign")
	case card.PINInputAssist:
		return i18n.Key("pin.input_assist")
	case card.PINResident:
		return i18n.Key("pin.resident")
	case card.PUK:
		return i18n.Key("pin.puk")
	}
	return i18n.Key("pin.auth")
}

func printReport(w io.Writer, m *i18n.Bundle, lang string, r cardReport) {
	row := func(key i18n.Key, v string) { fmt.Fprintf(w, "%s %s\n", pad(m.T(lang, key, nil)+":", 26), v) }
	row(i18n.Key("cli.card.reader"), r.Reader)
	row(i18n.Key("cli.card.card"), fmt.Sprintf("%s (%s), %s", r.TokenLabel, r.Profile, r.Serial))
	for _, c := range r.Certificates {
		label := map[string]i18n.Key{"auth": i18n.Key("cli.card.cert_auth"), "auth-ca": i18n.Key("cli.card.cert_auth_ca"), "sign-ca": i18n.Key("cli.card.cert_sign_ca")}[c.Role]
		row(label, fmt.Sprintf("%s · %s · %s", c.Subject, c.Serial, c.Expiry))
	}
	present := m.T(lang, i18n.Key("cli.card.absent"), nil)
	if r.SignCertificate {
		present = m.T(lang, i18n.Key("cli.card.present"), nil)
	}
	row(i18n.Key("cli.card.cert_sign"), present)
	for _, k := range []card.PINKind{card.PINAuth, card.PINSign, card.PINInputAssist, card.PINResident, card.PUK} {
		if n, ok := r.Tries[k]; ok {
			fmt.Fprintf(w, "%s %s\n", pad(m.T(lang, pinName(k), nil)+":", 26), m.N(lang, i18n.Key("cli.card.tries"), n, nil))
		}
	}
	if b := r.BasicFour; b != nil {
		row(i18n.Key("cli.card.name"), b.Name)
		row(i18n.Key("cli.card.address"), b.Address)
		if t, err := time.ParseInLocation("20060102", b.BirthDate, i18n.Japan); err == nil {
			row(i18n.Key("cli.card.birth"), m.FormatDate(lang, t))
		} else {
			row(i18n.Key("cli.card.birth"), b.BirthDate)
		}
		row(i18n.Key("cli.card.sex"), m.T(lang, sexKey(b.Sex), nil))
		row(i18n.Key("cli.card.number"), r.IndividualNumber)
	}
}

// sexKey names an ISO 5218 code (ref §8.2: 1 male, 2 female, 9 not
// applicable, 0 unknown).
func sexKey(code string) i18n.Key {
	switch code {
	case "1":
		return i18n.Key("sex.male")
	case "2":
		return i18n.Key("sex.female")
	case "9":
		return i18n.Key("sex.not_applicable")
	}
	return i18n.Key("sex.unknown")
}

// pad right-pads s to n terminal columns, counting East Asian wide
// characters as two.
func pad(s string, n int) string {
	w := 0
	for _, r := range s {
		w++
		if r >= 0x1100 && (r <= 0x115F || (r >= 0x2E80 && r <= 0xA4CF) || (r >= 0xAC00 && r <= 0xD7A3) || (r >= 0xF900 && r <= 0xFAFF) || (r >= 0xFF00 && r <= 0xFF60) || (r >= 0xFFE0 && r <= 0xFFE6)) {
			w++
		}
	}
	if w >= n {
		return s
	}
	return s + strings.Repeat(" ", n-w)
}

// readPIN reads a PIN from fd (one line) or, on a terminal, without echo.
// It never comes from argv or the environment.
func readPIN(fd int, prompt io.Writer, label string) (secret.Value, bool, error) {
	if fd >= 0 {
		f := os.NewFile(uintptr(fd), "pin-fd")
		if f == nil {
			return secret.Value{}, false, fmt.Errorf("%w: --pin-fd %d is not open", errUsage, fd)
		}
		// One byte at a time: a buffered reader would swallow the next
		// line (a confirmation, another PIN) with this one.
		line := make([]byte, 0, 32)
		defer clear(line)
		b := make([]byte, 1)
		for len(line) < 64 {
			n, err := f.Read(b)
			if n == 1 && b[0] != '\n' {
				line = append(line, b[0])
				continue
			}
			if n == 1 || errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return secret.Value{}, false, fmt.Errorf("read PIN: %w", err)
			}
		}
		clear(b)
		v := secret.FromBytes(secret.KindPIN, trimEOL(line))
		return v, v.Len() > 0, nil
	}
	in := int(os.Stdin.Fd())
	if !term.IsTerminal(in) {
		return secret.Value{}, false, nil
	}
	fmt.Fprint(prompt, label+" ")
	b, err := term.ReadPassword(in)
	fmt.Fprintln(prompt)
	if err != nil {
		return secret.Value{}, false, err
	}
	v := secret.FromBytes(secret.KindPIN, b)
	clear(b)
	return v, v.Len() > 0, nil
}

func trimEOL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

func cmdCardReaders(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("card readers", stderr)
	var c common
	c.register(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	states, err := pcsc.Snapshot(ctx)
	if err != nil {
		return err
	}
	if len(states) == 0 {
		fmt.Fprintln(stdout, "no readers")
	}
	for _, s := range states {
		st := "empty"
		if s.CardPresent {
			st = fmt.Sprintf("card present, ATR %X", s.ATR)
		}
		fmt.Fprintf(stdout, "%s: %s\n", s.Reader, st)
	}
	return nil
}

// cmdCardSim puts a virtual card into a running pcscd's vpcd reader.
func cmdCardSim(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("card-sim", stderr)
	var c common
	c.register(fs)
	profile := fs.String("profile", "current", "card generation: current or next")
	state := fs.String("state", "", "the card's state file (created if missing; default in the data directory)")
	addr := fs.String("vpcd", vpcd.DefaultAddr, "address of the vpcd reader driver")
	blank := fs.Bool("blank", false, "when creating: a card as delivered, before issuance (no PINs, keys or certificates)")
	factory := fs.String("factory", "", "make a new card at the built-in central simulator's factory (demo): blank, issued or due (certificates in their renewal window); replaces the state file")
	if err := parse(fs, args); err != nil {
		return err
	}
	prof, err := card.ProfileByName(*profile)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	e, err := setup(ctx, c, nil)
	if err != nil {
		return err
	}
	defer e.Close()
	if *state == "" {
		*state = filepath.Join(e.dataDir, "card-sim-"+prof.Name+".json")
	}
	if *factory != "" {
		if err := factoryCard(ctx, e, prof, *factory, *state); err != nil {
			return err
		}
	}
	vc, err := sim.Open(*state, e.log)
	if errors.Is(err, os.ErrNotExist) {
		iss, err := sim.LoadOrCreateIssuer(filepath.Join(e.dataDir, sim.IssuerFile))
		if err != nil {
			return err
		}
		st, err := sim.Generate(iss, sim.Options{Profile: prof, Holder: sim.DemoHolder, PINs: sim.DemoPINs, Blank: *blank})
		if err != nil {
			return err
		}
		if err := st.Save(*state); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "created %s card in %s\n", prof.Name, *state)
		vc, err = sim.New(st, *state, e.log)
		if err != nil {
			return err
		}
	} else if err != nil {
		return err
	} else if vc.State().Profile != prof.Name {
		return fmt.Errorf("%s holds a %s card, not %s", *state, vc.State().Profile, prof.Name)
	}
	cl := vpcd.New(*addr, vc, e.log)
	fmt.Fprintf(stdout, "virtual %s card %s in vpcd at %s; type remove, insert or quit (or send SIGUSR1 / SIGUSR2)\n", prof.Name, vc.State().Serial, *addr)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGUSR1, syscall.SIGUSR2)
	defer signal.Stop(sigs)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case s := <-sigs:
				if s == syscall.SIGUSR1 {
					cl.Remove()
				} else {
					cl.Insert()
				}
				e.log.Info("card-sim", "inserted", cl.Inserted())
			}
		}
	}()
	go func() {
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			switch strings.TrimSpace(sc.Text()) {
			case "remove", "r":
				cl.Remove()
				fmt.Fprintln(stdout, "removed")
			case "insert", "i":
				cl.Insert()
				fmt.Fprintln(stdout, "inserted")
			case "quit", "q":
				cancel()
				return
			}
		}
	}()
	err = cl.Run(ctx)
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// factoryCard makes a card at the built-in central simulator's factory
// (registered there, so that the procedures can run on it) and saves it.
func factoryCard(ctx context.Context, e *env, prof *card.Profile, kind, state string) error {
	if !e.cfg.Central.Demo() {
		return fmt.Errorf("%w: --factory makes cards for the built-in central simulator only", errUsage)
	}
	client, stop, err := connectCentral(ctx, e.cfg.Central, e.dataDir, e.log)
	if err != nil {
		return err
	}
	defer stop()
	if prof == card.Next {
		kind += "-next"
	}
	vc, err := demoCard(ctx, filepath.Join(e.dataDir, "central-sim"), client, kind, time.Now())
	if err != nil {
		return err
	}
	return vc.State().Save(state)
}
