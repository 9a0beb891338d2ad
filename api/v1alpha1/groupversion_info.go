// Package v1alpha1 holds the EgressRuleSet API (group egress.io, version v1alpha1).
// +kubebuilder:object:generate=true
// +groupName=egress.io
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the group and version of every type in this package.
	GroupVersion = schema.GroupVersion{Group: "egress.io", Version: "v1alpha1"}

	// SchemeBuilder registers this package's types with a runtime.Scheme (apimachinery's builder: an API
	// package depends on nothing heavier).
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds this package's types to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

// addKnownTypes registers EgressRuleSet, EgressGateway and their lists under GroupVersion.
func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, &EgressRuleSet{}, &EgressRuleSetList{}, &EgressGateway{}, &EgressGatewayList{})
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
