package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Mode says what happens to a connection that no target allows.
// +kubebuilder:validation:Enum=Enforce;Audit
type Mode string

const (
	// ModeEnforce denies what no target allows.
	ModeEnforce Mode = "Enforce"
	// ModeAudit lets through what no target allows and reports it as a would-be denial.
	ModeAudit Mode = "Audit"
)

// MaxTargets is the largest number of targets one EgressRuleSet may hold.
const MaxTargets = 1000

// Target is one allowed destination: "host:port", "*.suffix:port", "*:port", "ip:port", "cidr:port",
// "[v6]:port" or "[v6cidr]:port", where port is 1-65535 or a range such as 8000-8100.
// The API server checks the shape; pkg/policy.ParseTarget is the full parser.
// +kubebuilder:validation:MinLength=3
// +kubebuilder:validation:MaxLength=300
// +kubebuilder:validation:XValidation:rule="self.matches('^.*[^:]:[0-9]{1,5}(-[0-9]{1,5})?$')",message="a target needs a port: host:port with a port from 1 to 65535 or a range such as 8000-8100 (a port wildcard is not accepted)"
// +kubebuilder:validation:XValidation:rule="!self.matches('^.*[^:]:[0-9]{1,5}(-[0-9]{1,5})?$') || self.matches('^.*:([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])(-([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?$')",message="a port must be from 1 to 65535"
// +kubebuilder:validation:XValidation:rule="!self.matches('^.*[^:]:[0-9]{1,5}-[0-9]{1,5}$') || int(self.substring(self.lastIndexOf(':') + 1).split('-')[0]) <= int(self.substring(self.lastIndexOf(':') + 1).split('-')[1])",message="a port range must not run backwards (8100-8000)"
// +kubebuilder:validation:XValidation:rule="!self.contains('*') || !self.matches('^.*[^:]:[0-9]{1,5}(-[0-9]{1,5})?$') || self.startsWith('*:') || (self.startsWith('*.') && self.lastIndexOf('*') == 0 && !self.startsWith('*.:'))",message="a wildcard is allowed only as one leading '*.' before a suffix ('*.example.org:443') or as the whole host ('*:80')"
// +kubebuilder:validation:XValidation:rule="!self.contains('/') || !self.matches('^.*[^:]:[0-9]{1,5}(-[0-9]{1,5})?$') || isCIDR(self.startsWith('[') ? self.substring(1, self.lastIndexOf(':') - 1) : self.substring(0, self.lastIndexOf(':')))",message="a CIDR target must be a valid IPv4 or IPv6 prefix ('203.0.113.0/24:5432', '[2001:db8::/32]:443')"
// +kubebuilder:validation:XValidation:rule="!self.startsWith('[') || self.contains(']:')",message="an IPv6 address or prefix must be written in brackets followed by a port ('[2001:db8::1]:443')"
type Target string

// EgressRuleSetSpec is the desired state of an EgressRuleSet.
type EgressRuleSetSpec struct {
	// PodSelector selects the pods this rule set applies to. Absent or empty selects every pod of the
	// namespace (and, in the global namespace, every injected pod of the cluster).
	// +optional
	PodSelector *metav1.LabelSelector `json:"podSelector,omitempty"`

	// Mode is Enforce (the default: what no target allows is denied) or Audit (it is let through and
	// reported). A pod selected by any Audit rule set is in audit mode.
	// +kubebuilder:default=Enforce
	// +optional
	Mode Mode `json:"mode,omitempty"`

	// Targets are the destinations the selected pods may reach; each appears once.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=1000
	// +listType=set
	Targets []Target `json:"targets"`

	// Routes narrow what the targets allow on hosts reached over plain HTTP or http://NAME.egress.local: a
	// request to a host (and port) that any route of the pod's rule sets names is allowed only when it
	// matches one of those routes, and gets that route's timeout and retries. A route allows nothing a target
	// does not. TLS the app speaks itself cannot be checked against routes and is denied on such hosts.
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=64
	// +optional
	Routes []Route `json:"routes,omitempty"`

	// DeniedBackend, when set, receives the plain-HTTP requests of the selected pods that are denied,
	// instead of a 403 (the original Host travels in X-Egress-Original-Host). When several rule sets of a
	// pod set one, the first by namespace and name is used.
	// +optional
	DeniedBackend *Backend `json:"deniedBackend,omitempty"`

	// Gateway names the EgressGateway (in the global namespace) that the targets of this rule set leave
	// through: the sidecar tunnels their connections to it, and it decides again before it dials. When the
	// gateway does not exist, the Gateway condition says so and the targets' traffic is denied (never sent
	// directly). Absent: the sidecar connects itself. See docs/gateways.md for two rule sets that route one
	// destination differently.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=40
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +optional
	Gateway string `json:"gateway,omitempty"`
}

