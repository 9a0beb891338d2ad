package httppath

import (
	"context"
	"net/http"
	"net/netip"
	"strings"

	"egress.io/egress/pkg/policy"

	"egress.io/egress/pkg/sidecar/decide"
	"egress.io/egress/pkg/sidecar/telemetry"
)

// decided is one request decided: where it goes, the verdict, and its host's metrics.
type decided struct {
	target requestTarget // Name is what was decided on and is dialled
	v      decide.Verdict
	host   *telemetry.Host
	route  string // the route's metric label ("" when routes do not restrict the host)
}

// decideRequest decides a request whose Host (or absolute-form authority) is host, on a connection whose
// original destination port is origPort, and records the decision: the request's one event. A Host that
// cannot be a destination is an error (a 400, recorded by the caller).
//
// req is what routes are matched on: the method, the path as sent (without the query) and the headers.
func (p *Path) decideRequest(ctx context.Context, host string, origPort uint16, req policy.Request) (decided, error) {
	target, err := targetForHost(host, origPort, p.opts.LocalSuffix)
	if err != nil {
		return decided{}, err
	}
	protocol := decide.HTTP
	if target.Originate {
		protocol = decide.HTTPS
	}
	m := p.matcher()
	v := p.opts.Decider.DecideWith(ctx, m, decide.Ask{Protocol: protocol, Name: target.Name, Port: target.Port, Request: req})
	// Dial exactly what was decided on: the normalised name (case, trailing dot, IDNA) or the address.
	switch {
	case v.Name != "":
		target.Name = v.Name
	case v.IP.IsValid():
		target.Name = v.IP.String()
	}
	target.authority = target.Authority()
	label := p.opts.Labels.Host(m, v.Name, v.IP)
	p.opts.Reporter.Report(ctx, v.Event(p.opts.Now(), netip.Addr{}))
	return decided{target: target, v: v, host: p.opts.Metrics.Host(label), route: p.opts.Labels.Route(v.RouteName())}, nil
}

// routeRequest is what routes match an HTTP/1 request on: its path is the request target as sent, without
// the query (absolute form turned into origin form).
func routeRequest(req *http.Request) policy.Request {
	path, _, _ := strings.Cut(originForm(req), "?")
	return policy.Request{Method: req.Method, Path: path, Header: req.Header}
}
