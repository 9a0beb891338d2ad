package kubectlegress

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"egress.io/egress/api/v1alpha1"
	"egress.io/egress/pkg/policy"
	"egress.io/egress/pkg/settings"
	"egress.io/egress/pkg/suggest"
)

// suggestOptions are suggest's settings.
type suggestOptions struct {
	common
	Selector  string
	Name      string
	Wildcards bool
}

// newSuggestOptions are suggest's defaults: YAML output, ready for kubectl apply.
func newSuggestOptions() suggestOptions {
	o := suggestOptions{common: defaultCommon()}
	o.Output = OutputYAML
	return o
}

func (o *suggestOptions) flags() []settings.Flag {
	return append(o.common.flags(),
		settings.Flag{Name: "selector", Value: settings.String(&o.Selector, "SELECTOR"), DefaultText: "none",
			Usage: "The pods (`-l`), as a label selector (`app=checkout`); it becomes the rule set's podSelector."},
		settings.Flag{Name: "name", Value: settings.String(&o.Name, "NAME"), DefaultText: "WORKLOAD-egress, else egress-suggested",
			Usage: "The suggested rule set's name."},
		settings.Flag{Name: "wildcards", Value: settings.Bool(&o.Wildcards),
			Usage: "Collapse two or more names under one parent domain, on one port, into `*.parent:port` (never under a one-label parent such as `com`)."},
	)
}

var suggestCommand = settings.Command{
	Name:     "kubectl egress suggest",
	Synopsis: "[deployment/NAME | statefulset/NAME | daemonset/NAME | replicaset/NAME | job/NAME | -l SELECTOR] [flags]",
	Description: "Reads the decision summaries of the workload's injected pods (their sidecars' /summary, through the " +
		"API server's pods/proxy), merges them, and prints an EgressRuleSet allowing the minimal targets that were " +
		"denied or audited, ready for `kubectl apply -f -`: the podSelector is the workload's selector (every pod of " +
		"the namespace without a workload or -l), targets are sorted, each with a comment saying how often, when and " +
		"by how many pods it was seen. What the live rule sets already allow is left out. An empty result says so on " +
		"standard error and prints nothing.",
}

// workloadKinds maps what users type to the kinds Workload reads.
var workloadKinds = map[string]string{
	"deployment": "deployment", "deployments": "deployment", "deploy": "deployment",
	"statefulset": "statefulset", "statefulsets": "statefulset", "sts": "statefulset",
	"daemonset": "daemonset", "daemonsets": "daemonset", "ds": "daemonset",
	"replicaset": "replicaset", "replicasets": "replicaset", "rs": "replicaset",
	"job": "job", "jobs": "job",
}

// SuggestResult is suggest's structured output.
type SuggestResult struct {
	RuleSet v1alpha1.EgressRuleSet `json:"ruleSet"`
	// Pods are the pods whose summaries were read.
	Pods           []string     `json:"pods"`
	Targets        []TargetSeen `json:"targets"`
	AlreadyAllowed []TargetSeen `json:"alreadyAllowed,omitempty"`
	Warnings       []string     `json:"warnings,omitempty"`
	selector       *metav1.LabelSelector
	observations   []suggest.Observation
}

// TargetSeen is a target with what it was seen for.
type TargetSeen struct {
	Target    string    `json:"target"`
	Count     uint64    `json:"count"`
	FirstSeen time.Time `json:"firstSeen"`
	LastSeen  time.Time `json:"lastSeen"`
	Decisions []string  `json:"decisions"`
	Protocols []string  `json:"protocols"`
	Pods      []string  `json:"pods"`
}

func seen(obs []suggest.Observation) []TargetSeen {
	out := make([]TargetSeen, 0, len(obs))
	for _, o := range obs {
		out = append(out, TargetSeen{Target: o.Target.String(), Count: o.Count, FirstSeen: o.FirstSeen, LastSeen: o.LastSeen,
			Decisions: o.Decisions, Protocols: o.Protocols, Pods: o.Pods})
	}
	return out
}