// Route is a named set of HTTP requests to some hosts, with the timeout and retries they get.
type Route struct {
	// Name names the route in metrics, logs and denials; unique in the rule set.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Name string `json:"name"`

	// Hosts are the hosts the route is for, written as targets: "host:port" or "*.suffix:port" (a port
	// range is allowed; addresses, CIDRs and "*" are not).
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	// +listType=set
	Hosts []RouteHost `json:"hosts"`

	// Matches are the requests the route allows: a request matches when it matches any of them (all of
	// the conditions of one). None: every request to the hosts (a route that only sets timeout and retries).
	// +kubebuilder:validation:MaxItems=16
	// +optional
	Matches []RouteMatch `json:"matches,omitempty"`

	// Timeout bounds the whole request, retries included; the app gets 504 when it runs out. None: the
	// sidecar's own timeouts only.
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1ms') && duration(self) <= duration('1h')",message="a timeout must be from 1ms to 1h"
	// +kubebuilder:validation:Type=string
	// +optional
	Timeout *metav1.Duration `json:"timeout,omitempty"`

	// Retries sends a failed request again (see docs/api.md for which requests and failures).
	// +optional
	Retries *RouteRetries `json:"retries,omitempty"`
}

// RouteHost is a host a route is for: "host:port" or "*.suffix:port".
// +kubebuilder:validation:MinLength=3
// +kubebuilder:validation:MaxLength=300
// +kubebuilder:validation:XValidation:rule="self.matches('^.*[^:]:[0-9]{1,5}(-[0-9]{1,5})?$')",message="a route host needs a port: host:port"
// +kubebuilder:validation:XValidation:rule="!self.startsWith('*:') && !self.startsWith('[') && !self.contains('/')",message="a route host is a name or a '*.suffix' wildcard: addresses, CIDRs and '*' carry no HTTP host to route on"
// +kubebuilder:validation:XValidation:rule="!self.contains('*') || (self.startsWith('*.') && self.lastIndexOf('*') == 0 && !self.startsWith('*.:'))",message="a wildcard is allowed only as one leading '*.' before a suffix ('*.example.org:443')"
type RouteHost string

// RouteMatch is one kind of request a route allows; every condition given must hold.
type RouteMatch struct {
	// Path matches the request's path (without the query).
	// +optional
	Path *PathMatch `json:"path,omitempty"`

	// Method matches the request's method.
	// +kubebuilder:validation:Enum=GET;HEAD;POST;PUT;DELETE;OPTIONS;TRACE;PATCH
	// +optional
	Method string `json:"method,omitempty"`

	// Headers match request headers; all must match.
	// +kubebuilder:validation:MaxItems=16
	// +optional
	Headers []HeaderMatch `json:"headers,omitempty"`
}

// PathMatchType is how a path is matched.
// +kubebuilder:validation:Enum=Exact;PathPrefix;RegularExpression
type PathMatchType string

// Path match types, as Gateway API's HTTPRoute has them.
const (
	// PathExact matches the path exactly.
	PathExact PathMatchType = "Exact"
	// PathPrefix matches the path and everything under it, element by element: "/repos" matches
	// "/repos" and "/repos/a", not "/reposx".
	PathPrefix PathMatchType = "PathPrefix"
	// PathRegularExpression matches the whole path against an RE2 expression (linear time in the path).
	PathRegularExpression PathMatchType = "RegularExpression"
)

