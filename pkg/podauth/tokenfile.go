package podauth

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"
)

// TokenFile is the client side: the pod's projected service-account token, which the kubelet rewrites
// (by swapping the volume's ..data symlink) when it is 80% through its life. Token reads it afresh on every
// call, so a caller that asks once per connection always presents the current token.
type TokenFile struct {
	// Path is the token file, e.g. /var/run/secrets/egress.io/policy/token.
	Path string
	// Now is the clock (tests). Default time.Now.
	Now func() time.Time
}

// ErrExpired says the token file holds an expired token: the kubelet has stopped refreshing it.
var ErrExpired = errors.New("token expired")

// Token returns the token in the file. It fails when the file cannot be read, is empty, or holds a JWT
// whose exp has passed (wrapping ErrExpired): the service would refuse it anyway, and this says why.
func (f *TokenFile) Token() (string, error) {
	data, err := os.ReadFile(f.Path)
	if err != nil {
		return "", fmt.Errorf("reading the service-account token: %w", err)
	}
	token := strings.TrimSpace(string(data))
	if token == "" {
		return "", fmt.Errorf("service-account token %s is empty", f.Path)
	}
	now := time.Now
	if f.Now != nil {
		now = f.Now
	}
	if exp, ok := Expiry(token); ok && !now().Before(exp) {
		return "", fmt.Errorf("service-account token %s expired at %s (the kubelet refreshes it at 80%% of its life): %w",
			f.Path, exp.UTC().Format(time.RFC3339), ErrExpired)
	}
	return token, nil
}

// SetBearer sets the Authorization header of a request to the token.
func SetBearer(h http.Header, token string) { h.Set("Authorization", "Bearer "+token) }

// Bearer returns the bearer token of a request's Authorization header, or "" when it has none.
func Bearer(h http.Header) string {
	v := h.Get("Authorization")
	scheme, token, ok := strings.Cut(v, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(token)
}
