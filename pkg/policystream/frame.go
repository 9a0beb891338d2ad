package policystream

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"egress.io/egress/api/v1alpha1"
)

// Path is the one resource the service serves; ContentType is its response's.
const (
	Path        = "/v1/policy"
	ContentType = "application/x-ndjson"
	// QueryNamespace and QueryVersion are the request's parameters: the namespace the client believes it is
	// in, and the version it has.
	QueryNamespace = "namespace"
	QueryVersion   = "version"
)

// HeartbeatInterval is how often the service writes a heartbeat on an idle stream; IdleTimeout is how long a
// client waits for any frame before it gives the stream up.
const (
	HeartbeatInterval = 15 * time.Second
	IdleTimeout       = 3 * HeartbeatInterval
)

// MaxFrameBytes bounds one frame a client accepts (a namespace's and the global namespace's rule sets).
const MaxFrameBytes = 32 << 20

// Type says what a frame is.
type Type string

// The frame types.
const (
	// Snapshot carries every rule set of the pod's namespace and of the global namespace.
	Snapshot Type = "snapshot"
	// Current says the version the client sent is the current one: keep it.
	Current Type = "current"
	// Heartbeat says the stream is alive.
	Heartbeat Type = "heartbeat"
	// Reconnect asks the client to open a new stream now.
	Reconnect Type = "reconnect"
)

// Frame is one line of the stream.
type Frame struct {
	Type Type `json:"type"`
	// Version identifies the snapshot (Snapshot, Current).
	Version string `json:"version,omitempty"`
	// Namespace is the pod's namespace as the service authenticated it; GlobalNamespace the service's
	// global namespace (Snapshot).
	Namespace       string `json:"namespace,omitempty"`
	GlobalNamespace string `json:"globalNamespace,omitempty"`
	// RuleSets are the snapshot's rule sets, sorted by namespace and name; [] when there are none.
	RuleSets []RuleSet `json:"ruleSets,omitzero"`
	// Reason says why (Reconnect).
	Reason string `json:"reason,omitempty"`
}

// RuleSet is what a sidecar needs of an EgressRuleSet: its name, namespace, generation and spec (no status,
// labels, annotations or managed fields).
type RuleSet struct {
	Name       string                     `json:"name"`
	Namespace  string                     `json:"namespace"`
	Generation int64                      `json:"generation,omitempty"`
	Spec       v1alpha1.EgressRuleSetSpec `json:"spec"`
}

// FromObject keeps what a sidecar needs of a rule set.
func FromObject(o *v1alpha1.EgressRuleSet) RuleSet {
	return RuleSet{Name: o.Name, Namespace: o.Namespace, Generation: o.Generation, Spec: *o.Spec.DeepCopy()}
}

// Object is the rule set as the policy package takes it.
func (r RuleSet) Object() v1alpha1.EgressRuleSet {
	return v1alpha1.EgressRuleSet{
		ObjectMeta: metav1.ObjectMeta{Name: r.Name, Namespace: r.Namespace, Generation: r.Generation},
		Spec:       *r.Spec.DeepCopy(),
	}
}

// SortRuleSets sorts by namespace, then name: the order of a snapshot.
func SortRuleSets(sets []RuleSet) {
	slices.SortFunc(sets, func(a, b RuleSet) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
}

// NewSnapshot returns the snapshot frame of sets (sorted here) for a pod of namespace, with its version: the
// SHA-256 of the namespaces and the rule sets as encoded. Equal content gives an equal version on every
// replica; a change of any rule set's spec, a set added or removed changes it.
func NewSnapshot(namespace, globalNamespace string, sets []RuleSet) (Frame, error) {
	sets = slices.Clone(sets)
	if sets == nil {
		sets = []RuleSet{}
	}
	SortRuleSets(sets)
	content, err := json.Marshal(struct {
		N, G string
		S    []RuleSet
	}{namespace, globalNamespace, sets})
	if err != nil {
		return Frame{}, fmt.Errorf("encoding the snapshot of %s: %w", namespace, err)
	}
	sum := sha256.Sum256(content)
	return Frame{Type: Snapshot, Version: "sha256:" + hex.EncodeToString(sum[:16]), Namespace: namespace,
		GlobalNamespace: globalNamespace, RuleSets: sets}, nil
}

// Encode returns the frame as one line, newline included.
func (f Frame) Encode() ([]byte, error) {
	b, err := json.Marshal(f)
	if err != nil {
		return nil, fmt.Errorf("encoding a %s frame: %w", f.Type, err)
	}
	return append(b, '\n'), nil
}

// Decode parses one line into a frame and checks it is one a client can act on.
func Decode(line []byte) (Frame, error) {
	var f Frame
	dec := json.NewDecoder(bytes.NewReader(line))
	if err := dec.Decode(&f); err != nil {
		return Frame{}, fmt.Errorf("decoding a frame: %w", err)
	}
	switch f.Type {
	case Snapshot:
		if f.Version == "" || f.Namespace == "" || f.GlobalNamespace == "" || f.RuleSets == nil {
			return Frame{}, errors.New("a snapshot frame needs version, namespace, globalNamespace and ruleSets")
		}
	case Current:
		if f.Version == "" {
			return Frame{}, errors.New("a current frame needs a version")
		}
	case Heartbeat, Reconnect:
	default:
		return Frame{}, fmt.Errorf("unknown frame type %q", f.Type)
	}
	return f, nil
}
