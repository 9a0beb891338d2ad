package inject

import (
	"fmt"
	"slices"
	"strconv"

	corev1 "k8s.io/api/core/v1"
)

// InvalidAnnotationError is returned by Inject when an egress annotation on the pod or its namespace is not
// valid; the admission handler denies the pod with its message.
type InvalidAnnotationError struct {
	Err error
}

// Error names the annotation and what is wrong with it.
func (e *InvalidAnnotationError) Error() string { return "invalid egress annotation: " + e.Err.Error() }

// Unwrap returns the cause.
func (e *InvalidAnnotationError) Unwrap() error { return e.Err }

// Inject adds the egress init container, the sidecar (a native sidecar unless the pod says
// egress.io/native-sidecar: "false"), their volumes and the injected and Prometheus annotations to pod. It
// does not decide whether the pod should be injected (see Injectable) and changes nothing when the pod is
// already injected. On error (an *InvalidAnnotationError, an *UnsafePodError under RejectUnsafePods, or a
// name clash) pod is left untouched.
func Inject(pod *corev1.Pod, ns *corev1.Namespace, cfg Config) error {
	if IsInjected(pod) {
		return nil
	}
	initCfg, err := InitConfig(pod, ns, cfg)
	if err != nil {
		return &InvalidAnnotationError{Err: err}
	}
	native, err := nativeSidecar(pod)
	if err != nil {
		return &InvalidAnnotationError{Err: err}
	}
	src, err := NamespacePolicySource(ns, cfg.PolicySource)
	if err != nil {
		return &InvalidAnnotationError{Err: err}
	}
	if cfg.UnsafePods != WarnUnsafePods {
		if findings := SecurityFindings(pod, cfg); len(findings) > 0 {
			return &UnsafePodError{Findings: findings}
		}
	}
	for _, v := range pod.Spec.Volumes {
		if v.Name == PodInfoVolumeName || v.Name == TokenVolumeName {
			return fmt.Errorf("pod already has a volume named %q, which the egress sidecar needs", v.Name)
		}
	}

	initContainer := initContainer(cfg, initCfg)
	sidecar := sidecarContainer(cfg, src)
	if native {
		always := corev1.ContainerRestartPolicyAlways
		sidecar.RestartPolicy = &always
		pod.Spec.InitContainers = slices.Insert(pod.Spec.InitContainers, 0, initContainer, sidecar)
	} else {
		pod.Spec.InitContainers = slices.Insert(pod.Spec.InitContainers, 0, initContainer)
		pod.Spec.Containers = slices.Insert(pod.Spec.Containers, 0, sidecar)
	}
	pod.Spec.Volumes = append(pod.Spec.Volumes, podInfoVolume(), tokenVolume(cfg, src))

	if pod.Annotations == nil {
		pod.Annotations = map[string]string{}
	}
	pod.Annotations[AnnotationInjected] = cfg.Version
	if pod.Labels == nil {
		pod.Labels = map[string]string{}
	}
	pod.Labels[LabelInjected] = "true"
	// A pod that already exposes its own metrics keeps its scrape annotations: Prometheus' annotation-based
	// discovery has room for one port per pod.
	if _, ok := pod.Annotations[AnnotationPrometheusScrape]; !ok {
		pod.Annotations[AnnotationPrometheusScrape] = "true"
		pod.Annotations[AnnotationPrometheusPort] = strconv.Itoa(int(cfg.AdminPort))
		pod.Annotations[AnnotationPrometheusPath] = "/metrics"
	}
	return nil
}

// nativeSidecar reads AnnotationNativeSidecar: absent or "true" means a native sidecar.
func nativeSidecar(pod *corev1.Pod) (bool, error) {
	v, ok := pod.Annotations[AnnotationNativeSidecar]
	if !ok {
		return true, nil
	}
	native, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("pod annotation %s: %q is not \"true\" or \"false\"", AnnotationNativeSidecar, v)
	}
	return native, nil
}
