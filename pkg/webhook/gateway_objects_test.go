package webhook

import (
	"bytes"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"egress.io/egress/api/v1alpha1"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.yaml from the current output")

func TestGatewayObjectsGolden(t *testing.T) {
	params := GatewayParams{
		Image: "registry.example/egress-sidecar:test", ImagePullPolicy: corev1.PullIfNotPresent,
		GlobalNamespace: "egress-system", UID: 2555, GID: 2555,
		DenyCIDRs: []netip.Prefix{netip.MustParsePrefix("10.96.0.0/12")},
	}
	for _, c := range []struct {
		name string
		spec v1alpha1.EgressGatewaySpec
	}{
		{"gateway-defaults", v1alpha1.EgressGatewaySpec{}},
		{"gateway-dedicated-nodes", v1alpha1.EgressGatewaySpec{
			Autoscaling:  &v1alpha1.GatewayAutoscaling{MinReplicas: 2, MaxReplicas: 6, TargetCPUUtilizationPercentage: ptr.To[int32](60)},
			NodeSelector: map[string]string{"egress.example/node": "true"},
			Tolerations:  []corev1.Toleration{{Key: "egress.example/dedicated", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}},
			TopologySpreadConstraints: []corev1.TopologySpreadConstraint{{
				MaxSkew: 1, TopologyKey: "topology.kubernetes.io/zone", WhenUnsatisfiable: corev1.DoNotSchedule,
			}},
			Resources:         &corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m")}},
			PriorityClassName: "system-cluster-critical",
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			gw := &v1alpha1.EgressGateway{ObjectMeta: metav1.ObjectMeta{Name: "partners", Namespace: "egress-system"}, Spec: c.spec}
			objs := DesiredGatewayObjects(gw, params)
			var buf bytes.Buffer
			for _, obj := range []any{objs.Deployment, objs.Service, objs.PDB, objs.HPA, objs.NetworkPolicy} {
				out, err := yaml.Marshal(obj)
				if err != nil {
					t.Fatal(err)
				}
				if string(out) == "null\n" { // no HorizontalPodAutoscaler without autoscaling
					continue
				}
				buf.WriteString("---\n")
				buf.Write(out)
			}
			path := filepath.Join("testdata", c.name+".golden.yaml")
			if *update {
				if err := os.MkdirAll("testdata", 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./pkg/webhook -update)", err)
			}
			if !bytes.Equal(want, buf.Bytes()) {
				t.Errorf("%s is stale (run go test ./pkg/webhook -update and review the diff); got:\n%s", path, buf.String())
			}
		})
	}
}

func TestGatewayCondition(t *testing.T) {
	set := &v1alpha1.EgressRuleSet{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "shop", Generation: 3},
		Spec: v1alpha1.EgressRuleSetSpec{Gateway: "partners"}}
	now := metav1.Now()
	c := GatewayCondition(set, "egress-system", false, now)
	if c.Status != metav1.ConditionFalse || c.Reason != ReasonGatewayNotFound || c.ObservedGeneration != 3 {
		t.Errorf("missing gateway: %+v", c)
	}
	c = GatewayCondition(set, "egress-system", true, now)
	if c.Status != metav1.ConditionTrue || c.Reason != ReasonGatewayFound {
		t.Errorf("existing gateway: %+v", c)
	}
}
