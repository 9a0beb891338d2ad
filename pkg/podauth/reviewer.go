package podauth

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TokenReviews creates TokenReviews: a clientset's AuthenticationV1().TokenReviews().
type TokenReviews interface {
	Create(ctx context.Context, review *authenticationv1.TokenReview, opts metav1.CreateOptions) (*authenticationv1.TokenReview, error)
}

// ReviewerOptions configure a Reviewer.
type ReviewerOptions struct {
	// TokenReviews is the API server's TokenReview endpoint (required).
	TokenReviews TokenReviews
	// Audience is the one audience accepted tokens must carry (required).
	Audience string
	// MaxInFlight bounds the TokenReviews made at once, so a flood of new tokens (a mass reconnect, or
	// someone sending forged ones) queues here instead of at the API server. Default 32.
	MaxInFlight int
	// MaxEntries bounds the cache; past it, expired entries go first, then arbitrary ones. Default 500,000.
	MaxEntries int
	// Now is the clock (tests). Default time.Now.
	Now func() time.Time
}

// Reviewer checks pod tokens with TokenReview and caches each accepted token until it expires. Refusals are
// not cached. Safe for concurrent use.
type Reviewer struct {
	opts     ReviewerOptions
	inFlight chan struct{}

	mu       sync.Mutex
	cache    map[[sha256.Size]byte]Identity
	pending  map[[sha256.Size]byte]*review
	inserts  int
	reviews  int // TokenReviews made, for metrics and tests
	cacheHit int
}

// review is one TokenReview that callers with the same token wait for.
type review struct {
	done chan struct{}
	id   Identity
	err  error
}

// NewReviewer checks opts.
func NewReviewer(opts ReviewerOptions) (*Reviewer, error) {
	if opts.TokenReviews == nil {
		return nil, errors.New("podauth: ReviewerOptions.TokenReviews is required")
	}
	if opts.Audience == "" {
		return nil, errors.New("podauth: ReviewerOptions.Audience is required")
	}
	if opts.MaxInFlight <= 0 {
		opts.MaxInFlight = 32
	}
	if opts.MaxEntries <= 0 {
		opts.MaxEntries = 500_000
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Reviewer{
		opts:     opts,
		inFlight: make(chan struct{}, opts.MaxInFlight),
		cache:    map[[sha256.Size]byte]Identity{},
		pending:  map[[sha256.Size]byte]*review{},
	}, nil
}

// Stats are the Reviewer's counters.
type Stats struct {
	// Reviews is how many TokenReviews were made; CacheHits how many checks the cache answered.
	Reviews, CacheHits int
	// Cached is how many tokens the cache holds.
	Cached int
}

// Stats returns the counters so far.
func (r *Reviewer) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return Stats{Reviews: r.reviews, CacheHits: r.cacheHit, Cached: len(r.cache)}
}

// Review returns the identity of the pod that token is bound to. An error wrapping ErrRefused (a *Refused)
// means the token is not acceptable: forged, expired, for another audience, not a service account's, or
// not bound to a pod. Any other error means it could not be checked now (the API server unreachable, ctx
// done). Concurrent calls with the same token share one TokenReview.
func (r *Reviewer) Review(ctx context.Context, token string) (Identity, error) {
	if token == "" {
		return Identity{}, refused("no token")
	}
	key := sha256.Sum256([]byte(token))
	now := r.opts.Now()
	r.mu.Lock()
	if id, ok := r.cache[key]; ok {
		if now.Before(id.Expiry) {
			r.cacheHit++
			r.mu.Unlock()
			return id, nil
		}
		delete(r.cache, key)
	}
	if p, ok := r.pending[key]; ok {
		r.mu.Unlock()
		select {
		case <-p.done:
			return p.id, p.err
		case <-ctx.Done():
			return Identity{}, ctx.Err()
		}
	}
	p := &review{done: make(chan struct{})}
	r.pending[key] = p
	r.mu.Unlock()

	p.id, p.err = r.review(ctx, token)
	r.mu.Lock()
	delete(r.pending, key)
	if p.err == nil {
		r.store(key, p.id, now)
	}
	r.mu.Unlock()
	close(p.done)
	return p.id, p.err
}

