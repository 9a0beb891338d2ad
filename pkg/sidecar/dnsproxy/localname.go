package dnsproxy

import "strings"

// DefaultLocalSuffix is the suffix apps append to a host name to have the sidecar originate TLS to it.
const DefaultLocalSuffix = "egress.local"

// IsLocalName reports whether host (without a port) is NAME.suffix, comparing case-insensitively and
// tolerating a trailing dot on either, and returns NAME in lower case without a trailing dot. The bare
// suffix, an empty NAME or an empty suffix give ok == false: there is no real name to go to.
//
//	IsLocalName("API.GitHub.com.Egress.Local.", "egress.local") == ("api.github.com", true)
func IsLocalName(host, suffix string) (name string, ok bool) {
	host = normalizeName(host)
	suffix = normalizeSuffix(suffix)
	if suffix == "" || len(host) <= len(suffix)+1 {
		return "", false
	}
	cut := len(host) - len(suffix)
	if host[cut-1] != '.' || host[cut:] != suffix {
		return "", false
	}
	name = host[:cut-1]
	if name == "" || strings.HasSuffix(name, ".") {
		return "", false
	}
	return name, true
}

// inLocalZone reports whether a query name is the local suffix itself or a name under it; suffix must be
// normalised already.
func inLocalZone(qname, suffix string) bool {
	qname = normalizeName(qname)
	if qname == suffix {
		return true
	}
	return len(qname) > len(suffix) && qname[len(qname)-len(suffix)-1] == '.' &&
		qname[len(qname)-len(suffix):] == suffix
}

// normalizeSuffix lower-cases a suffix and drops leading and trailing dots.
func normalizeSuffix(suffix string) string {
	return strings.ToLower(strings.Trim(suffix, "."))
}
