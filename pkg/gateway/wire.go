package gateway

import (
	"errors"
	"fmt"
	"net/http"
)

// Audience is the audience of the token a sidecar presents to a gateway (sidecar.GatewayAudience).
const Audience = "egress.io/gateway"

// DefaultPort is the port of a gateway's Service and pods.
const DefaultPort = 15443

// HeaderReason is the response header in which a gateway says why it refused a tunnel.
const HeaderReason = "Egress-Reason"

// HeaderProtocol is the request header in which the sidecar says what the tunnel carries (http, https,
// tls, tcp): for the gateway's logs and metrics only, never for its decision.
const HeaderProtocol = "Egress-Protocol"

// ObjectName is the name of the Deployment, Service, PodDisruptionBudget, HorizontalPodAutoscaler,
// NetworkPolicy, Secret and service account of the gateway named gateway.
func ObjectName(gateway string) string { return "egress-gateway-" + gateway }

// ServiceHost is the DNS name of the gateway's Service, which its certificate is issued for.
func ServiceHost(gateway, namespace, clusterDomain string) string {
	if clusterDomain == "" {
		clusterDomain = "cluster.local"
	}
	return ObjectName(gateway) + "." + namespace + ".svc." + clusterDomain
}

// Reasons a gateway gives in HeaderReason besides the policy's and the sidecar's own.
const (
	ReasonTokenRefused  = "token_refused"  // the token is forged, expired, of another audience or unbound
	ReasonAuthFailed    = "auth_failed"    // the token could not be checked now (the API server)
	ReasonUnknownPod    = "unknown_pod"    // the token's pod does not exist (any more)
	ReasonWrongGateway  = "wrong_gateway"  // the pod's policy routes the destination elsewhere (or directly)
	ReasonBadRequest    = "bad_request"    // not a CONNECT to host:port
	ReasonPolicyPending = "policy_pending" // the gateway has not loaded the rule sets yet
)

// Error is a tunnel the gateway refused or could not open. The sidecar turns it into a 403 (Denied) or a
// 502 naming the gateway for HTTP, and a closed connection and a log line for TLS and TCP.
type Error struct {
	// Gateway is the EgressGateway's name; Addr the address tried ("" when none could be).
	Gateway, Addr string
	// Status is the gateway's answer (0 when it gave none); Reason its HeaderReason.
	Status int
	Reason string
	Err    error
}

func (e *Error) Error() string {
	where := "gateway " + e.Gateway
	if e.Addr != "" {
		where += " at " + e.Addr
	}
	if e.Status != 0 {
		return fmt.Sprintf("%s answered %d %s (%s): %v", where, e.Status, http.StatusText(e.Status), e.Reason, e.Err)
	}
	return fmt.Sprintf("%s: %v", where, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Denied reports whether the gateway refused on its policy or the pod's identity (as opposed to being
// unreachable or failing to reach the destination).
func (e *Error) Denied() bool {
	return e.Status == http.StatusForbidden || e.Status == http.StatusUnauthorized
}

// AsError returns err's *Error, if any.
func AsError(err error) (*Error, bool) {
	var ge *Error
	ok := errors.As(err, &ge)
	return ge, ok
}
