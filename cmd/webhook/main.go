// Command egress-webhook injects the egress init container and sidecar into pods, serves the sidecars their
// rule sets (the policy service, docs/policy-service.md), keeps its serving certificates and the webhook's
// caBundle up to date and publishes the CA to namespaces, mirrors namespaces' egress.io/inject annotation to
// the label the webhook selects on, keeps the RoleBindings that let namespaces using the direct watch read
// their rule sets, and reports EgressRuleSet validity in their status. See docs/webhook.md.
package main

import (
	"os"

	ctrl "sigs.k8s.io/controller-runtime"

	"egress.io/egress/pkg/settings"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	err := run(ctrl.SetupSignalHandler(), os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr)
	os.Exit(settings.Exit("egress-webhook", err, os.Stderr))
}
