// Package gateway is both ends of the tunnel between an injected pod's sidecar and an EgressGateway.
//
// The sidecar (Dialer) opens TLS to the gateway's Service, verified with the CA the webhook's rotator
// publishes, and sends one HTTP/1.1 CONNECT naming what it decided on ("name:port" or "address:port"),
// with the pod's projected service-account token of audience Audience as a bearer token. The gateway
// (Server) checks the token with TokenReview (podauth.Reviewer), looks the pod up, selects that pod's own
// rule sets, decides again with pkg/policy (and only a decision that names this gateway passes), resolves
// the name itself, applies the same address guard as the sidecar (decide.Decider), dials, answers 200 and
// joins the two connections. Anything else gets a refusal whose Egress-Reason header says why, and the
// connection is closed: nothing is ever sent to the destination directly instead.
package gateway
