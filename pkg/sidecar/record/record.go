// Package record keeps the sidecar's decision record: one Event per connection or request, logged as a JSON
// line (denials and audits; allows with --log-allowed), kept in a ring for /debug/decisions and counted in a
// bounded Summary for /summary.
package record

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Event is one decision about a connection or request: a line of the JSON decision log and an entry of
// /debug/decisions.
type Event struct {
	Time       time.Time `json:"time"`
	Decision   string    `json:"decision"`
	Reason     string    `json:"reason"`
	Protocol   string    `json:"protocol"`
	Host       string    `json:"host,omitempty"`
	IP         string    `json:"ip,omitempty"`
	Port       uint16    `json:"port"`
	RuleSet    string    `json:"rule_set,omitempty"`
	Target     string    `json:"target,omitempty"`
	Suggestion string    `json:"suggestion,omitempty"`
	// Route is the route that allowed an HTTP request on a host that routes restrict.
	Route string `json:"route,omitempty"`
	// AddressClass is, when the address guard refused (or in audit mode let through) the address, the
	// special-purpose range it lies in.
	AddressClass string `json:"address_class,omitempty"`
	// Hint says what would let a denial through when no target would.
	Hint string `json:"hint,omitempty"`
	// Gateway is the EgressGateway the connection or request was sent through ("" when directly).
	Gateway string `json:"gateway,omitempty"`
}

// Ring keeps the last N events for /debug/decisions.
type Ring struct {
	mu     sync.Mutex
	events []Event
	next   int
	full   bool
}

// NewRing returns a Ring of n events (0 keeps none).
func NewRing(n int) *Ring {
	return &Ring{events: make([]Event, n)}
}

// Add records an event, overwriting the oldest when full.
func (r *Ring) Add(ev Event) {
	if len(r.events) == 0 {
		return
	}
	r.mu.Lock()
	r.events[r.next] = ev
	r.next = (r.next + 1) % len(r.events)
	if r.next == 0 {
		r.full = true
	}
	r.mu.Unlock()
}

// Snapshot returns the events held, oldest first.
func (r *Ring) Snapshot() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.full {
		return append([]Event{}, r.events[:r.next]...)
	}
	out := make([]Event, 0, len(r.events))
	out = append(out, r.events[r.next:]...)
	return append(out, r.events[:r.next]...)
}

// Reporter records decisions: all of them in the ring, denials and audits (and allows with --log-allowed)
// as JSON log lines.
type Reporter struct {
	log        *slog.Logger
	ring       *Ring
	summary    *Summary
	logAllowed bool
}

// NewReporter returns a Reporter logging to log, keeping the last ringSize events and counting all of them
// in a Summary of DefaultSummaryEntries keys that starts now.
func NewReporter(log *slog.Logger, ringSize int, logAllowed bool) *Reporter {
	return &Reporter{log: log, ring: NewRing(ringSize), summary: NewSummary(DefaultSummaryEntries, time.Now()),
		logAllowed: logAllowed}
}

// Recent returns the events kept, oldest first.
func (r *Reporter) Recent() []Event { return r.ring.Snapshot() }

// Summary returns the counts of every event reported.
func (r *Reporter) Summary() *Summary { return r.summary }

// Report records one event.
func (r *Reporter) Report(ctx context.Context, ev Event) {
	r.ring.Add(ev)
	r.summary.Add(ev)
	level := slog.LevelWarn
	switch ev.Decision {
	case "allow":
		if !r.logAllowed {
			return
		}
		level = slog.LevelInfo
	case "audit":
		level = slog.LevelInfo
	}
	attrs := []slog.Attr{
		slog.String("decision", ev.Decision),
		slog.String("reason", ev.Reason),
		slog.String("protocol", ev.Protocol),
		slog.String("host", ev.Host),
		slog.String("ip", ev.IP),
		slog.Int("port", int(ev.Port)),
		slog.String("rule_set", ev.RuleSet),
		slog.String("target", ev.Target),
		slog.String("suggestion", ev.Suggestion),
	}
	if ev.Route != "" {
		attrs = append(attrs, slog.String("route", ev.Route))
	}
	if ev.AddressClass != "" {
		attrs = append(attrs, slog.String("address_class", ev.AddressClass))
	}
	if ev.Hint != "" {
		attrs = append(attrs, slog.String("hint", ev.Hint))
	}
	if ev.Gateway != "" {
		attrs = append(attrs, slog.String("gateway", ev.Gateway))
	}
	r.log.LogAttrs(ctx, level, "egress "+ev.Decision, attrs...)
}
