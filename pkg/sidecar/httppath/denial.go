package httppath

import (
	"fmt"
	"net/http"
	"strings"

	"egress.io/egress/pkg/policy"
	"egress.io/egress/pkg/sidecar/decide"
)

// Response headers that explain a refusal or failure to the app.
const (
	headerDenied = "X-Egress-Denied"
	headerError  = "X-Egress-Error"
)

// maxHeaderText bounds an explanation header.
const maxHeaderText = 512

// denialText returns the X-Egress-Denied value and the 403 body for a verdict that denies a request to
// authority ("name:port" as dialled), e.g. `api.example.test:80; allow with target "api.example.test:80"`.
// req is what routes were matched on.
func denialText(v decide.Verdict, authority string, req policy.Request) (header, body string) {
	what := v.Suggestion()
	switch {
	case v.Decision.Reason == policy.ReasonNoRoute:
		header = fmt.Sprintf("%s; no route allows %s %s", authority, req.Method, req.Path)
		body = fmt.Sprintf("egress denied: routes restrict %s and none allows %s %s; add a match to a route for %q\n",
			authority, req.Method, req.Path, authority)
	case v.Decision.Reason == policy.ReasonPathNotNormal:
		header = fmt.Sprintf("%s; path %q not in normal form", authority, req.Path)
		body = fmt.Sprintf("egress denied: routes restrict %s and check paths only in normal form; %q has a dot segment, an empty segment or an encoded '/', '\\', '.' or '%%'\n",
			authority, req.Path)
	case v.SidecarReason == decide.ReasonPrivateAddress:
		header = fmt.Sprintf("%s; resolves to %s, a private or reserved address; allow with target %q", authority, v.RefusedAddr, what)
		body = fmt.Sprintf("egress denied: %s resolves to %s, a private or reserved address (%s), which only a CIDR target allows; allow with target %q\n",
			authority, v.RefusedAddr, v.AddressClass, what)
	case v.SidecarReason == decide.ReasonLoop:
		header = authority + "; the sidecar itself"
		body = "egress denied: " + authority + " is the sidecar itself\n"
	case v.Decision.Reason == policy.ReasonNotReady:
		header = what + "; policy not loaded yet"
		body = "egress denied: " + what + ": the sidecar has not loaded its policy yet, so everything is denied\n"
	case v.Decision.Reason == policy.ReasonInvalidName:
		header = what + "; not a valid host name"
		body = "egress denied: " + what + " is not a valid host name\n"
	default:
		header = fmt.Sprintf("%s; allow with target %q", what, what)
		body = fmt.Sprintf("egress denied: no EgressRuleSet of this pod allows %s; allow with target %q\n", what, what)
	}
	return headerValue(header), body
}

// failureStatus is the status of an upstream failure: 504 for timeouts, 403 when a gateway refused (its
// own decision, or the pod's token), 502 otherwise.
func failureStatus(reason string) int {
	switch reason {
	case decide.ErrTimeout:
		return http.StatusGatewayTimeout
	case decide.ErrGatewayDenied:
		return http.StatusForbidden
	}
	return http.StatusBadGateway
}

// failureText returns the X-Egress-Error value and the body for an upstream failure.
func failureText(reason, authority string, err error) (header, body string) {
	header = fmt.Sprintf("%s; %s: %v", reason, authority, err)
	body = fmt.Sprintf("egress upstream error (%s) reaching %s: %v\n", reason, authority, err)
	return headerValue(header), body
}

// headerValue makes s a safe header value: control characters become spaces, and it is cut to a bound.
func headerValue(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) > maxHeaderText {
		s = s[:maxHeaderText]
	}
	return s
}
