package apiserver

import (
	"bufio"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"egress.io/egress/api/v1alpha1"
	"egress.io/egress/pkg/inject"
	"egress.io/egress/pkg/podauth"
	"egress.io/egress/pkg/policystream"
	"egress.io/egress/pkg/servicesource"
	"egress.io/egress/pkg/sidecar"
)

// staticToken is a servicesource.TokenSource of one token.
type staticToken string

func (s staticToken) Token() (string, error) { return string(s), nil }

// podToken requests, as the kubelet does for a projected volume, a token of the namespace's default
// service account bound to the pod, for audience (none: the API server's own) and lifetime.
func podToken(t *testing.T, pod *corev1.Pod, audience string, lifetime time.Duration) string {
	t.Helper()
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		ExpirationSeconds: ptr.To(int64(lifetime.Seconds())),
		BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID},
	}}
	if audience != "" {
		req.Spec.Audiences = []string{audience}
	}
	tok, err := cp.Clientset().CoreV1().ServiceAccounts(pod.Namespace).CreateToken(context.Background(), "default", req, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("TokenRequest for pod %s/%s: %v", pod.Namespace, pod.Name, err)
	}
	return tok.Status.Token
}

// policyGet opens a stream from the policy service with token, asking for namespace (may be ""), and returns
// the status and the body (for 200, the first frame).
func policyGet(t *testing.T, port uint16, token, namespace string) (int, string) {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(shared.caPEM)
	conn, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port), &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	q := url.Values{}
	if namespace != "" {
		q.Set(policystream.QueryNamespace, namespace)
	}
	req, _ := http.NewRequest("GET", "https://127.0.0.1"+policystream.Path+"?"+q.Encode(), nil)
	podauth.SetBearer(req.Header, token)
	if err := req.Write(conn); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode == 200 {
		line, _ := bufio.NewReader(resp.Body).ReadString('\n')
		return 200, line
	}
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// resign returns token with its claims changed by edit, signed again with the API server's
// service-account key: a token the API server itself could have issued.
func resign(t *testing.T, token string, edit func(claims map[string]any)) string {
	t.Helper()
	parts := strings.Split(token, ".")
	var header struct {
		Alg string `json:"alg"`
	}
	headerJSON, _ := base64.RawURLEncoding.DecodeString(parts[0])
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var claims map[string]any
	if err := json.Unmarshal(headerJSON, &header); err != nil || json.Unmarshal(payload, &claims) != nil {
		t.Fatalf("not a JWT: %v", err)
	}
	edit(claims)
	payload, _ = json.Marshal(claims)
	signingInput := parts[0] + "." + base64.RawURLEncoding.EncodeToString(payload)
	keyPEM, err := os.ReadFile(filepath.Join(cp.Dir, "apiserver", "sa-signer.key"))
	if err != nil {
		t.Fatal(err)
	}
	return signingInput + "." + base64.RawURLEncoding.EncodeToString(sign(t, header.Alg, keyPEM, signingInput))
}

// sign makes a JWS signature (RS256 or ES256) over input with the PEM key.
func sign(t *testing.T, alg string, keyPEM []byte, input string) []byte {
	t.Helper()
	block, _ := pem.Decode(keyPEM)
	if block == nil {
		t.Fatal("no PEM key")
	}
	var key any
	var err error
	if key, err = x509.ParsePKCS1PrivateKey(block.Bytes); err != nil {
		if key, err = x509.ParseECPrivateKey(block.Bytes); err != nil {
			if key, err = x509.ParsePKCS8PrivateKey(block.Bytes); err != nil {
				t.Fatalf("service-account key: %v", err)
			}
		}
	}
	digest := sha256.Sum256([]byte(input))
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if alg != "RS256" {
			t.Fatalf("an RSA key for %s", alg)
		}
		sig, err := rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, digest[:])
		if err != nil {
			t.Fatal(err)
		}
		return sig
	case *ecdsa.PrivateKey:
		if alg != "ES256" {
			t.Fatalf("an ECDSA key for %s", alg)
		}
		r, s, err := ecdsa.Sign(rand.Reader, k, digest[:])
		if err != nil {
			t.Fatal(err)
		}
		return append(r.FillBytes(make([]byte, 32)), s.FillBytes(make([]byte, 32))...)
	}
	t.Fatalf("service-account key of type %T", key)
	return nil
}

// recorder's cousin for the service source: what reached the sink, as namespace/name lists.
type policySink struct {
	mu      sync.Mutex
	updates []string
}

func (p *policySink) Update(sets []v1alpha1.EgressRuleSet) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.updates = append(p.updates, setNames(sets))
}

func (p *policySink) Failed(error) {}

func (p *policySink) all() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.updates...)
}

func (p *policySink) last() string {
	all := p.all()
	if len(all) == 0 {
		return "<none>"
	}
	return all[len(all)-1]
}

