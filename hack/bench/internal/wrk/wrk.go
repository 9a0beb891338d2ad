// Package wrk builds wrk command lines and parses wrk's report: requests, requests/s, errors and the
// closed-loop latency distribution (--latency).
package wrk

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Run describes one wrk invocation.
type Run struct {
	URL         string
	Connections int
	Duration    time.Duration
	Headers     []string      // "Name: value"
	Timeout     time.Duration // per-request timeout; 0 leaves wrk's default (2s)
}

// Args returns wrk's arguments: one thread per connection up to the machine's cores (threads beyond the
// cores only add context switches), and --latency for the distribution.
func (r Run) Args(cores int) []string {
	threads := max(min(r.Connections, cores), 1)
	args := []string{
		"-t", strconv.Itoa(threads),
		"-c", strconv.Itoa(r.Connections),
		"-d", fmt.Sprintf("%ds", max(int(r.Duration.Round(time.Second)/time.Second), 1)),
		"--latency",
	}
	if r.Timeout > 0 {
		args = append(args, "--timeout", fmt.Sprintf("%ds", max(int(r.Timeout/time.Second), 1)))
	}
	for _, h := range r.Headers {
		args = append(args, "-H", h)
	}
	return append(args, r.URL)
}

// Result is what one wrk run reports.
type Result struct {
	Requests     int64         `json:"requests"`
	Elapsed      time.Duration `json:"elapsed_ns"`
	RPS          float64       `json:"rps"`
	Non2xx       int64         `json:"non_2xx"`
	SocketErrors int64         `json:"socket_errors"`
	// Latency percentiles of the closed loop (50, 75, 90, 99); coordinated omission hides the tail.
	Latency map[string]time.Duration `json:"latency_ns,omitempty"`
}

// Errors returns the responses that were not 2xx/3xx plus the socket errors.
func (r Result) Errors() int64 { return r.Non2xx + r.SocketErrors }

var (
	reRequests = regexp.MustCompile(`(?m)^\s*(\d+) requests in ([\d.]+)(us|ms|s|m|h),`)
	reRPS      = regexp.MustCompile(`(?m)^Requests/sec:\s+([\d.]+)`)
	reNon2xx   = regexp.MustCompile(`(?m)^\s*Non-2xx or 3xx responses: (\d+)`)
	reSocket   = regexp.MustCompile(`(?m)^\s*Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
	reLatency  = regexp.MustCompile(`(?m)^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s|m)\s*$`)
)

// Parse reads wrk's standard report.
func Parse(out string) (Result, error) {
	var r Result
	m := reRequests.FindStringSubmatch(out)
	if m == nil {
		return r, fmt.Errorf("wrk report without a request count:\n%s", out)
	}
	r.Requests, _ = strconv.ParseInt(m[1], 10, 64)
	elapsed, err := duration(m[2], m[3])
	if err != nil {
		return r, err
	}
	r.Elapsed = elapsed
	if m := reRPS.FindStringSubmatch(out); m != nil {
		r.RPS, _ = strconv.ParseFloat(m[1], 64)
	} else {
		return r, fmt.Errorf("wrk report without Requests/sec:\n%s", out)
	}
	if m := reNon2xx.FindStringSubmatch(out); m != nil {
		r.Non2xx, _ = strconv.ParseInt(m[1], 10, 64)
	}
	if m := reSocket.FindStringSubmatch(out); m != nil {
		for _, s := range m[1:] {
			n, _ := strconv.ParseInt(s, 10, 64)
			r.SocketErrors += n
		}
	}
	for _, m := range reLatency.FindAllStringSubmatch(out, -1) {
		d, err := duration(m[2], m[3])
		if err != nil {
			return r, err
		}
		if r.Latency == nil {
			r.Latency = map[string]time.Duration{}
		}
		r.Latency["p"+m[1]] = d
	}
	return r, nil
}

// duration converts wrk's "1.23" "ms" into a Duration.
func duration(value, unit string) (time.Duration, error) {
	v, err := strconv.ParseFloat(value, 64)
	if err != nil {
		return 0, fmt.Errorf("wrk duration %q%s: %w", value, unit, err)
	}
	scale := map[string]float64{"us": 1e3, "ms": 1e6, "s": 1e9, "m": 60e9, "h": 3600e9}[strings.ToLower(unit)]
	return time.Duration(v * scale), nil
}
