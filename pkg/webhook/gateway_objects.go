package webhook

import (
	"net/netip"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"egress.io/egress/api/v1alpha1"
	"egress.io/egress/pkg/gateway"
	"egress.io/egress/pkg/inject"
)

// Labels of every object the gateway controller keeps, and of the gateway's pods.
const (
	LabelGateway       = "egress.io/gateway"
	ManagedByGateways  = "egress-webhook-gateways"
	labelName          = "app.kubernetes.io/name"
	gatewayAppName     = "egress-gateway"
	GatewayAccountName = "egress-gateway" // the service account of every gateway (manifests/rbac/gateway.yaml)
	gatewayCertVolume  = "tls"
	gatewayPortName    = "tunnel"
	gatewayAdminName   = "admin"
)

// GatewayParams are what the objects of every gateway share: the image, where the product runs and the
// address guard's settings (the sidecar's, so a gateway refuses what a sidecar would).
type GatewayParams struct {
	Image           string
	ImagePullPolicy corev1.PullPolicy
	GlobalNamespace string
	UID, GID        int64
	DenyCIDRs       []netip.Prefix
	PublicCIDRs     []netip.Prefix
	NAT64Prefixes   []netip.Prefix
	Version         string
}

// gatewayParamsFrom takes the gateway's parameters from the injection settings.
func gatewayParamsFrom(cfg inject.Config) GatewayParams {
	return GatewayParams{
		Image: cfg.SidecarImage, ImagePullPolicy: cfg.ImagePullPolicy, GlobalNamespace: cfg.Sidecar.GlobalNamespace,
		UID: int64(cfg.Init.SidecarUID), GID: int64(cfg.Init.SidecarGID),
		DenyCIDRs: cfg.Sidecar.DenyCIDRs, PublicCIDRs: cfg.Sidecar.PublicCIDRs, NAT64Prefixes: cfg.Sidecar.NAT64Prefixes,
		Version: cfg.Version,
	}
}

// GatewayObjects are the objects one EgressGateway is made of, as the controller wants them.
type GatewayObjects struct {
	Deployment    *appsv1.Deployment
	Service       *corev1.Service
	PDB           *policyv1.PodDisruptionBudget
	HPA           *autoscalingv2.HorizontalPodAutoscaler // nil without spec.autoscaling
	NetworkPolicy *networkingv1.NetworkPolicy
}

