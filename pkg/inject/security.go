package inject

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Finding is one way an app container could bypass interception.
type Finding struct {
	// Container is the container's name; InitContainer says whether it is an init container.
	Container     string
	InitContainer bool
	// Problem says what it does and why that matters.
	Problem string
}

// String names the container and the problem.
func (f Finding) String() string {
	kind := "container"
	if f.InitContainer {
		kind = "init container"
	}
	return fmt.Sprintf("%s %q %s", kind, f.Container, f.Problem)
}

// SecurityFindings lists the pod's app containers (init containers included; the egress containers
// excluded) that could bypass interception: running as the sidecar's UID or with the sidecar's GID as
// primary group (set on the container, or inherited from the pod's securityContext: egress-init exempts
// both), being privileged, or adding NET_ADMIN, NET_RAW or ALL.
func SecurityFindings(pod *corev1.Pod, cfg Config) []Finding {
	var podUID, podGID *int64
	if pod.Spec.SecurityContext != nil {
		podUID, podGID = pod.Spec.SecurityContext.RunAsUser, pod.Spec.SecurityContext.RunAsGroup
	}
	var out []Finding
	check := func(c corev1.Container, init bool) {
		if c.Name == InitContainerName || c.Name == SidecarContainerName {
			return
		}
		add := func(problem string) {
			out = append(out, Finding{Container: c.Name, InitContainer: init, Problem: problem})
		}
		uid, from := podUID, "pod securityContext.runAsUser"
		if c.SecurityContext != nil && c.SecurityContext.RunAsUser != nil {
			uid, from = c.SecurityContext.RunAsUser, "securityContext.runAsUser"
		}
		if uid != nil && *uid == int64(cfg.Init.SidecarUID) {
			add(fmt.Sprintf("runs as UID %d (%s), the egress sidecar's UID, whose traffic is not intercepted", *uid, from))
		}
		gid, from := podGID, "pod securityContext.runAsGroup"
		if c.SecurityContext != nil && c.SecurityContext.RunAsGroup != nil {
			gid, from = c.SecurityContext.RunAsGroup, "securityContext.runAsGroup"
		}
		if gid != nil && *gid == int64(cfg.Init.SidecarGID) {
			add(fmt.Sprintf("runs with GID %d (%s), the egress sidecar's GID, whose traffic is not intercepted", *gid, from))
		}
		if c.SecurityContext == nil {
			return
		}
		if c.SecurityContext.Privileged != nil && *c.SecurityContext.Privileged {
			add("is privileged and could remove the egress iptables rules")
		}
		if c.SecurityContext.Capabilities != nil {
			for _, capability := range c.SecurityContext.Capabilities.Add {
				name := strings.TrimPrefix(strings.ToUpper(string(capability)), "CAP_")
				if name == "NET_ADMIN" || name == "NET_RAW" || name == "ALL" {
					add(fmt.Sprintf("adds capability %s, which could bypass or remove the egress iptables rules", capability))
				}
			}
		}
	}
	for _, c := range pod.Spec.InitContainers {
		check(c, true)
	}
	for _, c := range pod.Spec.Containers {
		check(c, false)
	}
	return out
}

// UnsafePodError is the error Inject returns for a pod with security findings under RejectUnsafePods.
type UnsafePodError struct {
	Findings []Finding
}

// Error lists every finding.
func (e *UnsafePodError) Error() string {
	parts := make([]string, len(e.Findings))
	for n, f := range e.Findings {
		parts[n] = f.String()
	}
	return "egress injection refused: " + strings.Join(parts, "; ")
}
