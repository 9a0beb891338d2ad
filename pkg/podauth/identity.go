package podauth

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Identity is who presented a token: the pod it is bound to.
type Identity struct {
	// Namespace and ServiceAccount come from the token's username, system:serviceaccount:NAMESPACE:NAME.
	Namespace      string
	ServiceAccount string
	// PodName and PodUID come from the bound token's claims (the TokenReview's user extra).
	PodName string
	PodUID  string
	// Expiry is the token's exp claim: the identity holds until then.
	Expiry time.Time
}

// String is NAMESPACE/POD, for logs.
func (id Identity) String() string { return id.Namespace + "/" + id.PodName }

// Expiry returns the exp claim of a JWT without verifying its signature: the client uses it to say that its
// own token has expired, and the Reviewer to cache a token that TokenReview has verified. ok is false when
// the token is not a JWT or has no exp claim.
func Expiry(token string) (exp time.Time, ok bool) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return time.Time{}, false
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return time.Time{}, false
	}
	var claims struct {
		Exp *json.Number `json:"exp"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil || claims.Exp == nil {
		return time.Time{}, false
	}
	secs, err := claims.Exp.Float64()
	if err != nil || secs <= 0 {
		return time.Time{}, false
	}
	return time.Unix(int64(secs), 0).UTC(), true
}

// ErrRefused is what every refusal wraps: the token was checked and is not acceptable. Anything else from
// Review means it could not be checked.
var ErrRefused = errors.New("token refused")

// Refused is a token the Reviewer does not accept, with the reason.
type Refused struct {
	Reason string
}

func (r *Refused) Error() string { return "token refused: " + r.Reason }

// Unwrap makes errors.Is(err, ErrRefused) true.
func (r *Refused) Unwrap() error { return ErrRefused }

func refused(format string, args ...any) error {
	return &Refused{Reason: fmt.Sprintf(format, args...)}
}
