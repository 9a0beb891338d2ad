package apiserver

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

var updateGolden = flag.Bool("update", false, "rewrite testdata/*.golden.yaml from what the API server holds")

// gatewayCertDir is a --cert-dir with the shared serving certificate and a CA with its key, which the
// gateway controller issues the gateways' certificates from (the rotator's Secret holds both in a cluster).
func gatewayCertDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{"tls.crt", "tls.key"} {
		data, err := os.ReadFile(filepath.Join(shared.certDir, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "gateway test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, filepath.Join(dir, "ca.crt"), "CERTIFICATE", der)
	writePEM(t, filepath.Join(dir, "ca.key"), "EC PRIVATE KEY", keyDER)
	return dir
}

// TestGatewayReconciled checks the gateway controller against the real API server, as the webhook's
// service account: a rule set naming a missing gateway says so; a gateway gets its Deployment, Service,
// PodDisruptionBudget, NetworkPolicy and certificate Secret (goldens of what the API server holds), all
// owned by it; status follows the Deployment; drift is repaired; autoscaling adds and removes the
// HorizontalPodAutoscaler; CEL refuses bad specs; a gateway outside the global namespace deploys nothing.
// Deleting the gateway leaves the deletion of its objects to the garbage collector, which this control
// plane does not run: the test checks the owner references it follows (the real-node test sees it act).
func TestGatewayReconciled(t *testing.T) {
	setupShared(t)
	cfg := webhookConfig(t)
	cfg.CertDir = gatewayCertDir(t)
	startWebhook(t, cfg)
	ctx := context.Background()
	if err := cp.EnsureNamespace(ctx, "gwtest", nil, nil); err != nil {
		t.Fatal(err)
	}
	const ruleSet = `apiVersion: egress.io/v1alpha1
kind: EgressRuleSet
metadata: {name: via-partners, namespace: gwtest}
spec:
  gateway: partners
  targets: ["api.partner.test:443"]
`
	kubectl(t, cp, ruleSet, "apply", "-f", "-")
	t.Cleanup(func() {
		kubectlErr(t, cp, "", "delete", "egressruleset", "-n", "gwtest", "via-partners", "--ignore-not-found")
	})
	gatewayCondition := func(want string) {
		t.Helper()
		eventually(t, 15*time.Second, "rule set Gateway condition "+want, func() (bool, string) {
			out, err := kubectlErr(t, cp, "", "get", "egressruleset", "-n", "gwtest", "via-partners",
				"-o", `jsonpath={.status.conditions[?(@.type=="Gateway")].reason}`)
			return err == nil && out == want, out
		})
	}
	gatewayCondition("GatewayNotFound")

	// CEL and schema refusals.
	for _, c := range []struct{ name, spec, want string }{
		{"bad-both", "replicas: 2\n  autoscaling: {minReplicas: 1, maxReplicas: 3}", "replicas and autoscaling exclude each other"},
		{"bad-bounds", "autoscaling: {minReplicas: 4, maxReplicas: 3}", "minReplicas must not exceed maxReplicas"},
		{"a-name-that-is-far-too-long-for-a-gateway-object", "replicas: 1", "at most 40 characters"},
	} {
		doc := fmt.Sprintf("apiVersion: egress.io/v1alpha1\nkind: EgressGateway\nmetadata: {name: %s, namespace: egress-system}\nspec:\n  %s\n", c.name, c.spec)
		if out, err := kubectlErr(t, cp, doc, "apply", "-f", "-"); err == nil || !strings.Contains(out, c.want) {
			t.Errorf("%s: %v: %s, want a refusal saying %q", c.name, err, out, c.want)
		}
	}

	const gw = `apiVersion: egress.io/v1alpha1
kind: EgressGateway
metadata: {name: partners, namespace: egress-system}
spec:
  replicas: 3
  nodeSelector: {egress.example/node: "true"}
  tolerations: [{key: egress.example/dedicated, operator: Exists, effect: NoSchedule}]
`
	kubectl(t, cp, gw, "apply", "-f", "-")
	t.Cleanup(func() {
		kubectlErr(t, cp, "", "delete", "egressgateway", "-n", "egress-system", "partners", "--ignore-not-found")
	})
	kinds := []string{"deployment", "service", "poddisruptionbudget", "networkpolicy", "secret"}
	eventually(t, 20*time.Second, "the gateway's objects", func() (bool, string) {
		for _, kind := range kinds {
			if _, err := kubectlErr(t, cp, "", "get", kind, "-n", "egress-system", "egress-gateway-partners"); err != nil {
				return false, kind + " missing"
			}
		}
		return true, ""
	})
	gatewayCondition("GatewayFound")
	var golden bytes.Buffer
	for _, kind := range kinds {
		out := kubectl(t, cp, "", "get", kind, "-n", "egress-system", "egress-gateway-partners", "-o", "json")
		u := &unstructured.Unstructured{}
		if err := json.Unmarshal([]byte(out), &u.Object); err != nil {
			t.Fatal(err)
		}
		refs := u.GetOwnerReferences()
		if len(refs) != 1 || refs[0].Kind != "EgressGateway" || refs[0].Name != "partners" || refs[0].Controller == nil || !*refs[0].Controller {
			t.Errorf("%s: owner references %+v, want the gateway as controller", kind, refs)
		}
		if kind == "secret" {
			data, _, _ := unstructured.NestedStringMap(u.Object, "data")
			if data["tls.crt"] == "" || data["tls.key"] == "" || data["ca.crt"] == "" {
				t.Errorf("secret lacks the certificate: keys %v", len(data))
			}
			continue // its content is random
		}
		golden.WriteString("---\n")
		golden.Write(normalised(t, u))
	}
	compareGolden(t, "testdata/gateway-objects.golden.yaml", golden.Bytes())
	if _, err := kubectlErr(t, cp, "", "get", "hpa", "-n", "egress-system", "egress-gateway-partners"); err == nil {
		t.Error("a HorizontalPodAutoscaler without spec.autoscaling")
	}

	// Status follows the Deployment (no kubelet here: its status is written by hand, as the deployment
	// controller would).
	status := func(path string) string {
		out, _ := kubectlErr(t, cp, "", "get", "egressgateway", "-n", "egress-system", "partners", "-o", "jsonpath="+path)
		return out
	}
	eventually(t, 10*time.Second, "status Pending", func() (bool, string) {
		s := status(`{.status.conditions[?(@.type=="Ready")].reason}/{.status.service}`)
		return s == "Pending/egress-gateway-partners", s
	})
	kubectl(t, cp, "", "patch", "deployment", "-n", "egress-system", "egress-gateway-partners", "--subresource=status", "--type=merge",
		"-p", `{"status":{"replicas":3,"readyReplicas":2,"availableReplicas":2}}`)
	eventually(t, 10*time.Second, "status Available, 2 of 3 ready", func() (bool, string) {
		s := status(`{.status.conditions[?(@.type=="Ready")].reason}/{.status.readyReplicas}/{.status.replicas}`)
		return s == "Available/2/3", s
	})
	if out := kubectl(t, cp, "", "get", "egressgateway", "-n", "egress-system"); !strings.Contains(out, "READY") || !strings.Contains(out, "egress-gateway-partners") {
		t.Errorf("printer columns:\n%s", out)
	}

	// Drift is repaired.
	kubectl(t, cp, "", "scale", "deployment", "-n", "egress-system", "egress-gateway-partners", "--replicas=1")
	kubectl(t, cp, "", "patch", "networkpolicy", "-n", "egress-system", "egress-gateway-partners", "--type=json",
		"-p", `[{"op":"replace","path":"/spec/ingress/0/from/0/podSelector/matchLabels","value":{"anyone":"yes"}}]`)
	kubectl(t, cp, "", "delete", "service", "-n", "egress-system", "egress-gateway-partners")
	eventually(t, 15*time.Second, "drift repaired", func() (bool, string) {
		replicas, _ := kubectlErr(t, cp, "", "get", "deployment", "-n", "egress-system", "egress-gateway-partners", "-o", "jsonpath={.spec.replicas}")
		sel, _ := kubectlErr(t, cp, "", "get", "networkpolicy", "-n", "egress-system", "egress-gateway-partners", "-o", "jsonpath={.spec.ingress[0].from[0].podSelector.matchLabels}")
		_, svcErr := kubectlErr(t, cp, "", "get", "service", "-n", "egress-system", "egress-gateway-partners")
		return replicas == "3" && sel == `{"egress.io/injected":"true"}` && svcErr == nil, fmt.Sprintf("replicas %s, selector %s, service %v", replicas, sel, svcErr)
	})

	// Autoscaling adds the HorizontalPodAutoscaler; removing it removes it.
	kubectl(t, cp, "", "patch", "egressgateway", "-n", "egress-system", "partners", "--type=json",
		"-p", `[{"op":"remove","path":"/spec/replicas"},{"op":"add","path":"/spec/autoscaling","value":{"minReplicas":2,"maxReplicas":5}}]`)
	eventually(t, 15*time.Second, "HorizontalPodAutoscaler 2-5", func() (bool, string) {
		out, err := kubectlErr(t, cp, "", "get", "hpa", "-n", "egress-system", "egress-gateway-partners", "-o", "jsonpath={.spec.minReplicas}-{.spec.maxReplicas}")
		return err == nil && out == "2-5", out
	})
	kubectl(t, cp, "", "patch", "egressgateway", "-n", "egress-system", "partners", "--type=json",
		"-p", `[{"op":"remove","path":"/spec/autoscaling"}]`)
	eventually(t, 15*time.Second, "HorizontalPodAutoscaler removed", func() (bool, string) {
		_, err := kubectlErr(t, cp, "", "get", "hpa", "-n", "egress-system", "egress-gateway-partners")
		return err != nil, ""
	})

	// A gateway outside the global namespace deploys nothing and says why.
	kubectl(t, cp, "apiVersion: egress.io/v1alpha1\nkind: EgressGateway\nmetadata: {name: stray, namespace: gwtest}\nspec: {}\n", "apply", "-f", "-")
	eventually(t, 10*time.Second, "stray gateway refused", func() (bool, string) {
		out, _ := kubectlErr(t, cp, "", "get", "egressgateway", "-n", "gwtest", "stray", "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].reason}`)
		return out == "NotInGlobalNamespace", out
	})
	if _, err := kubectlErr(t, cp, "", "get", "deployment", "-n", "gwtest", "egress-gateway-stray"); err == nil {
		t.Error("a Deployment for a gateway outside the global namespace")
	}

	// Deleted: rule sets naming it say so again (its objects go with the garbage collector).
	kubectl(t, cp, "", "delete", "egressgateway", "-n", "egress-system", "partners")
	gatewayCondition("GatewayNotFound")
	// Without a garbage collector here, remove its objects for the tests that follow.
	for _, kind := range kinds {
		kubectlErr(t, cp, "", "delete", kind, "-n", "egress-system", "egress-gateway-partners", "--ignore-not-found")
	}
}

// normalised returns obj as YAML without what the API server or time decides: identity, versions,
// timestamps, managed fields, owner UIDs, status and allocated cluster IPs.
func normalised(t *testing.T, u *unstructured.Unstructured) []byte {
	t.Helper()
	for _, f := range [][]string{
		{"metadata", "uid"}, {"metadata", "resourceVersion"}, {"metadata", "creationTimestamp"}, {"metadata", "managedFields"},
		{"metadata", "generation"}, {"status"}, {"spec", "clusterIP"}, {"spec", "clusterIPs"},
	} {
		unstructured.RemoveNestedField(u.Object, f...)
	}
	refs := u.GetOwnerReferences()
	for i := range refs {
		refs[i].UID = ""
	}
	u.SetOwnerReferences(refs)
	out, err := yaml.Marshal(u.Object)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// compareGolden compares got with the file at path (rewritten with -update).
func compareGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *updateGolden {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run the test with -update)", err)
	}
	if !bytes.Equal(want, got) {
		t.Errorf("%s differs from what the API server holds (run with -update and review the diff); got:\n%s", path, got)
	}
}

func writePEM(t *testing.T, path, kind string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}
