package webhook

import (
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"egress.io/egress/pkg/inject"
	"egress.io/egress/pkg/netrange"
	"egress.io/egress/pkg/redirect"
	"egress.io/egress/pkg/settings"
	"egress.io/egress/pkg/sidecar"
)

// changedInjectionFlags sets every injection flag of the webhook to something other than its default.
var changedInjectionFlags = map[string]string{
	inject.FlagInitImage:              "registry.example/egress-init:v9",
	inject.FlagSidecarImage:           "registry.example/egress-sidecar:v9",
	inject.FlagImagePullPolicy:        "Always",
	redirect.FlagCapturePort:          "16001",
	redirect.FlagDNSPort:              "16053",
	redirect.FlagSidecarUID:           "3001",
	redirect.FlagSidecarGID:           "3002",
	redirect.FlagExcludeOutboundCIDRs: "10.96.0.0/12, fd00:10::/64",
	redirect.FlagExcludeOutboundPorts: "25,8000-8100",
	redirect.FlagIncludeOutboundCIDRs: "0.0.0.0/0,::/0",
	redirect.FlagIPv6:                 "on",
	redirect.FlagDropUDP:              "false",
	sidecar.FlagGlobalNamespace:       "egress-global",
	sidecar.FlagPublicCIDRs:           "198.18.0.0/24",
	sidecar.FlagNAT64Prefixes:         "64:ff9b:1::/96",
	inject.FlagAdminPort:              "16020",
	inject.FlagExcludedNamespaces:     "kube-system,infra",
	inject.FlagUnsafePods:             "warn",
	inject.FlagSidecarCPURequest:      "50m",
	inject.FlagSidecarMemoryRequest:   "48Mi",
	inject.FlagSidecarMemoryLimit:     "300Mi",
	sidecar.FlagPolicyService:         "https://policy.example:8443",
	inject.FlagPolicySource:           "kube",
	inject.FlagPolicyTokenExpiration:  "20m",
}

func prefixes(s string) []netip.Prefix {
	p, err := netrange.ParsePrefixes(s)
	if err != nil {
		panic(err)
	}
	return p
}

