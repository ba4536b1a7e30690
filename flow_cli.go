package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os/user"
	"time"

	"madoguchi/app/flow"
	"madoguchi/app/i18n"
	"madoguchi/app/pinpolicy"
	"madoguchi/app/queue"
	"madoguchi/app/secret"
	"madoguchi/drivers/card"
	cardsim "madoguchi/drivers/card/sim"
	"madoguchi/drivers/jlis"
)

// cmdPINReset: madoguchi pin-reset --pin KIND — the counter's PIN reset
// (初期化) from the command line, through the same flow as the screen.
func cmdPINReset(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("pin-reset", stderr)
	var c common
	c.register(fs)
	kind := fs.String("pin", "", "the PIN to reset: auth, sign, input-assist or resident")
	reader := fs.String("reader", "", `PC/SC reader, "auto", or "builtin" (default: the configured reader, else the built-in virtual card)`)
	pinFD := fs.Int("pin-fd", -1, "read the new PIN and its confirmation (two lines) from this file descriptor instead of the terminal")
	lang := fs.String("lang", "", "the citizen's language for the receipt (default: the configured language)")
	holder := fs.String("holder", "", "the name on the card face, for the receipt (default: the central record's)")
	v := registerVisit(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if *kind == "" {
		return fmt.Errorf("%w: pin-reset needs --pin", errUsage)
	}
	pr, err := startProcedure(ctx, c, lang)
	if err != nil {
		return err
	}
	defer pr.close()
	e, ui, client := pr.e, pr.ui, pr.ports.Central
	s, err := openProcedureCard(ctx, e, *reader, client, stderr)
	if err != nil {
		return err
	}
	defer s.close()
	spec, ok := s.card.Profile().PIN(card.PINKind(*kind))
	if !ok {
		return fmt.Errorf("%w: this card has no %s PIN", errUsage, *kind)
	}
	label := e.msgs.T(ui, pinName(spec.Kind), nil)
	newPIN, err := readNewPIN(e, *pinFD, stderr, label)
	if err != nil {
		return err
	}
	if ferr, warns := pinpolicy.Check(spec, newPIN, secret.Value{}, pinpolicy.Holder{}); ferr != nil {
		newPIN.Wipe()
		return ferr
	} else {
		for _, w := range warns {
			fmt.Fprintln(stderr, e.msgs.T(ui, w.Key, nil))
		}
	}
	ports := pr.ports
	res, err := ports.PINReset(ctx, s.card, flow.PINResetInput{PIN: spec.Kind, NewPIN: newPIN, Lang: *lang, Holder: *holder, Visit: v.visit()})
	if err != nil {
		return pr.procedureError(s.card, err)
	}
	fmt.Fprintln(stdout, e.msgs.T(ui, i18n.Key("cli.pin.reset_done"), map[string]any{"PIN": label, "Receipt": res.Receipt.Number}))
	pr.print(ctx, res.Receipt.Number, stdout)
	return nil
}

// openProcedureCard opens the card for a procedure: in the demo the
// built-in card made for the built-in central system, else the reader.
func openProcedureCard(ctx context.Context, e *env, reader string, client *jlis.Client, stderr io.Writer) (*session, error) {
	if !((reader == "" && e.cfg.Card.Demo()) || reader == "builtin") {
		return openCard(ctx, e, reader)
	}
	prof, err := card.ProfileByName(e.cfg.Card.VirtualProfile)
	if err != nil {
		return nil, err
	}
	vc, err := demoCardFor(ctx, e.dataDir, prof, client, e.log)
	if err != nil {
		return nil, err
	}
	cd, err := card.Open(ctx, cardsim.NewSlot(vc), card.Options{Log: e.log})
	if err != nil {
		return nil, err
	}
	fmt.Fprintln(stderr, e.msgs.T(e.msgs.Match(e.cfg.Language), i18n.Key("cli.card.demo"), nil))
	return &session{card: cd, reader: "builtin virtual card", demo: true, close: func() {}}, nil
}

// readNewPIN reads a new PIN and its confirmation and checks both agree.
func readNewPIN(e *env, fd int, stderr io.Writer, label string) (secret.Value, error) {
	ui := e.msgs.Match(e.cfg.Language)
	newPIN, ok, err := readPIN(fd, stderr, e.msgs.T(ui, i18n.Key("cli.pin.new"), map[string]any{"PIN": label}))
	if err != nil || !ok {
		return secret.Value{}, errors.Join(err, fmt.Errorf("%w: no new PIN given", errUsage))
	}
	confirm, _, err := readPIN(fd, stderr, e.msgs.T(ui, i18n.Key("cli.pin.confirm"), map[string]any{"PIN": label}))
	if err != nil {
		newPIN.Wipe()
		return secret.Value{}, err
	}
	defer confirm.Wipe()
	same := false
	_ = newPIN.Reveal(func(a []byte) error {
		return confirm.Reveal(func(b []byte) error { same = string(a) == string(b); return nil })
	})
	if !same {
		newPIN.Wipe()
		return secret.Value{}, errors.New(e.msgs.T(ui, i18n.Key("cli.pin.mismatch"), nil))
	}
	return newPIN, nil
}

// cmdPUKUnlock: madoguchi puk-unlock — unlock a next-generation card's
// 4-digit PIN with the PUK and set a new one (works offline; queues).
func cmdPUKUnlock(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("puk-unlock", stderr)
	var c common
	c.register(fs)
	reader := fs.String("reader", "", `PC/SC reader, "auto", or "builtin"`)
	pinFD := fs.Int("pin-fd", -1, "read the PUK, the new PIN and its confirmation (three lines) from this file descriptor")
	lang := fs.String("lang", "", "the citizen's language for the receipt")
	if err := parse(fs, args); err != nil {
		return err
	}
	pr, err := startProcedure(ctx, c, lang)
	if err != nil {
		return err
	}
	defer pr.close()
	e, ui, client := pr.e, pr.ui, pr.ports.Central
	s, err := openProcedureCard(ctx, e, *reader, client, stderr)
	if err != nil {
		return err
	}
	defer s.close()
	if !s.card.Profile().HasPUK {
		return errors.New(e.msgs.T(ui, i18n.Key("cli.pin.no_puk"), nil))
	}
	puk, ok, err := readPIN(*pinFD, stderr, e.msgs.T(ui, pinName(card.PUK), nil)+":")
	if err != nil || !ok {
		return errors.Join(err, fmt.Errorf("%w: no PUK given", errUsage))
	}
	newPIN, err := readNewPIN(e, *pinFD, stderr, e.msgs.T(ui, pinName(card.PINAuth), nil))
	if err != nil {
		puk.Wipe()
		return err
	}
	ports := pr.ports
	res, err := ports.PUKUnlock(ctx, s.card, flow.PUKUnlockInput{PUK: puk, NewPIN: newPIN, Lang: *lang})
	var we *card.WrongPINError
	if errors.As(err, &we) {
		n := pinpolicy.AfterWrong(we.Remaining, false)
		return errors.New(e.msgs.N(ui, n.Key, n.Count, map[string]any{"PIN": e.msgs.T(ui, pinName(card.PUK), nil)}))
	}
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, e.msgs.T(ui, i18n.Key("cli.pin.unlocked"), map[string]any{"Receipt": res.Receipt.Number}))
	pr.print(ctx, res.Receipt.Number, stdout)
	return nil
}

