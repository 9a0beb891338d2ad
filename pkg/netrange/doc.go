// Package netrange is the one syntax of destination ports, port ranges and address prefixes that flags,
// annotations and rule-set targets share: one type per kind, one parser, one way to write them back.
// Everything here is pure.
package netrange
