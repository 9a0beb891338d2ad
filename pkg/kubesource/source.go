package kubesource

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	"egress.io/egress/api/v1alpha1"
	"egress.io/egress/pkg/policy"
)

// Options configure a Source.
type Options struct {
	// Config reaches the API server as the pod's service account (see RESTConfig).
	Config *rest.Config
	// Namespace is the pod's own namespace (required).
	Namespace string
	// GlobalNamespace defaults to policy.DefaultGlobalNamespace. When it equals Namespace, one watch serves both.
	GlobalNamespace string
	// AllNamespaces watches the rule sets of every namespace in one watch instead (an EgressGateway, which
	// decides for pods of any namespace); Namespace is then not needed.
	AllNamespaces bool
	// Log receives watch errors and deliveries.
	Log logr.Logger
}

// Source implements policy.Source over two namespace-scoped informers.
type Source struct {
	opts       Options
	client     rest.Interface
	namespaces []string

	mu         sync.Mutex
	informers  map[string]cache.SharedIndexInformer
	healthy    map[string]bool
	lastReport map[string]time.Time
	delivered  bool
	trigger    chan struct{}
	sink       policy.Sink
}

// reportEvery limits repeated Failed calls for one namespace while it stays unreachable.
const reportEvery = 10 * time.Second

var _ policy.Source = (*Source)(nil)

// New checks opts and builds the REST client; nothing talks to the API server until Run.
func New(opts Options) (*Source, error) {
	if opts.Config == nil {
		return nil, errors.New("kubesource: Options.Config is required")
	}
	if opts.Namespace == "" && !opts.AllNamespaces {
		return nil, errors.New("kubesource: Options.Namespace (the pod's namespace, --pod-namespace or POD_NAMESPACE) is required")
	}
	if opts.GlobalNamespace == "" {
		opts.GlobalNamespace = policy.DefaultGlobalNamespace
	}
	scheme := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		return nil, fmt.Errorf("kubesource: scheme: %w", err)
	}
	cfg := rest.CopyConfig(opts.Config)
	cfg.APIPath = "/apis"
	cfg.GroupVersion = &v1alpha1.GroupVersion
	cfg.NegotiatedSerializer = serializer.NewCodecFactory(scheme).WithoutConversion()
	if cfg.UserAgent == "" {
		cfg.UserAgent = "egress-sidecar/kubesource"
	}
	client, err := rest.RESTClientFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubesource: REST client for %s: %w", cfg.Host, err)
	}
	namespaces := []string{opts.Namespace}
	if opts.AllNamespaces {
		namespaces = []string{metav1.NamespaceAll}
	} else if opts.GlobalNamespace != opts.Namespace {
		namespaces = append(namespaces, opts.GlobalNamespace)
	}
	return &Source{
		opts:       opts,
		client:     client,
		namespaces: namespaces,
		informers:  map[string]cache.SharedIndexInformer{},
		healthy:    map[string]bool{},
		lastReport: map[string]time.Time{},
		trigger:    make(chan struct{}, 1),
	}, nil
}

// Synced reports whether every watched namespace has completed a list and its watch is currently working.
// It is false before the first sync and while the API server is unreachable.
func (s *Source) Synced() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.informers) < len(s.namespaces) {
		return false
	}
	for _, ns := range s.namespaces {
		if !s.informers[ns].HasSynced() || !s.healthy[ns] {
			return false
		}
	}
	return true
}

// Run watches until ctx is done. It calls sink.Update with the complete list of both namespaces' rule sets
// (sorted by namespace and name) once both have synced and after every change or recovery, and
// sink.Failed when listing or watching a namespace fails (once when it starts failing, then at most every
// 10s while it goes on). It returns nil when ctx is done. A Source runs once.
func (s *Source) Run(ctx context.Context, sink policy.Sink) error {
	s.mu.Lock()
	if s.sink != nil {
		s.mu.Unlock()
		return errors.New("kubesource: Run called twice")
	}
	s.sink = sink
	s.mu.Unlock()
	// client-go's informers log through the context's logger: make that the source's.
	ctx = klog.NewContext(ctx, s.opts.Log.WithName("informer"))
	for _, ns := range s.namespaces {
		inf := cache.NewSharedIndexInformer(s.listWatch(ns), &v1alpha1.EgressRuleSet{}, 0, cache.Indexers{})
		if err := inf.SetWatchErrorHandlerWithContext(s.watchErrorHandler(ns)); err != nil {
			return fmt.Errorf("kubesource: watch error handler: %w", err)
		}
		if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    func(any) { s.poke() },
			UpdateFunc: func(any, any) { s.poke() },
			DeleteFunc: func(any) { s.poke() },
		}); err != nil {
			return fmt.Errorf("kubesource: event handler: %w", err)
		}
		s.mu.Lock()
		s.informers[ns] = inf
		s.mu.Unlock()
	}
	var wg sync.WaitGroup
	for _, inf := range s.informers {
		wg.Go(func() { inf.RunWithContext(ctx) })
	}
	defer wg.Wait()

	synced := make([]cache.InformerSynced, 0, len(s.informers))
	for _, inf := range s.informers {
		synced = append(synced, inf.HasSynced)
	}
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		return nil // ctx done before the first sync
	}
	select { // the initial list's events are in the first delivery already
	case <-s.trigger:
	default:
	}
	s.deliver(sink)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.trigger:
			// Let a burst of events (a relist, kubectl apply of many sets) settle into one delivery.
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(20 * time.Millisecond):
			}
			s.deliver(sink)
		}
	}
}

