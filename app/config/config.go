// Package config reads Madoguchi's configuration file and resolves its
// directories. Every setting has a default that runs the demo, so a fresh
// machine needs no file at all.
//
// The file is TOML at $XDG_CONFIG_HOME/madoguchi/config.toml (usually
// ~/.config/madoguchi/config.toml); `madoguchi config init` writes one
// with every setting and its default, commented. Data (the SQLite store and
// logs) lives in $XDG_DATA_HOME/madoguchi (usually ~/.local/share/madoguchi);
// every command's --data flag overrides it.
package config

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/BurntSushi/toml"
)

// Config is the whole configuration.
type Config struct {
	// Language is the UI language at start-up (BCP 47; "ja" or "en").
	Language string `toml:"language"`
	// Municipality and Counter name this terminal on screens and receipts.
	Municipality string `toml:"municipality"`
	Counter      string `toml:"counter"`
	// Terminal is this terminal's identifier towards the central system.
	Terminal string  `toml:"terminal"`
	Card     Card    `toml:"card"`
	Central  Central `toml:"central"`
	Log      Log     `toml:"log"`
	Serve    Serve   `toml:"serve"`
	Printer  Printer `toml:"printer"`
	Kiosk    Kiosk   `toml:"kiosk"`
}

// Kiosk configures the unattended self-service mode.
type Kiosk struct {
	// IdleSeconds: after this long without a touch, everything of the
	// citizen is cleared (a warning shows WarnSeconds before).
	IdleSeconds int `toml:"idle_seconds"`
	WarnSeconds int `toml:"warn_seconds"`
	// ShufflePINPad shuffles the PIN pad's digits for every entry.
	ShufflePINPad bool `toml:"shuffle_pinpad"`
	// ExitCodeHash is the argon2id hash of the supervisor code that leaves
	// kiosk mode ("madoguchi config kiosk-code" sets it). Empty: the demo
	// code in demo mode, no way out otherwise.
	ExitCodeHash string `toml:"exit_code_hash"`
}

// Printer configures receipt printing through CUPS.
type Printer struct {
	// Queue is the CUPS queue receipts go to. Empty: no printer; receipts
	// are stored, marked unprinted, and can be printed later.
	Queue string `toml:"queue"`
	// URI is the CUPS server: http://localhost:631, or
	// unix:///run/cups/cups.sock for the local socket.
	URI string `toml:"uri"`
	// Media is the receipt layout: "roll80" (80 mm roll) or "a4".
	Media string `toml:"media"`
	// Copy prints a second copy for the municipality, with a line for the
	// citizen's signature.
	Copy bool `toml:"copy"`
}

// Card configures the card reader.
type Card struct {
	// Reader is the PC/SC reader to use. Empty: the built-in virtual card
	// (demo). "auto": the first PC/SC reader that holds a card.
	Reader string `toml:"reader"`
	// VirtualProfile is the built-in virtual card's generation: "current"
	// or "next".
	VirtualProfile string `toml:"virtual_profile"`
}

// Central configures the connection to the J-LIS-style central system.
type Central struct {
	// Endpoint is the API's https base URL. Empty: the built-in central
	// simulator (demo), run in-process with its data in the data directory.
	Endpoint string `toml:"endpoint"`
	// Cert and Key are this terminal's client certificate and key (PEM,
	// key mode 0600); CA is the central system's root certificate.
	Cert string `toml:"cert"`
	Key  string `toml:"key"`
	CA   string `toml:"ca"`
}

// Demo reports whether the terminal uses the built-in simulator.
func (c Central) Demo() bool { return c.Endpoint == "" }

// Demo reports whether the terminal uses the built-in virtual card.
func (c Card) Demo() bool { return c.Reader == "" }

// Log configures the log file.
type Log struct {
	Level  string `toml:"level"`   // debug, info, warn, error
	MaxMiB int    `toml:"max_mib"` // rotate beyond this size
	Keep   int    `toml:"keep"`    // rotated files kept
}

// Serve configures `madoguchi serve` when it listens beyond loopback.
type Serve struct {
	Addr string `toml:"addr"`
	// TLSCert and TLSKey are PEM files; required for a non-loopback address.
	TLSCert string `toml:"tls_cert"`
	TLSKey  string `toml:"tls_key"`
	// AccessCodeFile holds the access code a browser must enter when the
	// server listens beyond loopback; it must be mode 0600. Created with a
	// random code if missing.
	AccessCodeFile string `toml:"access_code_file"`
}

// Default returns the configuration the demo runs on.
func Default() Config {
	return Config{
		Language:     "ja",
		Municipality: "デモ市",
		Counter:      "窓口1",
		Terminal:     "DEMO-01",
		Card:         Card{VirtualProfile: "current"},
		Log:          Log{Level: "info", MaxMiB: 10, Keep: 5},
		Serve:        Serve{Addr: "127.0.0.1:8080"},
		Printer:      Printer{URI: "http://localhost:631", Media: "roll80"},
		Kiosk:        Kiosk{IdleSeconds: 60, WarnSeconds: 15, ShufflePINPad: true},
	}
}

// Dir returns Madoguchi's config directory.
func Dir() (string, error) {
	d, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("config dir: %w", err)
	}
	return filepath.Join(d, "madoguchi"), nil
}

// DefaultPath is the config file's path.
func DefaultPath() (string, error) {
	d, err := Dir()
	if err != nil {
		return "", err
	}
	return filepath.Join(d, "config.toml"), nil
}