// cmdSuspend: madoguchi suspend --serial S — a lost card's suspension
// (一時停止): recorded and queued at the highest priority, then sent at
// once when the central system answers.
func cmdSuspend(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var reason *string
	return queuedCardVerb(ctx, "suspend", args, stdout, stderr,
		[3]i18n.Key{i18n.Key("cli.suspend.sent"), i18n.Key("cli.suspend.queued"), i18n.Key("cli.suspend.refused")},
		func(fs *flag.FlagSet) { reason = fs.String("reason", "lost", "lost or stolen") },
		func(pr *procedure, serial, lang string, online bool) (flow.SuspendResult, error) {
			return pr.ports.Suspend(ctx, flow.SuspendInput{Serial: serial, Reason: *reason, Lang: lang}, online)
		})
}

// queuedCardVerb runs a verb that records a procedure on a card by its
// serial and queues it for the central system (suspend, return): the
// job is sent at once when the central system answers, and the verb says
// whether it was sent, still waits, or was refused (said: those three
// messages).
func queuedCardVerb(ctx context.Context, verb string, args []string, stdout, stderr io.Writer, said [3]i18n.Key,
	flags func(*flag.FlagSet), run func(pr *procedure, serial, lang string, online bool) (flow.SuspendResult, error)) error {
	fs := newFlags(verb, stderr)
	var c common
	c.register(fs)
	serial := fs.String("serial", "", "the card's serial")
	if flags != nil {
		flags(fs)
	}
	lang := fs.String("lang", "", "the citizen's language for the receipt")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *serial == "" {
		return fmt.Errorf("%w: %s needs --serial", errUsage, verb)
	}
	pr, err := startProcedure(ctx, c, lang)
	if err != nil {
		return err
	}
	defer pr.close()
	online := pr.online(ctx)
	res, err := run(pr, *serial, *lang, online)
	if err != nil {
		return err
	}
	if err := pr.sendQueuedNow(ctx, online, res.JobID, res.Receipt.Number, stdout, said[0], said[1], said[2]); err != nil {
		return err
	}
	pr.print(ctx, res.Receipt.Number, stdout)
	return nil
}

