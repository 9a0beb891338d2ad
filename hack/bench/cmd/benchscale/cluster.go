package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"egress.io/egress/hack/bench/internal/scale"
	"egress.io/egress/internal/controlplane"
	"egress.io/egress/pkg/webhook"
)

// globalNamespace is the product's namespace, whose rule sets apply to every pod.
const globalNamespace = "egress-system"

// world is the cluster's objects: namespaces, rule sets and pods, as in the baseline (50
// namespaces, 105 rule sets).
type world struct {
	namespaces []string
	// ruleSets maps namespace to its rule sets' names.
	ruleSets map[string][]string
	pods     []scale.Client // namespace and pod; Token filled per mode
	podUIDs  []types.UID
}

// populate creates the namespaces, their default service accounts, perNamespace rule sets in each and
// global rule sets in the global namespace, and pods pods spread evenly over the namespaces. It uses
// parallel clients, as many pods are created.
func populate(ctx context.Context, cp *controlplane.ControlPlane, namespaces, perNamespace, global, pods int, say func(string, ...any)) (*world, error) {
	w := &world{ruleSets: map[string][]string{}}
	cs := cp.Clientset()
	for i := range namespaces {
		ns := fmt.Sprintf("bench-%02d", i)
		w.namespaces = append(w.namespaces, ns)
		if err := cp.EnsureNamespace(ctx, ns, nil, nil); err != nil {
			return nil, err
		}
		if err := cp.EnsureServiceAccount(ctx, ns, "default"); err != nil {
			return nil, err
		}
	}
	var docs []string
	for _, ns := range w.namespaces {
		for j := range perNamespace {
			name := fmt.Sprintf("deps-%d", j)
			w.ruleSets[ns] = append(w.ruleSets[ns], name)
			docs = append(docs, ruleSetYAML(ns, name, fmt.Sprintf("api-%d.%s.example.test:443", j, ns)))
		}
	}
	for j := range global {
		name := fmt.Sprintf("global-%d", j)
		w.ruleSets[globalNamespace] = append(w.ruleSets[globalNamespace], name)
		docs = append(docs, ruleSetYAML(globalNamespace, name, fmt.Sprintf("shared-%d.example.test:443", j)))
	}
	if _, _, err := cp.Kubectl(ctx, strings.Join(docs, "---\n"), "apply", "-f", "-"); err != nil {
		return nil, err
	}
	begin := time.Now()
	w.pods = make([]scale.Client, pods)
	w.podUIDs = make([]types.UID, pods)
	err := parallel(pods, 16, func(i int) error {
		ns := w.namespaces[i%namespaces]
		name := fmt.Sprintf("pod-%05d", i)
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"app": "bench"}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example/app:1"}}},
		}
		created, err := cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			created, err = cs.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		}
		if err != nil {
			return fmt.Errorf("pod %s/%s: %w", ns, name, err)
		}
		w.pods[i] = scale.Client{Namespace: ns, Pod: name}
		w.podUIDs[i] = created.UID
		return nil
	})
	if err != nil {
		return nil, err
	}
	say("%d pods created in %v", pods, time.Since(begin).Round(time.Second))
	return w, nil
}

func ruleSetYAML(ns, name, target string) string {
	return fmt.Sprintf("apiVersion: egress.io/v1alpha1\nkind: EgressRuleSet\nmetadata: {name: %s, namespace: %s}\nspec: {targets: [%q]}\n", name, ns, target)
}

// tokens returns the first n pods as clients with a token bound to each, for audience ("" for the API
// server's own), as the kubelet requests them for a projected volume.
func (w *world) tokens(ctx context.Context, cp *controlplane.ControlPlane, n int, audience string) ([]scale.Client, error) {
	out := make([]scale.Client, n)
	err := parallel(n, 16, func(i int) error {
		req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
			ExpirationSeconds: ptr.To[int64](4 * 3600),
			BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: w.pods[i].Pod, UID: w.podUIDs[i]},
		}}
		if audience != "" {
			req.Spec.Audiences = []string{audience}
		}
		tok, err := cp.Clientset().CoreV1().ServiceAccounts(w.pods[i].Namespace).CreateToken(ctx, "default", req, metav1.CreateOptions{})
		if err != nil {
			return fmt.Errorf("token for %s/%s: %w", w.pods[i].Namespace, w.pods[i].Pod, err)
		}
		out[i] = w.pods[i]
		out[i].Token = tok.Status.Token
		return nil
	})
	return out, err
}

// grantDirectWatch gives the namespaces' service accounts the RoleBindings the webhook keeps for the
// direct watch (--policy-source=kube): their namespace's and the global namespace's rule sets.
func (w *world) grantDirectWatch(ctx context.Context, cp *controlplane.ControlPlane) error {
	access := webhook.RuleSetAccess{GlobalNamespace: globalNamespace}
	bindings := []*rbacv1.RoleBinding{access.GlobalBinding(w.namespaces)}
	for _, ns := range w.namespaces {
		bindings = append(bindings, access.NamespaceBinding(ns))
	}
	for _, rb := range bindings {
		_, err := cp.Clientset().RbacV1().RoleBindings(rb.Namespace).Create(ctx, rb, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("RoleBinding %s/%s: %w", rb.Namespace, rb.Name, err)
		}
	}
	return nil
}

// webhookKubeconfig writes a kubeconfig of the egress-webhook service account (its RBAC from manifests/),
// valid for hours, for the replicas.
func webhookKubeconfig(ctx context.Context, cp *controlplane.ControlPlane, dir string) (string, error) {
	tok, err := cp.Clientset().CoreV1().ServiceAccounts(globalNamespace).CreateToken(ctx, "egress-webhook", &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](6 * 3600)},
	}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("a token for the webhook's service account: %w", err)
	}
	cfg := rest.AnonymousClientConfig(cp.Config)
	cfg.BearerToken = tok.Status.Token
	path := filepath.Join(dir, "webhook.kubeconfig")
	return path, controlplane.WriteKubeconfig(cfg, path)
}

// parallel runs f(0..n-1) on workers goroutines and returns the first error.
func parallel(n, workers int, f func(int) error) error {
	var mu sync.Mutex
	var first error
	next := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range next {
				if err := f(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	return first
}