// TestInjectedArgsParseBackToTheSettings injects a pod with every injection setting changed from its default
// (the webhook's flags, and the namespace's and the pod's interception annotations), parses the injected
// containers' arguments back with egress-init's and the sidecar's own tables, and gets exactly the settings
// that went in; the rest of what the flags set is checked on the pod spec.
func TestInjectedArgsParseBackToTheSettings(t *testing.T) {
	cfg := DefaultConfig()
	var args []string
	defaults := DefaultConfig().Inject
	for _, f := range defaults.Flags() {
		value, ok := changedInjectionFlags[f.Name]
		if !ok {
			t.Errorf("--%s is not changed by this test; add it to changedInjectionFlags", f.Name)
			continue
		}
		args = append(args, "--"+f.Name+"="+value)
	}
	if err := settings.Parse(cfg.Flags(), args, settings.NoEnv); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if reflect.DeepEqual(cfg.Inject, defaults) {
		t.Fatal("the flags changed nothing")
	}

	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop", Annotations: map[string]string{
		inject.AnnotationInject:               inject.ValueEnabled,
		inject.AnnotationExcludeOutboundCIDRs: "198.51.100.7",
		inject.AnnotationExcludeOutboundPorts: "6379",
		inject.AnnotationIncludeOutboundCIDRs: "203.0.113.0/24",
	}}}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: "shop", Annotations: map[string]string{
			inject.AnnotationExcludeOutboundCIDRs: "203.0.113.0/24, 2001:db8::/32",
			inject.AnnotationExcludeOutboundPorts: "5432,8000-8100",
			inject.AnnotationIncludeOutboundCIDRs: "192.0.2.0/24",
		}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "app", Image: "registry.example/app:1",
			// Unsafe, but --unsafe-pods=warn injects it anyway.
			SecurityContext: &corev1.SecurityContext{RunAsUser: ptr.To[int64](3001)},
		}}},
	}
	if ok, reason := inject.Injectable(pod, ns, cfg.Inject); !ok {
		t.Fatalf("not injectable: %s", reason)
	}
	if err := inject.Inject(pod, ns, cfg.Inject); err != nil {
		t.Fatal(err)
	}

	wantInit := redirect.Config{
		CapturePort: 16001, DNSPort: 16053, SidecarUID: 3001, SidecarGID: 3002,
		ExcludeOutboundCIDRs: prefixes("10.96.0.0/12,fd00:10::/64,198.51.100.7/32,203.0.113.0/24,2001:db8::/32"),
		ExcludeOutboundPorts: []netrange.PortRange{netrange.Port(25), {First: 8000, Last: 8100}, netrange.Port(6379), netrange.Port(5432)},
		IncludeOutboundCIDRs: prefixes("192.0.2.0/24"),
		IPv6:                 redirect.IPv6On,
		DropUDP:              false,
	}
	initContainer := containerNamed(t, pod.Spec.InitContainers, inject.InitContainerName)
	gotInit := redirect.DefaultConfig()
	if err := settings.Parse(gotInit.Flags(), initContainer.Args, settings.NoEnv); err != nil {
		t.Fatalf("egress-init args %q: %v", initContainer.Args, err)
	}
	if err := gotInit.Validate(); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(gotInit, wantInit) {
		t.Errorf("egress-init args %q parse to\n %+v\nwant\n %+v", initContainer.Args, gotInit, wantInit)
	}

	wantSidecar := sidecar.DefaultSettings()
	wantSidecar.CapturePort, wantSidecar.DNSPort = 16001, 16053
	wantSidecar.AdminAddr = ":16020"
	wantSidecar.Kube = true
	wantSidecar.PodName, wantSidecar.Pod.Namespace = "app", "shop"
	wantSidecar.GlobalNamespace = "egress-global"
	wantSidecar.PodLabelsFile = inject.PodLabelsFile
	wantSidecar.DenyCIDRs = prefixes("10.96.0.0/12,fd00:10::/64") // the cluster's, not the pod's exclusions
	wantSidecar.PublicCIDRs = prefixes("198.18.0.0/24")
	wantSidecar.NAT64Prefixes = prefixes("64:ff9b:1::/96")
	sidecarContainer := containerNamed(t, pod.Spec.InitContainers, inject.SidecarContainerName)
	gotSidecar := sidecar.DefaultSettings()
	downwardAPI := settings.EnvMap(map[string]string{"POD_NAME": "app", "POD_NAMESPACE": "shop"})
	for _, e := range sidecarContainer.Env {
		if e.ValueFrom == nil || e.ValueFrom.FieldRef == nil || !slices.Contains([]string{"metadata.name", "metadata.namespace"}, e.ValueFrom.FieldRef.FieldPath) {
			t.Errorf("sidecar env %s is not the pod's name or namespace from the downward API", e.Name)
		}
	}
	if err := settings.Parse(gotSidecar.Flags(), sidecarContainer.Args, downwardAPI); err != nil {
		t.Fatalf("sidecar args %q: %v", sidecarContainer.Args, err)
	}
	if err := gotSidecar.Validate(); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(gotSidecar, wantSidecar) {
		t.Errorf("sidecar args %q parse to\n %+v\nwant\n %+v", sidecarContainer.Args, gotSidecar, wantSidecar)
	}

	// The flags that do not become arguments.
	for _, c := range []corev1.Container{initContainer, sidecarContainer} {
		if c.ImagePullPolicy != corev1.PullAlways {
			t.Errorf("%s: pull policy %s", c.Name, c.ImagePullPolicy)
		}
	}
	if initContainer.Image != "registry.example/egress-init:v9" || sidecarContainer.Image != "registry.example/egress-sidecar:v9" {
		t.Errorf("images %s, %s", initContainer.Image, sidecarContainer.Image)
	}
	sc := sidecarContainer.SecurityContext
	if *sc.RunAsUser != 3001 || *sc.RunAsGroup != 3002 {
		t.Errorf("sidecar runs as %d:%d", *sc.RunAsUser, *sc.RunAsGroup)
	}
	res := sidecarContainer.Resources
	for _, q := range []struct {
		got  resource.Quantity
		want string
	}{{res.Requests[corev1.ResourceCPU], "50m"}, {res.Requests[corev1.ResourceMemory], "48Mi"}, {res.Limits[corev1.ResourceMemory], "300Mi"}} {
		if q.got.String() != q.want {
			t.Errorf("sidecar resources %v, want %s", res, q.want)
		}
	}
	if sidecarContainer.Ports[0].ContainerPort != 16020 || sidecarContainer.ReadinessProbe.HTTPGet.Port.IntValue() != 16020 ||
		pod.Annotations[inject.AnnotationPrometheusPort] != "16020" {
		t.Errorf("admin port: container %v, probe %v, annotation %s", sidecarContainer.Ports, sidecarContainer.ReadinessProbe.HTTPGet.Port, pod.Annotations[inject.AnnotationPrometheusPort])
	}
	infra := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "infra", Annotations: map[string]string{inject.AnnotationInject: inject.ValueEnabled}}}
	if ok, reason := inject.Injectable(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "infra"}}, infra, cfg.Inject); ok || reason != inject.ReasonExcludedNamespace {
		t.Errorf("a pod in --excluded-namespaces infra: %v, %s", ok, reason)
	}

	// A namespace that chooses the policy service (the flags chose the direct watch): --policy-service's
	// URL, the token of --policy-token-expiration for the policy audience, the CA next to it.
	ns.Annotations[inject.AnnotationPolicySource] = string(inject.PolicyFromService)
	pod = &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: "shop"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example/app:1"}}}}
	if err := inject.Inject(pod, ns, cfg.Inject); err != nil {
		t.Fatal(err)
	}
	sidecarContainer = containerNamed(t, pod.Spec.InitContainers, inject.SidecarContainerName)
	gotSidecar = sidecar.DefaultSettings()
	if err := settings.Parse(gotSidecar.Flags(), sidecarContainer.Args, downwardAPI); err != nil {
		t.Fatalf("sidecar args %q: %v", sidecarContainer.Args, err)
	}
	wantSidecar.Kube, wantSidecar.PolicyService = false, "https://policy.example:8443"
	if !reflect.DeepEqual(gotSidecar, wantSidecar) {
		t.Errorf("policy service: sidecar args %q parse to\n %+v\nwant\n %+v", sidecarContainer.Args, gotSidecar, wantSidecar)
	}
	var token *corev1.ServiceAccountTokenProjection
	for _, v := range pod.Spec.Volumes {
		if v.Name == inject.TokenVolumeName {
			token = v.Projected.Sources[0].ServiceAccountToken
		}
	}
	if token == nil || token.Audience != sidecar.PolicyAudience || *token.ExpirationSeconds != 1200 {
		t.Errorf("policy token projection %+v", token)
	}
}

func containerNamed(t *testing.T, containers []corev1.Container, name string) corev1.Container {
	t.Helper()
	for _, c := range containers {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no container %s", name)
	return corev1.Container{}
}

func TestValidateNamesTheFlag(t *testing.T) {
	cfg := DefaultConfig()
	cfg.WebhookPort = 0
	cfg.ServiceNamespace = "Not_A_Label"
	err := cfg.Validate()
	for _, want := range []string{"--init-image: must not be empty", "--webhook-port: port 0", `--service-namespace: "Not_A_Label"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v; want it to contain %q", err, want)
		}
	}
}
