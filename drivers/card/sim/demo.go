package sim

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path/filepath"

	"madoguchi/drivers/card"
)

// IssuerFile and CardFile name the demo's files in the data directory.
const IssuerFile = "virtual-issuer.json"

// CardFile is the built-in virtual card's state file for a profile.
func CardFile(p *card.Profile) string { return "virtual-card-" + p.Name + ".json" }

// Bind makes the demo card for a central system: its serial, its
// card-management key (derived there from the central master key) and
// the issuer that makes it.
type Bind struct {
	Serial  string
	MgmtKey []byte
	// Issuer is the card issuer to make the card with and to return, e.g.
	// the central simulator's (drivers/jlis/sim.CardIssuer), so that the
	// central system can sign new input-assist data for the card; nil
	// keeps the demo issuer file (IssuerFile) in dir.
	Issuer *Issuer
}

// LoadOrCreateDemo opens the built-in virtual card of profile p in dir,
// creating the demo issuer and a card for DemoHolder with DemoPINs on
// first use.
func LoadOrCreateDemo(dir string, p *card.Profile, log *slog.Logger) (*Card, *Issuer, error) {
	return LoadOrCreateBoundDemo(dir, p, Bind{}, log)
}

// LoadOrCreateBoundDemo is LoadOrCreateDemo for a card made for a central
// system (b), so that the central system can authorise writes to it. A
// card file that exists already is opened as it is: b only shapes a new
// card (its data stays signed by the issuer that made it).
func LoadOrCreateBoundDemo(dir string, p *card.Profile, b Bind, log *slog.Logger) (*Card, *Issuer, error) {
	iss := b.Issuer
	if iss == nil {
		var err error
		if iss, err = LoadOrCreateIssuer(filepath.Join(dir, IssuerFile)); err != nil {
			return nil, nil, fmt.Errorf("demo issuer: %w", err)
		}
	}
	path := filepath.Join(dir, CardFile(p))
	c, err := Open(path, log)
	if err == nil {
		return c, iss, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, nil, err
	}
	st, err := Generate(iss, Options{Profile: p, Holder: DemoHolder, PINs: DemoPINs, Serial: b.Serial, MgmtKey: b.MgmtKey})
	if err != nil {
		return nil, nil, err
	}
	if err := st.Save(path); err != nil {
		return nil, nil, err
	}
	c, err = New(st, path, log)
	return c, iss, err
}