// DataDir returns the data directory: override if set, else
// $XDG_DATA_HOME/madoguchi, else ~/.local/share/madoguchi.
func DataDir(override string) (string, error) {
	if override != "" {
		return filepath.Abs(override)
	}
	if x := os.Getenv("XDG_DATA_HOME"); x != "" && filepath.IsAbs(x) {
		return filepath.Join(x, "madoguchi"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("data dir: %w", err)
	}
	return filepath.Join(home, ".local", "share", "madoguchi"), nil
}

// Load reads path over the defaults. A missing file is not an error.
// Unknown keys are, so that a typo does not silently fall back.
func Load(path string) (Config, error) {
	c := Default()
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return c, fmt.Errorf("read config: %w", err)
	}
	c, err = Parse(data)
	if err != nil {
		return c, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// Parse reads a config file's content over the defaults and validates it.
func Parse(data []byte) (Config, error) {
	c := Default()
	md, err := toml.Decode(string(data), &c)
	if err != nil {
		return c, err
	}
	if u := md.Undecoded(); len(u) > 0 {
		keys := make([]string, len(u))
		for i, k := range u {
			keys[i] = k.String()
		}
		return c, fmt.Errorf("unknown settings: %s", strings.Join(keys, ", "))
	}
	return c, c.Validate()
}

// Validate checks values a typo could break.
func (c Config) Validate() error {
	if _, err := c.LogLevel(); err != nil {
		return err
	}
	if c.Log.MaxMiB < 1 || c.Log.Keep < 1 {
		return fmt.Errorf("config: log.max_mib and log.keep must be at least 1")
	}
	if c.Card.VirtualProfile != "current" && c.Card.VirtualProfile != "next" {
		return fmt.Errorf("config: card.virtual_profile %q: want current or next", c.Card.VirtualProfile)
	}
	if c.Central.Endpoint != "" && (c.Central.Cert == "" || c.Central.Key == "" || c.Central.CA == "") {
		return fmt.Errorf("config: central.endpoint needs central.cert, central.key and central.ca")
	}
	if strings.TrimSpace(c.Terminal) == "" {
		return fmt.Errorf("config: terminal must not be empty")
	}
	if c.Printer.Media != "roll80" && c.Printer.Media != "a4" {
		return fmt.Errorf("config: printer.media %q: want roll80 or a4", c.Printer.Media)
	}
	if c.Kiosk.IdleSeconds < 10 || c.Kiosk.WarnSeconds < 1 || c.Kiosk.WarnSeconds >= c.Kiosk.IdleSeconds {
		return fmt.Errorf("config: kiosk.idle_seconds must be at least 10 and kiosk.warn_seconds between 1 and idle_seconds")
	}
	return nil
}

// LogLevel parses Log.Level.
func (c Config) LogLevel() (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(c.Log.Level)); err != nil {
		return 0, fmt.Errorf("config: log.level %q: want debug, info, warn or error", c.Log.Level)
	}
	return l, nil
}

// Template is the commented file `madoguchi config init` writes.
const Template = `# Madoguchi configuration. Every setting shows its default;
# delete a line to go back to the default.

# UI language at start-up: "ja" or "en". Users can switch at any time.
language = "ja"

# Shown on screens and receipts.
municipality = "デモ市"
counter = "窓口1"

# This terminal's identifier towards the central system.
terminal = "DEMO-01"

[card]
# The PC/SC reader to use, by name (see "madoguchi card readers").
# Empty: the built-in virtual card (demo mode, with a DEMO banner).
# "auto": the first reader that holds a card.
reader = ""
# Generation of the built-in virtual card: "current" or "next".
virtual_profile = "current"

[central]
# The J-LIS-style central system's API (https). Empty: the built-in
# central simulator (demo mode), run inside Madoguchi.
endpoint = ""
# This terminal's client certificate and key (PEM; the key mode 0600), and
# the central system's root CA certificate.
cert = ""
key = ""
ca = ""

[log]
# debug, info, warn or error. Secrets are never logged at any level.
level = "info"
# The log file in the data directory rotates beyond this many MiB;
# this many rotated files are kept.
max_mib = 10
keep = 5

[serve]
# Where "madoguchi serve" listens. A non-loopback address requires
# tls_cert, tls_key and an access code (see docs/SERVE.md).
addr = "127.0.0.1:8080"
tls_cert = ""
tls_key = ""
# File holding the access code (mode 0600); created with a random code
# when missing. Default: access-code in the config directory.
access_code_file = ""

[printer]
# The CUPS queue receipts print on (see "lpstat -p"). Empty: no printer;
# receipts are stored, marked unprinted, and "madoguchi receipt reprint"
# prints them later.
queue = ""
# The CUPS server: http://localhost:631, or unix:///run/cups/cups.sock
# (the local socket, where CUPS knows the OS user).
uri = "http://localhost:631"
# Receipt layout: "roll80" (80 mm roll paper) or "a4".
media = "roll80"
# Also print the municipality's copy, with a line for the signature.
copy = false

[kiosk]
# After this many seconds without a touch the kiosk clears everything of
# the citizen from the screen and from memory; a warning shows before.
idle_seconds = 60
warn_seconds = 15
# Shuffle the PIN pad's digits for every entry (against shoulder surfing).
shuffle_pinpad = true
# The argon2id hash of the supervisor code that leaves kiosk mode; set it
# with "madoguchi config kiosk-code". Empty: in demo mode the demo code
# (see README), otherwise no way out from the screen.
exit_code_hash = ""
`

// WriteTemplate writes Template to path unless a file is already there.
func WriteTemplate(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	if _, err := f.WriteString(Template); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// TOML renders c as a config file.
func (c Config) TOML() string {
	var b strings.Builder
	_ = toml.NewEncoder(&b).Encode(c)
	return b.String()
}
