package httppath

import (
	"errors"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// Bounds of retries.
const (
	// maxRetryBody is the largest request body kept to be sent again; a longer one is not retried.
	maxRetryBody = 64 << 10
	// maxBackoff caps the doubling wait between attempts.
	maxBackoff = time.Second
)

// Labels of egress_http_retries_total{reason}: the failures worth a retry.
const (
	retryConnect = "connect" // the connection was refused
	retryReset   = "reset"   // the connection was reset or closed before an answer
)

// retryEligible reports whether a request may be sent more than once: a method that is safe to repeat,
// or an idempotency key; a body only when it was small enough to keep (the caller knows).
func retryEligible(req *http.Request) bool { return idempotent(req) }

// retryForError says whether a failed attempt that reached the app with nothing is worth another, and why.
func retryForError(err error) (reason string, ok bool) {
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return retryConnect, true
	case connectionClosed(err):
		return retryReset, true
	}
	return "", false
}

// retryForResponse says whether an upstream's answer is worth another attempt (502, 503, 504, and 429 when
// its Retry-After fits in what is left of the timeout), and how long to wait at least before it.
func retryForResponse(resp *http.Response, remaining time.Duration, now time.Time) (reason string, wait time.Duration, ok bool) {
	switch resp.StatusCode {
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return strconv.Itoa(resp.StatusCode), 0, true
	case http.StatusTooManyRequests:
		wait, ok := retryAfter(resp.Header.Get("Retry-After"), now)
		if !ok || remaining > 0 && wait > remaining {
			return "", 0, false
		}
		return "429", wait, true
	}
	return "", 0, false
}

// retryAfter reads a Retry-After value: seconds, or an HTTP date; none means at once.
func retryAfter(v string, now time.Time) (time.Duration, bool) {
	if v == "" {
		return 0, true
	}
	if secs, err := strconv.Atoi(v); err == nil && secs >= 0 {
		return time.Duration(secs) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// backoff is the wait before retry number attempt (from 1): base doubling up to maxBackoff, with half of it
// random (equal jitter), so that apps retrying together spread out.
func backoff(base time.Duration, attempt int, random func(int64) int64) time.Duration {
	d := base
	for i := 1; i < attempt && d < maxBackoff; i++ {
		d *= 2
	}
	d = min(d, maxBackoff)
	return d/2 + time.Duration(random(int64(d/2)+1))
}

// retryBudget keeps retries to a share of the requests to a host, as Linkerd's budgets do: within the last
// budgetSeconds, retries may add up to budgetRatio of the requests plus budgetFloor per second, so an origin
// that keeps failing is not hammered.
type retryBudget struct {
	mu    sync.Mutex
	hosts map[string]*hostBudget // by host label (bounded)
	now   func() time.Time
}

// Budget settings.
const (
	budgetRatio   = 0.2
	budgetFloor   = 10 // retries per second a host always has
	budgetSeconds = 10 // the window, in seconds
)

// hostBudget counts one host's requests and retries per second over the last budgetSeconds seconds.
type hostBudget struct {
	second   [budgetSeconds]int64
	requests [budgetSeconds]int
	retries  [budgetSeconds]int
}

func newRetryBudget(now func() time.Time) *retryBudget {
	return &retryBudget{hosts: map[string]*hostBudget{}, now: now}
}

// request counts a request to host.
func (b *retryBudget) request(host string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	w, slot := b.slot(host)
	w.requests[slot]++
}

// allow takes a retry from host's budget, or says there is none left.
func (b *retryBudget) allow(host string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	w, slot := b.slot(host)
	requests, retries := 0, 0
	for i := range budgetSeconds {
		requests += w.requests[i]
		retries += w.retries[i]
	}
	if float64(retries) >= budgetRatio*float64(requests)+budgetFloor*budgetSeconds {
		return false
	}
	w.retries[slot]++
	return true
}

// slot returns host's window and the index of the current second, clearing seconds that went by.
func (b *retryBudget) slot(host string) (*hostBudget, int) {
	w := b.hosts[host]
	if w == nil {
		w = &hostBudget{}
		b.hosts[host] = w
	}
	sec := b.now().Unix()
	i := int(sec % budgetSeconds)
	if w.second[i] != sec {
		w.second[i], w.requests[i], w.retries[i] = sec, 0, 0
	}
	return w, i
}

// randomInt64N is the jitter source.
func randomInt64N(n int64) int64 { return rand.Int64N(n) }
