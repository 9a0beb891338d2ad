package webhook

import (
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"egress.io/egress/api/v1alpha1"
	"egress.io/egress/pkg/gateway"
)

// GatewayFieldOwner is the server-side-apply field manager of a gateway's objects.
const GatewayFieldOwner = "egress-gateways"

// Reasons of an EgressGateway's Ready condition.
const (
	ReasonGatewayAvailable       = "Available"
	ReasonGatewayPending         = "Pending"
	ReasonNotInGlobalNamespace   = "NotInGlobalNamespace"
	ReasonCertificateUnavailable = "CertificateUnavailable"
	ReasonReconcileFailed        = "ReconcileFailed"
)

// GatewayReconciler keeps, for every EgressGateway in the global namespace, its Deployment (egress-sidecar
// gateway), Service, PodDisruptionBudget, HorizontalPodAutoscaler (with spec.autoscaling), NetworkPolicy and
// the Secret with its certificate (issued from the webhook's CA for the Service's name), all owned by the
// gateway, so deleting it deletes them. It applies them with server-side apply and forced ownership, so a
// field it sets that someone changed is set back (drift repair); it watches them to notice. It writes the
// gateway's status from its Deployment.
type GatewayReconciler struct {
	Client client.Client
	Scheme *runtime.Scheme
	Params GatewayParams
	// CertDir holds the CA (ca.crt, ca.key) the gateways' certificates are issued from (the rotator's).
	CertDir string
	Log     logr.Logger
	Now     func() time.Time
}

// gatewayCertRecheck is how often a gateway is reconciled without events, so its certificate is renewed.
const gatewayCertRecheck = time.Hour

// SetupWithManager registers the controller.
func (r *GatewayReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("egressgateway").
		For(&v1alpha1.EgressGateway{}).
		Owns(&appsv1.Deployment{}).
		Owns(&corev1.Service{}).
		Owns(&policyv1.PodDisruptionBudget{}).
		Owns(&autoscalingv2.HorizontalPodAutoscaler{}).
		Owns(&networkingv1.NetworkPolicy{}).
		Owns(&corev1.Secret{}).
		Complete(r)
}

// Reconcile brings a gateway's objects and status to what its spec says.
func (r *GatewayReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	gw := &v1alpha1.EgressGateway{}
	if err := r.Client.Get(ctx, req.NamespacedName, gw); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err) // its objects go with it (owner references)
	}
	if gw.Namespace != r.Params.GlobalNamespace {
		return ctrl.Result{}, r.setStatus(ctx, gw, nil, metav1.ConditionFalse, ReasonNotInGlobalNamespace,
			fmt.Sprintf("an EgressGateway must be in the global namespace %s; nothing is deployed for it", r.Params.GlobalNamespace))
	}
	if err := r.ensureSecret(ctx, gw); err != nil {
		_ = r.setStatus(ctx, gw, nil, metav1.ConditionFalse, ReasonCertificateUnavailable, err.Error())
		return ctrl.Result{}, err
	}
	objs := DesiredGatewayObjects(gw, r.Params)
	for _, obj := range []client.Object{objs.Deployment, objs.Service, objs.PDB, objs.NetworkPolicy} {
		if err := r.apply(ctx, gw, obj); err != nil {
			_ = r.setStatus(ctx, gw, nil, metav1.ConditionFalse, ReasonReconcileFailed, err.Error())
			return ctrl.Result{}, err
		}
	}
	if objs.HPA != nil {
		if err := r.apply(ctx, gw, objs.HPA); err != nil {
			return ctrl.Result{}, err
		}
	} else {
		hpa := &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: metav1.ObjectMeta{Name: gateway.ObjectName(gw.Name), Namespace: gw.Namespace}}
		if err := r.Client.Delete(ctx, hpa); err != nil && !apierrors.IsNotFound(err) {
			return ctrl.Result{}, fmt.Errorf("deleting the HorizontalPodAutoscaler of gateway %s: %w", gw.Name, err)
		}
	}
	deployment := &appsv1.Deployment{}
	if err := r.Client.Get(ctx, client.ObjectKeyFromObject(objs.Deployment), deployment); err != nil && !apierrors.IsNotFound(err) {
		return ctrl.Result{}, err
	}
	status, reason, message := metav1.ConditionFalse, ReasonGatewayPending, "no gateway pod is ready yet"
	if deployment.Status.ReadyReplicas > 0 {
		status, reason = metav1.ConditionTrue, ReasonGatewayAvailable
		message = fmt.Sprintf("%d of %d gateway pods ready", deployment.Status.ReadyReplicas, deployment.Status.Replicas)
	}
	return ctrl.Result{RequeueAfter: gatewayCertRecheck}, r.setStatus(ctx, gw, deployment, status, reason, message)
}

