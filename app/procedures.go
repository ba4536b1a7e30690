package app

import (
	"context"

	"madoguchi/app/i18n"
)

// Online is what a procedure needs from the central system (domain.md §2).
type Online string

const (
	// OnlineRequired: nothing can be done without the central system
	// (certificates, card-management authorisations).
	OnlineRequired Online = "required"
	// OnlineQueues: the procedure proceeds offline; what it sends waits in
	// the queue (a suspension request must never be lost).
	OnlineQueues Online = "queues"
	// OnlineOptional: works offline; uses the central system when there
	// (a validity check).
	OnlineOptional Online = "optional"
	// OnlineNever: local only.
	OnlineNever Online = "never"
)

// Procedure is one thing a terminal does, with where it runs and what it
// needs online. The table follows domain.md §2.
type Procedure struct {
	ID     string
	Label  i18n.Key
	Modes  []Mode
	Online Online
	// Built says whether this version can perform it yet.
	Built bool
}

// procedures is domain.md §2, in its order.
var procedures = []Procedure{
	{"issuance", i18n.Key("procedure.issuance"), []Mode{ModeCounter}, OnlineRequired, true},
	{"cert_renewal", i18n.Key("procedure.cert_renewal"), []Mode{ModeCounter}, OnlineRequired, true},
	{"card_renewal", i18n.Key("procedure.card_renewal"), []Mode{ModeCounter}, OnlineRequired, true},
	{"change_of_details", i18n.Key("procedure.change_of_details"), []Mode{ModeCounter}, OnlineRequired, true},
	{"pin_reset", i18n.Key("procedure.pin_reset"), []Mode{ModeCounter}, OnlineRequired, true},
	{"puk_unlock", i18n.Key("procedure.puk_unlock"), []Mode{ModeCounter, ModeKiosk}, OnlineQueues, true},
	{"reserved_reset", i18n.Key("procedure.reserved_reset"), []Mode{ModeKiosk}, OnlineRequired, true},
	{"suspension", i18n.Key("procedure.suspension"), []Mode{ModeCounter}, OnlineQueues, true},
	{"phone", i18n.Key("procedure.phone"), []Mode{ModeCounter, ModeKiosk}, OnlineRequired, true},
	{"status_check", i18n.Key("procedure.status_check"), []Mode{ModeKiosk}, OnlineOptional, true},
	{"return", i18n.Key("procedure.return"), []Mode{ModeCounter}, OnlineQueues, true},
	{"daily_report", i18n.Key("procedure.daily_report"), []Mode{ModeSupervisor}, OnlineNever, true},
	{"queue", i18n.Key("procedure.queue"), []Mode{ModeSupervisor}, OnlineNever, true},
}

// ProcedureView is a procedure as a screen shows it now.
type ProcedureView struct {
	ID        string   `json:"id"`
	Label     i18n.Key `json:"label"`
	Online    Online   `json:"online"`
	Available bool     `json:"available"`
	// Note explains why it is not available, or that it will queue.
	Note i18n.Key `json:"note,omitempty"`
}

// Procedures lists a mode's procedures and whether each can start now,
// given whether the central system is reachable.
func (a *App) Procedures(mode Mode) []ProcedureView {
	online := a.online()
	var out []ProcedureView
	for _, p := range procedures {
		in := false
		for _, m := range p.Modes {
			in = in || m == mode
		}
		if !in {
			continue
		}
		out = append(out, viewOf(p, online))
	}
	return out
}

func viewOf(p Procedure, online bool) ProcedureView {
	v := ProcedureView{ID: p.ID, Label: p.Label, Online: p.Online, Available: p.Built}
	switch {
	case !p.Built:
		v.Note = i18n.Key("mode.coming")
	case !online && p.Online == OnlineRequired:
		v.Available, v.Note = false, i18n.Key("procedure.needs_online")
	case !online && p.Online == OnlineQueues:
		v.Note = i18n.Key("procedure.will_queue")
	case !online && p.Online == OnlineOptional:
		v.Note = i18n.Key("procedure.offline_partial")
	}
	return v
}

// online reports whether the central system is reachable now.
func (a *App) online() bool {
	c := a.central(context.Background())
	return c.State == "ok" || c.State == "demo"
}
