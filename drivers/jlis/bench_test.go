package jlis

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"madoguchi/drivers/jlis/api"
)

// latencies collects per-operation durations from any goroutine.
type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *latencies) add(d ...time.Duration) {
	l.mu.Lock()
	l.d = append(l.d, d...)
	l.mu.Unlock()
}

// report adds ops/s and the p50/p99 latency to b's result.
func (l *latencies) report(b *testing.B, elapsed time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.d) == 0 || elapsed <= 0 {
		return
	}
	slices.Sort(l.d)
	q := func(p float64) float64 {
		i := min(int(p*float64(len(l.d))), len(l.d)-1)
		return float64(l.d[i].Microseconds()) / 1000
	}
	b.ReportMetric(float64(len(l.d))/elapsed.Seconds(), "ops/s")
	b.ReportMetric(q(0.50), "ms-p50")
	b.ReportMetric(q(0.99), "ms-p99")
}

// runLoad runs op b.N times (op gets the operation's index), serially
// (workers 1) or from workers goroutines, and reports throughput and
// latency.
func runLoad(b *testing.B, workers int, op func(i int) error) {
	var lat latencies
	b.ResetTimer()
	start := time.Now()
	if workers <= 1 {
		i := 0
		for b.Loop() {
			t := time.Now()
			if err := op(i); err != nil {
				b.Fatal(err)
			}
			lat.add(time.Since(t))
			i++
		}
	} else {
		jobs := make(chan int, b.N)
		for i := range b.N {
			jobs <- i
		}
		close(jobs)
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for range workers {
			wg.Go(func() {
				var mine []time.Duration
				defer func() { lat.add(mine...) }()
				for i := range jobs {
					t := time.Now()
					if err := op(i); err != nil {
						errs <- err
						return
					}
					mine = append(mine, time.Since(t))
				}
			})
		}
		wg.Wait()
		close(errs)
		if err := <-errs; err != nil {
			b.Fatal(err)
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	lat.report(b, elapsed)
}

// BenchmarkIssueCertificate: certificate issuances through the client
// against the reference server on loopback, mutual TLS, one terminal.
// Each issuance is an RSA-2048 proof of possession checked and an
// RSA-2048 CA signature made by the server, plus a SQLite transaction;
// the card's key and proofs are made outside the timing. Every run gets
// a fresh pool of issued cards, so that a card holds a few dozen
// certificates at most, not thousands (the server reads a card's
// certificates on every issuance).
func BenchmarkIssueCertificate(b *testing.B) {
	r := startSim(b, 1e9) // no rate limit: measure the server, not the limiter
	k := newCardKey(b)
	const poolSize = 64
	runs := 0
	for _, workers := range []int{1, 8} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			runs++
			serials := make([]string, poolSize)
			reqs := make([]api.CertRequest, poolSize)
			errs := make([]error, poolSize)
			var wg sync.WaitGroup
			for i := range poolSize {
				serials[i] = fmt.Sprintf("B%03dC%03d", runs, i)
				reqs[i] = k.request(b, serials[i], api.CAAuth)
				wg.Go(func() { errs[i] = r.createCard(context.Background(), serials[i], api.StateIssued) })
			}
			wg.Wait()
			if err := errors.Join(errs...); err != nil {
				b.Fatal(err)
			}
			runLoad(b, workers, func(i int) error {
				i %= poolSize
				_, err := r.c.IssueCertificate(context.Background(), NewIdempotencyKey(), serials[i], reqs[i])
				return err
			})
		})
	}
}

// BenchmarkOCSP: OCSP answers (RFC 6960 POST) from the reference
// server's public repository on loopback (plain HTTP, as relying parties
// use it), each answer parsed and its signature checked by the client.
func BenchmarkOCSP(b *testing.B) {
	r := startSim(b, 1e9)
	r.newCard(b, "BENCHOCSP001", api.StateIssued)
	cert, err := r.c.IssueCertificate(context.Background(), NewIdempotencyKey(), "BENCHOCSP001", newCardKey(b).request(b, "BENCHOCSP001", api.CAAuth))
	if err != nil {
		b.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(cert.DER)
	if err != nil {
		b.Fatal(err)
	}
	issuer, err := x509.ParseCertificate(cert.Chain[0])
	if err != nil {
		b.Fatal(err)
	}
	repo := Repository{
		BaseURL: r.run.PublicURL,
		HTTP:    &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 10 * time.Second},
	}
	query := func(int) error {
		_, err := repo.OCSP(context.Background(), leaf, issuer)
		return err
	}
	for _, workers := range []int{1, 8} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) { runLoad(b, workers, query) })
	}
}
