package dnsproxy

// Result labels passed to the observe hook of a Server, one per query. They describe what the client got,
// and are a fixed, small set so they can be used as a metric label.
const (
	// ResultLocal is a query for a name under the local suffix, answered by the proxy itself.
	ResultLocal = "local"
	// ResultForwarded is a query answered by an upstream resolver with NOERROR (with or without data).
	ResultForwarded = "forwarded"
	// ResultNXDomain is a query answered by an upstream resolver with NXDOMAIN.
	ResultNXDomain = "nxdomain"
	// ResultServFail is a query no upstream could answer (timeout, unreachable, SERVFAIL from all of them).
	ResultServFail = "servfail"
	// ResultRefused is a query the proxy or the upstream refused: an unsupported opcode, a zone transfer,
	// or REFUSED/NOTIMP from the upstream.
	ResultRefused = "refused"
	// ResultError is a message that could not be parsed or broke the protocol (answered with FORMERR or
	// dropped), or an upstream answer with any other error code.
	ResultError = "error"
)

// Results returns every result label the observe hook can be called with, e.g. to initialise a metric's
// label values.
func Results() []string {
	return []string{ResultLocal, ResultForwarded, ResultNXDomain, ResultServFail, ResultRefused, ResultError}
}
