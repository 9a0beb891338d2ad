package policy

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"egress.io/egress/api/v1alpha1"
	"egress.io/egress/pkg/netrange"
)

// Bounds of what a route may ask for, beyond the CRD's own (a rules file is not checked by the API server).
const (
	maxRegexpLength = 1024
	maxRetries      = 5
	// DefaultRetryBackoff is the first wait before a retry when a route does not say.
	DefaultRetryBackoff = 25 * time.Millisecond
)

// Route is one compiled route: the HTTP requests it allows on its hosts, and their timeout and retries.
type Route struct {
	// Name is "namespace/ruleset/route", as logs and metrics show it.
	Name string
	// Timeout bounds the whole request, retries included (0: none of the route's own).
	Timeout time.Duration
	// Retries is how often a failed request may be sent again; Backoff the first wait before one.
	Retries int
	Backoff time.Duration

	matches []routeMatch
	invalid bool // skipped: it restricts its hosts and matches nothing
}

// routeMatch is one compiled RouteMatch: every condition given must hold.
type routeMatch struct {
	method  string
	path    pathMatcher
	headers []headerMatcher
}

type pathMatcher struct {
	kind  v1alpha1.PathMatchType // "" matches every path
	value string
	re    *regexp.Regexp
}

type headerMatcher struct {
	name  string // canonical
	value string
	re    *regexp.Regexp
}

// hostRoute is a route as one of its hosts holds it.
type hostRoute struct {
	ports netrange.PortRange
	route *Route
}

// Request is what an HTTP request is matched on.
type Request struct {
	Method string
	// Path is the request's path as sent, without the query.
	Path   string
	Header http.Header
}

// Matches reports whether req matches one of the route's matches (a route without matches matches all).
func (r *Route) Matches(req Request) bool {
	if r.invalid {
		return false
	}
	if len(r.matches) == 0 {
		return true
	}
	for i := range r.matches {
		if r.matches[i].matches(req) {
			return true
		}
	}
	return false
}

func (m *routeMatch) matches(req Request) bool {
	if m.method != "" && m.method != req.Method {
		return false
	}
	if !m.path.matches(req.Path) {
		return false
	}
	for i := range m.headers {
		if !m.headers[i].matches(req.Header) {
			return false
		}
	}
	return true
}

func (p *pathMatcher) matches(path string) bool {
	switch p.kind {
	case v1alpha1.PathExact:
		return path == p.value
	case v1alpha1.PathPrefix:
		// Element-wise, as Gateway API has it: "/repos" matches "/repos" and "/repos/a", not "/reposx".
		prefix := strings.TrimSuffix(p.value, "/")
		return path == prefix || strings.HasPrefix(path, prefix+"/") || prefix == ""
	case v1alpha1.PathRegularExpression:
		return p.re.MatchString(path)
	}
	return true
}

func (h *headerMatcher) matches(header http.Header) bool {
	for _, v := range header[h.name] {
		if h.re != nil && h.re.MatchString(v) || h.re == nil && v == h.value {
			return true
		}
	}
	return false
}

// NormalPath reports whether a request path is in normal form, the only form routes are checked on: it
// starts with "/", has no "." or ".." segments, no empty segment ("//"), no backslash, and does not encode
// "/", "\", "." or "%" (an upstream that decoded or merged them could serve another path than the one
// matched).
func NormalPath(path string) bool {
	if !strings.HasPrefix(path, "/") || strings.Contains(path, "\\") || strings.Contains(path, "//") {
		return false
	}
	for _, seg := range strings.Split(path[1:], "/") {
		if seg == "." || seg == ".." {
			return false
		}
	}
	lower := strings.ToLower(path)
	for _, enc := range []string{"%2f", "%5c", "%2e", "%25"} {
		if strings.Contains(lower, enc) {
			return false
		}
	}
	return true
}

// compileRoute parses one route of a rule set named ruleSet; an error says what is wrong with it. A route
// whose hosts parse but whose rest does not is returned too, marked invalid: it still restricts its hosts
// (and allows nothing), so that a mistake in it never widens access.
func compileRoute(ruleSet string, r v1alpha1.Route) (*Route, []Target, error) {
	if len(r.Hosts) == 0 {
		return nil, nil, errors.New("a route needs at least one host")
	}
	var hosts []Target
	for i, h := range r.Hosts {
		t, err := ParseTarget(string(h))
		if err != nil {
			return nil, nil, fmt.Errorf("host %d %q: %w", i, h, err)
		}
		if t.Kind != KindExact && t.Kind != KindWildcard {
			return nil, nil, fmt.Errorf("host %d %q: a route host is a name or a \"*.suffix\" wildcard", i, h)
		}
		hosts = append(hosts, t)
	}
	out, err := compileRouteRest(ruleSet, r)
	if err != nil {
		return &Route{Name: ruleSet + "/" + r.Name, invalid: true}, hosts, err
	}
	return out, hosts, nil
}

