package policy

import (
	"context"

	"egress.io/egress/api/v1alpha1"
)

// DefaultGlobalNamespace is the namespace the product is installed in, whose rule sets apply to pods of every
// namespace unless another global namespace is configured: the one place for that default.
const DefaultGlobalNamespace = "egress-system"

// Sink receives what a Source loads.
type Sink interface {
	// Update is called with the complete, unselected list of rule sets after the first successful load and
	// after every successful change.
	Update(sets []v1alpha1.EgressRuleSet)
	// Failed is called when a load or sync fails; the sink keeps the last good set.
	Failed(err error)
}

// Source delivers rule sets to a Sink until its context is done.
type Source interface {
	Run(ctx context.Context, sink Sink) error
}
