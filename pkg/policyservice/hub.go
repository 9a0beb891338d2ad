package policyservice

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"egress.io/egress/pkg/policystream"
)

// ErrNotSynced is Subscribe's error before the watch has delivered its first complete list.
var ErrNotSynced = errors.New("the policy service has not synced its EgressRuleSets yet")

// Hub holds every rule set of the cluster and the views of the namespaces that have subscribers.
type Hub struct {
	global   string
	coalesce time.Duration
	metrics  *Metrics

	mu       sync.Mutex
	sets     map[string]map[string]policystream.RuleSet // namespace → name → rule set
	views    map[string]*view
	dirty    map[string]bool
	dirtyAll bool
	// firstChange is when the oldest change not yet published arrived (for the publish latency metric).
	firstChange time.Time

	synced atomic.Bool
	kick   chan struct{}
}

// view is one namespace's current snapshot and its subscribers.
type view struct {
	namespace string
	current   atomic.Pointer[Snapshot]
	subs      map[*Subscription]struct{} // guarded by Hub.mu
}

// Snapshot is a view's snapshot, encoded once for every stream.
type Snapshot struct {
	Version string
	// Line is the encoded snapshot frame, newline included.
	Line []byte
	// RuleSets counts the rule sets in it.
	RuleSets int
}

// Subscription is one stream's interest in its namespace's view.
type Subscription struct {
	view *view
	// notify receives after the view's snapshot changed (one signal for any number of changes).
	notify chan struct{}
}

// Notify returns the channel that receives when a newer snapshot is current.
func (s *Subscription) Notify() <-chan struct{} { return s.notify }

// Current returns the namespace's current snapshot.
func (s *Subscription) Current() *Snapshot { return s.view.current.Load() }

// HubOptions configure a Hub.
type HubOptions struct {
	// GlobalNamespace's rule sets are in every namespace's snapshot (required).
	GlobalNamespace string
	// Coalesce is how long changes gather before they are published. Default 20 ms.
	Coalesce time.Duration
	// Metrics, when set, receives the hub's figures.
	Metrics *Metrics
}

// NewHub returns an empty hub; it serves once MarkSynced is called.
func NewHub(opts HubOptions) (*Hub, error) {
	if opts.GlobalNamespace == "" {
		return nil, errors.New("policyservice: HubOptions.GlobalNamespace is required")
	}
	if opts.Coalesce <= 0 {
		opts.Coalesce = 20 * time.Millisecond
	}
	return &Hub{
		global: opts.GlobalNamespace, coalesce: opts.Coalesce, metrics: opts.Metrics,
		sets: map[string]map[string]policystream.RuleSet{}, views: map[string]*view{}, dirty: map[string]bool{},
		kick: make(chan struct{}, 1),
	}, nil
}

// GlobalNamespace is the namespace whose rule sets every view includes.
func (h *Hub) GlobalNamespace() string { return h.global }

// Set adds or replaces a rule set. Setting what is already held (a status update, a relist) changes nothing.
func (h *Hub) Set(rs policystream.RuleSet) {
	h.mu.Lock()
	byName := h.sets[rs.Namespace]
	if byName == nil {
		byName = map[string]policystream.RuleSet{}
		h.sets[rs.Namespace] = byName
	}
	if old, ok := byName[rs.Name]; ok && old.Generation == rs.Generation && reflect.DeepEqual(old, rs) {
		h.mu.Unlock()
		return
	}
	byName[rs.Name] = rs
	h.changedLocked(rs.Namespace)
	h.mu.Unlock()
}

// Delete removes a rule set.
func (h *Hub) Delete(namespace, name string) {
	h.mu.Lock()
	if byName := h.sets[namespace]; byName != nil {
		delete(byName, name)
		if len(byName) == 0 {
			delete(h.sets, namespace)
		}
	}
	h.changedLocked(namespace)
	h.mu.Unlock()
}

