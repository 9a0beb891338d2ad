package httppath

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"syscall"
	"testing"
	"time"
)

func TestRetryForResponse(t *testing.T) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	resp := func(code int, retryAfter string) *http.Response {
		r := &http.Response{StatusCode: code, Header: http.Header{}}
		if retryAfter != "" {
			r.Header.Set("Retry-After", retryAfter)
		}
		return r
	}
	tests := []struct {
		resp      *http.Response
		remaining time.Duration
		reason    string
		wait      time.Duration
		ok        bool
	}{
		{resp(502, ""), 0, "502", 0, true},
		{resp(503, ""), time.Second, "503", 0, true},
		{resp(504, ""), 0, "504", 0, true},
		{resp(500, ""), 0, "", 0, false},
		{resp(404, ""), 0, "", 0, false},
		{resp(200, ""), 0, "", 0, false},
		{resp(429, ""), 0, "429", 0, true},
		{resp(429, "2"), 5 * time.Second, "429", 2 * time.Second, true},
		{resp(429, "10"), 5 * time.Second, "", 0, false}, // beyond the timeout
		{resp(429, now.Add(3*time.Second).Format(http.TimeFormat)), 0, "429", 3 * time.Second, true},
		{resp(429, "soon"), 0, "", 0, false},
	}
	for _, tt := range tests {
		reason, wait, ok := retryForResponse(tt.resp, tt.remaining, now)
		if reason != tt.reason || wait != tt.wait || ok != tt.ok {
			t.Errorf("%d Retry-After %q remaining %v: %q %v %v; want %q %v %v", tt.resp.StatusCode, tt.resp.Header.Get("Retry-After"),
				tt.remaining, reason, wait, ok, tt.reason, tt.wait, tt.ok)
		}
	}
}

func TestRetryForError(t *testing.T) {
	tests := []struct {
		err    error
		reason string
		ok     bool
	}{
		{fmt.Errorf("dial: %w", syscall.ECONNREFUSED), retryConnect, true},
		{fmt.Errorf("read: %w", syscall.ECONNRESET), retryReset, true},
		{io.EOF, retryReset, true},
		{io.ErrUnexpectedEOF, "", false}, // part of an answer came: not safe to say nothing happened
		{errors.New("tls: bad certificate"), "", false},
	}
	for _, tt := range tests {
		if reason, ok := retryForError(tt.err); reason != tt.reason || ok != tt.ok {
			t.Errorf("%v: %q %v; want %q %v", tt.err, reason, ok, tt.reason, tt.ok)
		}
	}
}

func TestRetryEligible(t *testing.T) {
	for method, want := range map[string]bool{"GET": true, "HEAD": true, "OPTIONS": true, "PUT": false, "POST": false, "DELETE": false, "PATCH": false} {
		if got := retryEligible(&http.Request{Method: method, Header: http.Header{}}); got != want {
			t.Errorf("%s: %v", method, got)
		}
	}
	keyed := &http.Request{Method: "POST", Header: http.Header{"Idempotency-Key": {"abc"}}}
	if !retryEligible(keyed) {
		t.Error("a POST with an Idempotency-Key is not eligible")
	}
}

func TestBackoff(t *testing.T) {
	half := func(n int64) int64 { return n - 1 } // the most jitter
	none := func(int64) int64 { return 0 }
	tests := []struct {
		base    time.Duration
		attempt int
		low     time.Duration
		high    time.Duration
	}{
		{25 * time.Millisecond, 1, 12500 * time.Microsecond, 25 * time.Millisecond},
		{25 * time.Millisecond, 2, 25 * time.Millisecond, 50 * time.Millisecond},
		{25 * time.Millisecond, 3, 50 * time.Millisecond, 100 * time.Millisecond},
		{25 * time.Millisecond, 10, maxBackoff / 2, maxBackoff},
		{5 * time.Second, 1, maxBackoff / 2, maxBackoff},
	}
	for _, tt := range tests {
		lo, hi := backoff(tt.base, tt.attempt, none), backoff(tt.base, tt.attempt, half)
		if lo != tt.low || hi != tt.high {
			t.Errorf("base %v attempt %d: [%v, %v]; want [%v, %v]", tt.base, tt.attempt, lo, hi, tt.low, tt.high)
		}
	}
}

func TestRetryBudget(t *testing.T) {
	now := time.Unix(1700000000, 0)
	b := newRetryBudget(func() time.Time { return now })
	// The floor: 10 a second over the 10-second window, whatever the requests.
	allowed := 0
	for range 1000 {
		b.request("h")
		if b.allow("h") {
			allowed++
		}
	}
	if want := int(budgetRatio*1000) + budgetFloor*budgetSeconds; allowed < want-1 || allowed > want+1 {
		t.Errorf("%d retries allowed for 1000 failing requests; want about %d", allowed, want)
	}
	if b.allow("other") != true {
		t.Error("another host's budget is shared")
	}
	// The window moves on: after 10 seconds the budget is back.
	now = now.Add(budgetSeconds * time.Second)
	if !b.allow("h") {
		t.Error("the budget did not come back")
	}
}