func runSuggest(ctx context.Context, args []string, env settings.Env, stdout, stderr io.Writer, dial dialer) error {
	o := newSuggestOptions()
	positional, err := splitArgs(o.flags(), args, env)
	if err != nil {
		return err
	}
	if err := o.validate(); err != nil {
		return err
	}
	if len(positional) > 1 {
		return settings.Invalid(fmt.Errorf("one workload at most, got %q", positional))
	}
	if len(positional) == 1 && o.Selector != "" {
		return settings.Invalid(fmt.Errorf("give a workload or --selector, not both"))
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	cluster, ns, err := dial(o.common)
	if err != nil {
		return err
	}
	r, err := suggestFor(ctx, cluster, ns, positional, o)
	if err != nil {
		return err
	}
	for _, w := range r.Warnings {
		fmt.Fprintln(stderr, "warning: "+w)
	}
	if len(r.Targets) == 0 {
		fmt.Fprintf(stderr, "nothing to suggest: the %d pods' sidecars saw no denied or audited traffic that the live rule sets do not already allow (%d already allowed)\n",
			len(r.Pods), len(r.AlreadyAllowed))
		return nil
	}
	switch o.Output {
	case OutputJSON:
		return structured(stdout, OutputJSON, r.RuleSet)
	case OutputTable:
		rows := [][]string{{"TARGET", "SEEN", "COUNT", "PODS", "FIRST SEEN", "LAST SEEN"}}
		for _, t := range r.Targets {
			rows = append(rows, []string{t.Target, strings.Join(t.Decisions, ","), fmt.Sprint(t.Count), fmt.Sprint(len(t.Pods)),
				t.FirstSeen.UTC().Format(time.RFC3339), t.LastSeen.UTC().Format(time.RFC3339)})
		}
		_, err := io.WriteString(stdout, table(rows))
		return err
	}
	header := []string{fmt.Sprintf("Suggested by kubectl egress from the sidecars of %d pods (%s): what they denied or audited.", len(r.Pods), strings.Join(r.Pods, ", "))}
	if len(r.AlreadyAllowed) > 0 {
		header = append(header, fmt.Sprintf("Left out, already allowed by the live rule sets: %s.", strings.Join(targetNames(r.AlreadyAllowed), ", ")))
	}
	for _, w := range r.Warnings {
		header = append(header, "Warning: "+w)
	}
	text, err := suggest.YAML(r.RuleSet, r.observations, header)
	if err != nil {
		return err
	}
	_, err = io.WriteString(stdout, text)
	return err
}

func targetNames(ts []TargetSeen) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.Target
	}
	return out
}

