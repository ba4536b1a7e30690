package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strconv"
	"time"

	"madoguchi/app/config"
	"madoguchi/drivers/jlis"
	"madoguchi/drivers/jlis/api"
	"madoguchi/drivers/jlis/sim"
)

// cmdJLISSim runs the central system's reference server.
func cmdJLISSim(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: jlis-sim needs init, run, terminal or reserve", errUsage)
	}
	switch args[0] {
	case "init":
		fs := newFlags("jlis-sim init", stderr)
		data := fs.String("data", "", "directory of the simulator (default: central-sim in the data directory)")
		asJSON := fs.Bool("json", false, "print the paths as JSON")
		if err := parse(fs, args[1:]); err != nil {
			return err
		}
		dir, err := simDir(*data)
		if err != nil {
			return err
		}
		r, err := sim.Init(dir)
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(stdout, r)
		}
		verb := "created"
		if r.AlreadyExists {
			verb = "already initialised, nothing changed:"
		}
		fmt.Fprintf(stdout, "central simulator %s %s\n", verb, r.Dir)
		fmt.Fprintf(stdout, "  root CA:            %s\n", r.RootCA)
		for _, n := range []string{"auth", "sign", "phone", "terminal"} {
			fmt.Fprintf(stdout, "  %-8s CA:        %s (key %s)\n", n, r.CAs[n].Cert, r.CAs[n].Key)
		}
		fmt.Fprintf(stdout, "  server:             %s (key %s)\n", r.Server.Cert, r.Server.Key)
		fmt.Fprintf(stdout, "  terminal-01:        %s (key %s)\n", r.TerminalCert, r.TerminalKey)
		fmt.Fprintf(stdout, "  card-management key: %s\n", r.MasterKey)
		fmt.Fprintf(stdout, "  phone allow-list:   %s\n", r.PhoneAllow)
		fmt.Fprintf(stdout, "  database:           %s (demo cards %v)\n", r.Database, r.DemoCards)
		return nil
	case "terminal":
		fs := newFlags("jlis-sim terminal", stderr)
		data := fs.String("data", "", "directory of the simulator")
		name := fs.String("name", "", "terminal name (the certificate's CN)")
		if err := parse(fs, args[1:]); err != nil {
			return err
		}
		if *name == "" {
			return fmt.Errorf("%w: --name is required", errUsage)
		}
		dir, err := simDir(*data)
		if err != nil {
			return err
		}
		c, k, err := sim.AddTerminal(dir, *name)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "terminal %s: certificate %s, key %s\n", *name, c, k)
		return nil
	case "run":
		fs := newFlags("jlis-sim run", stderr)
		data := fs.String("data", "", "directory of the simulator")
		addr := fs.String("addr", "127.0.0.1:8443", "address of the mutual-TLS API")
		pub := fs.String("public-addr", "", "address of the plain-HTTP repository (CRL, OCSP) and the loopback admin endpoint (default: the API port + 1)")
		var f sim.Faults
		fs.IntVar(&f.LatencyMs, "fault-latency-ms", 0, "inject this much latency into every API request")
		fs.Float64Var(&f.ErrorRate, "fault-error-rate", 0, "answer this share of API requests with 503")
		fs.Float64Var(&f.DropAfterCommitRate, "fault-drop-rate", 0, "drop the connection after committing this share of state changes")
		fs.Float64Var(&f.DuplicateRate, "fault-duplicate-rate", 0, "process this share of state changes twice")
		rate := fs.Float64("rate-limit", 50, "requests per second per terminal")
		if err := parse(fs, args[1:]); err != nil {
			return err
		}
		dir, err := simDir(*data)
		if err != nil {
			return err
		}
		if *pub == "" {
			host, port, err := net.SplitHostPort(*addr)
			if err != nil {
				return fmt.Errorf("%w: --addr: %v", errUsage, err)
			}
			p, _ := strconv.Atoi(port)
			if p == 0 {
				*pub = net.JoinHostPort(host, "0")
			} else {
				*pub = net.JoinHostPort(host, strconv.Itoa(p+1))
			}
		}
		log, closer, err := cliLogger(dir)
		if err != nil {
			return err
		}
		defer closer.Close()
		r, err := sim.Start(ctx, sim.Options{Dir: dir, Addr: *addr, PublicAddr: *pub, Faults: f, RateLimit: *rate, Log: log})
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "central simulator: API %s (mutual TLS), repository %s\n", r.URL, r.PublicURL)
		<-ctx.Done()
		return r.Close()
	case "reserve":
		fs := newFlags("jlis-sim reserve", stderr)
		data := fs.String("data", "", "directory of the simulator (default: central-sim in the data directory)")
		serial := fs.String("serial", "", "the card's serial")
		pin := fs.String("pin", "", "the PIN to reset at the kiosk: sign (the signature password) or auth (the auth PIN)")
		if err := parse(fs, args[1:]); err != nil {
			return err
		}
		if *serial == "" || (*pin != api.ReservationPINSign && *pin != api.ReservationPINAuth) {
			return fmt.Errorf("%w: jlis-sim reserve needs --serial and --pin sign|auth", errUsage)
		}
		dir, err := simDir(*data)
		if err != nil {
			return err
		}
		rv, err := reserve(ctx, dir, *serial, *pin)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "reservation %s: %s PIN of card %s, open until %s\n", rv.ID, rv.PIN, rv.CardSerial, rv.ExpiresAt.Local().Format(time.RFC3339))
		return nil
	}
	return fmt.Errorf("%w: jlis-sim %s: want init, run, terminal or reserve", errUsage, args[0])
}

// reserve makes a kiosk PIN-reset reservation at the simulator in dir, as
// the smartphone face-check service would after a remote face check (the
// demo has none). It starts the simulator in-process on loopback for the
// one request — its database may be in use by a running terminal or
// jlis-sim run at the same time (SQLite) — and calls it with the first
// terminal's certificate.
func reserve(ctx context.Context, dir, serial, pin string) (api.Reservation, error) {
	run, err := sim.Start(ctx, sim.Options{Dir: dir, Addr: "127.0.0.1:0", PublicAddr: "127.0.0.1:0"})
	if err != nil {
		return api.Reservation{}, err
	}
	defer run.Close()
	ir, err := sim.Init(dir) // initialised already: only its paths
	if err != nil {
		return api.Reservation{}, err
	}
	c, err := jlis.New(jlis.Config{BaseURL: run.URL, CertFile: ir.TerminalCert, KeyFile: ir.TerminalKey, CAFile: ir.RootCA, Timeout: 10 * time.Second})
	if err != nil {
		return api.Reservation{}, err
	}
	defer c.Close()
	return c.CreateReservation(ctx, jlis.NewIdempotencyKey(), api.Reservation{CardSerial: serial, PIN: pin})
}

func simDir(flagValue string) (string, error) {
	if flagValue != "" {
		return filepath.Abs(flagValue)
	}
	d, err := config.DataDir("")
	if err != nil {
		return "", err
	}
	return filepath.Join(d, "central-sim"), nil
}