// cmdResume: madoguchi resume --serial S — lift a suspension (the card
// was found); needs the central system.
func cmdResume(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("resume", stderr)
	var c common
	c.register(fs)
	serial := fs.String("serial", "", "the card's serial")
	lang := fs.String("lang", "", "the citizen's language for the receipt")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *serial == "" {
		return fmt.Errorf("%w: resume needs --serial", errUsage)
	}
	pr, err := startProcedure(ctx, c, lang)
	if err != nil {
		return err
	}
	defer pr.close()
	e, ui := pr.e, pr.ui
	ports := pr.ports
	r, err := ports.Resume(ctx, *serial, *lang, "")
	if errors.Is(err, flow.ErrCentralDown) {
		return errors.New(e.msgs.T(ui, i18n.Key("procedure.needs_online"), nil))
	}
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, e.msgs.T(ui, i18n.Key("cli.resume.done"), map[string]any{"Receipt": r.Number}))
	return nil
}

// sendQueuedNow delivers the queue at once when the central system
// answers, then says whether the procedure's job was sent, still waits,
// or was refused (a dead letter for the supervisor).
func (p *procedure) sendQueuedNow(ctx context.Context, online bool, jobID int64, receiptNo string, stdout io.Writer, sent, queued, refused i18n.Key) error {
	e, ui := p.e, p.ui
	state, deadReason := string(queue.Pending), ""
	if online {
		w := queue.NewWorker(e.queue, queue.Options{Kinds: queue.CentralKinds(p.ports.Central)})
		if _, err := w.Drain(ctx); err == nil {
			e.store.DB.QueryRowContext(ctx, `SELECT state, dead_reason FROM outbox WHERE id = ?`, jobID).Scan(&state, &deadReason)
		}
	}
	data := map[string]any{"Receipt": receiptNo}
	switch queue.State(state) {
	case queue.Done:
		fmt.Fprintln(stdout, e.msgs.T(ui, sent, data))
	case queue.Dead:
		return fmt.Errorf("%s (%s)", e.msgs.T(ui, refused, data), deadReason)
	default:
		fmt.Fprintln(stdout, e.msgs.T(ui, queued, data))
	}
	return nil
}

// cmdReturn: madoguchi return --serial S — a card handed back (返納):
// recorded and queued; its certificates are revoked when the central
// system takes it.
func cmdReturn(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return queuedCardVerb(ctx, "return", args, stdout, stderr,
		[3]i18n.Key{i18n.Key("cli.return.sent"), i18n.Key("cli.return.queued"), i18n.Key("cli.return.refused")}, nil,
		func(pr *procedure, serial, lang string, _ bool) (flow.SuspendResult, error) {
			return pr.ports.Return(ctx, flow.ReturnInput{Serial: serial, Lang: lang})
		})
}

// procedure is what every procedure verb starts with: the environment,
// the central connection (the built-in simulator in the demo) and the
// flow's ports; close ends them.
type procedure struct {
	e     *env
	ui    string // the clerk's language
	ports flow.Ports
	close func()
}

// startProcedure sets up a procedure verb; an empty *lang becomes the
// configured language.
func startProcedure(ctx context.Context, c common, lang *string) (*procedure, error) {
	e, err := setup(ctx, c, nil)
	if err != nil {
		return nil, err
	}
	if *lang == "" {
		*lang = e.cfg.Language
	}
	client, stopCentral, err := connectCentral(ctx, e.cfg.Central, e.dataDir, e.log)
	if err != nil {
		e.Close()
		return nil, err
	}
	rs, err := receiptService(e, c.config)
	if err != nil {
		stopCentral()
		e.Close()
		return nil, err
	}
	al, err := auditLog(e)
	if err != nil {
		stopCentral()
		e.Close()
		return nil, err
	}
	return &procedure{
		e: e, ui: e.msgs.Match(e.cfg.Language),
		ports: flow.Ports{Central: client, Store: e.store, Queue: e.queue, Receipts: rs, Terminal: e.cfg.Terminal, Log: e.log,
			Audit: al, Actor: "cli:" + osUser()},
		close: func() { stopCentral(); e.Close() },
	}, nil
}

// online asks the central system whether it answers now.
func (p *procedure) online(ctx context.Context) bool {
	hctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err := p.ports.Central.Health(hctx)
	return err == nil
}

// print sends a receipt to the printer and says what happened.
func (p *procedure) print(ctx context.Context, number string, stdout io.Writer) {
	if out, err := p.ports.Receipts.Print(ctx, number, ""); err == nil {
		fmt.Fprintln(stdout, p.e.msgs.T(p.ui, out.Message, nil))
	}
}

// osUser names who runs a CLI procedure in the audit trail.
func osUser() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return "unknown"
}
