package kubectlegress

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"

	"egress.io/egress/api/v1alpha1"
	"egress.io/egress/pkg/policy"
	"egress.io/egress/pkg/settings"
	"egress.io/egress/pkg/suggest"
)

type statusOptions struct {
	common
	AllNamespaces bool
	Top           int
}

func (o *statusOptions) flags() []settings.Flag {
	return append(o.common.flags(),
		settings.Flag{Name: "all-namespaces", Value: settings.Bool(&o.AllNamespaces), Usage: "Every namespace (`-A`)."},
		settings.Flag{Name: "top", Value: settings.Int(&o.Top), Usage: "How many of the most denied or audited targets to list."},
	)
}

var statusCommand = settings.Command{
	Name:     "kubectl egress status",
	Synopsis: "[-n NAMESPACE | -A] [flags]",
	Description: "Lists the injected pods with their sidecars' readiness, restarts and policy version (whether it " +
		"matches the live rule sets), the rule sets with their mode and Accepted condition and how many of those pods " +
		"they select, and the targets the sidecars denied or audited most. Summaries are read through the API " +
		"server's pods/proxy.",
}

// Status is status's structured output.
type Status struct {
	Pods     []PodStatus     `json:"pods"`
	RuleSets []RuleSetStatus `json:"ruleSets"`
	Top      []TopTarget     `json:"topDenied"`
	Warnings []string        `json:"warnings,omitempty"`
}

// PodStatus is one injected pod.
type PodStatus struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// SidecarState is Running, or the reason it waits or terminated.
	SidecarState string `json:"sidecarState"`
	Ready        bool   `json:"ready"`
	Restarts     int32  `json:"restarts"`
	// PolicyVersion is what the sidecar's policy was built from (its /summary); LiveVersion what it would be
	// built from now; InSync says they are equal.
	PolicyVersion string    `json:"policyVersion,omitempty"`
	LiveVersion   string    `json:"liveVersion"`
	InSync        bool      `json:"inSync"`
	PolicyLoaded  time.Time `json:"policyLoaded,omitzero"`
	Mode          string    `json:"mode"`
	Allowed       uint64    `json:"allowed"`
	Denied        uint64    `json:"denied"`
	Audited       uint64    `json:"audited"`
	Error         string    `json:"error,omitempty"`
}

// RuleSetStatus is one rule set.
type RuleSetStatus struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Mode      string `json:"mode"`
	Targets   int    `json:"targets"`
	Valid     int32  `json:"validTargets"`
	Accepted  string `json:"accepted"`
	Reason    string `json:"reason,omitempty"`
	Message   string `json:"message,omitempty"`
	// SelectedPods counts the listed injected pods it selects.
	SelectedPods int `json:"selectedPods"`
}

// TopTarget is a denied or audited target, merged over pods.
type TopTarget struct {
	TargetSeen
}

