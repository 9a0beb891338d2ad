package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// EgressGatewaySpec is the desired state of an EgressGateway: where its pods run and how many.
// +kubebuilder:validation:XValidation:rule="!(has(self.replicas) && has(self.autoscaling))",message="replicas and autoscaling exclude each other: autoscaling sets the bounds of the replicas"
type EgressGatewaySpec struct {
	// Replicas is how many gateway pods run when autoscaling is not set (default 2).
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	// +optional
	Replicas *int32 `json:"replicas,omitempty"`

	// Autoscaling runs a HorizontalPodAutoscaler on the gateway's CPU between its bounds.
	// +optional
	Autoscaling *GatewayAutoscaling `json:"autoscaling,omitempty"`

	// NodeSelector places the gateway's pods on these nodes (for example the nodes whose addresses a third
	// party allows).
	// +optional
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`

	// Tolerations let the gateway's pods run on tainted (dedicated egress) nodes.
	// +kubebuilder:validation:MaxItems=32
	// +optional
	Tolerations []corev1.Toleration `json:"tolerations,omitempty"`

	// TopologySpreadConstraints spread the gateway's pods; their labelSelector, when absent, selects the
	// gateway's own pods. Default: one constraint spreading them across nodes (ScheduleAnyway).
	// +kubebuilder:validation:MaxItems=8
	// +optional
	TopologySpreadConstraints []corev1.TopologySpreadConstraint `json:"topologySpreadConstraints,omitempty"`

	// Resources of the gateway container (default: requests of 100m CPU and 64Mi memory, a limit of 256Mi).
	// +optional
	Resources *corev1.ResourceRequirements `json:"resources,omitempty"`

	// PriorityClassName of the gateway's pods.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	PriorityClassName string `json:"priorityClassName,omitempty"`
}

// GatewayAutoscaling bounds the gateway's replicas and says at which CPU use it scales.
// +kubebuilder:validation:XValidation:rule="self.minReplicas <= self.maxReplicas",message="minReplicas must not exceed maxReplicas"
type GatewayAutoscaling struct {
	// MinReplicas is the fewest pods (at least 1).
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	MinReplicas int32 `json:"minReplicas"`
	// MaxReplicas is the most pods.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	MaxReplicas int32 `json:"maxReplicas"`
	// TargetCPUUtilizationPercentage is the average CPU use, in percent of the request, aimed at (default 70).
	// +kubebuilder:validation:Minimum=10
	// +kubebuilder:validation:Maximum=100
	// +optional
	TargetCPUUtilizationPercentage *int32 `json:"targetCPUUtilizationPercentage,omitempty"`
}

// EgressGatewayStatus is what the controller observed of an EgressGateway.
type EgressGatewayStatus struct {
	// Conditions hold Ready: True when at least one gateway pod is ready, False with the reason otherwise
	// (Pending, NotInGlobalNamespace, ReconcileFailed).
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// ObservedGeneration is the generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Replicas is how many gateway pods the Deployment has; ReadyReplicas how many are ready.
	// +optional
	Replicas int32 `json:"replicas,omitempty"`
	// +optional
	ReadyReplicas int32 `json:"readyReplicas,omitempty"`

	// Service is the name of the gateway's Service, which sidecars tunnel to.
	// +optional
	Service string `json:"service,omitempty"`
}

// EgressGateway is a set of pods, in the global namespace, that the targets of rule sets naming it
// (spec.gateway) leave the cluster through: they decide again, resolve, dial, and are the source address
// the destination sees.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Namespaced,shortName=egw,categories=egress
// +kubebuilder:validation:XValidation:rule="size(self.metadata.name) <= 40",message="an EgressGateway's name is at most 40 characters (its objects are named egress-gateway-NAME)"
// +kubebuilder:printcolumn:name="Ready",type=integer,JSONPath=`.status.readyReplicas`
// +kubebuilder:printcolumn:name="Replicas",type=integer,JSONPath=`.status.replicas`
// +kubebuilder:printcolumn:name="Service",type=string,JSONPath=`.status.service`
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type EgressGateway struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   EgressGatewaySpec   `json:"spec,omitempty"`
	Status EgressGatewayStatus `json:"status,omitempty"`
}

// EgressGatewayList is a list of EgressGateways.
// +kubebuilder:object:root=true
type EgressGatewayList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []EgressGateway `json:"items"`
}

// ConditionReady is the condition type that says whether a gateway has a ready pod.
const ConditionReady = "Ready"
