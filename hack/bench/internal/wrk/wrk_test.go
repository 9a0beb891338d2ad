package wrk

import (
	"slices"
	"testing"
	"time"
)

const report = `Running 5s test @ http://240.0.0.1/small
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.23ms  456.00us  10.00ms   90.00%
    Req/Sec    25.00k     1.00k   30.00k    70.00%
  Latency Distribution
     50%  850.00us
     75%    1.30ms
     90%    1.60ms
     99%    2.50ms
  250000 requests in 5.00s, 40.00MB read
  Socket errors: connect 1, read 2, write 0, timeout 3
  Non-2xx or 3xx responses: 12
Requests/sec:  50000.12
Transfer/sec:      8.00MB
`

func TestParse(t *testing.T) {
	r, err := Parse(report)
	if err != nil {
		t.Fatal(err)
	}
	if r.Requests != 250000 || r.Elapsed != 5*time.Second || r.RPS != 50000.12 {
		t.Errorf("counts: %+v", r)
	}
	if r.Non2xx != 12 || r.SocketErrors != 6 || r.Errors() != 18 {
		t.Errorf("errors: %+v", r)
	}
	if r.Latency["p50"] != 850*time.Microsecond || r.Latency["p99"] != 2500*time.Microsecond {
		t.Errorf("latency: %v", r.Latency)
	}
}

func TestParseRejectsGarbage(t *testing.T) {
	if _, err := Parse("unable to connect to 240.0.0.1:80 Connection refused\n"); err == nil {
		t.Error("Parse accepted a report without counts")
	}
}

func TestArgs(t *testing.T) {
	got := Run{URL: "http://x/", Connections: 1, Duration: 3 * time.Second, Headers: []string{"Host: a"}}.Args(2)
	want := []string{"-t", "1", "-c", "1", "-d", "3s", "--latency", "-H", "Host: a", "http://x/"}
	if !slices.Equal(got, want) {
		t.Errorf("Args = %q, want %q", got, want)
	}
	got = Run{URL: "http://x/", Connections: 256, Duration: 1500 * time.Millisecond, Timeout: 5 * time.Second}.Args(2)
	want = []string{"-t", "2", "-c", "256", "-d", "2s", "--latency", "--timeout", "5s", "http://x/"}
	if !slices.Equal(got, want) {
		t.Errorf("Args = %q, want %q", got, want)
	}
}
