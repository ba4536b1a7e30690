package main

import (
	"context"
	"fmt"
	"io"
	"os/user"
	"strconv"
	"text/tabwriter"
	"time"

	"madoguchi/app/queue"
)

// cmdQueue: madoguchi queue status|list|retry ID|discard ID|drain|rotate-key.
func cmdQueue(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: queue needs status, list, retry, discard, drain or rotate-key", errUsage)
	}
	verb, rest := args[0], args[1:]
	fs := newFlags("queue "+verb, stderr)
	var c common
	c.register(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	state := fs.String("state", "", "list: only jobs in this state (pending, inflight, done, dead, discarded)")
	limit := fs.Int("limit", 100, "list: at most this many jobs")
	reason := fs.String("reason", "", "discard: why (recorded)")
	actor := fs.String("actor", "", "retry/discard: who decides (recorded; default the OS user)")
	var id int64
	if verb == "retry" || verb == "discard" {
		if len(rest) == 0 {
			return fmt.Errorf("%w: queue %s needs a job ID", errUsage, verb)
		}
		n, err := strconv.ParseInt(rest[0], 10, 64)
		if err != nil || n <= 0 {
			return fmt.Errorf("%w: job ID %q", errUsage, rest[0])
		}
		id, rest = n, rest[1:]
	}
	if err := parse(fs, rest); err != nil {
		return err
	}
	e, err := setup(ctx, c, nil)
	if err != nil {
		return err
	}
	defer e.Close()
	q := e.queue
	out := func(v any, text func(w io.Writer)) error {
		if *asJSON {
			return printJSON(stdout, v)
		}
		text(stdout)
		return nil
	}
	if *actor == "" {
		if u, err := user.Current(); err == nil {
			*actor = u.Username
		}
	}
	switch verb {
	case "status":
		counts, err := q.Count(ctx)
		if err != nil {
			return err
		}
		return out(counts, func(w io.Writer) {
			for _, s := range []queue.State{queue.Pending, queue.Inflight, queue.Dead, queue.Done, queue.Discarded} {
				fmt.Fprintf(w, "%-10s %d\n", s, counts[s])
			}
		})
	case "list":
		jobs, err := q.List(ctx, queue.State(*state), *limit)
		if err != nil {
			return err
		}
		return out(jobs, func(w io.Writer) {
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tKIND\tSTATE\tATTEMPTS\tNEXT\tORDER\tREASON")
			for _, j := range jobs {
				reason := j.DeadReason
				if reason == "" {
					reason = j.LastError
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%s\t%s\t%s\n", j.ID, j.Kind, j.State, j.Attempts, j.NextAttemptAt.Local().Format(time.DateTime), j.OrderingKey, reason)
			}
			tw.Flush()
		})
	case "retry":
		if err := q.Retry(ctx, id, *actor); err != nil {
			return err
		}
		cliAudit(ctx, e, "queue.retry", fmt.Sprint(id), map[string]any{"recordedAs": *actor})
		fmt.Fprintf(stdout, "job %d will be retried (recorded as %s)\n", id, *actor)
		return nil
	case "discard":
		if *reason == "" {
			return fmt.Errorf("%w: queue discard needs --reason", errUsage)
		}
		if err := q.Discard(ctx, id, *actor, *reason); err != nil {
			return err
		}
		cliAudit(ctx, e, "queue.discard", fmt.Sprint(id), map[string]any{"recordedAs": *actor, "reason": *reason})
		fmt.Fprintf(stdout, "job %d discarded (recorded as %s)\n", id, *actor)
		return nil
	case "drain":
		client, stop, err := connectCentral(ctx, e.cfg.Central, e.dataDir, e.log)
		if err != nil {
			return err
		}
		defer stop()
		w := queue.NewWorker(q, queue.Options{Kinds: queue.CentralKinds(client),
			Probe: func(ctx context.Context) error { _, err := client.Health(ctx); return err }, Log: e.log})
		n, err := w.Drain(ctx)
		counts, _ := q.Count(ctx)
		res := map[string]any{"delivered": n, "counts": counts}
		if err != nil {
			res["error"] = err.Error()
		}
		if oerr := out(res, func(w io.Writer) {
			fmt.Fprintf(w, "delivered %d; pending %d, dead %d\n", n, counts[queue.Pending]+counts[queue.Inflight], counts[queue.Dead])
		}); oerr != nil {
			return oerr
		}
		return err
	case "rotate-key":
		// The keyring is in e.queue; rotate, re-encrypt, prune.
		return rotateQueueKey(ctx, e, stdout)
	}
	return fmt.Errorf("%w: queue %s: want status, list, retry, discard, drain or rotate-key", errUsage, verb)
}

func rotateQueueKey(ctx context.Context, e *env, stdout io.Writer) error {
	id, n, pruned, err := e.queue.RotateKey(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "new key %s; %d payloads re-encrypted; keys removed: %v\n", id, n, pruned)
	return nil
}
