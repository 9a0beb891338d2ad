package inject

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"egress.io/egress/pkg/redirect"
)

// Interception is what egress-init leaves alone or limits itself to, after merging the cluster defaults
// with the namespace's and the pod's annotations.
type Interception struct {
	// ExcludeCIDRs and ExcludePorts are the cluster defaults plus the namespace's and the pod's additions.
	ExcludeCIDRs []netip.Prefix
	ExcludePorts []redirect.PortRange
	// IncludeCIDRs is the pod's annotation, else the namespace's, else the cluster default (nil: everything).
	IncludeCIDRs []netip.Prefix
}

// InterceptionFor merges cfg with the interception annotations of ns and pod, parsed by egress-init's own
// parsers (redirect.ParseCIDRList, redirect.ParsePortList), so what the webhook accepts egress-init accepts.
// An invalid annotation is an error naming the annotation, the object it is on and the bad entry.
func InterceptionFor(pod *corev1.Pod, ns *corev1.Namespace, cfg Config) (Interception, error) {
	out := Interception{
		ExcludeCIDRs: slices.Clone(cfg.ExcludeOutboundCIDRs),
		ExcludePorts: slices.Clone(cfg.ExcludeOutboundPorts),
		IncludeCIDRs: slices.Clone(cfg.IncludeOutboundCIDRs),
	}
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
			cidrs, err := redirect.ParseCIDRList(v)
			if err != nil {
				return Interception{}, annotationError(src.what, AnnotationExcludeOutboundCIDRs, err)
			}
			out.ExcludeCIDRs = appendNew(out.ExcludeCIDRs, cidrs...)
		}
		if v, ok := src.annotations[AnnotationExcludeOutboundPorts]; ok {
			ports, err := redirect.ParsePortList(v)
			if err != nil {
				return Interception{}, annotationError(src.what, AnnotationExcludeOutboundPorts, err)
			}
			out.ExcludePorts = appendNew(out.ExcludePorts, ports...)
		}
		if v, ok := src.annotations[AnnotationIncludeOutboundCIDRs]; ok {
			cidrs, err := redirect.ParseCIDRList(v)
			if err != nil {
				return Interception{}, annotationError(src.what, AnnotationIncludeOutboundCIDRs, err)
			}
			out.IncludeCIDRs = cidrs
		}
	}
	return out, nil
}

// Args returns the egress-init flags that carry the interception settings; empty lists are left out.
func (i Interception) Args() []string {
	var args []string
	if len(i.ExcludeCIDRs) > 0 {
		args = append(args, "--exclude-outbound-cidrs="+joinPrefixes(i.ExcludeCIDRs))
	}
	if len(i.ExcludePorts) > 0 {
		ports := make([]string, len(i.ExcludePorts))
		for n, p := range i.ExcludePorts {
			ports[n] = p.String()
		}
		args = append(args, "--exclude-outbound-ports="+strings.Join(ports, ","))
	}
	if len(i.IncludeCIDRs) > 0 {
		args = append(args, "--include-outbound-cidrs="+joinPrefixes(i.IncludeCIDRs))
	}
	return args
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

func joinPrefixes(ps []netip.Prefix) string {
	s := make([]string, len(ps))
	for n, p := range ps {
		s[n] = p.String()
	}
	return strings.Join(s, ",")
}
