package e2e

// The story's objects, shared by the end-to-end test and the demo.
const (
	// Namespace is the namespace the story enables for injection.
	Namespace = "shop"

	// AppDeployment is the app: it calls the API once at startup and logs the answer, then waits. It has no
	// egress configuration of its own and runs as UID 1000.
	AppDeployment = `apiVersion: apps/v1
kind: Deployment
metadata: {name: checkout, namespace: shop}
spec:
  replicas: 1
  selector: {matchLabels: {app: checkout}}
  template:
    metadata: {labels: {app: checkout}}
    spec:
      terminationGracePeriodSeconds: 2
      securityContext: {runAsUser: 1000, runAsGroup: 1000}
      containers:
      - name: app
        image: localhost/egress-e2e/app:1
        command: [sh, -c, 'echo "startup call: $(curl -sS --max-time 5 https://api.example.test/ 2>&1)"; trap "exit 0" TERM; sleep infinity & wait']
`

	// ReportJob runs the app's one call and exits: with the sidecar a native sidecar, the Job completes.
	ReportJob = `apiVersion: batch/v1
kind: Job
metadata: {name: report, namespace: shop}
spec:
  backoffLimit: 0
  template:
    metadata: {labels: {app: checkout}}
    spec:
      restartPolicy: Never
      securityContext: {runAsUser: 1000, runAsGroup: 1000}
      containers:
      - name: app
        image: localhost/egress-e2e/app:1
        command: [curl, -sS, -f, --max-time, "5", "https://api.example.test/"]
`

	// AllowAPIRuleSet lets the checkout pods reach api.example.test:443.
	AllowAPIRuleSet = `apiVersion: egress.io/v1alpha1
kind: EgressRuleSet
metadata: {name: payments-deps, namespace: shop}
spec:
  podSelector: {matchLabels: {app: checkout}}
  targets: ["api.example.test:443"]
`

	// AuditRuleSet puts every pod of the namespace in audit mode.
	AuditRuleSet = `apiVersion: egress.io/v1alpha1
kind: EgressRuleSet
metadata: {name: observe, namespace: shop}
spec:
  mode: Audit
  targets: ["audit.example.test:443"]
`
)

// BarePod is a pod named name in namespace ns running the app image, for admission checks.
func BarePod(ns, name string) string {
	return `apiVersion: v1
kind: Pod
metadata: {name: ` + name + `, namespace: ` + ns + `, labels: {app: probe}}
spec:
  terminationGracePeriodSeconds: 1
  securityContext: {runAsUser: 1000, runAsGroup: 1000}
  containers:
  - name: app
    image: localhost/egress-e2e/app:1
    command: [sh, -c, 'trap "exit 0" TERM; sleep infinity & wait']
`
}

// The gateway story: an EgressGateway of two pods, and a rule set that sends the checkout pods' calls to
// other.example.test through it.
const (
	GatewayObject = `apiVersion: egress.io/v1alpha1
kind: EgressGateway
metadata: {name: partners, namespace: egress-system}
spec:
  replicas: 2
  resources: {requests: {cpu: 20m, memory: 32Mi}, limits: {memory: 128Mi}}
`
	GatewayRuleSet = `apiVersion: egress.io/v1alpha1
kind: EgressRuleSet
metadata: {name: via-partners, namespace: shop}
spec:
  gateway: partners
  podSelector: {matchLabels: {app: checkout}}
  targets: ["other.example.test:443"]
`
)