// DesiredGatewayObjects returns what gw is made of. It is pure: the certificate Secret (named
// gateway.ObjectName too) is issued by the controller.
func DesiredGatewayObjects(gw *v1alpha1.EgressGateway, p GatewayParams) GatewayObjects {
	name := gateway.ObjectName(gw.Name)
	meta := func() metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: name, Namespace: gw.Namespace, Labels: gatewayLabels(gw.Name, true)}
	}
	selector := &metav1.LabelSelector{MatchLabels: gatewayLabels(gw.Name, false)}

	settings := gateway.DefaultSettings()
	settings.Name, settings.GlobalNamespace = gw.Name, p.GlobalNamespace
	settings.DenyCIDRs, settings.PublicCIDRs = p.DenyCIDRs, p.PublicCIDRs
	if p.NAT64Prefixes != nil {
		settings.NAT64Prefixes = p.NAT64Prefixes
	}
	admin := intstr.FromString(gatewayAdminName)
	probe := func(path string, period, failures int32) *corev1.Probe {
		return &corev1.Probe{
			ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: admin}},
			PeriodSeconds: period, TimeoutSeconds: 1, FailureThreshold: failures,
		}
	}
	resources := corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
		Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")},
	}
	if gw.Spec.Resources != nil {
		resources = *gw.Spec.Resources.DeepCopy()
	}
	spread := []corev1.TopologySpreadConstraint{{
		MaxSkew: 1, TopologyKey: corev1.LabelHostname, WhenUnsatisfiable: corev1.ScheduleAnyway, LabelSelector: selector.DeepCopy(),
	}}
	if len(gw.Spec.TopologySpreadConstraints) > 0 {
		spread = nil
		for _, c := range gw.Spec.TopologySpreadConstraints {
			c = *c.DeepCopy()
			if c.LabelSelector == nil {
				c.LabelSelector = selector.DeepCopy()
			}
			spread = append(spread, c)
		}
	}
	var replicas *int32
	if gw.Spec.Autoscaling == nil {
		replicas = ptr.To(ptr.Deref(gw.Spec.Replicas, 2))
	}
	podLabels := gatewayLabels(gw.Name, true)
	deployment := &appsv1.Deployment{
		ObjectMeta: meta(),
		Spec: appsv1.DeploymentSpec{
			Replicas: replicas,
			Selector: selector,
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType, RollingUpdate: &appsv1.RollingUpdateDeployment{
				MaxUnavailable: ptr.To(intstr.FromInt32(0)), MaxSurge: ptr.To(intstr.FromInt32(1)),
			}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: podLabels, Annotations: map[string]string{
					"prometheus.io/scrape": "true", "prometheus.io/port": strconv.Itoa(gateway.DefaultAdminPort), "prometheus.io/path": "/metrics",
				}},
				Spec: corev1.PodSpec{
					ServiceAccountName:        GatewayAccountName,
					NodeSelector:              gw.Spec.NodeSelector,
					Tolerations:               gw.Spec.Tolerations,
					TopologySpreadConstraints: spread,
					PriorityClassName:         gw.Spec.PriorityClassName,
					// Tunnels end when their connections do; a replica going away cuts its streams, so give
					// them a while (sidecars open new tunnels through the other replicas meanwhile).
					TerminationGracePeriodSeconds: ptr.To[int64](30),
					SecurityContext: &corev1.PodSecurityContext{
						RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To(p.UID), RunAsGroup: ptr.To(p.GID),
						SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
					},
					Containers: []corev1.Container{{
						Name:            "gateway",
						Image:           p.Image,
						ImagePullPolicy: p.ImagePullPolicy,
						Args:            append([]string{"gateway"}, settings.Args()...),
						Ports: []corev1.ContainerPort{
							{Name: gatewayPortName, ContainerPort: gateway.DefaultPort, Protocol: corev1.ProtocolTCP},
							{Name: gatewayAdminName, ContainerPort: gateway.DefaultAdminPort, Protocol: corev1.ProtocolTCP},
						},
						Resources:      resources,
						ReadinessProbe: probe("/ready", 5, 3),
						LivenessProbe:  probe("/live", 10, 3),
						VolumeMounts:   []corev1.VolumeMount{{Name: gatewayCertVolume, MountPath: gateway.CertDir, ReadOnly: true}},
						SecurityContext: &corev1.SecurityContext{
							AllowPrivilegeEscalation: ptr.To(false), Privileged: ptr.To(false), ReadOnlyRootFilesystem: ptr.To(true),
							Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
						},
						TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
					}},
					Volumes: []corev1.Volume{{Name: gatewayCertVolume, VolumeSource: corev1.VolumeSource{
						Secret: &corev1.SecretVolumeSource{SecretName: name},
					}}},
				},
			},
		},
	}
	service := &corev1.Service{
		ObjectMeta: meta(),
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeClusterIP,
			Selector: gatewayLabels(gw.Name, false),
			Ports: []corev1.ServicePort{{
				Name: gatewayPortName, Port: gateway.DefaultPort, TargetPort: intstr.FromString(gatewayPortName), Protocol: corev1.ProtocolTCP,
			}},
		},
	}
	pdb := &policyv1.PodDisruptionBudget{
		ObjectMeta: meta(),
		Spec: policyv1.PodDisruptionBudgetSpec{
			MaxUnavailable: ptr.To(intstr.FromInt32(1)),
			Selector:       selector.DeepCopy(),
		},
	}
	var hpa *autoscalingv2.HorizontalPodAutoscaler
	if a := gw.Spec.Autoscaling; a != nil {
		hpa = &autoscalingv2.HorizontalPodAutoscaler{
			ObjectMeta: meta(),
			Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
				ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: name},
				MinReplicas:    ptr.To(a.MinReplicas),
				MaxReplicas:    a.MaxReplicas,
				Metrics: []autoscalingv2.MetricSpec{{
					Type: autoscalingv2.ResourceMetricSourceType,
					Resource: &autoscalingv2.ResourceMetricSource{Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{
						Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To(ptr.Deref(a.TargetCPUUtilizationPercentage, 70)),
					}},
				}},
			},
		}
	}
	tcp := corev1.ProtocolTCP
	netpol := &networkingv1.NetworkPolicy{
		ObjectMeta: meta(),
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: *selector.DeepCopy(),
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
			Ingress: []networkingv1.NetworkPolicyIngressRule{
				{
					// The tunnel port: injected pods of any namespace only. The gateway authenticates every
					// tunnel anyway (the pod's token) and decides by the pod's own rule sets.
					From: []networkingv1.NetworkPolicyPeer{{
						NamespaceSelector: &metav1.LabelSelector{},
						PodSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{inject.LabelInjected: "true"}},
					}},
					Ports: []networkingv1.NetworkPolicyPort{{Protocol: &tcp, Port: ptr.To(intstr.FromInt32(gateway.DefaultPort))}},
				},
				{
					// The admin port (metrics, probes) from anywhere.
					Ports: []networkingv1.NetworkPolicyPort{{Protocol: &tcp, Port: ptr.To(intstr.FromInt32(gateway.DefaultAdminPort))}},
				},
			},
		},
	}
	return GatewayObjects{Deployment: deployment, Service: service, PDB: pdb, HPA: hpa, NetworkPolicy: netpol}
}

// gatewayLabels are the labels of a gateway's objects (withManaged) or its pods' selector.
func gatewayLabels(name string, withManaged bool) map[string]string {
	l := map[string]string{labelName: gatewayAppName, LabelGateway: name}
	if withManaged {
		l[LabelManagedBy] = ManagedByGateways
	}
	return l
}

// gatewayServiceNames are the DNS names of a gateway's certificate.
func gatewayServiceNames(gw, namespace string) []string {
	name := gateway.ObjectName(gw)
	svc := name + "." + namespace + ".svc"
	return []string{gateway.ServiceHost(gw, namespace, "cluster.local"), svc, name + "." + namespace, name}
}

// GatewayObjectsSelector selects the objects the gateway controller keeps (the manager's cache sees no
// others of their kinds).
func GatewayObjectsSelector() labels.Selector {
	return labels.SelectorFromSet(labels.Set{LabelManagedBy: ManagedByGateways})
}