// suggestFor reads the pods' summaries and the live rule sets and computes the rule set.
func suggestFor(ctx context.Context, c Cluster, ns string, positional []string, o suggestOptions) (*SuggestResult, error) {
	r := &SuggestResult{Pods: []string{}}
	name := o.Name
	switch {
	case len(positional) == 1:
		kindText, wname, ok := strings.Cut(positional[0], "/")
		kind := workloadKinds[strings.ToLower(kindText)]
		if !ok || kind == "" || wname == "" {
			return nil, settings.Invalid(fmt.Errorf("workload %q: write KIND/NAME, e.g. deployment/checkout", positional[0]))
		}
		sel, err := c.Workload(ctx, ns, kind, wname)
		if err != nil {
			return nil, err
		}
		r.selector = sel
		if name == "" {
			name = wname + "-egress"
		}
	case o.Selector != "":
		sel, err := metav1.ParseToLabelSelector(o.Selector)
		if err != nil {
			return nil, settings.Invalid(fmt.Errorf("--selector: %w", err))
		}
		r.selector = sel
	}
	if name == "" {
		name = "egress-suggested"
	}
	selText := ""
	if r.selector != nil {
		s, err := metav1.LabelSelectorAsSelector(r.selector)
		if err != nil {
			return nil, fmt.Errorf("pod selector: %w", err)
		}
		selText = s.String()
	}
	pods, err := c.Pods(ctx, ns, selText)
	if err != nil {
		return nil, err
	}
	var summaries []suggest.PodSummary
	podByName := map[string]*corev1.Pod{}
	globals := map[string]string{}
	for i := range pods {
		p := &pods[i]
		in, ok, err := sidecarOf(p)
		if !ok {
			continue
		}
		if err != nil {
			r.Warnings = append(r.Warnings, err.Error())
			continue
		}
		if p.Status.Phase != corev1.PodRunning {
			r.Warnings = append(r.Warnings, fmt.Sprintf("pod %s is %s: its summary is not read", p.Name, p.Status.Phase))
			continue
		}
		port, err := in.adminPort()
		if err != nil {
			r.Warnings = append(r.Warnings, fmt.Sprintf("pod %s: %v", p.Name, err))
			continue
		}
		s, err := c.Summary(ctx, p, port)
		if err != nil {
			r.Warnings = append(r.Warnings, err.Error())
			continue
		}
		summaries = append(summaries, suggest.PodSummary{Pod: p.Name, Summary: s})
		podByName[p.Name] = p
		globals[p.Name] = in.settings.GlobalNamespace
		r.Pods = append(r.Pods, p.Name)
	}
	if len(summaries) == 0 {
		what := "namespace " + ns
		if selText != "" {
			what = "pods " + selText + " in " + what
		}
		return nil, fmt.Errorf("no summary could be read from an injected, running pod of %s%s", what, joinWarnings(r.Warnings))
	}
	merged := suggest.Merge(summaries)
	for pod, n := range merged.Overflow {
		r.Warnings = append(r.Warnings, fmt.Sprintf("pod %s's summary was full: %d denied or audited events of other targets were only counted, so this may be incomplete", pod, n))
	}
	for _, s := range merged.Skipped {
		r.Warnings = append(r.Warnings, fmt.Sprintf("%s %s %q seen %d times by %s: %s", s.Entry.Decision, s.Entry.Protocol, s.Entry.Target,
			s.Entry.Count, strings.Join(s.Pods, ","), s.Why))
	}
	matchers, err := podMatchers(ctx, c, ns, podByName, globals)
	if err != nil {
		return nil, err
	}
	res := suggest.Minimal(merged.Observations, suggest.Options{Wildcards: o.Wildcards, Allowed: func(obs suggest.Observation) bool {
		for _, pod := range obs.Pods {
			if !allows(matchers[pod], obs) {
				return false
			}
		}
		return true
	}})
	r.observations = res.Targets
	r.Targets, r.AlreadyAllowed = seen(res.Targets), seen(res.AlreadyAllowed)
	r.RuleSet = suggest.RuleSet(name, ns, r.selector, res.Targets)
	return r, nil
}

// podMatchers compiles, for each pod, the live rule sets its sidecar would select.
func podMatchers(ctx context.Context, c Cluster, ns string, pods map[string]*corev1.Pod, globals map[string]string) (map[string]*policy.Matcher, error) {
	byNS := map[string][]v1alpha1.EgressRuleSet{}
	load := func(n string) ([]v1alpha1.EgressRuleSet, error) {
		if sets, ok := byNS[n]; ok {
			return sets, nil
		}
		sets, err := c.RuleSets(ctx, n)
		if err != nil {
			return nil, err
		}
		byNS[n] = sets
		return sets, nil
	}
	out := map[string]*policy.Matcher{}
	for name, p := range pods {
		own, err := load(ns)
		if err != nil {
			return nil, err
		}
		sets := own
		if g := globals[name]; g != "" && g != ns {
			global, err := load(g)
			if err != nil {
				return nil, err
			}
			sets = append(append([]v1alpha1.EgressRuleSet{}, own...), global...)
		}
		selected, _ := policy.Select(sets, policy.Pod{Namespace: p.Namespace, Labels: p.Labels}, globals[name])
		out[name], _ = policy.Compile(selected)
	}
	return out, nil
}

// allows reports whether m allows what obs saw (its name or its address, on its port).
func allows(m *policy.Matcher, obs suggest.Observation) bool {
	port := obs.Target.Ports.First
	if addr, ok := obs.Addr(); ok {
		return m.Decide("", addr, port).Action == policy.Allow
	}
	if obs.Target.Kind != policy.KindExact {
		return false
	}
	return m.Decide(obs.Target.Host, netip.Addr{}, port).Action == policy.Allow
}

func joinWarnings(ws []string) string {
	if len(ws) == 0 {
		return ""
	}
	return ": " + strings.Join(ws, "; ")
}
