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
}

// EgressRuleSet allows the pods it selects to reach its targets; everything else they send out is denied.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Namespaced,shortName=ers,categories=egress
// +kubebuilder:printcolumn:name="Mode",type=string,JSONPath=`.spec.mode`
// +kubebuilder:printcolumn:name="Targets",type=integer,JSONPath=`.status.validTargets`
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
