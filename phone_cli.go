package main

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"madoguchi/drivers/card/vpcd"
	"madoguchi/drivers/phone"
	phonesim "madoguchi/drivers/phone/sim"
)

// cmdPhoneSim puts the virtual phone (its wallet answering
// docs/PHONE-COMMANDS.md) into a running pcscd's vpcd reader, as a phone
// held to the counter's contactless reader. Development and tests only.
func cmdPhoneSim(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("phone-sim", stderr)
	var c common
	c.register(fs)
	state := fs.String("state", "", "the phone's state file (created if missing; default <data dir>/phone-sim.json)")
	addr := fs.String("vpcd", vpcd.DefaultAddr, "address of the vpcd reader driver")
	se := fs.String("se", phonesim.DefaultSecureElement, "secure element name (a new phone only)")
	appName := fs.String("app", phonesim.DefaultApp, "wallet app name (a new phone only)")
	vendorFile := fs.String("vendor", "", "the secure-element vendor's file (created if missing; default <data dir>/central-sim/"+phonesim.VendorFile+", which the central simulator trusts)")
	auto := fs.Bool("auto-approve", false, "approve every signature request without asking (tests and demos not about consent)")
	if err := parse(fs, args); err != nil {
		return err
	}
	e, err := setup(ctx, c, nil)
	if err != nil {
		return err
	}
	defer e.Close()
	if *state == "" {
		*state = filepath.Join(e.dataDir, "phone-sim.json")
	}
	if *vendorFile == "" {
		*vendorFile = filepath.Join(e.dataDir, "central-sim", phonesim.VendorFile)
	}
	vendor, err := phonesim.LoadOrCreateVendor(*vendorFile, phonesim.DefaultVendorName)
	if err != nil {
		return err
	}
	_, statErr := os.Stat(*state)
	ph, err := phonesim.Open(*state, phonesim.Options{Vendor: vendor, SecureElement: *se, App: *appName, AutoApprove: *auto, Log: e.log})
	if err != nil {
		return err
	}
	dev := ph.Device()
	if errors.Is(statErr, os.ErrNotExist) {
		fmt.Fprintf(stdout, "created phone %x in %s\n", dev.ID, *state)
	} else if dev.SecureElement != *se || dev.App != *appName {
		fmt.Fprintf(stdout, "note: %s keeps its own secure element %q and app %q (--se and --app apply to a new phone)\n", *state, dev.SecureElement, dev.App)
	}

	cl := vpcd.New(*addr, ph, e.log)
	fmt.Fprintf(stdout, "virtual phone %x (%s, %s %s, vendor %q) in vpcd at %s\n", dev.ID, dev.SecureElement, dev.App, dev.AppVersion, vendor.Name, *addr)
	fmt.Fprintln(stdout, "type approve, remove, insert, status, inbox or quit (or send SIGUSR1 / SIGUSR2 to remove / insert)")
	if *auto {
		fmt.Fprintln(stdout, "every signature request is approved automatically (--auto-approve)")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var outMu sync.Mutex
	say := func(format string, a ...any) {
		outMu.Lock()
		defer outMu.Unlock()
		fmt.Fprintf(stdout, format+"\n", a...)
	}
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGUSR1, syscall.SIGUSR2)
	defer signal.Stop(sigs)
	go func() {
		prompted := false
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
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
				e.log.Info("phone-sim", "inserted", cl.Inserted())
			case <-tick.C:
				// The phone's prompt: the counter asked for a signature.
				if req := ph.SignatureRequested(); req && !prompted {
					say("the counter asks for a signature: type approve to allow one (valid %s)", phone.ApprovalLifetime)
					prompted = true
				} else if !req {
					prompted = false
				}
			}
		}
	}()
	go func() {
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			switch strings.TrimSpace(sc.Text()) {
			case "approve", "a":
				ph.Approve()
				say("approved: one signature within %s", phone.ApprovalLifetime)
			case "remove", "r":
				cl.Remove()
				say("removed")
			case "insert", "i":
				cl.Insert()
				say("inserted")
			case "status", "s":
				say("%s", phoneStatus(ph))
			case "inbox":
				say("%s", phoneInbox(ph))
			case "quit", "q":
				cancel()
				return
			case "":
			default:
				say("commands: approve, remove, insert, status, inbox, quit")
			}
		}
	}()
	err = cl.Run(ctx)
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	if serr := ph.SaveError(); serr != nil {
		err = errors.Join(err, serr)
	}
	return err
}

// phoneStatus is the `status` answer: the device and its credentials.
func phoneStatus(ph *phonesim.Phone) string {
	d := ph.Device()
	var b strings.Builder
	fmt.Fprintf(&b, "phone %x: %s, %s; %s; %s %s; %d keys", d.ID, d.Model, d.OS, d.SecureElement, d.App, d.AppVersion, ph.KeyCount())
	list := ph.Status()
	if len(list) == 0 {
		b.WriteString("; no credentials")
	}
	for _, c := range list {
		fmt.Fprintf(&b, "\n  %-20s %-10s key %s  %-9s until %s", c.ID, c.Type, hex.EncodeToString(c.KeyID), c.State, c.NotAfter.Format(time.DateOnly))
	}
	return b.String()
}

// phoneInbox is the `inbox` answer: the notices, oldest first.
func phoneInbox(ph *phonesim.Phone) string {
	in := ph.Inbox()
	if len(in) == 0 {
		return "inbox empty"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d notices:", len(in))
	for _, n := range in {
		fmt.Fprintf(&b, "\n  %s  %-9s %s", n.Date.Format(time.DateOnly), n.Code, n.CredentialID)
	}
	return b.String()
}
