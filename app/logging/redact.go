// Package logging builds Madoguchi's slog logger: JSON lines to a
// size-rotated file in the data directory, behind a redaction layer.
//
// Redaction works at two depths. Values of the secret package's types
// (PIN, PUK, password, individual number) render as "[REDACTED]" whatever
// the formatting path. As a second line of defence, the Redactor handler
// replaces attributes whose key names a secret, and masks any run of twelve
// digits (the shape of an individual number) in messages and values.
package logging

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"strings"

	"madoguchi/app/secret"
)

// twelveDigits matches an individual number written plainly or in 4-4-4
// groups, not as part of a longer digit run.
var twelveDigits = regexp.MustCompile(`(^|[^0-9])([0-9]{4}[ -]?[0-9]{4}[ -]?[0-9]{4})($|[^0-9])`)

// secretKeys are attribute keys whose values are always dropped.
var secretKeys = []string{"pin", "puk", "password", "passwd", "passphrase", "secret", "individual_number", "individualnumber", "mynumber", "my_number"}

// Redactor is a slog.Handler that scrubs records before passing them on.
type Redactor struct{ next slog.Handler }

// NewRedactor wraps next.
func NewRedactor(next slog.Handler) *Redactor { return &Redactor{next: next} }

// Enabled implements slog.Handler.
func (h *Redactor) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

// Handle implements slog.Handler.
func (h *Redactor) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, scrubString(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(scrubAttr(a))
		return true
	})
	return h.next.Handle(ctx, out)
}

// WithAttrs implements slog.Handler.
func (h *Redactor) WithAttrs(as []slog.Attr) slog.Handler {
	clean := make([]slog.Attr, len(as))
	for i, a := range as {
		clean[i] = scrubAttr(a)
	}
	return &Redactor{next: h.next.WithAttrs(clean)}
}

// WithGroup implements slog.Handler.
func (h *Redactor) WithGroup(name string) slog.Handler {
	return &Redactor{next: h.next.WithGroup(name)}
}

func isSecretKey(k string) bool {
	k = strings.ToLower(k)
	for _, s := range secretKeys {
		if k == s || strings.HasSuffix(k, "_"+s) || strings.HasSuffix(k, "."+s) {
			return true
		}
	}
	return false
}

func scrubString(s string) string {
	if !strings.ContainsAny(s, "0123456789") {
		return s
	}
	return twelveDigits.ReplaceAllString(s, "${1}"+secret.Redacted+"${3}")
}

func scrubAttr(a slog.Attr) slog.Attr {
	if isSecretKey(a.Key) {
		return slog.String(a.Key, secret.Redacted)
	}
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, scrubString(v.String()))
	case slog.KindGroup:
		g := v.Group()
		clean := make([]any, len(g))
		for i, ga := range g {
			clean[i] = scrubAttr(ga)
		}
		return slog.Group(a.Key, clean...)
	case slog.KindAny:
		// Errors, Stringers, structs: log what they print as. fmt honours
		// the secret types' Formatter at every depth, where JSON encoding
		// of a struct holding a secret would fail and lose the whole value.
		return slog.String(a.Key, scrubString(fmt.Sprintf("%+v", v.Any())))
	}
	return slog.Attr{Key: a.Key, Value: v}
}
