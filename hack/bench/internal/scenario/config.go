// Package scenario runs the benchmark's scenarios against the contenders, in rounds that alternate the
// contenders (A B C A B C ...), and turns the results into tables and the targets.
package scenario

import "time"

// Config sizes a run.
type Config struct {
	Quick       bool          `json:"quick"`
	Cores       int           `json:"cores"`
	Rounds      int           `json:"rounds"`       // alternations of every contender per measurement
	Duration    time.Duration `json:"duration_ns"`  // one wrk measurement
	Warmup      time.Duration `json:"warmup_ns"`    // wrk run before each measurement, not recorded
	Connections []int         `json:"connections"`  // wrk connection counts of the origination scenario
	OpenLoop    OpenLoop      `json:"open_loop"`    // fixed-rate latency of the origination scenario
	Download    int64         `json:"download"`     // bytes of the passthrough download
	SpliceBytes int64         `json:"splice_bytes"` // bytes downloaded under strace
	// PassthroughConnections is the wrk connection count of passthrough's small requests.
	PassthroughConnections int          `json:"passthrough_connections"`
	Memory                 []MemoryMode `json:"memory"`
	PolicyTargets          []int        `json:"policy_targets"`
	PolicyConnections      int          `json:"policy_connections"`
	// PolicyRounds is Rounds for the policy scenario, whose ratio (3%) is finer than the others'.
	PolicyRounds int `json:"policy_rounds"`
	// PolicyRoutes is how many routes restrict the origin in the policy scenario's routed run (0: none).
	PolicyRoutes  int  `json:"policy_routes"`
	ReloadTargets int  `json:"reload_targets"`
	ReloadRounds  int  `json:"reload_rounds"` // each round allows, then denies
	OriginHTTP2   bool `json:"origin_http2"`
}

// MemoryMode is one kind of idle connection the memory scenario holds, and how many, in turn.
type MemoryMode struct {
	Mode  string `json:"mode"` // "http": keep-alive to NAME.egress.local; "tls": passed through by SNI
	Conns []int  `json:"conns"`
}

// OpenLoop sizes the fixed-rate latency measurement.
type OpenLoop struct {
	Rate        float64       `json:"rate"`
	Duration    time.Duration `json:"duration_ns"`
	Connections int           `json:"connections"`
}

// Defaults returns the full run (about 12 minutes on 2 cores) or, with quick, a smoke run of about 2.
func Defaults(quick bool, cores int) Config {
	c := Config{
		Quick:                  quick,
		Cores:                  cores,
		Rounds:                 3,
		Duration:               5 * time.Second,
		Warmup:                 time.Second,
		Connections:            []int{1, 16, 64, 256},
		OpenLoop:               OpenLoop{Rate: 500, Duration: 10 * time.Second, Connections: 32},
		Download:               1 << 30,
		SpliceBytes:            256 << 20,
		PassthroughConnections: 64,
		// An idle tunnel holds two descriptors in the sidecar (its pipes are taken only while bytes move),
		// and every process here has the machine's hard limit of 20,000.
		Memory:            []MemoryMode{{"http", []int{1000, 5000}}, {"tls", []int{1000, 5000}}},
		PolicyTargets:     []int{1, 100, 10000},
		PolicyConnections: 64,
		PolicyRounds:      5,
		PolicyRoutes:      16,
		ReloadTargets:     10000,
		ReloadRounds:      5,
		OriginHTTP2:       true,
	}
	if quick {
		c.Rounds = 1
		c.PolicyRounds = 1
		c.Duration = 2 * time.Second
		c.Connections = []int{1, 64}
		c.OpenLoop = OpenLoop{Rate: 300, Duration: 3 * time.Second, Connections: 16}
		c.Download = 256 << 20
		c.SpliceBytes = 64 << 20
		c.Memory = []MemoryMode{{"http", []int{1000}}}
		c.ReloadRounds = 1
	}
	return c
}
