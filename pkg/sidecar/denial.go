package sidecar

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"egress.io/egress/pkg/policy"
)

// Response headers that explain a refusal or failure to the app.
const (
	headerDenied = "X-Egress-Denied"
	headerError  = "X-Egress-Error"
)

// maxHeaderText bounds an explanation header.
const maxHeaderText = 512

// denialText returns the X-Egress-Denied value and the 403 body for a denied decision, e.g.
// `api.example.test:80; allow with target "api.example.test:80"`.
func denialText(d policy.Decision) (header, body string) {
	what := d.Suggestion()
	switch d.Reason {
	case policy.ReasonNotReady:
		header = what + "; policy not loaded yet"
		body = "egress denied: " + what + ": the sidecar has not loaded its policy yet, so everything is denied\n"
	case policy.ReasonInvalidName:
		header = what + "; not a valid host name"
		body = "egress denied: " + what + " is not a valid host name\n"
	default:
		header = fmt.Sprintf("%s; allow with target %q", what, what)
		body = fmt.Sprintf("egress denied: no EgressRuleSet of this pod allows %s; allow with target %q\n", what, what)
	}
	return headerValue(header), body
}

// refusalText returns the X-Egress-Denied value and the 403 body for a name that resolved to a denied range.
func refusalText(e *refusedAddrError, authority string) (header, body string) {
	s := e.Suggestion()
	header = fmt.Sprintf("%s; resolves to %s, a private or reserved address; allow with target %q", authority, e.Addr, s)
	body = fmt.Sprintf("egress denied: %s resolves to %s, a private or reserved address (%s), which only a CIDR target allows; allow with target %q\n", authority, e.Addr, e.Class, s)
	return headerValue(header), body
}

// upstreamFailure classifies an error from reaching an allowed destination: the reason label and the
// status code (504 for timeouts, 502 otherwise).
func upstreamFailure(err error) (reason string, status int) {
	var ue *upstreamError
	var verr *tls.CertificateVerificationError
	var hostErr x509.HostnameError
	var authErr x509.UnknownAuthorityError
	var invalidErr x509.CertificateInvalidError
	var alert tls.AlertError
	var recordErr tls.RecordHeaderError
	switch {
	case errors.As(err, &ue):
		reason = ue.Kind
	case errors.As(err, &verr), errors.As(err, &hostErr), errors.As(err, &authErr), errors.As(err, &invalidErr):
		reason = errTLSVerification
	case errors.As(err, &alert), errors.As(err, &recordErr), strings.Contains(err.Error(), "tls: "):
		reason = errTLS
	case isTimeout(err):
		reason = errTimeout
	default:
		reason = errUpstream
	}
	if reason == errTimeout {
		return reason, http.StatusGatewayTimeout
	}
	return reason, http.StatusBadGateway
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
