package kubectlegress

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"egress.io/egress/api/v1alpha1"
	"egress.io/egress/pkg/policy"
	"egress.io/egress/pkg/settings"
	"egress.io/egress/pkg/sidecar"
	"egress.io/egress/pkg/sidecar/addrclass"
	"egress.io/egress/pkg/sidecar/decide"
)

// Explanation is what `why` says about a destination for a pod.
type Explanation struct {
	Pod         string            `json:"pod"`
	Namespace   string            `json:"namespace"`
	Labels      map[string]string `json:"labels,omitempty"`
	Destination string            `json:"destination"`
	// Decision, Reason, RuleSet and Target are the sidecar's decision, as its decision log would record it.
	Decision     string `json:"decision"`
	Reason       string `json:"reason"`
	RuleSet      string `json:"ruleSet,omitempty"`
	Target       string `json:"target,omitempty"`
	AddressClass string `json:"addressClass,omitempty"`
	// Suggestion is the narrowest target that would allow it, when it is denied or audited.
	Suggestion string `json:"suggestion,omitempty"`
	// Mode is Enforce, or Audit when a selected rule set is in audit mode (AuditRuleSet).
	Mode        string       `json:"mode"`
	AuditBy     string       `json:"auditBy,omitempty"`
	GlobalNS    string       `json:"globalNamespace"`
	SelectedBy  []string     `json:"selectedBy"`
	Invalid     []string     `json:"invalidTargets,omitempty"`
	NotSelected []Unselected `json:"wouldAllowIfSelected,omitempty"`
	Notes       []string     `json:"notes,omitempty"`
}

// Unselected is a rule set of the pod's namespace or the global namespace whose targets allow the
// destination but whose podSelector does not select the pod.
type Unselected struct {
	RuleSet  string `json:"ruleSet"`
	Target   string `json:"target"`
	Selector string `json:"podSelector"`
}

// parseDestination reads HOST:PORT, [IPv6]:PORT.
func parseDestination(s string) (string, uint16, error) {
	host, portText, err := net.SplitHostPort(s)
	if err != nil {
		return "", 0, fmt.Errorf("destination %q: %w (write HOST:PORT, e.g. api.example.com:443)", s, err)
	}
	port, err := strconv.ParseUint(portText, 10, 16)
	if err != nil || port == 0 {
		return "", 0, fmt.Errorf("destination %q: port %q is not 1-65535", s, portText)
	}
	if host == "" {
		return "", 0, fmt.Errorf("destination %q: empty host", s)
	}
	return host, uint16(port), nil
}

