package inject

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	applypatch "github.com/evanphx/json-patch/v5"
	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// Reason codes the handler adds to Injectable's for metrics and logs.
const (
	ReasonInvalidAnnotation Reason = "invalid_annotation"
	ReasonUnsafePod         Reason = "unsafe_pod"
	ReasonNotPodCreate      Reason = "not_pod_create"
	ReasonDecode            Reason = "decode"
	ReasonNamespaceLookup   Reason = "namespace_lookup"
	ReasonMutation          Reason = "mutation"
)

// Handler is the mutating admission handler for pod CREATE requests: it injects pods that Injectable
// accepts, answering with a JSON patch, and rejects (or warns about) pods that could bypass interception.
type Handler struct {
	cfg        Config
	namespaces client.Reader
	decoder    admission.Decoder
	metrics    *Metrics
	log        logr.Logger
}

// NewHandler returns a Handler that reads namespaces through namespaces (typically the manager's cache),
// counts into metrics (may be nil) and logs to log.
func NewHandler(cfg Config, namespaces client.Reader, scheme *runtime.Scheme, metrics *Metrics, log logr.Logger) (*Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("injection config: %w", err)
	}
	return &Handler{cfg: cfg, namespaces: namespaces, decoder: admission.NewDecoder(scheme), metrics: metrics, log: log}, nil
}

// Handle decides, mutates and answers. Dry-run requests get the same answer but are neither counted nor
// logged at info level.
func (h *Handler) Handle(ctx context.Context, req admission.Request) admission.Response {
	dryRun := req.DryRun != nil && *req.DryRun
	log := h.log.WithValues("namespace", req.Namespace, "name", req.Name, "uid", req.UID, "dryRun", dryRun)
	finish := func(result string, reason Reason, resp admission.Response) admission.Response {
		if !dryRun {
			h.metrics.observe(result, reason)
		}
		log.V(1).Info("admission", "result", result, "reason", reason, "allowed", resp.Allowed)
		return resp
	}

	if req.Kind.Kind != "Pod" || req.Operation != admissionv1.Create {
		return finish(ResultSkipped, ReasonNotPodCreate, admission.Allowed("egress: only pod creation is handled"))
	}
	pod := &corev1.Pod{}
	if err := h.decoder.Decode(req, pod); err != nil {
		return finish(ResultError, ReasonDecode, admission.Errored(http.StatusBadRequest, fmt.Errorf("decoding pod: %w", err)))
	}
	if pod.Namespace == "" {
		pod.Namespace = req.Namespace
	}
	ns := &corev1.Namespace{}
	if err := h.namespaces.Get(ctx, client.ObjectKey{Name: req.Namespace}, ns); err != nil {
		log.Error(err, "reading the pod's namespace")
		return finish(ResultError, ReasonNamespaceLookup,
			admission.Errored(http.StatusInternalServerError, fmt.Errorf("egress: reading namespace %q: %w", req.Namespace, err)))
	}

	ok, reason := Injectable(pod, ns, h.cfg)
	switch {
	case reason == ReasonAlreadyInjected:
		// Re-invocation, or a pod created from an injected pod's spec: nothing to add, but a later webhook
		// may have added an unsafe container since, so the checks run again.
		resp, unsafe := h.checkSecurity(pod)
		if unsafe {
			return finish(ResultRejected, ReasonUnsafePod, resp)
		}
		return finish(ResultSkipped, reason, resp)
	case reason == ReasonInvalidInjectValue:
		return finish(ResultRejected, reason, admission.Denied(fmt.Sprintf(
			"egress: pod annotation or label %s must be %q or %q", AnnotationInject, ValueEnabled, ValueDisabled)))
	case !ok:
		return finish(ResultSkipped, reason, admission.Allowed("egress: not injected: "+string(reason)))
	}

	mutated := pod.DeepCopy()
	if err := Inject(mutated, ns, h.cfg); err != nil {
		var invalid *InvalidAnnotationError
		var unsafe *UnsafePodError
		switch {
		case errors.As(err, &invalid):
			return finish(ResultRejected, ReasonInvalidAnnotation, admission.Denied("egress: "+err.Error()))
		case errors.As(err, &unsafe):
			return finish(ResultRejected, ReasonUnsafePod, admission.Denied(err.Error()))
		default:
			return finish(ResultRejected, ReasonMutation, admission.Denied("egress: "+err.Error()))
		}
	}
	resp, err := h.patchResponse(req.Object.Raw, pod, mutated)
	if err != nil {
		log.Error(err, "building the patch")
		return finish(ResultError, ReasonMutation, admission.Errored(http.StatusInternalServerError, fmt.Errorf("egress: %w", err)))
	}
	if h.cfg.UnsafePods == WarnUnsafePods {
		resp = resp.WithWarnings(warnings(SecurityFindings(pod, h.cfg))...)
	}
	if !dryRun {
		log.Info("injected", "reason", reason)
	}
	return finish(ResultInjected, reason, resp)
}

// patchResponse answers with the patch from pod to mutated (see CreatePatch), after checking that it turns
// the raw request object into mutated: a patch that does not is an error, never a silently different pod.
func (h *Handler) patchResponse(raw []byte, pod, mutated *corev1.Pod) (admission.Response, error) {
	ops, err := CreatePatch(pod, mutated)
	if err != nil {
		return admission.Response{}, err
	}
	if len(ops) == 0 {
		return admission.Allowed(""), nil
	}
	doc, err := json.Marshal(ops)
	if err != nil {
		return admission.Response{}, fmt.Errorf("encoding the patch: %w", err)
	}
	patch, err := applypatch.DecodePatch(doc)
	if err != nil {
		return admission.Response{}, fmt.Errorf("decoding our own patch: %w", err)
	}
	patched, err := patch.Apply(raw)
	if err != nil {
		return admission.Response{}, fmt.Errorf("the patch does not apply to the pod as sent: %w", err)
	}
	check := &corev1.Pod{}
	if err := h.decoder.DecodeRaw(runtime.RawExtension{Raw: patched}, check); err != nil {
		return admission.Response{}, fmt.Errorf("decoding the patched pod: %w", err)
	}
	if check.Namespace == "" {
		check.Namespace = mutated.Namespace
	}
	if !equality.Semantic.DeepEqual(check, mutated) {
		return admission.Response{}, errors.New("the patch applied to the pod as sent does not give the injected pod")
	}
	pt := admissionv1.PatchTypeJSONPatch
	return admission.Response{
		Patches:           ops,
		AdmissionResponse: admissionv1.AdmissionResponse{Allowed: true, PatchType: &pt},
	}, nil
}

// checkSecurity answers for an already injected pod: denied when it has findings under RejectUnsafePods
// (unsafe true), else allowed, with the findings as warnings under WarnUnsafePods.
func (h *Handler) checkSecurity(pod *corev1.Pod) (admission.Response, bool) {
	findings := SecurityFindings(pod, h.cfg)
	if len(findings) == 0 {
		return admission.Allowed("egress: already injected"), false
	}
	if h.cfg.UnsafePods == WarnUnsafePods {
		return admission.Allowed("egress: already injected").WithWarnings(warnings(findings)...), false
	}
	return admission.Denied((&UnsafePodError{Findings: findings}).Error()), true
}

func warnings(findings []Finding) []string {
	out := make([]string, len(findings))
	for n, f := range findings {
		out[n] = "egress: " + f.String()
	}
	return out
}