func runStatus(ctx context.Context, args []string, env settings.Env, stdout, stderr io.Writer, dial dialer) error {
	o := statusOptions{common: defaultCommon(), Top: 10}
	positional, err := splitArgs(o.flags(), args, env)
	if err != nil {
		return err
	}
	if err := o.validate(); err != nil {
		return err
	}
	if len(positional) > 0 {
		return settings.Invalid(fmt.Errorf("unexpected argument %q", positional[0]))
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	cluster, ns, err := dial(o.common)
	if err != nil {
		return err
	}
	if o.AllNamespaces {
		ns = ""
	}
	st, err := statusOf(ctx, cluster, ns, o.Top)
	if err != nil {
		return err
	}
	for _, w := range st.Warnings {
		fmt.Fprintln(stderr, "warning: "+w)
	}
	if o.Output != OutputTable {
		return structured(stdout, o.Output, st)
	}
	_, err = io.WriteString(stdout, st.text(ns == ""))
	return err
}

func statusOf(ctx context.Context, c Cluster, ns string, top int) (*Status, error) {
	st := &Status{Pods: []PodStatus{}, RuleSets: []RuleSetStatus{}, Top: []TopTarget{}}
	pods, err := c.Pods(ctx, ns, "")
	if err != nil {
		return nil, err
	}
	// The rule sets of the listed namespaces and of the sidecars' global namespaces, by namespace.
	sets := map[string][]v1alpha1.EgressRuleSet{}
	loadSets := func(n string) ([]v1alpha1.EgressRuleSet, error) {
		if s, ok := sets[n]; ok {
			return s, nil
		}
		s, err := c.RuleSets(ctx, n)
		if err != nil {
			return nil, err
		}
		sets[n] = s
		return s, nil
	}
	if ns != "" {
		if _, err := loadSets(ns); err != nil {
			return nil, err
		}
	} else {
		all, err := c.RuleSets(ctx, "")
		if err != nil {
			return nil, err
		}
		for _, s := range all {
			sets[s.Namespace] = append(sets[s.Namespace], s)
		}
		for _, p := range pods {
			if _, ok := sets[p.Namespace]; !ok {
				sets[p.Namespace] = nil
			}
		}
	}
	selectedBy := map[string]int{}
	var summaries []suggest.PodSummary
	for i := range pods {
		p := &pods[i]
		in, ok, perr := sidecarOf(p)
		if !ok || p.DeletionTimestamp != nil || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		ps := PodStatus{Namespace: p.Namespace, Name: p.Name, Mode: string(v1alpha1.ModeEnforce)}
		ps.Ready, ps.Restarts, ps.SidecarState = sidecarReady(p)
		if perr != nil {
			ps.Error = perr.Error()
			st.Pods = append(st.Pods, ps)
			continue
		}
		global := in.settings.GlobalNamespace
		own, err := loadSets(p.Namespace)
		if err != nil {
			return nil, err
		}
		podSets := own
		if global != p.Namespace {
			g, err := loadSets(global)
			if err != nil {
				return nil, err
			}
			podSets = append(slices.Clone(own), g...)
		}
		ps.LiveVersion = liveVersion(podSets, p.Namespace, global)
		selected, _ := policy.Select(podSets, policy.Pod{Namespace: p.Namespace, Labels: p.Labels}, global)
		for _, s := range selected {
			selectedBy[s.Namespace+"/"+s.Name]++
		}
		if m, _ := policy.Compile(selected); m.Audit() {
			ps.Mode = string(v1alpha1.ModeAudit)
		}
		port, err := in.adminPort()
		if err == nil && ps.SidecarState == "Running" {
			var s = suggest.PodSummary{Pod: p.Namespace + "/" + p.Name}
			s.Summary, err = c.Summary(ctx, p, port)
			if err == nil {
				summaries = append(summaries, s)
				if s.Summary.Policy != nil {
					ps.PolicyVersion, ps.PolicyLoaded = s.Summary.Policy.Version, s.Summary.Policy.LoadedAt
					ps.InSync = ps.PolicyVersion == ps.LiveVersion
				}
				for _, e := range s.Summary.Entries {
					switch e.Decision {
					case "allow":
						ps.Allowed += e.Count
					case "deny":
						ps.Denied += e.Count
					case "audit":
						ps.Audited += e.Count
					}
				}
				ps.Denied += s.Summary.Other.ByDecision["deny"]
				ps.Audited += s.Summary.Other.ByDecision["audit"]
				ps.Allowed += s.Summary.Other.ByDecision["allow"]
			}
		}
		if err != nil {
			ps.Error = err.Error()
			st.Warnings = append(st.Warnings, err.Error())
		}
		st.Pods = append(st.Pods, ps)
	}
	for _, list := range sets {
		for _, s := range list {
			rs := RuleSetStatus{Namespace: s.Namespace, Name: s.Name, Mode: string(s.Spec.Mode), Targets: len(s.Spec.Targets),
				Valid: s.Status.ValidTargets, Accepted: "Unknown", SelectedPods: selectedBy[s.Namespace+"/"+s.Name]}
			if rs.Mode == "" {
				rs.Mode = string(v1alpha1.ModeEnforce)
			}
			if cond := meta.FindStatusCondition(s.Status.Conditions, v1alpha1.ConditionAccepted); cond != nil {
				if cond.ObservedGeneration == 0 || cond.ObservedGeneration == s.Generation {
					rs.Accepted = string(cond.Status)
				}
				rs.Reason, rs.Message = cond.Reason, cond.Message
			}
			st.RuleSets = append(st.RuleSets, rs)
		}
	}
	slices.SortFunc(st.RuleSets, func(a, b RuleSetStatus) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	merged := suggest.Merge(summaries)
	slices.SortStableFunc(merged.Observations, func(a, b suggest.Observation) int { return cmp.Compare(b.Count, a.Count) })
	for i, o := range merged.Observations {
		if i >= top {
			break
		}
		st.Top = append(st.Top, TopTarget{seen([]suggest.Observation{o})[0]})
	}
	return st, nil
}

// text lays the status out as three tables.
func (st *Status) text(allNamespaces bool) string {
	var b strings.Builder
	if len(st.Pods) == 0 {
		b.WriteString("No injected pods.\n")
	} else {
		rows := [][]string{{"POD", "SIDECAR", "READY", "RESTARTS", "MODE", "POLICY", "IN SYNC", "ALLOWED", "DENIED", "AUDITED"}}
		for _, p := range st.Pods {
			name := p.Name
			if allNamespaces {
				name = p.Namespace + "/" + p.Name
			}
			sync := "no"
			switch {
			case p.PolicyVersion == "":
				sync = "unknown"
			case p.InSync:
				sync = "yes"
			}
			rows = append(rows, []string{name, p.SidecarState, yesNo(p.Ready), fmt.Sprint(p.Restarts), p.Mode, dash(p.PolicyVersion), sync,
				fmt.Sprint(p.Allowed), fmt.Sprint(p.Denied), fmt.Sprint(p.Audited)})
		}
		b.WriteString(table(rows))
	}
	b.WriteString("\n")
	if len(st.RuleSets) == 0 {
		b.WriteString("No EgressRuleSets.\n")
	} else {
		rows := [][]string{{"RULE SET", "MODE", "TARGETS", "ACCEPTED", "REASON", "PODS"}}
		for _, r := range st.RuleSets {
			rows = append(rows, []string{r.Namespace + "/" + r.Name, r.Mode, fmt.Sprintf("%d/%d", r.Valid, r.Targets), r.Accepted, dash(r.Reason), fmt.Sprint(r.SelectedPods)})
		}
		b.WriteString(table(rows))
	}
	b.WriteString("\n")
	if len(st.Top) == 0 {
		b.WriteString("No denied or audited traffic.\n")
	} else {
		rows := [][]string{{"TOP DENIED OR AUDITED", "SEEN", "COUNT", "PODS", "LAST SEEN"}}
		for _, t := range st.Top {
			rows = append(rows, []string{t.Target, strings.Join(t.Decisions, ","), fmt.Sprint(t.Count), fmt.Sprint(len(t.Pods)), t.LastSeen.UTC().Format(time.RFC3339)})
		}
		b.WriteString(table(rows))
	}
	return b.String()
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
