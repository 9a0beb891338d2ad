package policyservice_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"egress.io/egress/api/v1alpha1"
	"egress.io/egress/pkg/policyservice"
	"egress.io/egress/pkg/policystream"
)

const global = "egress-system"

func rs(ns, name string, gen int64, targets ...string) policystream.RuleSet {
	r := policystream.RuleSet{Name: name, Namespace: ns, Generation: gen}
	for _, t := range targets {
		r.Spec.Targets = append(r.Spec.Targets, v1alpha1.Target(t))
	}
	return r
}

func newHub(t *testing.T, coalesce time.Duration) (*policyservice.Hub, *policyservice.Metrics, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	m, err := policyservice.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	h, err := policyservice.NewHub(policyservice.HubOptions{GlobalNamespace: global, Coalesce: coalesce, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	return h, m, reg
}

func runHub(t *testing.T, h *policyservice.Hub) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { h.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

// names decodes a snapshot's line into namespace/name@generation entries.
func names(t *testing.T, snap *policyservice.Snapshot) string {
	t.Helper()
	f, err := policystream.Decode(snap.Line[:len(snap.Line)-1])
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range f.RuleSets {
		out = append(out, r.Namespace+"/"+r.Name)
	}
	return strings.Join(out, ",")
}

func waitNotified(t *testing.T, s *policyservice.Subscription) {
	t.Helper()
	select {
	case <-s.Notify():
	case <-time.After(5 * time.Second):
		t.Fatal("no notification")
	}
}

func notNotified(t *testing.T, s *policyservice.Subscription, within time.Duration) {
	t.Helper()
	select {
	case <-s.Notify():
		t.Fatalf("notified, but nothing it sees changed")
	case <-time.After(within):
	}
}

func TestNothingIsServedBeforeTheWatchHasSynced(t *testing.T) {
	h, _, _ := newHub(t, 0)
	if _, err := h.Subscribe("shop"); err != policyservice.ErrNotSynced {
		t.Fatalf("Subscribe before sync: %v", err)
	}
	h.MarkSynced()
	s, err := h.Subscribe("shop")
	if err != nil {
		t.Fatal(err)
	}
	if got := names(t, s.Current()); got != "" {
		t.Errorf("an empty cluster: %q", got)
	}
}

func TestSnapshotsAreScopedToTheNamespaceAndTheGlobalNamespace(t *testing.T) {
	h, _, _ := newHub(t, time.Millisecond)
	for _, r := range []policystream.RuleSet{
		rs("shop", "a", 1, "a.example:443"), rs("bank", "b", 1, "b.example:443"),
		rs(global, "dns", 1, "dns.example:53"), rs("shop", "c", 1, "c.example:443"),
	} {
		h.Set(r)
	}
	h.MarkSynced()
	runHub(t, h)
	shop, _ := h.Subscribe("shop")
	bank, _ := h.Subscribe("bank")
	inGlobal, _ := h.Subscribe(global)
	for _, tt := range []struct {
		sub  *policyservice.Subscription
		want string
	}{{shop, "egress-system/dns,shop/a,shop/c"}, {bank, "bank/b,egress-system/dns"}, {inGlobal, "egress-system/dns"}} {
		if got := names(t, tt.sub.Current()); got != tt.want {
			t.Errorf("snapshot %q, want %q", got, tt.want)
		}
	}
	// bank's change reaches bank only; a global change reaches everyone.
	h.Set(rs("bank", "b2", 1, "b2.example:443"))
	waitNotified(t, bank)
	notNotified(t, shop, 50*time.Millisecond)
	if got := names(t, bank.Current()); got != "bank/b,bank/b2,egress-system/dns" {
		t.Errorf("bank after its change: %q", got)
	}
	h.Delete(global, "dns")
	for _, s := range []*policyservice.Subscription{shop, bank, inGlobal} {
		waitNotified(t, s)
	}
	if got := names(t, shop.Current()); got != "shop/a,shop/c" {
		t.Errorf("shop after the global delete: %q", got)
	}
	// A namespace nobody streams costs nothing until someone does.
	h.Set(rs("quiet", "q", 1, "q.example:443"))
	quiet, _ := h.Subscribe("quiet")
	if got := names(t, quiet.Current()); got != "quiet/q" {
		t.Errorf("quiet: %q", got)
	}
}

func TestSnapshotVersions(t *testing.T) {
	// Two replicas that saw the same rule sets in another order agree on the version.
	a, _, _ := newHub(t, time.Millisecond)
	b, _, _ := newHub(t, time.Millisecond)
	sets := []policystream.RuleSet{rs("shop", "a", 1, "a.example:443"), rs(global, "g", 3, "g.example:443"), rs("shop", "b", 2, "b.example:443")}
	for i := range sets {
		a.Set(sets[i])
		b.Set(sets[len(sets)-1-i])
	}
	a.MarkSynced()
	b.MarkSynced()
	runHub(t, a)
	sa, _ := a.Subscribe("shop")
	sb, _ := b.Subscribe("shop")
	v1 := sa.Current().Version
	if v1 != sb.Current().Version || !strings.HasPrefix(v1, "sha256:") {
		t.Fatalf("versions %q and %q", v1, sb.Current().Version)
	}
	other, _ := a.Subscribe("bank")
	if other.Current().Version == v1 {
		t.Error("two namespaces' snapshots share a version")
	}
	// A status update (same generation and spec) changes nothing and tells no one.
	a.Set(rs("shop", "a", 1, "a.example:443"))
	notNotified(t, sa, 50*time.Millisecond)
	// A spec change is a new version.
	a.Set(rs("shop", "a", 2, "a.example:443", "a2.example:443"))
	waitNotified(t, sa)
	v2 := sa.Current().Version
	if v2 == v1 {
		t.Error("a spec change kept the version")
	}
	// Undoing it comes back to the first content and its version.
	a.Set(rs("shop", "a", 1, "a.example:443"))
	waitNotified(t, sa)
	if sa.Current().Version != v1 {
		t.Errorf("the same content again: %s, want %s", sa.Current().Version, v1)
	}
}

func TestABurstOfChangesIsOnePublication(t *testing.T) {
	h, _, reg := newHub(t, 100*time.Millisecond)
	h.MarkSynced()
	runHub(t, h)
	s, _ := h.Subscribe("shop")
	before := s.Current().Version
	for i := range 200 {
		h.Set(rs(global, "g", int64(i+1), "g.example:443"))
		h.Set(rs("shop", "s", int64(i+1), "s.example:443"))
	}
	waitNotified(t, s)
	time.Sleep(250 * time.Millisecond) // anything left over would be published by now
	if s.Current().Version == before {
		t.Fatal("no new version")
	}
	notified := metricValue(t, reg, "egress_policy_service_notifications_total")
	if notified != 1 {
		t.Errorf("400 changes in one window told the stream %v times, want once", notified)
	}
}

// metricValue returns the value of the first series of a counter or gauge.
func metricValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			m := mf.GetMetric()[0]
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

func TestViewsGoWithTheirLastSubscriber(t *testing.T) {
	h, _, reg := newHub(t, time.Millisecond)
	h.MarkSynced()
	a, _ := h.Subscribe("shop")
	b, _ := h.Subscribe("shop")
	c, _ := h.Subscribe("bank")
	views := func() float64 { return metricValue(t, reg, "egress_policy_service_views") }
	if v := views(); v != 2 {
		t.Errorf("views %v, want 2", v)
	}
	h.Unsubscribe(a)
	h.Unsubscribe(c)
	if v := views(); v != 1 {
		t.Errorf("views %v, want 1", v)
	}
	h.Unsubscribe(b)
	if v := views(); v != 0 {
		t.Errorf("views %v, want 0", v)
	}
}