// review makes the TokenReview and checks what it says.
func (r *Reviewer) review(ctx context.Context, token string) (Identity, error) {
	select {
	case r.inFlight <- struct{}{}:
	case <-ctx.Done():
		return Identity{}, ctx.Err()
	}
	defer func() { <-r.inFlight }()
	r.mu.Lock()
	r.reviews++
	r.mu.Unlock()
	tr, err := r.opts.TokenReviews.Create(ctx, &authenticationv1.TokenReview{
		Spec: authenticationv1.TokenReviewSpec{Token: token, Audiences: []string{r.opts.Audience}},
	}, metav1.CreateOptions{})
	if err != nil {
		return Identity{}, fmt.Errorf("TokenReview: %w", err)
	}
	return r.check(token, tr.Status)
}

// check turns an answered TokenReview into an identity or a refusal.
func (r *Reviewer) check(token string, st authenticationv1.TokenReviewStatus) (Identity, error) {
	if !st.Authenticated {
		reason := st.Error
		if reason == "" {
			reason = "not authenticated"
		}
		return Identity{}, refused("%s", reason)
	}
	if !slices.Contains(st.Audiences, r.opts.Audience) {
		return Identity{}, refused("audiences %v do not include %q", st.Audiences, r.opts.Audience)
	}
	ns, sa, ok := splitServiceAccount(st.User.Username)
	if !ok {
		return Identity{}, refused("user %q is not a service account", st.User.Username)
	}
	podName, podUID := one(st.User.Extra[extraPodName]), one(st.User.Extra[extraPodUID])
	if podName == "" || podUID == "" {
		return Identity{}, refused("the token of %s/%s is not bound to a pod", ns, sa)
	}
	exp, ok := Expiry(token)
	if !ok {
		return Identity{}, refused("the token of pod %s/%s has no expiry", ns, podName)
	}
	if !r.opts.Now().Before(exp) {
		return Identity{}, refused("the token of pod %s/%s expired at %s", ns, podName, exp.UTC().Format(time.RFC3339))
	}
	return Identity{Namespace: ns, ServiceAccount: sa, PodName: podName, PodUID: podUID, Expiry: exp}, nil
}

// The user extra keys under which the API server returns a bound token's pod (k8s.io/apiserver's
// serviceaccount.PodNameKey and PodUIDKey), and the username prefix of service accounts.
const (
	extraPodName          = "authentication.kubernetes.io/pod-name"
	extraPodUID           = "authentication.kubernetes.io/pod-uid"
	serviceAccountUserPfx = "system:serviceaccount:"
)

// splitServiceAccount splits system:serviceaccount:NAMESPACE:NAME.
func splitServiceAccount(username string) (namespace, name string, ok bool) {
	rest, ok := strings.CutPrefix(username, serviceAccountUserPfx)
	if !ok {
		return "", "", false
	}
	namespace, name, ok = strings.Cut(rest, ":")
	if !ok || namespace == "" || name == "" || strings.Contains(name, ":") {
		return "", "", false
	}
	return namespace, name, true
}

func one(values authenticationv1.ExtraValue) string {
	if len(values) != 1 {
		return ""
	}
	return strings.TrimSpace(values[0])
}

// store caches id; r.mu is held. Every 1,024 stores, and whenever the cache is full, expired entries are
// swept; a cache still full loses arbitrary entries (each costs one more TokenReview, nothing else).
func (r *Reviewer) store(key [sha256.Size]byte, id Identity, now time.Time) {
	r.inserts++
	if r.inserts%1024 == 0 || len(r.cache) >= r.opts.MaxEntries {
		for k, v := range r.cache {
			if !now.Before(v.Expiry) {
				delete(r.cache, k)
			}
		}
		for k := range r.cache {
			if len(r.cache) < r.opts.MaxEntries {
				break
			}
			delete(r.cache, k)
		}
	}
	r.cache[key] = id
}
