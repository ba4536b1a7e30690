// Command madoguchi is the counter and kiosk application for the
// Individual Number Card. With no arguments it opens the window; its
// subcommands serve the same UI to a browser and run operations.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	"madoguchi/app"
	"madoguchi/app/audit"
	"madoguchi/app/config"
	"madoguchi/app/i18n"
	"madoguchi/app/logging"
	"madoguchi/app/passhash"
	"madoguchi/app/queue"
	"madoguchi/app/staff"
	"madoguchi/app/store"
	"madoguchi/locales"
)

// version is set at build time: -ldflags "-X main.version=..."
var version = "dev"

// started is as close to process start as Go code gets.
var started = time.Now()

const usage = `madoguchi — Individual Number Card counter and kiosk terminal

Usage:
  madoguchi [--mode counter|kiosk|supervisor] [--data DIR] [--config FILE]
        open the window (the default)
  madoguchi serve [--addr 127.0.0.1:8080] [--mode M] [--data DIR] [--config FILE]
        serve the same UI to a browser (loopback; beyond it TLS and an
        access code are required, see docs/SERVE.md)
  madoguchi card read [--reader NAME|auto|builtin] [--json] [--pin-fd N] [--show-number] [--no-pin]
        read the card: token, certificates, every PIN's tries and, after
        the input-assist PIN (from the terminal or --pin-fd), the basic four
        items; the individual number is masked unless --show-number
  madoguchi card readers
        list PC/SC readers and whether each holds a card
  madoguchi card-sim [--profile current|next] [--state FILE] [--vpcd 127.0.0.1:35963] [--blank]
        put the virtual card into a running pcscd through the vsmartcard
        vpcd reader (development and tests only); remove/insert on stdin
  madoguchi phone-sim [--state FILE] [--vpcd 127.0.0.1:35963] [--se NAME] [--app NAME] [--vendor FILE] [--auto-approve]
        put the virtual phone (wallet, docs/PHONE-COMMANDS.md) into the vpcd
        reader (development and tests only); on stdin: approve (the holder
        allows one signature), remove, insert, status, inbox, quit
  madoguchi jlis-sim init [--data DIR] [--json]
        create the central simulator: CAs, card-management key, a first
        terminal certificate, demo card records; prints every file written
  madoguchi jlis-sim run [--data DIR] [--addr 127.0.0.1:8443] [--public-addr ADDR] [--fault-...]
        serve the J-LIS-style API over mutual TLS, and CRL/OCSP over HTTP
  madoguchi jlis-sim terminal --name NAME [--data DIR]
        issue another terminal's client certificate
  madoguchi jlis-sim reserve --serial S --pin sign|auth [--data DIR]
        make a reservation for a kiosk PIN reset, as the smartphone
        face-check service would (demo); prints its id and expiry
  Counter procedures take the identity step as flags: --documents LIST
  (see docs/IDENTITY.md), --face-matched, --proxy, --legal-representative.
  madoguchi issue [--reader NAME] [--pin-fd N] [--same-pin] [--puk] [--old-serial S]
        hand over a new card (交付): the citizen sets every PIN (and its
        confirmation), keys are generated on the card, certificates issued
        by the central system and written, the receipt printed
  madoguchi renew-card --old-serial S [...as issue]
        a new card replaces an old one, which is returned (its certificates
        revoked through the queue)
  madoguchi renew-cert [--reissue] [--auth-only] [--pin-fd N]
        renew the e-certificates (from 3 months before expiry; --reissue
        before that on the citizen's request); the PINs the citizen knows
  madoguchi change-details [--name N] [--address A] [--no-sign] [--pin-fd N]
        a new name or address: the card's text data rewritten under the
        central system's signature, the signature certificate reissued
  madoguchi selftest [--json] [--data DIR] [--reader NAME]
        the terminal's acceptance test: every counter procedure once against
        the virtual card behind pcscd and the built-in central simulator;
        per procedure: ok, software time, card placements, PIN entries, APDUs
  madoguchi phone-store [--reader NAME] [--pin-fd N] [--replace] [--no-mdoc]
        store the citizen's smartphone credentials: the card and its signature
        password prove the holder, then the phone is held to the reader (its
        key attested and approved on the phone); the old phone is revoked
        with --replace
  madoguchi phone-list --serial S [--json] | phone-revoke --id ID
        a card's phone credentials; revoke one (a lost phone)
  madoguchi staff add --login L --name N --role clerk|supervisor|kiosk [--password-fd N] | staff list [--json]
        staff accounts (argon2id passwords, lockout after 5 failures); in
        demo mode the accounts of the README exist already
  madoguchi audit verify [--json] | audit export [--date YYYY-MM-DD] [--out FILE]
        check the hash-chained audit trail (names the first edited, deleted
        or renumbered event) or export one day's events as CSV
  madoguchi pin-reset --pin auth|sign|input-assist|resident [--reader NAME] [--pin-fd N] [--lang L]
        reset a PIN at the counter (初期化) with the central system's
        authorisation; the new PIN twice from the terminal or --pin-fd;
        records the procedure, queues its statistics and issues the receipt
  madoguchi puk-unlock [--reader NAME] [--pin-fd N] [--lang L]
        unlock a next-generation card's PIN with the PUK and set a new one
        (PUK, new PIN, confirmation); works offline, the event queues
  madoguchi suspend --serial S [--reason lost|stolen]
        suspend a lost card: recorded and queued first in line, sent at once
        when the central system answers
  madoguchi resume --serial S
        lift a suspension (needs the central system)
  madoguchi return --serial S
        a card handed back: recorded, queued; its certificates are revoked
        when the central system takes it
  madoguchi queue status|list|retry ID|discard ID --reason R|drain|rotate-key [--json]
        the jobs waiting for the central system: counts, the list (--state
        dead for the dead letters), a supervisor's retry or discard (recorded
        with --actor), deliver everything now, rotate the payload key
  madoguchi receipt list [--status printed|unprinted] [--json]
  madoguchi receipt reprint ID [--printer NAME]
  madoguchi receipt pdf ID --out FILE [--layout roll80|a4] [--copy]
  madoguchi receipt verify QR-TEXT | NUMBER CODE
  madoguchi receipt sample --procedure P --lang L --out FILE [--layout roll80|a4] [--copy]
  madoguchi receipt printer [--printer NAME] | key export --out FILE | key import FILE
        receipts: the stored ones and whether they reached paper, print
        one again, write its PDF, check a receipt's verification code
        (another terminal's needs its key imported), render a demo receipt
        for layout review, the printer's state ([printer] in the config)
  madoguchi report daily [--date YYYY-MM-DD] --format csv|xlsx|pdf --out FILE [--lang L] [--terminal T]
  madoguchi report merge --format csv|xlsx|pdf --out FILE IN.csv...
        the supervisors' daily report (default today, in Japan): procedures
        per kind and outcome, handling times, the kiosk's funnel, PIN resets,
        the queue, reprints, visitors near expiry; per terminal, counter and
        in total. merge combines the CSV reports of an office's terminals
        (--format defaults to --out's extension; --out - writes to stdout)
  madoguchi config init|path|show [--config FILE]
        write the documented default config, print its path, or print
        the effective settings
  madoguchi error-codes [--lang L]
        the diagnostics codes (MDG-…) with what the screen says and what to
        do, as in docs/ERROR-CODES.md
  madoguchi version
        print the version
  madoguchi help
        print this help

Every command takes --data DIR (default $XDG_DATA_HOME/madoguchi, i.e.
~/.local/share/madoguchi) for the SQLite store and logs, and --config FILE
(default ~/.config/madoguchi/config.toml).
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// errUsage marks a command-line mistake: exit code 2.
var errUsage = errors.New("usage")

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmd := ""
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "", "window":
		err = cmdWindow(ctx, args, stderr)
	case "serve":
		err = cmdServe(ctx, args, stdout, stderr)
	case "config":
		err = cmdConfig(args, stdout, stderr)
	case "card":
		err = cmdCard(ctx, args, stdout, stderr)
	case "card-sim":
		err = cmdCardSim(ctx, args, stdout, stderr)
	case "phone-sim":
		err = cmdPhoneSim(ctx, args, stdout, stderr)
	case "jlis-sim":
		err = cmdJLISSim(ctx, args, stdout, stderr)
	case "queue":
		err = cmdQueue(ctx, args, stdout, stderr)
	case "issue":
		err = cmdIssue(ctx, args, stdout, stderr, false)
	case "renew-card":
		err = cmdIssue(ctx, args, stdout, stderr, true)
	case "renew-cert":
		err = cmdRenewCert(ctx, args, stdout, stderr)
	case "change-details":
		err = cmdChangeDetails(ctx, args, stdout, stderr)
	case "selftest":
		err = cmdSelftest(ctx, args, stdout, stderr)
	case "audit":
		err = cmdAudit(ctx, args, stdout, stderr)
	case "staff":
		err = cmdStaff(ctx, args, stdout, stderr)
	case "phone-store":
		err = cmdPhoneStore(ctx, args, stdout, stderr)
	case "phone-list":
		err = cmdPhoneList(ctx, args, stdout, stderr)
	case "phone-revoke":
		err = cmdPhoneRevoke(ctx, args, stdout, stderr)
	case "pin-reset":
		err = cmdPINReset(ctx, args, stdout, stderr)
	case "puk-unlock":
		err = cmdPUKUnlock(ctx, args, stdout, stderr)
	case "suspend":
		err = cmdSuspend(ctx, args, stdout, stderr)
	case "resume":
		err = cmdResume(ctx, args, stdout, stderr)
	case "return":
		err = cmdReturn(ctx, args, stdout, stderr)
	case "receipt":
		err = cmdReceipt(ctx, args, stdout, stderr)
	case "report":
		err = cmdReport(ctx, args, stdout, stderr)
	case "error-codes":
		err = cmdErrorCodes(args, stdout, stderr)
	case "version":
		fmt.Fprintf(stdout, "madoguchi %s\n", version)
	case "help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "madoguchi: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(stdout, usage)
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "madoguchi: %v\n", err)
		return 2
	default:
		fmt.Fprintf(stderr, "madoguchi: %v\n", err)
		return 1
	}
}

// common are the flags every command that opens the store takes.
type common struct {
	data, config, mode string
}

func (c *common) register(fs *flag.FlagSet) {
	fs.StringVar(&c.data, "data", "", "data directory (store and logs)")
	fs.StringVar(&c.config, "config", "", "config file")
	fs.StringVar(&c.mode, "mode", "", "counter, kiosk or supervisor (default: let the user choose)")
}

func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {} // run prints the usage once, on stdout for --help
	return fs
}

func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	return nil
}

func configPath(flagValue string) (string, error) {
	if flagValue != "" {
		return flagValue, nil
	}
	return config.DefaultPath()
}

// env is everything a face needs, wired explicitly.
type env struct {
	ctx     context.Context // ends when the face closes
	cfg     config.Config
	dataDir string
	log     *slog.Logger
	store   *store.Store
	queue   *queue.Queue
	msgs    *i18n.Bundle
	mode    app.Mode
	closers []io.Closer
	// configFile is the config file's path (keys live beside it).
	configFile string
}

func (e *env) Close() {
	for i := len(e.closers) - 1; i >= 0; i-- {
		e.closers[i].Close()
	}
}

func setup(ctx context.Context, c common, logStderr io.Writer) (*env, error) {
	mode, err := app.ParseMode(c.mode)
	if err != nil {
		return nil, fmt.Errorf("%w: --mode: %v", errUsage, err)
	}
	cp, err := configPath(c.config)
	if err != nil {
		return nil, err
	}
	cfg, err := config.Load(cp)
	if err != nil {
		return nil, err
	}
	dataDir, err := config.DataDir(c.data)
	if err != nil {
		return nil, err
	}
	level, _ := cfg.LogLevel()
	e := &env{ctx: ctx, cfg: cfg, dataDir: dataDir, mode: mode, configFile: cp}
	log, lf, err := logging.New(logging.Options{
		Dir: filepath.Join(dataDir, "logs"), Level: level,
		MaxBytes: int64(cfg.Log.MaxMiB) << 20, Keep: cfg.Log.Keep, Also: logStderr,
	})
	if err != nil {
		return nil, err
	}
	e.log = log
	e.closers = append(e.closers, lf)
	st, err := store.Open(ctx, filepath.Join(dataDir, "madoguchi.db"))
	if err != nil {
		e.Close()
		return nil, err
	}
	e.store = st
	e.closers = append(e.closers, st)
	// The queue's payload keys live beside the config file (0600).
	keys, err := queue.LoadKeyring(filepath.Join(filepath.Dir(cp), "queue-keys.json"))
	if err != nil {
		e.Close()
		return nil, err
	}
	e.queue = queue.New(st.DB, keys)
	e.msgs, err = i18n.Load(locales.FS, "ja")
	if err != nil {
		e.Close()
		return nil, err
	}
	return e, nil
}

// faceHooks are what a face (window or browser) adds to the App: its
// first-paint report, how it closes, and its save dialog. All may be nil.
type faceHooks struct {
	onPaint    func(app.PaintReport)
	quit       func()
	saveDialog func(name, title string) (string, error)
}

func (e *env) app(face string, h faceHooks) *app.App {
	d := app.Deps{
		Config: e.cfg, Store: e.store, Messages: e.msgs, Log: e.log, Version: version,
		DataDir: e.dataDir, Mode: e.mode, Face: face, Started: started,
		OnFirstPaint: h.onPaint, Quit: h.quit, SaveDialog: h.saveDialog,
		FreeSpace: freeSpace, MissingFonts: missingFonts(e.msgs.Languages()),
	}
	if !e.cfg.Card.Demo() {
		w := newReaderWatch(e.cfg.Card.Reader, e.log)
		go w.run(e.ctx)
		d.Reader = w.state
	}
	d.Staff = staff.New(e.store.DB, nil)
	if e.cfg.Card.Demo() || e.cfg.Central.Demo() {
		if err := d.Staff.EnsureDemo(e.ctx); err != nil {
			e.log.Error("demo staff accounts", "err", err)
		}
	}
	if al, err := audit.Open(e.store.DB, filepath.Join(filepath.Dir(e.configFile), "audit-key.json"), e.cfg.Terminal); err != nil {
		e.log.Error("audit trail", "err", err)
	} else {
		d.Audit = al
	}
	cen := startCentral(e.ctx, e.cfg.Central, e.dataDir, e.queue, e.log)
	d.Central = cen.status
	d.ClockSkew = cen.clockSkew
	d.Printer = startPrinterWatch(e.ctx, e.cfg.Printer, e.log).status
	d.Counter = newCounterWiring(e, cen).deps()
	return app.New(d)
}

func cmdConfig(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: config needs init, path or show", errUsage)
	}
	verb := args[0]
	fs := newFlags("config "+verb, stderr)
	file := fs.String("config", "", "config file")
	data := fs.String("data", "", "data directory")
	codeFD := fs.Int("code-fd", -1, "kiosk-code: read the code (twice, two lines) from this file descriptor instead of the terminal")
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	p, err := configPath(*file)
	if err != nil {
		return err
	}
	switch verb {
	case "path":
		fmt.Fprintln(stdout, p)
	case "init":
		if err := config.WriteTemplate(p); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote %s\n", p)
	case "show":
		c, err := config.Load(p)
		if err != nil {
			return err
		}
		d, err := config.DataDir(*data)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "# config file: %s\n# data directory: %s\n%s", p, d, c.TOML())
	case "kiosk-code":
		return setKioskCode(p, *codeFD, stdout, stderr)
	default:
		return fmt.Errorf("%w: config %s: want init, path, show or kiosk-code", errUsage, verb)
	}
	return nil
}

// setKioskCode asks for the supervisor code that leaves kiosk mode (twice,
// without echo) and stores its argon2id hash in the config file.
func setKioskCode(path string, fd int, stdout, stderr io.Writer) error {
	code, ok, err := readPIN(fd, stderr, "supervisor code (8 or more characters):")
	if err != nil || !ok {
		return errors.Join(err, fmt.Errorf("%w: no code given", errUsage))
	}
	defer code.Wipe()
	again, _, err := readPIN(fd, stderr, "again:")
	if err != nil {
		return err
	}
	defer again.Wipe()
	same := false
	_ = code.Reveal(func(a []byte) error {
		return again.Reveal(func(b []byte) error { same = string(a) == string(b) && len(a) >= 8; return nil })
	})
	if !same {
		return fmt.Errorf("%w: the two entries differ, or the code is shorter than 8 characters", errUsage)
	}
	h, err := passhash.Hash(code)
	if err != nil {
		return err
	}
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		if err := config.WriteTemplate(path); err != nil {
			return err
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	line := fmt.Sprintf("exit_code_hash = %q", h)
	re := regexp.MustCompile(`(?m)^exit_code_hash\s*=.*$`)
	var out string
	switch {
	case re.Match(b):
		out = re.ReplaceAllLiteralString(string(b), line)
	case regexp.MustCompile(`(?m)^\[kiosk\]\s*$`).Match(b):
		out = regexp.MustCompile(`(?m)^\[kiosk\]\s*$`).ReplaceAllLiteralString(string(b), "[kiosk]\n"+line)
	default:
		out = strings.TrimRight(string(b), "\n") + "\n\n[kiosk]\n" + line + "\n"
	}
	if _, err := config.Parse([]byte(out)); err != nil {
		return fmt.Errorf("the config file would not be valid: %w", err)
	}
	if err := os.WriteFile(path, []byte(out), 0o600); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "kiosk exit code set in %s\n", path)
	return nil
}

// cliLogger logs to madoguchi.log under dir/logs, for commands that run
// without the full setup.
func cliLogger(dir string) (*slog.Logger, io.Closer, error) {
	return logging.New(logging.Options{Dir: filepath.Join(dir, "logs"), Level: slog.LevelInfo})
}

// printJSON writes v as indented JSON, the form every --json flag prints.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
