// Package scale is what the scale benchmark's two programs share: the orchestrator (hack/bench/cmd/
// benchscale) drives the client process (hack/bench/cmd/scaleclients) with one JSON command per line on
// its stdin and reads one JSON reply per line from its stdout. The client process holds the simulated
// sidecars: each is a real policy source (the policy service's or the direct watch's) with a connection
// and a token of its own, in a process of its own so that the benchmark's descriptors are split between
// it and the service (the open-files hard limit is 20,000 per process).
package scale

import (
	"math"
	"slices"
	"time"
)

// Client describes one simulated sidecar: its pod and the token it presents.
type Client struct {
	Namespace string `json:"namespace"`
	Pod       string `json:"pod"`
	Token     string `json:"token"`
}

// Setup is the client process's first line: how to reach the service or the API server, and the clients.
type Setup struct {
	// Mode is "service" (servicesource against the policy service) or "kube" (kubesource against the API
	// server).
	Mode string `json:"mode"`
	// ServiceURL is the URL the sources are told (its host is the certificate's name); Endpoints are the
	// addresses a connection is really made to, one picked at random per connection, as a Service does.
	ServiceURL string   `json:"serviceURL,omitempty"`
	Endpoints  []string `json:"endpoints,omitempty"`
	// CAPEM trusts the service's certificate (service) or the API server's (kube).
	CAPEM []byte `json:"caPEM"`
	// APIServer is the API server's URL (kube).
	APIServer string `json:"apiServer,omitempty"`
	// GlobalNamespace is the sidecars' --global-namespace.
	GlobalNamespace string `json:"globalNamespace"`
	// Clients are every client the run may start, in the order they start.
	Clients []Client `json:"clients"`
}

// Command is one line on the client process's stdin.
type Command struct {
	// Op is grow, endpoints, wait, reconnect, stats or quit.
	Op string `json:"op"`
	// N is the number of clients to have running (grow).
	N int `json:"n,omitempty"`
	// Endpoints replace the live endpoint list (endpoints).
	Endpoints []string `json:"endpoints,omitempty"`
	// Marker is the target whose arrival is waited for (wait); Namespace limits the clients that should
	// see it ("" for every one).
	Marker    string `json:"marker,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	// Since is when the change was made or the replica killed, in Unix nanoseconds (wait, reconnect).
	Since int64 `json:"since,omitempty"`
	// Timeout bounds the wait.
	Timeout time.Duration `json:"timeout,omitempty"`
	// Live, when set, replaces the endpoint list LiveAfter after the reconnect command arrives, as a
	// Service drops the endpoint of a pod that died once the kubelet has noticed (reconnect).
	Live      []string      `json:"live,omitempty"`
	LiveAfter time.Duration `json:"liveAfter,omitempty"`
}

// Reply is one line on the client process's stdout.
type Reply struct {
	Op    string `json:"op"`
	Error string `json:"error,omitempty"`
	// Clients running, and how many of them are streaming (service) or synced (kube).
	Clients   int `json:"clients"`
	Streaming int `json:"streaming"`
	// Latencies of the clients concerned, from Since (or from their own start for grow), in ms.
	Count   int      `json:"count"`
	Missing int      `json:"missing"`
	Latency Summary  `json:"latency"`
	Wall    Duration `json:"wall"`
	// Affected counts the clients a reconnect concerned (their stream broke after Since); Updates
	// counts the policy updates every client's sink received meanwhile (a resumed stream sends none);
	// VersionChanged counts the clients whose policy version differs afterwards.
	Affected       int `json:"affected,omitempty"`
	Updates        int `json:"updates,omitempty"`
	VersionChanged int `json:"versionChanged,omitempty"`
}

// Duration is milliseconds in JSON.
type Duration float64

// Summary is p50, p99 and max of a set of latencies, in ms.
type Summary struct {
	P50 float64 `json:"p50"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// Summarize returns the summary of latencies (ms); NaN for none.
func Summarize(ms []float64) Summary {
	if len(ms) == 0 {
		return Summary{math.NaN(), math.NaN(), math.NaN()}
	}
	s := slices.Clone(ms)
	slices.Sort(s)
	at := func(p float64) float64 {
		i := int(math.Ceil(p*float64(len(s)))) - 1
		return s[max(0, min(i, len(s)-1))]
	}
	return Summary{P50: at(0.50), P99: at(0.99), Max: s[len(s)-1]}
}
