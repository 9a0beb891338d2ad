package webhook

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	ctrlwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"egress.io/egress/api/v1alpha1"
	"egress.io/egress/pkg/inject"
)

// MutatePath is where the webhook server serves pod injection.
const MutatePath = "/mutate-pods"

// Options are the manager's dependencies that are not flags.
type Options struct {
	// RESTConfig reaches the API server (in-cluster config in a pod).
	RESTConfig *rest.Config
	// Registry receives the injection metrics and is served on --metrics-bind-address, next to
	// controller-runtime's own metrics. It is the caller's (never a global one), and one manager's.
	Registry *prometheus.Registry
	// Log is the base logger for the manager and everything it runs.
	Log logr.Logger
}

// NewManager builds the controller-runtime manager: the webhook server (started once its certificates are
// in place), certificate rotation unless cfg.StaticCerts, the policy service (every replica, unless
// cfg.PolicyPort is 0), /healthz and /readyz, metrics, and the namespace label, rule-set access, policy CA
// and EgressRuleSet status controllers (leader-elected when cfg.LeaderElection). Start it with
// mgr.Start(ctx).
func NewManager(cfg Config, opts Options) (ctrl.Manager, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	injectCfg := cfg.Inject
	if opts.RESTConfig == nil || opts.Registry == nil {
		return nil, errors.New("webhook.NewManager: Options.RESTConfig and Options.Registry are required")
	}
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, fmt.Errorf("building the scheme: %w", err)
	}
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		return nil, fmt.Errorf("building the scheme: %w", err)
	}

	server := ctrlwebhook.NewServer(ctrlwebhook.Options{
		Host: cfg.WebhookHost, Port: int(cfg.WebhookPort), CertDir: cfg.CertDir, CertName: "tls.crt", KeyName: "tls.key",
	})
	// The rule-set access controllers watch RoleBindings in any namespace they may grant access in, but only
	// those they keep: the API server sends no others.
	// Likewise the policy CA ConfigMaps: only those it keeps.
	// And the gateways' objects: only those it keeps, in the global namespace.
	gatewayObjects := cache.ByObject{Label: GatewayObjectsSelector(),
		Namespaces: map[string]cache.Config{injectCfg.Sidecar.GlobalNamespace: {}}}
	cacheOpts := cache.Options{ByObject: map[client.Object]cache.ByObject{
		&rbacv1.RoleBinding{}:                    {Label: ManagedBindingSelector()},
		&corev1.ConfigMap{}:                      {Label: PolicyCASelector()},
		&appsv1.Deployment{}:                     gatewayObjects,
		&corev1.Service{}:                        gatewayObjects,
		&corev1.Secret{}:                         gatewayObjects,
		&policyv1.PodDisruptionBudget{}:          gatewayObjects,
		&autoscalingv2.HorizontalPodAutoscaler{}: gatewayObjects,
		&networkingv1.NetworkPolicy{}:            gatewayObjects,
	}}
	// controller-runtime's metrics server serves its global registry only; ours serves both (below).
	mgr, err := ctrl.NewManager(opts.RESTConfig, ctrl.Options{
		Scheme:                        scheme,
		Logger:                        opts.Log,
		Metrics:                       metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress:        cfg.ProbeAddr,
		LeaderElection:                cfg.LeaderElection,
		LeaderElectionID:              cfg.LeaderElectionID,
		LeaderElectionNamespace:       cfg.ServiceNamespace,
		LeaderElectionReleaseOnCancel: true,
		WebhookServer:                 server,
		Cache:                         cacheOpts,
	})
	if err != nil {
		return nil, fmt.Errorf("creating the manager: %w", err)
	}

	metrics, err := inject.NewMetrics(opts.Registry)
	if err != nil {
		return nil, err
	}
	if cfg.MetricsAddr != "0" {
		gatherers := prometheus.Gatherers{ctrlmetrics.Registry, opts.Registry}
		if err := mgr.Add(&metricsServer{addr: cfg.MetricsAddr, gatherer: gatherers, log: opts.Log.WithName("metrics")}); err != nil {
			return nil, fmt.Errorf("adding the metrics server: %w", err)
		}
	}
	handler, err := inject.NewHandler(injectCfg, mgr.GetCache(), scheme, metrics, opts.Log.WithName("inject"))
	if err != nil {
		return nil, err
	}
	server.Register(MutatePath, &admission.Webhook{Handler: handler})

	certsReady, err := addCertificates(mgr, cfg)
	if err != nil {
		return nil, err
	}
	if err := mgr.Add(&gatedServer{server: server, ready: certsReady}); err != nil {
		return nil, fmt.Errorf("adding the webhook server: %w", err)
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return nil, fmt.Errorf("adding /healthz: %w", err)
	}
	if err := mgr.AddReadyzCheck("webhook", server.StartedChecker()); err != nil {
		return nil, fmt.Errorf("adding /readyz: %w", err)
	}

	if err := (&NamespaceReconciler{Client: mgr.GetClient(), Log: opts.Log.WithName("namespaces")}).SetupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("setting up the namespace controller: %w", err)
	}
	access := RuleSetAccess{GlobalNamespace: injectCfg.Sidecar.GlobalNamespace, ExcludedNamespaces: injectCfg.ExcludedNamespaces,
		DefaultSource: injectCfg.PolicySource}
	if err := (&NamespaceBindingReconciler{Client: mgr.GetClient(), Access: access, Log: opts.Log.WithName("ruleset-access")}).SetupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("setting up the namespace rule-set access controller: %w", err)
	}
	if err := (&GlobalBindingReconciler{Client: mgr.GetClient(), Access: access, Log: opts.Log.WithName("ruleset-access")}).SetupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("setting up the global rule-set access controller: %w", err)
	}
	gateways := &GatewayReconciler{Client: mgr.GetClient(), Scheme: scheme, Params: gatewayParamsFrom(injectCfg),
		CertDir: cfg.CertDir, Log: opts.Log.WithName("gateways")}
	if err := gateways.SetupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("setting up the EgressGateway controller: %w", err)
	}
	if err := (&RuleSetReconciler{Client: mgr.GetClient(), GlobalNamespace: injectCfg.Sidecar.GlobalNamespace, Log: opts.Log.WithName("rulesets")}).SetupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("setting up the EgressRuleSet controller: %w", err)
	}
	policyCA := &PolicyCAReconciler{Client: mgr.GetClient(), CAFile: filepath.Join(cfg.CertDir, caCertFile),
		ExcludedNamespaces: injectCfg.ExcludedNamespaces, Log: opts.Log.WithName("policy-ca")}
	if err := policyCA.SetupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("setting up the policy CA controller: %w", err)
	}
	if err := addPolicyService(context.Background(), mgr, cfg, opts.RESTConfig, opts.Registry, opts.Log.WithName("policy-service")); err != nil {
		return nil, fmt.Errorf("setting up the policy service: %w", err)
	}
	// Warm the namespace informer before serving, so the first admission request does not wait for it.
	if _, err := mgr.GetCache().GetInformer(context.Background(), &corev1.Namespace{}); err != nil {
		return nil, fmt.Errorf("namespace informer: %w", err)
	}
	return mgr, nil
}

// gatedServer starts the webhook server once its certificates are ready. Like the server itself it runs
// in every replica, leader or not.
type gatedServer struct {
	server ctrlwebhook.Server
	ready  <-chan struct{}
}

// Start waits for the certificates, then serves until ctx is done.
func (g *gatedServer) Start(ctx context.Context) error {
	select {
	case <-g.ready:
	case <-ctx.Done():
		return nil
	}
	return g.server.Start(ctx)
}

// NeedLeaderElection is false: every replica serves admission requests.
func (g *gatedServer) NeedLeaderElection() bool { return false }