// compileRouteRest parses a route's name, timeout, retries and matches.
func compileRouteRest(ruleSet string, r v1alpha1.Route) (*Route, error) {
	if r.Name == "" {
		return nil, errors.New("a route needs a name")
	}
	out := &Route{Name: ruleSet + "/" + r.Name, Backoff: DefaultRetryBackoff}
	if r.Timeout != nil {
		if r.Timeout.Duration < time.Millisecond || r.Timeout.Duration > time.Hour {
			return nil, fmt.Errorf("timeout %v: must be from 1ms to 1h", r.Timeout.Duration)
		}
		out.Timeout = r.Timeout.Duration
	}
	if r.Retries != nil {
		if r.Retries.Attempts < 0 || r.Retries.Attempts > maxRetries {
			return nil, fmt.Errorf("retries.attempts %d: must be from 0 to %d", r.Retries.Attempts, maxRetries)
		}
		out.Retries = int(r.Retries.Attempts)
		if r.Retries.Backoff != nil {
			if r.Retries.Backoff.Duration < time.Millisecond || r.Retries.Backoff.Duration > 10*time.Second {
				return nil, fmt.Errorf("retries.backoff %v: must be from 1ms to 10s", r.Retries.Backoff.Duration)
			}
			out.Backoff = r.Retries.Backoff.Duration
		}
	}
	for i, m := range r.Matches {
		cm, err := compileMatch(m)
		if err != nil {
			return nil, fmt.Errorf("match %d: %w", i, err)
		}
		out.matches = append(out.matches, cm)
	}
	return out, nil
}

func compileMatch(m v1alpha1.RouteMatch) (routeMatch, error) {
	out := routeMatch{method: m.Method}
	if m.Path != nil {
		kind := m.Path.Type
		if kind == "" {
			kind = v1alpha1.PathPrefix
		}
		out.path = pathMatcher{kind: kind, value: m.Path.Value}
		switch kind {
		case v1alpha1.PathExact, v1alpha1.PathPrefix:
			if !strings.HasPrefix(m.Path.Value, "/") {
				return routeMatch{}, fmt.Errorf("path %q: an %s path must start with \"/\"", m.Path.Value, kind)
			}
		case v1alpha1.PathRegularExpression:
			re, err := compileRegexp(m.Path.Value)
			if err != nil {
				return routeMatch{}, fmt.Errorf("path: %w", err)
			}
			out.path.re = re
		default:
			return routeMatch{}, fmt.Errorf("path type %q: not Exact, PathPrefix or RegularExpression", kind)
		}
	}
	for i, h := range m.Headers {
		hm := headerMatcher{name: http.CanonicalHeaderKey(h.Name), value: h.Value}
		if h.Name == "" {
			return routeMatch{}, fmt.Errorf("header %d: a header match needs a name", i)
		}
		switch h.Type {
		case "", v1alpha1.HeaderExact:
		case v1alpha1.HeaderRegularExpression:
			re, err := compileRegexp(h.Value)
			if err != nil {
				return routeMatch{}, fmt.Errorf("header %d %q: %w", i, h.Name, err)
			}
			hm.re = re
		default:
			return routeMatch{}, fmt.Errorf("header %d %q: type %q is not Exact or RegularExpression", i, h.Name, h.Type)
		}
		out.headers = append(out.headers, hm)
	}
	return out, nil
}

// compileRegexp compiles an RE2 expression anchored to the whole value: matching takes time linear in the
// value, whatever the expression.
func compileRegexp(expr string) (*regexp.Regexp, error) {
	if len(expr) > maxRegexpLength {
		return nil, fmt.Errorf("regular expression longer than %d bytes", maxRegexpLength)
	}
	re, err := regexp.Compile("^(?:" + expr + ")$")
	if err != nil {
		return nil, fmt.Errorf("regular expression %q: %w", expr, err)
	}
	return re, nil
}
