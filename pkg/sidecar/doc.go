// Package sidecar is the egress data path's edge: it binds the capture listener that egress-init redirects
// to, reads each connection's original destination, sniffs its first bytes once (package sniff) and hands
// it to its path: HTTP/1 and h2c to package httppath (decided per request, TLS originated for
// NAME.egress.local), TLS passthrough and opaque TCP to package stream. Every decision is made by package
// decide, recorded by package record and counted by package telemetry. It also runs the DNS proxy (package
// dnsproxy), the admin server (metrics, readiness, /summary, recent decisions) and the policy state that
// compiles rule sets, and it drains on shutdown.
//
// Loggers and metric registries are passed in; nothing is global.
package sidecar
