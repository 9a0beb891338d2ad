package sidecar

import (
	"context"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"egress.io/egress/pkg/policy"
)

// Reasons the sidecar adds to policy.Reason for refusals that are not the allow-list's doing.
const (
	reasonPrivateAddress = "private_address" // the name resolved to a denied range (SSRF, DNS rebinding)
	reasonLoop           = "loop"            // the original destination is the sidecar or loopback
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
}

// newEvent describes a policy decision. protocol is "http", "https", "tls" or "tcp"; addr, when valid, is
// the address the connection went (or would go) to.
func newEvent(now time.Time, protocol string, d policy.Decision, addr netip.Addr) Event {
	ev := Event{
		Time:     now,
		Decision: d.Action.String(),
		Reason:   d.Reason.String(),
		Protocol: protocol,
		Host:     d.Name,
		Port:     d.Port,
		RuleSet:  d.RuleSet,
		Target:   d.Target,
	}
	if !addr.IsValid() {
		addr = d.IP
	}
	if addr.IsValid() {
		ev.IP = addr.String()
	}
	if !d.Allowed() || d.Action == policy.Audit {
		ev.Suggestion = d.Suggestion()
	}
	return ev
}

// decisionRing keeps the last N events for /debug/decisions.
type decisionRing struct {
	mu     sync.Mutex
	events []Event
	next   int
	full   bool
}

func newDecisionRing(n int) *decisionRing {
	return &decisionRing{events: make([]Event, n)}
}

// Add records an event, overwriting the oldest when full.
func (r *decisionRing) Add(ev Event) {
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
func (r *decisionRing) Snapshot() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.full {
		return append([]Event{}, r.events[:r.next]...)
	}
	out := make([]Event, 0, len(r.events))
	out = append(out, r.events[r.next:]...)
	return append(out, r.events[:r.next]...)
}

// reporter records decisions: all of them in the ring, denials and audits (and allows with --log-allowed)
// as JSON log lines.
type reporter struct {
	log        *slog.Logger
	ring       *decisionRing
	logAllowed bool
}

// Report records one event.
func (r *reporter) Report(ctx context.Context, ev Event) {
	r.ring.Add(ev)
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
	r.log.LogAttrs(ctx, level, "egress "+ev.Decision, attrs...)
}
