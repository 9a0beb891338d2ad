// Package redirect plans and installs the iptables and ip6tables rules that make egress interception
// transparent: outbound TCP goes to the sidecar's capture port, DNS to its DNS port, and everything else a
// non-sidecar process sends out is refused, so a dead sidecar means refused connections, never a bypass.
//
// The package keeps pure logic apart from side effects:
//
//   - Config, its flags (Config.Flags, Config.Args: the table egress-init and the webhook share) and
//     Config.Validate describe what to intercept.
//   - Config.Plan turns a Config and the pod's address Families into a Plan: tables, own chains and
//     ordered rules as data, rendered in iptables-restore form by Plan.String.
//   - Applier is the one place that changes the kernel's tables, through the small Tables interface
//     (go-iptables in production, an in-memory fake in tests). It is idempotent and its Cleanup
//     removes exactly what Apply added.
//   - DetectFamilies (netlink), CheckNetAdmin and OriginalDestination are the remaining side effects.
package redirect
