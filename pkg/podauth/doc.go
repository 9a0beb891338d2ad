// Package podauth authenticates a pod to a service of ours by its projected service-account token: the
// client side reads the token the kubelet keeps refreshed in a projected volume (TokenFile), the server
// side checks it with the API server's TokenReview for one dedicated audience and caches the answer for
// the token's life (Reviewer). The identity it yields is the pod's: namespace and service account from the
// token's username, pod name and UID from the bound token's claims. The policy service uses it; an egress
// gateway can use it unchanged.
//
// Only tokens bound to a pod are accepted: a token requested for a service account alone, a legacy
// Secret-based token or a token without an expiry is refused, as are forged, expired and wrong-audience
// tokens (the API server says why; Refused carries it). A TokenReview that cannot be made (the API server
// unreachable) is an error of its own, never a refusal, and is not cached.
package podauth
