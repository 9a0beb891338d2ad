package inject

import (
	"errors"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestNamespacePolicySource(t *testing.T) {
	ns := func(a map[string]string) *corev1.Namespace {
		return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop", Annotations: a}}
	}
	for _, tt := range []struct {
		ns   *corev1.Namespace
		def  PolicySource
		want PolicySource
		err  string
	}{
		{nil, PolicyFromService, PolicyFromService, ""},
		{ns(nil), PolicyFromKube, PolicyFromKube, ""},
		{ns(map[string]string{AnnotationPolicySource: "kube"}), PolicyFromService, PolicyFromKube, ""},
		{ns(map[string]string{AnnotationPolicySource: "service"}), PolicyFromKube, PolicyFromService, ""},
		{ns(map[string]string{AnnotationPolicySource: "file"}), PolicyFromService, "", `namespace shop annotation egress.io/policy-source: "file" is not "service" or "kube"`},
	} {
		got, err := NamespacePolicySource(tt.ns, tt.def)
		if got != tt.want || (err == nil) != (tt.err == "") || (err != nil && err.Error() != tt.err) {
			t.Errorf("NamespacePolicySource(%v, %s) = %s, %v; want %s, %q", tt.ns, tt.def, got, err, tt.want, tt.err)
		}
	}
}

func TestAnInvalidPolicySourceAnnotationRejectsThePod(t *testing.T) {
	pod := basePod()
	err := Inject(pod, enabledNamespace("shop", map[string]string{AnnotationPolicySource: "both"}), testConfig())
	var invalid *InvalidAnnotationError
	if !errors.As(err, &invalid) || !strings.Contains(err.Error(), AnnotationPolicySource) {
		t.Fatalf("Inject = %v", err)
	}
	if len(pod.Spec.InitContainers) != 0 {
		t.Error("the pod was changed")
	}
}

func TestPolicySettingsAreValidated(t *testing.T) {
	for _, tt := range []struct {
		change func(*Config)
		want   string
	}{
		{func(c *Config) { c.PolicySource = "file" }, `--policy-source: "file" is not service or kube`},
		{func(c *Config) { c.PolicyTokenExpiration = 5 * time.Minute }, "--policy-token-expiration: 5m0s is under the API server's minimum of 10m"},
		{func(c *Config) { c.Sidecar.PolicyService = "" }, "--policy-service: must not be empty"},
		{func(c *Config) { c.PolicySource, c.Sidecar.PolicyService = PolicyFromKube, "" }, "--policy-service: must not be empty"},
		{func(c *Config) { c.Sidecar.PolicyService = "http://egress-policy" }, `--policy-service: "http://egress-policy": want https://HOST[:PORT]`},
	} {
		cfg := testConfig()
		tt.change(&cfg)
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Validate() = %v, want %q", err, tt.want)
		}
	}
	if err := testConfig().Validate(); err != nil {
		t.Errorf("the test config: %v", err)
	}
}
