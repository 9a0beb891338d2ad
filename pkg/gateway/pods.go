package gateway

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"egress.io/egress/pkg/podauth"
)

// ErrUnknownPod says the pod a token is bound to does not exist (any more, or under that UID).
var ErrUnknownPod = errors.New("unknown pod")

// PodLabels looks up the labels of a token's pod, which select its rule sets, and caches them for TTL (so a
// relabelled pod is re-selected within TTL).
type PodLabels struct {
	Pods PodGetter
	TTL  time.Duration
	Now  func() time.Time

	mu    sync.Mutex
	cache map[string]podEntry // by UID
}

type podEntry struct {
	labels map[string]string
	at     time.Time
}

// maxPods bounds the cache; past it, it starts over.
const maxPods = 100_000

// Labels returns the labels of id's pod; an error wrapping ErrUnknownPod when it does not exist under
// id's UID.
func (p *PodLabels) Labels(ctx context.Context, id podauth.Identity) (map[string]string, error) {
	now := time.Now
	if p.Now != nil {
		now = p.Now
	}
	ttl := p.TTL
	if ttl <= 0 {
		ttl = 30 * time.Second
	}
	p.mu.Lock()
	if e, ok := p.cache[id.PodUID]; ok && now().Sub(e.at) < ttl {
		p.mu.Unlock()
		return e.labels, nil
	}
	p.mu.Unlock()
	pod, err := p.Pods.GetPod(ctx, id.Namespace, id.PodName)
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("pod %s/%s: %w", id.Namespace, id.PodName, ErrUnknownPod)
	}
	if err != nil {
		return nil, fmt.Errorf("looking up pod %s/%s: %w", id.Namespace, id.PodName, err)
	}
	if string(pod.UID) != id.PodUID {
		return nil, fmt.Errorf("pod %s/%s has UID %s, the token's is %s: %w", id.Namespace, id.PodName, pod.UID, id.PodUID, ErrUnknownPod)
	}
	p.mu.Lock()
	if p.cache == nil || len(p.cache) >= maxPods {
		p.cache = map[string]podEntry{}
	}
	p.cache[id.PodUID] = podEntry{labels: pod.Labels, at: now()}
	p.mu.Unlock()
	return pod.Labels, nil
}
