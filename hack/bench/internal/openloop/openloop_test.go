package openloop

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

type sleeper struct {
	d     time.Duration
	calls *atomic.Int32
}

func (s sleeper) Do(ctx context.Context) error {
	n := s.calls.Add(1)
	if n == 3 {
		return errors.New("boom")
	}
	select {
	case <-time.After(s.d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func TestRunSchedulesAtTheRateAndCountsErrors(t *testing.T) {
	var calls atomic.Int32
	cfg := Config{Rate: 200, Duration: 250 * time.Millisecond, Workers: 4, Timeout: time.Second, Drain: time.Second}
	r, err := Run(context.Background(), cfg, func(int) (Requester, error) { return sleeper{time.Millisecond, &calls}, nil })
	if err != nil {
		t.Fatal(err)
	}
	if r.Scheduled != 50 || r.Completed != 49 || r.Failed != 1 || r.Dropped != 0 || r.FirstError != "boom" {
		t.Errorf("result %+v", r)
	}
	if r.Summary.P50 < time.Millisecond || r.Summary.Max < r.Summary.P99 {
		t.Errorf("latencies %+v", r.Summary)
	}
	if r.Elapsed < 245*time.Millisecond {
		t.Errorf("run took %v: not paced", r.Elapsed)
	}
}

// A server slower than the rate with one connection: requests queue, and the wait shows in the latency
// measured from the scheduled time (a closed loop would report about 10ms for every request).
func TestRunCountsQueueingDelay(t *testing.T) {
	var calls atomic.Int32
	calls.Store(10) // no error injection
	cfg := Config{Rate: 200, Duration: 100 * time.Millisecond, Workers: 1, Timeout: time.Second, Drain: 2 * time.Second}
	r, err := Run(context.Background(), cfg, func(int) (Requester, error) { return sleeper{10 * time.Millisecond, &calls}, nil })
	if err != nil {
		t.Fatal(err)
	}
	if r.Completed != 20 {
		t.Fatalf("result %+v", r)
	}
	// The 20th request is scheduled at 95ms and sent after 19 × 10ms of service: about 105ms late.
	if r.Summary.Max < 80*time.Millisecond {
		t.Errorf("max latency %v hides the queueing delay", r.Summary.Max)
	}
}

func TestRunDropsWhatTheDrainCannotFinish(t *testing.T) {
	var calls atomic.Int32
	calls.Store(10)
	cfg := Config{Rate: 1000, Duration: 50 * time.Millisecond, Workers: 1, Timeout: time.Second, Drain: 10 * time.Millisecond}
	r, err := Run(context.Background(), cfg, func(int) (Requester, error) { return sleeper{20 * time.Millisecond, &calls}, nil })
	if err != nil {
		t.Fatal(err)
	}
	if r.Dropped == 0 || r.Completed+r.Failed+r.Dropped != r.Scheduled {
		t.Errorf("result %+v", r)
	}
}

func TestSummarize(t *testing.T) {
	var l []time.Duration
	for i := 1; i <= 1000; i++ {
		l = append(l, time.Duration(i)*time.Microsecond)
	}
	s := Summarize(l)
	if s.P50 != 500*time.Microsecond || s.P99 != 990*time.Microsecond || s.P999 != 999*time.Microsecond || s.Max != time.Millisecond {
		t.Errorf("summary %+v", s)
	}
}
