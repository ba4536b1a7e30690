package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"madoguchi/app/flow"
	"madoguchi/app/i18n"
	"madoguchi/app/pinpolicy"
	"madoguchi/app/secret"
	"madoguchi/drivers/card"
	cardsim "madoguchi/drivers/card/sim"
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
	holder := fs.String("holder", "", "the name on the card face, for the receipt")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *kind == "" {
		return fmt.Errorf("%w: pin-reset needs --pin", errUsage)
	}
	e, err := setup(ctx, c, nil)
	if err != nil {
		return err
	}
	defer e.Close()
	if *lang == "" {
		*lang = e.cfg.Language
	}
	ui := e.msgs.Match(e.cfg.Language)
	client, stopCentral, err := connectCentral(ctx, e.cfg.Central, e.dataDir, e.log)
	if err != nil {
		return err
	}
	defer stopCentral()
	var s *session
	if (*reader == "" && e.cfg.Card.Demo()) || *reader == "builtin" {
		// The demo: the built-in card, made for the built-in central system.
		b, err := demoBinding(ctx, e.dataDir, client)
		if err != nil {
			return err
		}
		prof, _ := card.ProfileByName(e.cfg.Card.VirtualProfile)
		vc, _, err := cardsim.LoadOrCreateBoundDemo(e.dataDir, prof, b, e.log)
		if err != nil {
			return err
		}
		cd, err := card.Open(ctx, cardsim.NewSlot(vc), card.Options{Log: e.log})
		if err != nil {
			return err
		}
		s = &session{card: cd, reader: "builtin virtual card", demo: true, close: func() {}}
		fmt.Fprintln(stderr, e.msgs.T(ui, i18n.Key("cli.card.demo"), nil))
	} else if s, err = openCard(ctx, e, *reader); err != nil {
		return err
	}
	defer s.close()
	spec, ok := s.card.Profile().PIN(card.PINKind(*kind))
	if !ok {
		return fmt.Errorf("%w: this card has no %s PIN", errUsage, *kind)
	}
	label := e.msgs.T(ui, pinName(spec.Kind), nil)
	newPIN, ok, err := readPIN(*pinFD, stderr, e.msgs.T(ui, i18n.Key("cli.pin.new"), map[string]any{"PIN": label}))
	if err != nil || !ok {
		return errors.Join(err, fmt.Errorf("%w: no new PIN given", errUsage))
	}
	confirm, _, err := readPIN(*pinFD, stderr, e.msgs.T(ui, i18n.Key("cli.pin.confirm"), map[string]any{"PIN": label}))
	if err != nil {
		newPIN.Wipe()
		return err
	}
	same := false
	_ = newPIN.Reveal(func(a []byte) error {
		return confirm.Reveal(func(b []byte) error { same = string(a) == string(b); return nil })
	})
	confirm.Wipe()
	if !same {
		newPIN.Wipe()
		return errors.New(e.msgs.T(ui, i18n.Key("cli.pin.mismatch"), nil))
	}
	if ferr, warns := pinpolicy.Check(spec, newPIN, secret.Value{}, pinpolicy.Holder{}); ferr != nil {
		newPIN.Wipe()
		return ferr
	} else {
		for _, w := range warns {
			fmt.Fprintln(stderr, e.msgs.T(ui, w.Key, nil))
		}
	}
	rs, err := receiptService(e, c.config)
	if err != nil {
		newPIN.Wipe()
		return err
	}
	ports := flow.Ports{Central: client, Store: e.store, Queue: e.queue, Receipts: rs, Terminal: e.cfg.Terminal, Log: e.log}
	res, err := ports.PINReset(ctx, s.card, flow.PINResetInput{PIN: spec.Kind, NewPIN: newPIN, Lang: *lang, Holder: *holder})
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, e.msgs.T(ui, i18n.Key("cli.pin.reset_done"), map[string]any{"PIN": label, "Receipt": res.Receipt.Number}))
	out, err := rs.Print(ctx, res.Receipt.Number, "")
	if err == nil {
		fmt.Fprintln(stdout, e.msgs.T(ui, out.Message, nil))
	}
	return nil
}
