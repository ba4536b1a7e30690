package card

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"

	"madoguchi/app/secret"
)

// Summary is what a counter needs when a card is placed: which card, its
// authentication certificate, every PIN's remaining tries and, after an
// input-assist PIN, the basic four items.
type Summary struct {
	Profile    string
	TokenLabel string
	Serial     string
	AuthCert   *x509.Certificate
	Tries      map[PINKind]int
	BasicFour  *BasicFour
}

// AskPIN is called once the tries are known (so the screen can show them
// before the entry). It returns which PIN is entered (one of the profile's
// InputAssistPINs) and its value, or ok=false to skip the basic four.
type AskPIN func(ctx context.Context, tries map[PINKind]int) (kind PINKind, pin secret.Value, ok bool, err error)

// ReadSummary reads the summary in one session with the fewest APDUs the
// card allows (docs/BENCHMARKS.md derives the count): the JPKI application
// is already selected by Open, the certificate's first chunk is read
// through its short EF identifier, each application is selected once, the
// tries queries spend no try, and the input-assist application comes last
// so that its PIN is verified without selecting it again.
func (c *Card) ReadSummary(ctx context.Context, ask AskPIN) (*Summary, error) {
	s := &Summary{Profile: c.prof.Name, TokenLabel: c.label, Serial: c.serial, Tries: map[PINKind]int{}}
	var err error
	if s.AuthCert, err = c.AuthCertificate(ctx); err != nil {
		return nil, fmt.Errorf("summary: %w", err)
	}
	for _, p := range summaryOrder(c.prof) {
		n, err := c.triesOf(ctx, p.AID, p.Ref, p.MaxTries, string(p.Kind))
		if err != nil {
			return nil, fmt.Errorf("summary: %w", err)
		}
		s.Tries[p.Kind] = n
	}
	if ask == nil {
		return s, nil
	}
	kind, pin, ok, err := ask(ctx, s.Tries)
	defer pin.Wipe()
	if err != nil || !ok {
		return s, err
	}
	allowed := false
	for _, k := range c.prof.InputAssistPINs {
		allowed = allowed || k == kind
	}
	if !allowed {
		return s, fmt.Errorf("summary: %s does not open the input-assist data", kind)
	}
	if err := c.Verify(ctx, kind, pin); err != nil {
		return s, err
	}
	bf, err := c.BasicFour(ctx)
	if err != nil {
		return s, fmt.Errorf("summary: %w", err)
	}
	s.BasicFour = &bf
	return s, nil
}

// summaryOrder lists the PINs grouped by application: the JPKI one first
// (selected already), the input-assist one last.
func summaryOrder(p *Profile) []PINSpec {
	rank := func(s PINSpec) int {
		switch {
		case sameAID(s.AID, p.JPKI) && !sameAID(s.AID, p.InputAssist):
			return 0
		case sameAID(s.AID, p.InputAssist):
			return 2
		}
		return 1
	}
	var out []PINSpec
	for r := 0; r <= 2; r++ {
		for _, s := range p.PINs {
			if rank(s) == r {
				out = append(out, s)
			}
		}
	}
	return out
}

// IsGone reports whether err means the card or reader went away, so the
// caller should wait for the card and start a new session.
func IsGone(err error) bool {
	return errors.Is(err, ErrCardRemoved) || errors.Is(err, ErrReaderGone) || errors.Is(err, ErrNoCard)
}