// deliver hands the sink the current contents of both informers.
func (s *Source) deliver(sink policy.Sink) {
	var sets []v1alpha1.EgressRuleSet
	s.mu.Lock()
	for _, ns := range s.namespaces {
		for _, obj := range s.informers[ns].GetStore().List() {
			if set, ok := obj.(*v1alpha1.EgressRuleSet); ok {
				sets = append(sets, *set.DeepCopy())
			}
		}
	}
	s.delivered = true
	s.mu.Unlock()
	slices.SortFunc(sets, func(a, b v1alpha1.EgressRuleSet) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	s.opts.Log.V(1).Info("delivering rule sets", "count", len(sets))
	sink.Update(sets)
}

// poke asks the Run loop for a delivery; several pokes before it runs make one.
func (s *Source) poke() {
	select {
	case s.trigger <- struct{}{}:
	default:
	}
}

// listWatch lists and watches ns, marking it healthy after every successful call and failed after every
// failed one. The reflector retries a refused connection inside its own loop without calling the watch error
// handler, so this is where an unreachable API server shows.
func (s *Source) listWatch(ns string) *cache.ListWatch {
	base := cache.NewListWatchFromClient(s.client, "egressrulesets", ns, fields.Everything())
	return &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, options metav1.ListOptions) (runtime.Object, error) {
			obj, err := base.ListWithContext(ctx, options)
			s.observe(ctx, ns, "listing", err)
			return obj, err
		},
		WatchFuncWithContext: func(ctx context.Context, options metav1.ListOptions) (watch.Interface, error) {
			w, err := base.WatchWithContext(ctx, options)
			s.observe(ctx, ns, "watching", err)
			return w, err
		},
	}
}

// observe records the outcome of a list or watch call for ns.
func (s *Source) observe(ctx context.Context, ns, what string, err error) {
	if err == nil {
		s.markHealthy(ns)
		return
	}
	if ctx.Err() != nil {
		return // shutting down
	}
	s.fail(ns, fmt.Errorf("%s EgressRuleSets in namespace %s: %w", what, ns, err))
}

func (s *Source) markHealthy(ns string) {
	s.mu.Lock()
	recovered := !s.healthy[ns] && s.delivered
	s.healthy[ns] = true
	delete(s.lastReport, ns)
	s.mu.Unlock()
	if recovered {
		s.opts.Log.Info("watch recovered", "namespace", ns)
		s.poke()
	}
}

// fail marks ns unhealthy and tells the sink, unless it was told about ns less than reportEvery ago.
func (s *Source) fail(ns string, err error) {
	s.mu.Lock()
	s.healthy[ns] = false
	now := time.Now()
	last, reported := s.lastReport[ns]
	report := !reported || now.Sub(last) >= reportEvery
	if report {
		s.lastReport[ns] = now
	}
	sink := s.sink
	s.mu.Unlock()
	if !report {
		return
	}
	s.opts.Log.Error(err, "EgressRuleSet sync failing; keeping the last set")
	sink.Failed(err)
}

// watchErrorHandler reports what ends a list-and-watch cycle with an error; a watch that merely ended or
// expired is routine.
func (s *Source) watchErrorHandler(ns string) cache.WatchErrorHandlerWithContext {
	return func(ctx context.Context, _ *cache.Reflector, err error) {
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, io.EOF) || apierrors.IsResourceExpired(err) || apierrors.IsGone(err) {
			s.opts.Log.V(1).Info("watch ended; resuming", "namespace", ns, "reason", err.Error())
			return
		}
		s.fail(ns, fmt.Errorf("syncing EgressRuleSets in namespace %s: %w", ns, err))
	}
}
