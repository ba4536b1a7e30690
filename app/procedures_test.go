package app

import (
	"context"
	"testing"
)

func TestProcedureAvailabilityOffline(t *testing.T) {
	built := func(id string, o Online) Procedure { return Procedure{ID: id, Online: o, Built: true} }
	for _, tc := range []struct {
		p         Procedure
		online    bool
		available bool
		note      string
	}{
		{built("pin_reset", OnlineRequired), true, true, ""},
		{built("pin_reset", OnlineRequired), false, false, "procedure.needs_online"},
		{built("suspension", OnlineQueues), false, true, "procedure.will_queue"},
		{built("status_check", OnlineOptional), false, true, "procedure.offline_partial"},
		{built("daily_report", OnlineNever), false, true, ""},
		{Procedure{ID: "phone", Online: OnlineRequired}, true, false, "mode.coming"},
	} {
		v := viewOf(tc.p, tc.online)
		if v.Available != tc.available || string(v.Note) != tc.note {
			t.Errorf("%s online=%v: %+v", tc.p.ID, tc.online, v)
		}
	}
	// Every procedure of domain.md §2 declares its need.
	for _, p := range procedures {
		if p.Online == "" || len(p.Modes) == 0 {
			t.Errorf("%s declares nothing", p.ID)
		}
	}
}

func TestProceduresPerMode(t *testing.T) {
	state := "error"
	a := newApp(t, Deps{Central: func(context.Context) Component { return Component{State: state} }})
	if a.online() {
		t.Fatal("online with the central system in error")
	}
	state = "demo"
	if !a.online() {
		t.Fatal("offline with the simulator up")
	}
	counts := map[Mode]int{}
	for _, m := range []Mode{ModeCounter, ModeKiosk, ModeSupervisor} {
		counts[m] = len(a.Procedures(m))
	}
	if counts[ModeCounter] != 9 || counts[ModeKiosk] != 4 || counts[ModeSupervisor] != 2 {
		t.Fatalf("procedures per mode: %v", counts)
	}
}
