package podauth

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const audience = "egress.io/policy"

var t0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

// jwt returns an unsigned token-shaped string with the claims (only the payload matters to podauth).
func jwt(claims string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"RS256"}`)) + "." + enc([]byte(claims)) + "." + enc([]byte("signature"))
}

func tokenFor(pod string, exp time.Time) string {
	return jwt(fmt.Sprintf(`{"sub":"system:serviceaccount:shop:default","exp":%d,"kubernetes.io":{"pod":{"name":%q}}}`, exp.Unix(), pod))
}

// fakeAPI answers TokenReviews from a table of tokens, as the API server would.
type fakeAPI struct {
	mu      sync.Mutex
	tokens  map[string]authenticationv1.TokenReviewStatus
	calls   atomic.Int32
	err     error
	release chan struct{} // when set, each review waits for it
	// lax answers these tokens whatever audience is asked for (a misbehaving authenticator).
	lax map[string]bool
}

func (f *fakeAPI) Create(_ context.Context, tr *authenticationv1.TokenReview, _ metav1.CreateOptions) (*authenticationv1.TokenReview, error) {
	f.calls.Add(1)
	if f.release != nil {
		<-f.release
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	out := tr.DeepCopy()
	st, ok := f.tokens[tr.Spec.Token]
	if !ok {
		out.Status = authenticationv1.TokenReviewStatus{Error: "invalid bearer token, token lookup failed"}
		return out, nil
	}
	if !f.lax[tr.Spec.Token] && (len(tr.Spec.Audiences) != 1 || !contains(st.Audiences, tr.Spec.Audiences[0])) {
		out.Status = authenticationv1.TokenReviewStatus{Error: "token audiences [\"https://kubernetes.default.svc\"] is invalid for the target audiences [\"" + tr.Spec.Audiences[0] + "\"]"}
		return out, nil
	}
	out.Status = st
	return out, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func podStatus(ns, pod string, audiences ...string) authenticationv1.TokenReviewStatus {
	return authenticationv1.TokenReviewStatus{
		Authenticated: true,
		Audiences:     audiences,
		User: authenticationv1.UserInfo{
			Username: "system:serviceaccount:" + ns + ":default",
			Extra: map[string]authenticationv1.ExtraValue{
				"authentication.kubernetes.io/pod-name": {pod},
				"authentication.kubernetes.io/pod-uid":  {"uid-" + pod},
			},
		},
	}
}

func newReviewer(t *testing.T, api *fakeAPI, now *time.Time) *Reviewer {
	t.Helper()
	r, err := NewReviewer(ReviewerOptions{TokenReviews: api, Audience: audience, Now: func() time.Time { return *now }})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestReviewAcceptsAPodTokenAndCachesItForItsLife(t *testing.T) {
	now := t0
	good := tokenFor("checkout-1", t0.Add(time.Hour))
	api := &fakeAPI{tokens: map[string]authenticationv1.TokenReviewStatus{good: podStatus("shop", "checkout-1", audience)}}
	r := newReviewer(t, api, &now)
	id, err := r.Review(context.Background(), good)
	if err != nil {
		t.Fatal(err)
	}
	want := Identity{Namespace: "shop", ServiceAccount: "default", PodName: "checkout-1", PodUID: "uid-checkout-1", Expiry: t0.Add(time.Hour)}
	if id != want {
		t.Fatalf("identity %+v, want %+v", id, want)
	}
	now = t0.Add(59 * time.Minute)
	if _, err := r.Review(context.Background(), good); err != nil {
		t.Fatal(err)
	}
	if n := api.calls.Load(); n != 1 {
		t.Errorf("%d TokenReviews for one token within its life, want 1", n)
	}
	if s := r.Stats(); s.Reviews != 1 || s.CacheHits != 1 || s.Cached != 1 {
		t.Errorf("stats %+v", s)
	}
	// At its expiry the cache lets go, and the token itself is refused (the API server would agree).
	now = t0.Add(time.Hour)
	_, err = r.Review(context.Background(), good)
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "expired") {
		t.Errorf("an expired token: %v", err)
	}
	if n := api.calls.Load(); n != 2 {
		t.Errorf("%d TokenReviews after expiry, want 2", n)
	}
}

func TestReviewRefuses(t *testing.T) {
	now := t0
	exp := t0.Add(time.Hour)
	wrongAud := tokenFor("a", exp)
	notBound := tokenFor("b", exp)
	notSA := tokenFor("c", exp)
	noExp := jwt(`{"sub":"system:serviceaccount:shop:default"}`)
	statusAudMismatch := tokenFor("d", exp)
	api := &fakeAPI{tokens: map[string]authenticationv1.TokenReviewStatus{
		wrongAud: podStatus("shop", "a", "https://kubernetes.default.svc"),
		notBound: {Authenticated: true, Audiences: []string{audience}, User: authenticationv1.UserInfo{Username: "system:serviceaccount:shop:default"}},
		notSA:    {Authenticated: true, Audiences: []string{audience}, User: authenticationv1.UserInfo{Username: "alice"}},
		noExp:    podStatus("shop", "e", audience),
		// An API server that authenticates without echoing our audience: refused all the same.
		statusAudMismatch: podStatus("shop", "d", audience, "other"),
	}}
	api.tokens[statusAudMismatch] = authenticationv1.TokenReviewStatus{Authenticated: true, Audiences: []string{"other"}, User: podStatus("shop", "d").User}
	api.lax = map[string]bool{statusAudMismatch: true}
	r := newReviewer(t, api, &now)
	for _, tt := range []struct{ name, token, want string }{
		{"empty", "", "no token"},
		{"forged", tokenFor("forged", exp), "invalid bearer token"},
		{"not a JWT", "garbage", "invalid bearer token"},
		{"wrong audience", wrongAud, "invalid for the target audiences"},
		{"audience not echoed", statusAudMismatch, `do not include "egress.io/policy"`},
		{"not bound to a pod", notBound, "not bound to a pod"},
		{"not a service account", notSA, "not a service account"},
		{"no expiry", noExp, "has no expiry"},
	} {
		_, err := r.Review(context.Background(), tt.token)
		var ref *Refused
		if !errors.As(err, &ref) || !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want a refusal containing %q", tt.name, err, tt.want)
		}
	}
	// Refusals are not cached: the same forged token asks again.
	before := api.calls.Load()
	r.Review(context.Background(), tokenFor("forged", exp))
	if api.calls.Load() != before+1 {
		t.Error("a refused token was cached")
	}
	if r.Stats().Cached != 0 {
		t.Errorf("cached %d refused tokens", r.Stats().Cached)
	}
}

func TestReviewUnreachableIsNotARefusalAndNotCached(t *testing.T) {
	now := t0
	good := tokenFor("p", t0.Add(time.Hour))
	api := &fakeAPI{tokens: map[string]authenticationv1.TokenReviewStatus{good: podStatus("shop", "p", audience)},
		err: errors.New("connection refused")}
	r := newReviewer(t, api, &now)
	_, err := r.Review(context.Background(), good)
	if err == nil || errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "TokenReview: connection refused") {
		t.Fatalf("API server down: %v, want an error that is not a refusal", err)
	}
	api.mu.Lock()
	api.err = nil
	api.mu.Unlock()
	if _, err := r.Review(context.Background(), good); err != nil {
		t.Fatalf("after the API server is back: %v", err)
	}
}

func TestConcurrentReviewsOfOneTokenShareOneTokenReview(t *testing.T) {
	now := t0
	good := tokenFor("p", t0.Add(time.Hour))
	api := &fakeAPI{tokens: map[string]authenticationv1.TokenReviewStatus{good: podStatus("shop", "p", audience)},
		release: make(chan struct{})}
	r := newReviewer(t, api, &now)
	var wg sync.WaitGroup
	errs := make(chan error, 10)
	for range 10 {
		wg.Go(func() {
			_, err := r.Review(context.Background(), good)
			errs <- err
		})
	}
	for api.calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond) // let the others find the review in flight
	close(api.release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if n := api.calls.Load(); n != 1 {
		t.Errorf("%d TokenReviews for 10 concurrent checks of one token, want 1", n)
	}
}

func TestCacheIsBounded(t *testing.T) {
	now := t0
	api := &fakeAPI{tokens: map[string]authenticationv1.TokenReviewStatus{}}
	for i := range 20 {
		api.tokens[tokenFor(fmt.Sprint(i), t0.Add(time.Hour))] = podStatus("shop", fmt.Sprint(i), audience)
	}
	r, err := NewReviewer(ReviewerOptions{TokenReviews: api, Audience: audience, MaxEntries: 5, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	for tok := range api.tokens {
		if _, err := r.Review(context.Background(), tok); err != nil {
			t.Fatal(err)
		}
	}
	if n := r.Stats().Cached; n > 5 {
		t.Errorf("%d cached, want at most 5", n)
	}
}

func TestNewReviewerNeedsClientAndAudience(t *testing.T) {
	if _, err := NewReviewer(ReviewerOptions{Audience: audience}); err == nil || !strings.Contains(err.Error(), "TokenReviews") {
		t.Errorf("no client: %v", err)
	}
	if _, err := NewReviewer(ReviewerOptions{TokenReviews: &fakeAPI{}}); err == nil || !strings.Contains(err.Error(), "Audience") {
		t.Errorf("no audience: %v", err)
	}
}

// writeToken writes the token the way the kubelet updates a projected volume: a new timestamped
// directory, then an atomic swap of the ..data symlink the token file points through.
func writeToken(t *testing.T, dir, token string) {
	t.Helper()
	ts := filepath.Join(dir, fmt.Sprintf("..%d", time.Now().UnixNano()))
	if err := os.Mkdir(ts, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ts, "token"), []byte(token), 0o600); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(dir, "..data_tmp")
	if err := os.Symlink(filepath.Base(ts), tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "token")); err != nil {
		if err := os.Symlink("..data/token", filepath.Join(dir, "token")); err != nil {
			t.Fatal(err)
		}
	}
}

func TestTokenFileFollowsTheKubeletsRefresh(t *testing.T) {
	dir := t.TempDir()
	now := t0
	f := &TokenFile{Path: filepath.Join(dir, "token"), Now: func() time.Time { return now }}
	if _, err := f.Token(); err == nil || !strings.Contains(err.Error(), "reading the service-account token") {
		t.Errorf("no file yet: %v", err)
	}
	first := tokenFor("p", t0.Add(10*time.Minute))
	writeToken(t, dir, first+"\n")
	got, err := f.Token()
	if err != nil || got != first {
		t.Fatalf("Token() = %q, %v", got, err)
	}
	// 8 minutes in, the kubelet writes a fresh token: the next call presents it.
	now = t0.Add(8 * time.Minute)
	second := tokenFor("p", now.Add(10*time.Minute))
	writeToken(t, dir, second)
	if got, err := f.Token(); err != nil || got != second {
		t.Fatalf("after the refresh: %q, %v", got, err)
	}
	// A kubelet that stopped refreshing: the token runs out, and the error says so.
	now = t0.Add(19 * time.Minute)
	if _, err := f.Token(); !errors.Is(err, ErrExpired) || !strings.Contains(err.Error(), "80%") {
		t.Errorf("expired: %v", err)
	}
	writeToken(t, dir, "  ")
	if _, err := f.Token(); err == nil || !strings.Contains(err.Error(), "is empty") {
		t.Errorf("empty: %v", err)
	}
	writeToken(t, dir, "opaque-token") // not a JWT: passed on, the server decides
	if got, err := f.Token(); err != nil || got != "opaque-token" {
		t.Errorf("opaque token: %q, %v", got, err)
	}
}

func TestExpiryAndBearer(t *testing.T) {
	if exp, ok := Expiry(tokenFor("p", t0)); !ok || !exp.Equal(t0) {
		t.Errorf("Expiry = %v, %v", exp, ok)
	}
	for _, bad := range []string{"", "a.b", "a.!!.c", jwt(`{}`), jwt(`{"exp":"soon"}`), jwt(`not json`)} {
		if _, ok := Expiry(bad); ok {
			t.Errorf("Expiry(%q) ok", bad)
		}
	}
	h := make(map[string][]string)
	SetBearer(h, "tok")
	if got := Bearer(h); got != "tok" {
		t.Errorf("Bearer = %q", got)
	}
	for _, v := range []string{"", "Basic abc", "Bearer", "tok"} {
		if got := Bearer(map[string][]string{"Authorization": {v}}); got != "" {
			t.Errorf("Bearer(%q) = %q", v, got)
		}
	}
}
