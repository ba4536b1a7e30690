package main

import (
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"madoguchi/app/queue"
	"madoguchi/app/store"
	"madoguchi/drivers/jlis/api"
)

// TestQueueCLI drives the queue verbs of the built binary against the
// built-in central simulator: a job the central system refuses becomes a
// dead letter with its reason; a supervisor discards it; good jobs drain.
func TestQueueCLI(t *testing.T) {
	bin := need(t)
	data := t.TempDir()
	cfg := filepath.Join(data, "none.toml")
	run := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(bin, append(args, "--data", data, "--config", cfg)...).CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	run("queue", "status") // creates the store
	st, err := store.Open(context.Background(), filepath.Join(data, "madoguchi.db"))
	if err != nil {
		t.Fatal(err)
	}
	q := queue.New(st.DB, nil)
	ctx := context.Background()
	// DEMO000000000001 is delivered: issuing it is fine, expiring it is not.
	good, _ := q.EnqueueNow(ctx, queue.NewJob{Kind: queue.KindTransition, OrderingKey: "DEMO000000000001",
		Payload: queue.Payload(queue.TransitionJob{Serial: "DEMO000000000001", To: api.StateIssued})})
	bad, _ := q.EnqueueNow(ctx, queue.NewJob{Kind: queue.KindTransition, OrderingKey: "DEMO000000000002",
		Payload: queue.Payload(queue.TransitionJob{Serial: "DEMO000000000002", To: api.StateExpired})})
	st.Close()

	var drained struct {
		Delivered int            `json:"delivered"`
		Counts    map[string]int `json:"counts"`
	}
	json.Unmarshal([]byte(run("queue", "drain", "--json")), &drained)
	if drained.Delivered != 1 || drained.Counts["done"] != 1 || drained.Counts["dead"] != 1 {
		t.Fatalf("drain: %+v", drained)
	}
	var dead []queue.Job
	json.Unmarshal([]byte(run("queue", "list", "--state", "dead", "--json")), &dead)
	if len(dead) != 1 || dead[0].ID != bad || !strings.Contains(dead[0].DeadReason, "invalid-transition") {
		t.Fatalf("dead letters: %+v", dead)
	}
	out, _ := exec.Command(bin, "queue", "discard", strconv.FormatInt(bad, 10), "--data", data, "--config", cfg).CombinedOutput()
	if !strings.Contains(string(out), "--reason") {
		t.Fatalf("discard without a reason: %s", out)
	}
	run("queue", "discard", strconv.FormatInt(bad, 10), "--reason", "card was never delivered", "--actor", "supervisor-1")
	var counts map[string]int
	json.Unmarshal([]byte(run("queue", "status", "--json")), &counts)
	if counts["discarded"] != 1 || counts["done"] != 1 || counts["pending"] != 0 {
		t.Fatalf("status: %v", counts)
	}
	_ = good
}