// explain decides host:port for pod as its sidecar would, with the sidecar's settings and the live rule
// sets: policy.Select for the pod's labels, policy.Compile, and the decision (package decide for an
// address, which adds the address guard; Matcher.Decide for a name, which the sidecar resolves only once
// allowed).
func explain(ctx context.Context, pod *corev1.Pod, sc sidecar.Settings, sets []v1alpha1.EgressRuleSet, host string, port uint16) (Explanation, error) {
	global := sc.GlobalNamespace
	e := Explanation{Pod: pod.Name, Namespace: pod.Namespace, Labels: pod.Labels, Destination: net.JoinHostPort(host, strconv.Itoa(int(port))),
		Mode: string(v1alpha1.ModeEnforce), GlobalNS: global, SelectedBy: []string{}}
	podRef := policy.Pod{Namespace: pod.Namespace, Labels: pod.Labels}
	selected, errs := policy.Select(sets, podRef, global)
	for _, err := range errs {
		e.Notes = append(e.Notes, "rule set skipped, as the sidecar skips it: "+err.Error())
	}
	for _, s := range selected {
		e.SelectedBy = append(e.SelectedBy, s.Namespace+"/"+s.Name)
	}
	slices.Sort(e.SelectedBy)
	m, problems := policy.Compile(selected)
	for _, p := range problems {
		e.Invalid = append(e.Invalid, p.Error())
	}
	if m.Audit() {
		e.Mode = string(v1alpha1.ModeAudit)
	}
	guard, err := addrclass.New(sc.Config.AddrClassConfig())
	if err != nil {
		return e, fmt.Errorf("the sidecar's address guard: %w", err)
	}
	decider := &decide.Decider{Policy: func() *policy.Matcher { return m }, Guard: guard}
	var v decide.Verdict
	if addr, err := netip.ParseAddr(host); err == nil && addr.Zone() == "" {
		dst := netip.AddrPortFrom(addr.Unmap(), port)
		if loop, ok := decider.Loop(dst); ok {
			v = loop
		} else {
			v = decider.DecideWith(ctx, m, decide.Ask{Protocol: decide.TCP, Dst: dst, Port: port})
		}
		e.Notes = append(e.Notes, "decided as a connection to the address (opaque TCP, or TLS whose SNI no target allows); "+
			"a connection to an address the pod's DNS proxy just answered for a name is also decided by that name")
	} else {
		v = decide.Verdict{Protocol: decide.HTTP, Decision: m.Decide(host, netip.Addr{}, port)}
		if v.Allowed() {
			e.Notes = append(e.Notes, "the sidecar then resolves the name and connects only to addresses outside the ranges its "+
				"address guard refuses (private, loopback, link-local, --deny-cidrs), unless a CIDR target allows that address")
		}
		if v.Name != "" && m.RouteRestricted(v.Name, port) {
			e.Notes = append(e.Notes, fmt.Sprintf("routes restrict %s:%d: only plain HTTP (or http://%s.egress.local) requests that match "+
				"a route are allowed, and TLS the app speaks itself is refused", v.Name, port, v.Name))
		}
	}
	e.Decision, e.Reason, e.RuleSet, e.Target, e.AddressClass = v.Action.String(), v.Reason(), v.RuleSet, v.Target, v.AddressClass
	if v.Action == policy.Audit {
		e.AuditBy = v.RuleSet
	}
	if !v.Allowed() || v.Action == policy.Audit {
		e.Suggestion = v.Suggestion()
	}
	if v.Action != policy.Allow {
		for _, s := range sets {
			if (s.Namespace != pod.Namespace && s.Namespace != global) || slices.Contains(e.SelectedBy, s.Namespace+"/"+s.Name) {
				continue
			}
			one, _ := policy.Compile([]v1alpha1.EgressRuleSet{s})
			if d := one.Decide(host, addrOrZero(host), port); d.Action == policy.Allow {
				e.NotSelected = append(e.NotSelected, Unselected{RuleSet: d.RuleSet, Target: d.Target, Selector: selectorText(s.Spec.PodSelector)})
			}
		}
	}
	return e, nil
}

func addrOrZero(host string) netip.Addr {
	if a, err := netip.ParseAddr(host); err == nil {
		return a.Unmap()
	}
	return netip.Addr{}
}

func selectorText(sel *metav1.LabelSelector) string {
	if sel == nil {
		return "(every pod)"
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return "(invalid: " + err.Error() + ")"
	}
	if s.Empty() {
		return "(every pod)"
	}
	return s.String()
}