// changedLocked marks what a change in namespace affects and wakes Run.
func (h *Hub) changedLocked(namespace string) {
	if namespace == h.global {
		h.dirtyAll = true
	} else if h.views[namespace] != nil {
		h.dirty[namespace] = true
	} else {
		return // nobody watches it: the view is built when someone subscribes
	}
	if h.firstChange.IsZero() {
		h.firstChange = time.Now()
	}
	select {
	case h.kick <- struct{}{}:
	default:
	}
}

// MarkSynced says the watch has delivered its first complete list: Subscribe works from now on.
func (h *Hub) MarkSynced() { h.synced.Store(true) }

// Synced reports whether MarkSynced was called.
func (h *Hub) Synced() bool { return h.synced.Load() }

// Subscribe returns a subscription to namespace's view, building the view if it is the first. It fails
// before the hub has synced.
func (h *Hub) Subscribe(namespace string) (*Subscription, error) {
	if !h.Synced() {
		return nil, ErrNotSynced
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	v := h.views[namespace]
	if v == nil {
		v = &view{namespace: namespace, subs: map[*Subscription]struct{}{}}
		snap, err := h.buildLocked(namespace)
		if err != nil {
			return nil, err
		}
		v.current.Store(snap)
		h.views[namespace] = v
		h.metrics.setViews(len(h.views))
	}
	s := &Subscription{view: v, notify: make(chan struct{}, 1)}
	v.subs[s] = struct{}{}
	return s, nil
}

// Unsubscribe ends a subscription; the view goes with its last subscriber.
func (h *Hub) Unsubscribe(s *Subscription) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(s.view.subs, s)
	if len(s.view.subs) == 0 && h.views[s.view.namespace] == s.view {
		delete(h.views, s.view.namespace)
		delete(h.dirty, s.view.namespace)
		h.metrics.setViews(len(h.views))
	}
}

// Run publishes changes until ctx is done: after the first change of a burst it waits Coalesce, then
// rebuilds every affected view once and tells its subscribers when its version changed.
func (h *Hub) Run(ctx context.Context) {
	timer := time.NewTimer(0)
	<-timer.C
	for {
		select {
		case <-ctx.Done():
			return
		case <-h.kick:
		}
		timer.Reset(h.coalesce)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		}
		h.publish()
	}
}

// publish rebuilds the dirty views and notifies their subscribers.
func (h *Hub) publish() {
	h.mu.Lock()
	defer h.mu.Unlock()
	var targets []*view
	if h.dirtyAll {
		for _, v := range h.views {
			targets = append(targets, v)
		}
	} else {
		for ns := range h.dirty {
			if v := h.views[ns]; v != nil {
				targets = append(targets, v)
			}
		}
	}
	h.dirtyAll, h.dirty = false, map[string]bool{}
	first := h.firstChange
	h.firstChange = time.Time{}
	notified := 0
	for _, v := range targets {
		snap, err := h.buildLocked(v.namespace)
		if err != nil {
			continue // unreachable for JSON-encodable specs; the view keeps its snapshot
		}
		if old := v.current.Load(); old != nil && old.Version == snap.Version {
			continue
		}
		v.current.Store(snap)
		for s := range v.subs {
			select {
			case s.notify <- struct{}{}:
			default:
			}
			notified++
		}
	}
	if !first.IsZero() {
		h.metrics.published(time.Since(first), notified)
	}
}

// buildLocked builds namespace's snapshot from the rule sets held; h.mu is held.
func (h *Hub) buildLocked(namespace string) (*Snapshot, error) {
	var sets []policystream.RuleSet
	for _, ns := range []string{namespace, h.global} {
		for _, rs := range h.sets[ns] {
			sets = append(sets, rs)
		}
		if namespace == h.global {
			break
		}
	}
	frame, err := policystream.NewSnapshot(namespace, h.global, sets)
	if err != nil {
		return nil, err
	}
	line, err := frame.Encode()
	if err != nil {
		return nil, fmt.Errorf("policyservice: %w", err)
	}
	return &Snapshot{Version: frame.Version, Line: line, RuleSets: len(frame.RuleSets)}, nil
}

// RuleSets counts the rule sets held.
func (h *Hub) RuleSets() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, byName := range h.sets {
		n += len(byName)
	}
	return n
}
