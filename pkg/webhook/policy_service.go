package webhook

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	ctrl "sigs.k8s.io/controller-runtime"

	"egress.io/egress/api/v1alpha1"
	"egress.io/egress/pkg/podauth"
	"egress.io/egress/pkg/policyservice"
	"egress.io/egress/pkg/sidecar"
)

// policyService runs the policy service in the webhook's manager, in every replica (no leader needed to
// serve). Its hub is fed by the manager's EgressRuleSet informer, the one watch the status controller
// uses too; sidecars' tokens are checked with TokenReview (podauth) for the audience sidecar.PolicyAudience.
// It serves once the informer has synced and a certificate is in place; /readyz says so.
type policyService struct {
	addr    string
	hub     *policyservice.Hub
	server  *policyservice.Server
	cert    *policyCertificate
	synced  toolscache.InformerSynced
	log     logr.Logger
	serving atomic.Bool
}

// tokenReviewQPS bounds the TokenReviews a replica sends and tokenReviewInFlight how many are open at
// once: a mass reconnect (a replica gone, its sidecars moving to this one) is one TokenReview per sidecar
// whose token this replica has not cached. The API server's priority and fairness protects it beyond that.
const (
	tokenReviewQPS      = 2000
	tokenReviewInFlight = 64
)

// addPolicyService adds the policy service to mgr, unless cfg.PolicyPort is 0.
func addPolicyService(ctx context.Context, mgr ctrl.Manager, cfg Config, restConfig *rest.Config, reg prometheus.Registerer, log logr.Logger) error {
	if cfg.PolicyPort == 0 {
		return nil
	}
	metrics, err := policyservice.NewMetrics(reg)
	if err != nil {
		return err
	}
	hub, err := policyservice.NewHub(policyservice.HubOptions{GlobalNamespace: cfg.Inject.Sidecar.GlobalNamespace, Metrics: metrics})
	if err != nil {
		return err
	}
	if err := policyservice.RegisterRuleSets(reg, hub); err != nil {
		return err
	}
	rc := rest.CopyConfig(restConfig)
	rc.QPS, rc.Burst = tokenReviewQPS, 2*tokenReviewQPS
	rc.UserAgent = "egress-webhook/policy-service"
	clientset, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return fmt.Errorf("policy service: API client: %w", err)
	}
	reviewer, err := podauth.NewReviewer(podauth.ReviewerOptions{
		TokenReviews: clientset.AuthenticationV1().TokenReviews(), Audience: sidecar.PolicyAudience, MaxInFlight: tokenReviewInFlight,
	})
	if err != nil {
		return err
	}
	if err := policyservice.RegisterReviewer(reg, reviewer); err != nil {
		return err
	}
	cert := newPolicyCertificate(cfg.CertDir, cfg.StaticCerts, policyServiceNames(cfg.PolicyServiceName, cfg.ServiceNamespace))
	server, err := policyservice.NewServer(policyservice.ServerOptions{
		Hub: hub, Auth: reviewer, Log: log, Metrics: metrics, MaxStreams: cfg.PolicyMaxStreams,
		TLS: &tls.Config{GetCertificate: cert.GetCertificate, MinVersion: tls.VersionTLS12},
	})
	if err != nil {
		return err
	}
	informer, err := mgr.GetCache().GetInformer(ctx, &v1alpha1.EgressRuleSet{})
	if err != nil {
		return fmt.Errorf("policy service: EgressRuleSet informer: %w", err)
	}
	registration, err := informer.AddEventHandler(hub.EventHandler())
	if err != nil {
		return fmt.Errorf("policy service: EgressRuleSet events: %w", err)
	}
	p := &policyService{
		addr: net.JoinHostPort(cfg.WebhookHost, strconv.Itoa(int(cfg.PolicyPort))),
		hub:  hub, server: server, cert: cert, synced: registration.HasSynced, log: log,
	}
	if err := mgr.Add(p); err != nil {
		return fmt.Errorf("adding the policy service: %w", err)
	}
	return mgr.AddReadyzCheck("policy-service", p.ready)
}

// NeedLeaderElection is false: every replica serves.
func (p *policyService) NeedLeaderElection() bool { return false }

// Start waits for a certificate and the informer's first sync, then serves until ctx is done.
func (p *policyService) Start(ctx context.Context) error {
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		return fmt.Errorf("--%s: %w", FlagPolicyPort, err)
	}
	// The rotator's Secret may not be mounted yet: retry every second until it is, then check every 30 s
	// for a renewed CA or a certificate due for renewal.
	go func() {
		interval := time.Second
		for {
			changed, err := p.cert.Refresh()
			switch {
			case err != nil:
				p.log.Info("policy service certificate not ready", "reason", err.Error())
			case changed:
				p.log.Info("policy service certificate loaded")
				interval = 30 * time.Second
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(interval):
			}
		}
	}()
	if !toolscache.WaitForCacheSync(ctx.Done(), p.synced) {
		ln.Close()
		return nil
	}
	p.hub.MarkSynced()
	go p.hub.Run(ctx)
	p.serving.Store(true)
	p.log.Info("serving the policy service", "addr", ln.Addr().String(), "rule_sets", p.hub.RuleSets())
	return p.server.Serve(ctx, ln)
}

// ready is the /readyz check: the informer has synced and a certificate is loaded.
func (p *policyService) ready(*http.Request) error {
	if !p.serving.Load() {
		return errors.New("policy service: EgressRuleSets not synced yet")
	}
	if _, err := p.cert.GetCertificate(nil); err != nil {
		return err
	}
	return nil
}