// TestPolicyService runs the webhook binary with its policy service against the real API server: a pod's
// token (a TokenRequest bound to the pod, as the kubelet makes for the injected volume) gets its namespace's
// and the global namespace's rule sets and nothing else, without any RBAC on rule sets; forged, expired,
// wrong-audience and unbound tokens are refused, as is a token whose pod is gone.
func TestPolicyService(t *testing.T) {
	setupShared(t)
	cfg := webhookConfig(t)
	w := startWebhook(t, cfg)
	ctx := context.Background()
	enabled := map[string]string{inject.AnnotationInject: inject.ValueEnabled}
	for _, ns := range []string{"ps-a", "ps-b"} {
		if err := cp.EnsureNamespace(ctx, ns, nil, enabled); err != nil {
			t.Fatal(err)
		}
		if err := cp.EnsureServiceAccount(ctx, ns, "default"); err != nil {
			t.Fatal(err)
		}
	}
	kubectl(t, cp, `apiVersion: egress.io/v1alpha1
kind: EgressRuleSet
metadata: {name: deps-a, namespace: ps-a}
spec: {targets: ["a.example.test:443"]}
---
apiVersion: egress.io/v1alpha1
kind: EgressRuleSet
metadata: {name: deps-b, namespace: ps-b}
spec: {targets: ["b.example.test:443"]}
---
apiVersion: egress.io/v1alpha1
kind: EgressRuleSet
metadata: {name: global-dns, namespace: egress-system}
spec: {targets: ["dns.example.test:53"]}
`, "apply", "-f", "-")
	t.Cleanup(func() {
		kubectl(t, cp, "", "delete", "ers", "-n", globalNamespace, "global-dns", "--ignore-not-found")
	})
	eventually(t, 10*time.Second, "the labels the webhook selects on", func() (bool, string) {
		for _, name := range []string{"ps-a", "ps-b"} {
			ns, err := cp.Clientset().CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
			if err != nil || ns.Labels[inject.LabelInject] != inject.ValueEnabled {
				return false, name
			}
		}
		return true, ""
	})
	podA := createPod(t, podYAML("app", "ps-a", "", ""))
	podB := createPod(t, podYAML("app", "ps-b", "", ""))
	var projection *corev1.ServiceAccountTokenProjection
	for _, v := range podA.Spec.Volumes {
		if v.Name == inject.TokenVolumeName {
			projection = v.Projected.Sources[0].ServiceAccountToken
		}
	}
	if projection == nil || projection.Audience != sidecar.PolicyAudience {
		t.Fatalf("the injected pod's token volume: %+v", projection)
	}
	tokenA := podToken(t, podA, sidecar.PolicyAudience, 10*time.Minute)
	tokenB := podToken(t, podB, sidecar.PolicyAudience, 10*time.Minute)

	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(shared.caPEM)
	src, err := servicesource.New(servicesource.Options{
		URL: fmt.Sprintf("https://127.0.0.1:%d", cfg.PolicyPort), Namespace: "ps-a", GlobalNamespace: globalNamespace,
		Token: staticToken(tokenA), RootCAs: pool,
	})
	if err != nil {
		t.Fatal(err)
	}
	sink := &policySink{}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- src.Run(runCtx, sink) }()
	t.Cleanup(func() { stop(); <-done })

	t.Run("a pod's token gets its namespace's and the global namespace's rule sets", func(t *testing.T) {
		eventually(t, 15*time.Second, "ps-a's snapshot", func() (bool, string) {
			return sink.last() == "egress-system/global-dns,ps-a/deps-a", sink.last()
		})
		kubectl(t, cp, `apiVersion: egress.io/v1alpha1
kind: EgressRuleSet
metadata: {name: more-b, namespace: ps-b}
spec: {targets: ["more-b.example.test:443"]}
---
apiVersion: egress.io/v1alpha1
kind: EgressRuleSet
metadata: {name: more-a, namespace: ps-a}
spec: {targets: ["more-a.example.test:443"]}
`, "apply", "-f", "-")
		eventually(t, 10*time.Second, "ps-a's change", func() (bool, string) {
			return sink.last() == "egress-system/global-dns,ps-a/deps-a,ps-a/more-a", sink.last()
		})
		for _, update := range sink.all() {
			if strings.Contains(update, "ps-b/") {
				t.Errorf("ps-a's sidecar was sent ps-b's rule sets: %s", update)
			}
		}
		if code, first := policyGet(t, cfg.PolicyPort, tokenB, "ps-b"); code != 200 || !strings.Contains(first, `"namespace":"ps-b"`) ||
			strings.Contains(first, `"namespace":"ps-a"`) || !strings.Contains(first, "more-b") {
			t.Errorf("ps-b's token: %d %s", code, first)
		}
	})

	t.Run("a token of namespace A cannot obtain B's rule sets", func(t *testing.T) {
		code, body := policyGet(t, cfg.PolicyPort, tokenA, "ps-b")
		if code != 403 || !strings.Contains(body, "pod ps-a/app's, which may read the rule sets of namespace ps-a (and egress-system), not of ps-b") {
			t.Errorf("ps-a's token asking for ps-b: %d %q", code, body)
		}
	})

	t.Run("pods in enabled namespaces have no RBAC to rule sets and still get their policy", func(t *testing.T) {
		for _, ns := range []string{"ps-a", globalNamespace, ""} {
			if canListRuleSets(t, "ps-a", ns) {
				t.Errorf("ps-a's service accounts may list rule sets in %q", ns)
			}
		}
		if _, err := cp.Clientset().RbacV1().RoleBindings("ps-a").Get(ctx, "egress-ruleset-reader", metav1.GetOptions{}); err == nil {
			t.Error("a rule-set RoleBinding in ps-a")
		}
		if st := src.Status(); !st.Streaming || st.Version == "" {
			t.Errorf("the source: %+v", st)
		}
	})

	t.Run("the policy service's CA is published where pods may be injected", func(t *testing.T) {
		eventually(t, 15*time.Second, "ConfigMap egress-policy-ca in ps-a and ps-b", func() (bool, string) {
			for _, ns := range []string{"ps-a", "ps-b"} {
				cm, err := cp.Clientset().CoreV1().ConfigMaps(ns).Get(ctx, inject.PolicyCAConfigMap, metav1.GetOptions{})
				if err != nil {
					return false, err.Error()
				}
				if cm.Data[inject.PolicyCAKey] != string(shared.caPEM) {
					return false, ns + ": another CA"
				}
			}
			return true, ""
		})
		if _, err := cp.Clientset().CoreV1().ConfigMaps("kube-system").Get(ctx, inject.PolicyCAConfigMap, metav1.GetOptions{}); err == nil {
			t.Error("the CA in kube-system, which is never injected")
		}
		// Deleted by hand, it comes back.
		kubectl(t, cp, "", "delete", "configmap", "-n", "ps-b", inject.PolicyCAConfigMap)
		eventually(t, 15*time.Second, "the CA restored", func() (bool, string) {
			_, err := cp.Clientset().CoreV1().ConfigMaps("ps-b").Get(ctx, inject.PolicyCAConfigMap, metav1.GetOptions{})
			return err == nil, fmt.Sprint(err)
		})
	})

	t.Run("forged, expired, wrong-audience and unbound tokens are refused", func(t *testing.T) {
		// Forged: the right claims signed by a key the API server never had.
		forgedKey, _ := rsa.GenerateKey(rand.Reader, 2048)
		parts := strings.Split(tokenA, ".")
		forgedSig, _ := rsa.SignPKCS1v15(rand.Reader, forgedKey, crypto.SHA256, ptr.To(sha256.Sum256([]byte(parts[0] + "." + parts[1])))[:])
		forged := parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(forgedSig)
		// Expired: what the API server issued, an hour older, signed with its own key.
		expired := resign(t, tokenA, func(c map[string]any) {
			past := time.Now().Add(-time.Hour).Unix()
			c["exp"], c["iat"], c["nbf"] = past, past-600, past-600
		})
		// For the API server's own audience, as kube-api-access volumes are.
		wrongAudience := podToken(t, podA, "", 10*time.Minute)
		unbound, err := cp.Clientset().CoreV1().ServiceAccounts("ps-a").CreateToken(ctx, "default", &authenticationv1.TokenRequest{
			Spec: authenticationv1.TokenRequestSpec{Audiences: []string{sidecar.PolicyAudience}, ExpirationSeconds: ptr.To[int64](600)},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		// A token whose pod is gone: bound tokens die with their pod.
		gone := createPod(t, podYAML("gone", "ps-a", "", ""))
		goneToken := podToken(t, gone, sidecar.PolicyAudience, 10*time.Minute)
		kubectl(t, cp, "", "delete", "pod", "-n", "ps-a", "gone", "--wait=false", "--grace-period=0", "--force")
		eventually(t, 10*time.Second, "pod gone", func() (bool, string) {
			_, err := cp.Clientset().CoreV1().Pods("ps-a").Get(ctx, "gone", metav1.GetOptions{})
			return err != nil, ""
		})

		for _, tc := range []struct{ name, token, want string }{
			{"forged", forged, "token refused"},
			{"expired", expired, "expired"},
			{"wrong audience", wrongAudience, "audience"},
			{"not bound to a pod", unbound.Status.Token, "not bound to a pod"},
			{"its pod deleted", goneToken, "token refused"},
			{"none", "", "no token"},
		} {
			code, body := policyGet(t, cfg.PolicyPort, tc.token, "")
			if code != 401 || !strings.Contains(body, tc.want) {
				t.Errorf("%s: %d %q, want 401 with %q", tc.name, code, body, tc.want)
			}
		}
		if n := w.metric(t, `egress_policy_service_requests_total{result="refused"}`); n < 6 {
			t.Errorf(`egress_policy_service_requests_total{result="refused"} = %v, want at least 6`, n)
		}
	})
}
