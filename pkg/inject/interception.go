package inject

import (
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"

	"egress.io/egress/pkg/netrange"
	"egress.io/egress/pkg/redirect"
)

// InitConfig returns what egress-init is told for pod: cfg.Init with the interception annotations of ns
// and pod merged in. Excluded CIDRs and ports add up (cluster, namespace, pod, each entry once); the
// included CIDRs are the pod's, else the namespace's, else the cluster's. The annotations are parsed by
// egress-init's own parsers (package netrange), so what the webhook accepts egress-init accepts; an invalid
// one is an error naming the annotation, the object it is on and the bad entry.
func InitConfig(pod *corev1.Pod, ns *corev1.Namespace, cfg Config) (redirect.Config, error) {
	out := cfg.Init
	out.ExcludeOutboundCIDRs = slices.Clone(out.ExcludeOutboundCIDRs)
	out.ExcludeOutboundPorts = slices.Clone(out.ExcludeOutboundPorts)
	out.IncludeOutboundCIDRs = slices.Clone(out.IncludeOutboundCIDRs)
	type source struct {
		what        string
		annotations map[string]string
	}
	var sources []source
	if ns != nil {
		sources = append(sources, source{"namespace " + ns.Name, ns.Annotations})
	}
	sources = append(sources, source{"pod", pod.Annotations})
	for _, src := range sources {
		if v, ok := src.annotations[AnnotationExcludeOutboundCIDRs]; ok {
			cidrs, err := netrange.ParsePrefixes(v)
			if err != nil {
				return redirect.Config{}, annotationError(src.what, AnnotationExcludeOutboundCIDRs, err)
			}
			out.ExcludeOutboundCIDRs = appendNew(out.ExcludeOutboundCIDRs, cidrs...)
		}
		if v, ok := src.annotations[AnnotationExcludeOutboundPorts]; ok {
			ports, err := netrange.ParsePortRanges(v)
			if err != nil {
				return redirect.Config{}, annotationError(src.what, AnnotationExcludeOutboundPorts, err)
			}
			out.ExcludeOutboundPorts = appendNew(out.ExcludeOutboundPorts, ports...)
		}
		if v, ok := src.annotations[AnnotationIncludeOutboundCIDRs]; ok {
			cidrs, err := netrange.ParsePrefixes(v)
			if err != nil {
				return redirect.Config{}, annotationError(src.what, AnnotationIncludeOutboundCIDRs, err)
			}
			out.IncludeOutboundCIDRs = cidrs
		}
	}
	return out, nil
}

func annotationError(what, annotation string, err error) error {
	return fmt.Errorf("%s annotation %s: %w", what, annotation, err)
}

func appendNew[T comparable](list []T, items ...T) []T {
	for _, item := range items {
		if !slices.Contains(list, item) {
			list = append(list, item)
		}
	}
	return list
}
