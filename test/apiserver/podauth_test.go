package apiserver

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"

	"egress.io/egress/pkg/podauth"
)

// TestPodAuthReviewer checks package podauth's server side against the real API server, as the webhook's
// service account (so the manifests' RBAC is what it has): a bound token of the audience gives the pod's
// identity and is reviewed once for its life; the API server's own audience, an unbound token, an expired
// one and one whose pod was deleted are refused, each with the reason.
func TestPodAuthReviewer(t *testing.T) {
	setupShared(t)
	ctx := context.Background()
	const audience = "egress.io/podauth-test"
	if err := cp.EnsureNamespace(ctx, "podauth", nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := cp.EnsureServiceAccount(ctx, "podauth", "default"); err != nil {
		t.Fatal(err)
	}
	pod := createPod(t, podYAML("client", "podauth", "", ""))
	restConfig, err := clientcmd.BuildConfigFromFlags("", shared.kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	clientset, err := kubernetes.NewForConfig(restConfig)
	if err != nil {
		t.Fatal(err)
	}
	r, err := podauth.NewReviewer(podauth.ReviewerOptions{TokenReviews: clientset.AuthenticationV1().TokenReviews(), Audience: audience})
	if err != nil {
		t.Fatal(err)
	}

	good := podToken(t, pod, audience, 10*time.Minute)
	id, err := r.Review(ctx, good)
	if err != nil {
		t.Fatal(err)
	}
	exp, _ := podauth.Expiry(good)
	if id.Namespace != "podauth" || id.ServiceAccount != "default" || id.PodName != "client" || id.PodUID != string(pod.UID) || !id.Expiry.Equal(exp) {
		t.Errorf("identity %+v (pod UID %s, exp %v)", id, pod.UID, exp)
	}
	if until := time.Until(id.Expiry); until < 9*time.Minute || until > 11*time.Minute {
		t.Errorf("expires in %v, want about 10m", until)
	}
	if _, err := r.Review(ctx, good); err != nil {
		t.Fatal(err)
	}
	if s := r.Stats(); s.Reviews != 1 || s.CacheHits != 1 {
		t.Errorf("stats %+v: one TokenReview for the token's life", s)
	}

	unbound, err := cp.Clientset().CoreV1().ServiceAccounts("podauth").CreateToken(ctx, "default", &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{Audiences: []string{audience}, ExpirationSeconds: ptr.To[int64](600)},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	gone := createPod(t, podYAML("gone", "podauth", "", ""))
	goneToken := podToken(t, gone, audience, 10*time.Minute)
	kubectl(t, cp, "", "delete", "pod", "-n", "podauth", "gone", "--grace-period=0", "--force")
	for _, tc := range []struct{ name, token, want string }{
		{"the API server's audience", podToken(t, pod, "", 10*time.Minute), "audience"},
		{"another audience", podToken(t, pod, "egress.io/other", 10*time.Minute), "audience"},
		{"not bound to a pod", unbound.Status.Token, "not bound to a pod"},
		{"expired", resign(t, good, func(c map[string]any) {
			past := time.Now().Add(-time.Hour).Unix()
			c["exp"], c["iat"], c["nbf"] = past, past-600, past-600
		}), "expired"},
		{"its pod deleted", goneToken, "token refused"},
		{"garbage", "not-a-token", "token refused"},
	} {
		_, err := r.Review(ctx, tc.token)
		if !errors.Is(err, podauth.ErrRefused) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want a refusal containing %q", tc.name, err, tc.want)
		}
	}
}
