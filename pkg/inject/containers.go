package inject

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"egress.io/egress/pkg/redirect"
	"egress.io/egress/pkg/sidecar"
)

// initContainer builds egress-init: root with NET_ADMIN and NET_RAW only, to install the iptables rules
// initCfg describes (InitConfig).
func initContainer(cfg Config, initCfg redirect.Config) corev1.Container {
	args := initCfg.Args()
	return corev1.Container{
		Name:                     InitContainerName,
		Image:                    cfg.InitImage,
		ImagePullPolicy:          cfg.ImagePullPolicy,
		Args:                     args,
		Resources:                *cfg.InitResources.DeepCopy(),
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
		SecurityContext: &corev1.SecurityContext{
			RunAsUser:                ptr.To[int64](0),
			RunAsGroup:               ptr.To[int64](0),
			RunAsNonRoot:             ptr.To(false),
			Privileged:               ptr.To(false),
			AllowPrivilegeEscalation: ptr.To(false),
			// iptables takes its lock under /run, so the root filesystem stays writable for this short run.
			ReadOnlyRootFilesystem: ptr.To(false),
			Capabilities: &corev1.Capabilities{
				Add:  []corev1.Capability{"NET_ADMIN", "NET_RAW"},
				Drop: []corev1.Capability{"ALL"},
			},
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
	}
}

// sidecarContainer builds egress-sidecar: non-root, no capabilities, read-only root filesystem, policy from
// src (the policy service with the pod's projected token, or the Kubernetes API as the pod's service
// account), pod labels from a downward API file.
func sidecarContainer(cfg Config, src PolicySource) corev1.Container {
	admin := intstr.FromInt32(int32(cfg.AdminPort))
	probe := func(path string, period, failures int32) *corev1.Probe {
		return &corev1.Probe{
			ProbeHandler: corev1.ProbeHandler{
				HTTPGet: &corev1.HTTPGetAction{Path: path, Port: admin, Scheme: corev1.URISchemeHTTP},
			},
			PeriodSeconds:    period,
			TimeoutSeconds:   1,
			FailureThreshold: failures,
		}
	}
	args := cfg.SidecarSettingsFor(src).Args()
	tokenMount := TokenMountPath
	if src == PolicyFromService {
		tokenMount = sidecar.PolicyCredentialsDir
	}
	return corev1.Container{
		Name:            SidecarContainerName,
		Image:           cfg.SidecarImage,
		ImagePullPolicy: cfg.ImagePullPolicy,
		Args:            args,
		Env: []corev1.EnvVar{
			{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{
				FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.name"},
			}},
			{Name: "POD_NAMESPACE", ValueFrom: &corev1.EnvVarSource{
				FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.namespace"},
			}},
		},
		Ports: []corev1.ContainerPort{
			{Name: AdminPortName, ContainerPort: int32(cfg.AdminPort), Protocol: corev1.ProtocolTCP},
		},
		Resources: *cfg.SidecarResources.DeepCopy(),
		VolumeMounts: []corev1.VolumeMount{
			{Name: PodInfoVolumeName, MountPath: PodInfoMountPath, ReadOnly: true},
			{Name: TokenVolumeName, MountPath: tokenMount, ReadOnly: true},
		},
		// The startup probe holds back the app (and, for a native sidecar, later init containers) until
		// the first policy sync, so nothing is denied only because the sidecar was still starting.
		StartupProbe:             probe("/ready", 1, 120),
		ReadinessProbe:           probe("/ready", 5, 3),
		LivenessProbe:            probe("/live", 10, 3),
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
		SecurityContext: &corev1.SecurityContext{
			RunAsUser:                ptr.To(int64(cfg.Init.SidecarUID)),
			RunAsGroup:               ptr.To(int64(cfg.Init.SidecarGID)),
			RunAsNonRoot:             ptr.To(true),
			Privileged:               ptr.To(false),
			AllowPrivilegeEscalation: ptr.To(false),
			ReadOnlyRootFilesystem:   ptr.To(true),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
	}
}

// podInfoVolume exposes the pod's labels to the sidecar, updated by the kubelet when they change.
func podInfoVolume() corev1.Volume {
	return corev1.Volume{
		Name: PodInfoVolumeName,
		VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{
			Items: []corev1.DownwardAPIVolumeFile{
				{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.labels"}},
			},
		}},
	}
}

// tokenVolume holds what the sidecar authenticates with, for the sidecar alone. With the policy service: a
// token of audience sidecar.PolicyAudience, which the API server accepts for nothing else, one of
// audience sidecar.GatewayAudience for EgressGateways, and the CA of the service's (and the gateways')
// certificates (PolicyCAConfigMap). With the direct watch: the same projection the API server
// mounts as kube-api-access-*.
func tokenVolume(cfg Config, src PolicySource) corev1.Volume {
	if src == PolicyFromService {
		return corev1.Volume{
			Name: TokenVolumeName,
			VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
				Sources: []corev1.VolumeProjection{
					{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{
						Audience: sidecar.PolicyAudience, ExpirationSeconds: ptr.To(int64(cfg.PolicyTokenExpiration.Seconds())),
						Path: "token",
					}},
					// For EgressGateways: a token no other audience accepts, and the same CA.
					{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{
						Audience: sidecar.GatewayAudience, ExpirationSeconds: ptr.To(int64(cfg.PolicyTokenExpiration.Seconds())),
						Path: "gateway-token",
					}},
					{ConfigMap: &corev1.ConfigMapProjection{
						LocalObjectReference: corev1.LocalObjectReference{Name: PolicyCAConfigMap},
						Items:                []corev1.KeyToPath{{Key: PolicyCAKey, Path: "ca.crt"}},
					}},
				},
			}},
		}
	}
	return corev1.Volume{
		Name: TokenVolumeName,
		VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
			Sources: []corev1.VolumeProjection{
				{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{
					Path: "token", ExpirationSeconds: ptr.To(cfg.TokenExpirationSeconds),
				}},
				{ConfigMap: &corev1.ConfigMapProjection{
					LocalObjectReference: corev1.LocalObjectReference{Name: "kube-root-ca.crt"},
					Items:                []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}},
				}},
				{DownwardAPI: &corev1.DownwardAPIProjection{
					Items: []corev1.DownwardAPIVolumeFile{
						{Path: "namespace", FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.namespace"}},
					},
				}},
			},
		}},
	}
}
