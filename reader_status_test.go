package main

import (
	"context"
	"testing"

	"madoguchi/drivers/card/pcsc"
)

func TestReaderWatchState(t *testing.T) {
	ctx := context.Background()
	w := newReaderWatch("R1", nil)
	if s := w.state(ctx); s.State != "error" || s.Label != "status.reader.no_service" {
		t.Fatalf("before pcscd: %+v", s)
	}
	w.setService(true)
	if s := w.state(ctx); s.Label != "status.reader.missing" {
		t.Fatalf("no reader: %+v", s)
	}
	for _, step := range []struct {
		ev    pcsc.Event
		state string
	}{
		{pcsc.Event{Reader: "R1", Kind: pcsc.ReaderAdded}, "absent"},
		{pcsc.Event{Reader: "R1", Kind: pcsc.CardInserted}, "ok"},
		{pcsc.Event{Reader: "R2", Kind: pcsc.CardRemoved}, "ok"},
		{pcsc.Event{Reader: "R1", Kind: pcsc.CardRemoved}, "absent"},
		{pcsc.Event{Reader: "R1", Kind: pcsc.ReaderRemoved}, "error"},
	} {
		w.apply(step.ev)
		if s := w.state(ctx); s.State != step.state {
			t.Fatalf("after %v: %+v, want %s", step.ev, s, step.state)
		}
	}
	auto := newReaderWatch("auto", nil)
	auto.setService(true)
	auto.apply(pcsc.Event{Reader: "B", Kind: pcsc.ReaderAdded})
	auto.apply(pcsc.Event{Reader: "A", Kind: pcsc.ReaderAdded})
	if s := auto.state(ctx); s.State != "absent" || s.Detail != "A" {
		t.Fatalf("auto, empty readers: %+v", s)
	}
	auto.apply(pcsc.Event{Reader: "B", Kind: pcsc.CardInserted})
	if s := auto.state(ctx); s.State != "ok" || s.Detail != "B" {
		t.Fatalf("auto with a card: %+v", s)
	}
	auto.setService(false)
	if s := auto.state(ctx); s.Label != "status.reader.no_service" {
		t.Fatalf("pcscd gone: %+v", s)
	}
}