// text writes the explanation for a person.
func (e Explanation) text() string {
	var b strings.Builder
	rows := [][]string{{"DESTINATION", "DECISION", "REASON", "RULE SET", "TARGET"}}
	rows = append(rows, []string{e.Destination, e.Decision, e.Reason, dash(e.RuleSet), dash(e.Target)})
	b.WriteString(table(rows))
	fmt.Fprintf(&b, "\npod %s/%s, labels %s; rule sets selecting it: %s (mode %s)\n", e.Namespace, e.Name(),
		labelsText(e.Labels), listOrNone(e.SelectedBy), e.Mode)
	switch e.Decision {
	case "allow":
		fmt.Fprintf(&b, "allowed by target %q of rule set %s\n", e.Target, e.RuleSet)
	case "audit":
		fmt.Fprintf(&b, "no target allows it; let through and logged because rule set %s is in Audit mode; in Enforce mode it would be denied\n", e.AuditBy)
	default:
		b.WriteString("denied\n")
	}
	if e.Suggestion != "" {
		fmt.Fprintf(&b, "would be allowed by target %q in a rule set selecting the pod\n", e.Suggestion)
	}
	if e.AddressClass != "" {
		fmt.Fprintf(&b, "the address lies in %s\n", e.AddressClass)
	}
	for _, u := range e.NotSelected {
		fmt.Fprintf(&b, "rule set %s has target %q that allows it, but its podSelector %s does not select the pod\n", u.RuleSet, u.Target, u.Selector)
	}
	for _, inv := range e.Invalid {
		fmt.Fprintf(&b, "invalid target skipped: %s\n", inv)
	}
	for _, n := range e.Notes {
		fmt.Fprintf(&b, "note: %s\n", n)
	}
	return b.String()
}

// Name returns the pod's name.
func (e Explanation) Name() string { return e.Pod }

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func listOrNone(items []string) string {
	if len(items) == 0 {
		return "none"
	}
	return strings.Join(items, ", ")
}

func labelsText(labels map[string]string) string {
	if len(labels) == 0 {
		return "(none)"
	}
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + labels[k]
	}
	return strings.Join(parts, ",")
}

type whyOptions struct {
	common
}

func (o *whyOptions) flags() []settings.Flag { return o.common.flags() }

var whyCommand = settings.Command{
	Name:     "kubectl egress why",
	Synopsis: "pod/NAME HOST:PORT [flags]",
	Description: "Says whether the pod's sidecar allows HOST:PORT, which rule set and target allow it, or what target " +
		"would: computed with the sidecar's own policy code over the pod's labels, the sidecar's arguments in the pod " +
		"spec (global namespace, address guard) and the live rule sets of the pod's namespace and the global namespace. " +
		"Also names rule sets that would allow it but do not select the pod, and invalid targets that were skipped.",
}

func runWhy(ctx context.Context, args []string, env settings.Env, stdout, stderr io.Writer, dial dialer) error {
	o := whyOptions{common: defaultCommon()}
	positional, err := splitArgs(o.flags(), args, env)
	if err != nil {
		return err
	}
	if err := o.validate(); err != nil {
		return err
	}
	if len(positional) != 2 {
		return settings.Invalid(fmt.Errorf("want pod/NAME HOST:PORT, got %q", positional))
	}
	podName := strings.TrimPrefix(strings.TrimPrefix(positional[0], "pod/"), "pods/")
	host, port, err := parseDestination(positional[1])
	if err != nil {
		return settings.Invalid(err)
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	cluster, ns, err := dial(o.common)
	if err != nil {
		return err
	}
	pod, err := cluster.Pod(ctx, ns, podName)
	if err != nil {
		return err
	}
	in, ok, err := sidecarOf(pod)
	if !ok {
		return fmt.Errorf("pod %s/%s has no %s container: it was not injected (is namespace %s annotated egress.io/inject=enabled, and was the pod created after?)",
			ns, podName, SidecarContainer, ns)
	}
	if err != nil {
		return err
	}
	sets, err := cluster.RuleSets(ctx, ns)
	if err != nil {
		return err
	}
	if g := in.settings.GlobalNamespace; g != "" && g != ns {
		global, err := cluster.RuleSets(ctx, g)
		if err != nil {
			return err
		}
		sets = append(sets, global...)
	}
	e, err := explain(ctx, pod, in.settings, sets, host, port)
	if err != nil {
		return err
	}
	if o.Output != OutputTable {
		return structured(stdout, o.Output, e)
	}
	_, err = io.WriteString(stdout, e.text())
	return err
}