// apply server-side applies obj, owned by gw, with forced ownership of the fields it sets.
func (r *GatewayReconciler) apply(ctx context.Context, gw *v1alpha1.EgressGateway, obj client.Object) error {
	if err := controllerutil.SetControllerReference(gw, obj, r.Scheme); err != nil {
		return err
	}
	gvk, err := r.Client.GroupVersionKindFor(obj)
	if err != nil {
		return err
	}
	content, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return err
	}
	u := &unstructured.Unstructured{Object: content}
	u.SetGroupVersionKind(gvk)
	unstructured.RemoveNestedField(u.Object, "metadata", "creationTimestamp")
	unstructured.RemoveNestedField(u.Object, "status")
	if err := r.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(GatewayFieldOwner), client.ForceOwnership); err != nil {
		return fmt.Errorf("applying %s %s/%s of gateway %s: %w", gvk.Kind, obj.GetNamespace(), obj.GetName(), gw.Name, err)
	}
	return nil
}

// setStatus writes the Ready condition, the replica counts and the Service's name, when they changed.
func (r *GatewayReconciler) setStatus(ctx context.Context, gw *v1alpha1.EgressGateway, d *appsv1.Deployment, status metav1.ConditionStatus, reason, message string) error {
	want := gw.Status.DeepCopy()
	want.ObservedGeneration = gw.Generation
	want.Replicas, want.ReadyReplicas, want.Service = 0, 0, ""
	if d != nil {
		want.Replicas, want.ReadyReplicas = d.Status.Replicas, d.Status.ReadyReplicas
		want.Service = gateway.ObjectName(gw.Name)
	}
	meta.SetStatusCondition(&want.Conditions, metav1.Condition{
		Type: v1alpha1.ConditionReady, Status: status, Reason: reason, Message: truncate(message),
		ObservedGeneration: gw.Generation, LastTransitionTime: metav1.NewTime(r.now()),
	})
	if equality.Semantic.DeepEqual(*want, gw.Status) {
		return nil
	}
	gw.Status = *want
	if err := r.Client.Status().Update(ctx, gw); err != nil && !apierrors.IsConflict(err) {
		return fmt.Errorf("updating the status of EgressGateway %s: %w", gw.Name, err)
	}
	return nil
}

func truncate(s string) string {
	if len(s) > maxConditionMessage {
		return s[:maxConditionMessage]
	}
	return s
}

func (r *GatewayReconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// ensureSecret keeps the gateway's Secret holding a certificate for its Service's names, issued from the
// CA in CertDir: issued again when missing, broken, not from the current CA, for other names, or half
// through its life.
func (r *GatewayReconciler) ensureSecret(ctx context.Context, gw *v1alpha1.EgressGateway) error {
	caPEM, err := os.ReadFile(filepath.Join(r.CertDir, caCertFile))
	if err != nil {
		return fmt.Errorf("the CA for gateway certificates (--%s): %w", FlagCertDir, err)
	}
	caKeyPEM, err := os.ReadFile(filepath.Join(r.CertDir, caKeyFile))
	if err != nil {
		return fmt.Errorf("the CA key for gateway certificates (--%s; with --static-certs there is none, and no gateway gets a certificate): %w", FlagCertDir, err)
	}
	names := gatewayServiceNames(gw.Name, gw.Namespace)
	key := client.ObjectKey{Namespace: gw.Namespace, Name: gateway.ObjectName(gw.Name)}
	existing := &corev1.Secret{}
	err = r.Client.Get(ctx, key, existing)
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	data := existing.Data
	if err != nil || !certStillGood(data[corev1.TLSCertKey], data[corev1.TLSPrivateKeyKey], caPEM, names, r.now()) {
		cert, _, err := issue(caPEM, caKeyPEM, names, r.now())
		if err != nil {
			return fmt.Errorf("issuing the certificate of gateway %s: %w", gw.Name, err)
		}
		keyDER, err := x509.MarshalECPrivateKey(cert.PrivateKey.(*ecdsa.PrivateKey))
		if err != nil {
			return err
		}
		data = map[string][]byte{
			corev1.TLSCertKey:       pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}),
			corev1.TLSPrivateKeyKey: pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
			"ca.crt":                caPEM,
		}
		r.Log.Info("gateway certificate issued", "gateway", gw.Name, "names", names)
	}
	secret := &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{Name: key.Name, Namespace: key.Namespace, Labels: gatewayLabels(gw.Name, true)},
		Type:       corev1.SecretTypeTLS,
		Data:       data,
	}
	return r.apply(ctx, gw, secret)
}

// certStillGood reports whether certPEM (with keyPEM) is from the CA caPEM, for names, and less than half
// through its life at now.
func certStillGood(certPEM, keyPEM, caPEM []byte, names []string, now time.Time) bool {
	block, _ := pem.Decode(certPEM)
	if block == nil || len(keyPEM) == 0 {
		return false
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil || !slices.Equal(cert.DNSNames, names) {
		return false
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return false
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		return false
	}
	half := cert.NotBefore.Add(cert.NotAfter.Sub(cert.NotBefore) / 2)
	return now.Before(half)
}