// PathMatch matches a request's path.
// +kubebuilder:validation:XValidation:rule="self.type == 'RegularExpression' || self.value.startsWith('/')",message="an Exact or PathPrefix path must start with '/'"
type PathMatch struct {
	// Type is Exact, PathPrefix (the default) or RegularExpression.
	// +kubebuilder:default=PathPrefix
	// +optional
	Type PathMatchType `json:"type,omitempty"`
	// Value is the path, the prefix or the expression.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	Value string `json:"value"`
}

// HeaderMatchType is how a header value is matched.
// +kubebuilder:validation:Enum=Exact;RegularExpression
type HeaderMatchType string

// Header match types.
const (
	HeaderExact             HeaderMatchType = "Exact"
	HeaderRegularExpression HeaderMatchType = "RegularExpression"
)

// HeaderMatch matches one request header: any of its values.
type HeaderMatch struct {
	// Type is Exact (the default) or RegularExpression (RE2, the whole value).
	// +kubebuilder:default=Exact
	// +optional
	Type HeaderMatchType `json:"type,omitempty"`
	// Name is the header's name (case-insensitive).
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9!#$%&'*+\-.^_|~]+$`
	Name string `json:"name"`
	// Value is the value or the expression.
	// +kubebuilder:validation:MaxLength=4096
	Value string `json:"value"`
}

// RouteRetries says how often a failed request is sent again.
type RouteRetries struct {
	// Attempts is how many times a request may be sent again after the first (0 to 5).
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=5
	Attempts int32 `json:"attempts"`
	// Backoff is the first wait before a retry (default 25ms); it doubles, with jitter, up to 1s.
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1ms') && duration(self) <= duration('10s')",message="a backoff must be from 1ms to 10s"
	// +kubebuilder:validation:Type=string
	// +optional
	Backoff *metav1.Duration `json:"backoff,omitempty"`
}

// Backend is an in-cluster service that receives denied requests.
type Backend struct {
	// Service is the Service and port.
	Service ServiceRef `json:"service"`
}

// ServiceRef names a Service port.
type ServiceRef struct {
	// Name of the Service.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z]([-a-z0-9]*[a-z0-9])?$`
	Name string `json:"name"`
	// Namespace of the Service; default: the rule set's.
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +optional
	Namespace string `json:"namespace,omitempty"`
	// Port of the Service.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	Port int32 `json:"port"`
}

// EgressRuleSetStatus is what the controller observed of an EgressRuleSet.
type EgressRuleSetStatus struct {
	// Conditions hold Accepted: True when every target is valid, False with the reason per invalid target.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// ObservedGeneration is the generation the conditions describe.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// ValidTargets counts the targets that are enforced (invalid ones are skipped).
	// +optional
	ValidTargets int32 `json:"validTargets,omitempty"`

	// ValidRoutes counts the routes that are enforced (an invalid one is skipped: its hosts stay
	// restricted to the other routes, so it never widens access).
	// +optional
	ValidRoutes int32 `json:"validRoutes,omitempty"`
}

// EgressRuleSet allows the pods it selects to reach its targets; everything else they send out is denied.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Namespaced,shortName=ers,categories=egress
// +kubebuilder:printcolumn:name="Mode",type=string,JSONPath=`.spec.mode`
// +kubebuilder:printcolumn:name="Targets",type=integer,JSONPath=`.status.validTargets`
// +kubebuilder:printcolumn:name="Routes",type=integer,JSONPath=`.status.validRoutes`
// +kubebuilder:printcolumn:name="Gateway",type=string,JSONPath=`.spec.gateway`
// +kubebuilder:printcolumn:name="Accepted",type=string,JSONPath=`.status.conditions[?(@.type=="Accepted")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type EgressRuleSet struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   EgressRuleSetSpec   `json:"spec"`
	Status EgressRuleSetStatus `json:"status,omitempty"`
}

// EgressRuleSetList is a list of EgressRuleSets.
// +kubebuilder:object:root=true
type EgressRuleSetList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []EgressRuleSet `json:"items"`
}

// ConditionAccepted is the condition type that says whether every target of a rule set is valid.
const ConditionAccepted = "Accepted"

// ConditionGateway is the condition type of a rule set with spec.gateway: True when that EgressGateway
// exists in the global namespace, False (GatewayNotFound) when it does not and the targets are denied.
const ConditionGateway = "Gateway"
