// Package openloop drives requests at a fixed rate, whatever the server's speed, and measures each
// request's latency from the moment it was scheduled to be sent, not from when a connection became free
// to send it. A closed-loop generator (wrk) waits for a response before sending the next request, so a
// stall delays the requests that would have been sent meanwhile and they never show in its tail
// ("coordinated omission"); here they queue, and their wait counts.
package openloop

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"egress.io/egress/hack/bench/internal/stats"
)

// Config bounds one run in rate, time and count.
type Config struct {
	Rate        float64       // requests per second
	Duration    time.Duration // how long requests are scheduled
	MaxRequests int           // at most this many requests (0: Rate × Duration)
	Workers     int           // requests in flight at most: one connection each
	Timeout     time.Duration // per request
	Drain       time.Duration // after the last scheduled send, how long queued and in-flight requests may take
}

// Requester sends one request and reads the whole response. Each worker has its own, so one Requester
// is one keep-alive connection and is never used concurrently.
type Requester interface {
	Do(ctx context.Context) error
}

// Result is what one run measured.
type Result struct {
	Scheduled int           `json:"scheduled"`
	Completed int           `json:"completed"` // answered successfully
	Failed    int           `json:"failed"`    // answered with an error
	Dropped   int           `json:"dropped"`   // still queued when the drain period ended
	Elapsed   time.Duration `json:"elapsed_ns"`
	Summary   Summary       `json:"latency"`
	// FirstError is the first request error seen, for the report.
	FirstError string `json:"first_error,omitempty"`
}

// Summary is the latency distribution of the completed requests.
type Summary struct {
	P50  time.Duration `json:"p50_ns"`
	P90  time.Duration `json:"p90_ns"`
	P99  time.Duration `json:"p99_ns"`
	P999 time.Duration `json:"p999_ns"`
	Max  time.Duration `json:"max_ns"`
	Mean time.Duration `json:"mean_ns"`
}

// Summarize sorts latencies and returns their percentiles (nearest rank).
func Summarize(latencies []time.Duration) Summary {
	if len(latencies) == 0 {
		return Summary{}
	}
	sorted := make([]float64, len(latencies))
	var sum float64
	for i, l := range latencies {
		sorted[i] = float64(l)
		sum += float64(l)
	}
	slices.Sort(sorted)
	p := func(q float64) time.Duration { return time.Duration(stats.Percentile(sorted, q)) }
	return Summary{
		P50: p(50), P90: p(90), P99: p(99), P999: p(99.9),
		Max:  time.Duration(sorted[len(sorted)-1]),
		Mean: time.Duration(sum / float64(len(sorted))),
	}
}

// Run schedules requests every 1/Rate from now on and hands each to the first free worker. newRequester
// makes each worker's Requester before the clock starts (so connections can be opened and warmed first).
func Run(ctx context.Context, cfg Config, newRequester func(worker int) (Requester, error)) (Result, error) {
	if cfg.Rate <= 0 || cfg.Duration <= 0 || cfg.Workers <= 0 {
		return Result{}, errors.New("openloop: rate, duration and workers must be positive")
	}
	n := int(cfg.Rate * cfg.Duration.Seconds())
	if cfg.MaxRequests > 0 {
		n = min(n, cfg.MaxRequests)
	}
	if n < 1 {
		return Result{}, fmt.Errorf("openloop: %v at %.1f/s schedules no request", cfg.Duration, cfg.Rate)
	}
	requesters := make([]Requester, cfg.Workers)
	for i := range requesters {
		r, err := newRequester(i)
		if err != nil {
			return Result{}, fmt.Errorf("openloop: worker %d: %w", i, err)
		}
		requesters[i] = r
	}

	interval := time.Duration(float64(time.Second) / cfg.Rate)
	queue := make(chan time.Time, n)
	start := time.Now()
	deadline := start.Add(time.Duration(n)*interval + cfg.Drain)
	runCtx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()

	type workerResult struct {
		latencies       []time.Duration
		failed, dropped int
		firstErr        error
	}
	results := make([]workerResult, cfg.Workers)
	var wg sync.WaitGroup
	for w := range cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := &results[w]
			res.latencies = make([]time.Duration, 0, n/cfg.Workers+1)
			for at := range queue {
				if runCtx.Err() != nil {
					res.dropped++
					continue
				}
				reqCtx, cancelReq := context.WithTimeout(runCtx, cfg.Timeout)
				err := requesters[w].Do(reqCtx)
				cancelReq()
				if err != nil {
					res.failed++
					if res.firstErr == nil {
						res.firstErr = err
					}
					continue
				}
				res.latencies = append(res.latencies, time.Since(at))
			}
		}()
	}

	scheduled := 0
	timer := time.NewTimer(0)
	defer timer.Stop()
schedule:
	for i := range n {
		at := start.Add(time.Duration(i) * interval)
		if wait := time.Until(at); wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-ctx.Done():
				break schedule
			}
		}
		queue <- at
		scheduled++
	}
	close(queue)
	wg.Wait()

	r := Result{Scheduled: scheduled, Elapsed: time.Since(start)}
	var all []time.Duration
	for _, w := range results {
		all = append(all, w.latencies...)
		r.Failed += w.failed
		r.Dropped += w.dropped
		if w.firstErr != nil && r.FirstError == "" {
			r.FirstError = w.firstErr.Error()
		}
	}
	r.Completed = len(all)
	r.Summary = Summarize(all)
	return r, ctx.Err()
}
