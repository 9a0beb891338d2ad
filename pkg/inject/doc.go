// Package inject decides whether a pod gets the egress init container and sidecar (Injectable, with a reason
// code), mutates the pod spec to add them (Inject), checks that the app cannot bypass interception
// (SecurityFindings) and serves all of it as a controller-runtime mutating admission handler (Handler).
//
// Everything but Handler's I/O is pure: functions of the pod, its namespace and a Config.
package inject
