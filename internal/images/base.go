package images

import (
	"egress.io/egress/internal/ociimage"
)

// caCertificates is Debian's CA bundle (package ca-certificates), the trust store Go reads first.
const caCertificates = "/etc/ssl/certs/ca-certificates.crt"

const passwd = `root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
`

const group = `root:x:0:
nobody:x:65534:
nonroot:x:65532:
`

// StaticBase is what distroless/static-debian12:nonroot gives a static binary.
func StaticBase() ([]ociimage.Entry, error) {
	ca, err := ociimage.File(caCertificates, caCertificates)
	if err != nil {
		return nil, err
	}
	ca.Mode = 0o644
	return []ociimage.Entry{
		ociimage.Content("/etc/passwd", []byte(passwd), 0o644),
		ociimage.Content("/etc/group", []byte(group), 0o644),
		ociimage.Dir("/tmp", 0o1777, 0, 0),
		ociimage.Dir("/home/nonroot", 0o700, 65532, 65532),
		ociimage.Dir("/root", 0o700, 0, 0),
		ca,
	}, nil
}

// iptablesAlternatives are the names Debian's update-alternatives gives iptables, with their default (nft)
// choice.
var iptablesAlternatives = map[string]string{
	"iptables": "iptables-nft", "iptables-save": "iptables-nft-save", "iptables-restore": "iptables-nft-restore",
	"ip6tables": "ip6tables-nft", "ip6tables-save": "ip6tables-nft-save", "ip6tables-restore": "ip6tables-nft-restore",
	"arptables": "arptables-nft", "arptables-save": "arptables-nft-save", "arptables-restore": "arptables-nft-restore",
	"ebtables": "ebtables-nft", "ebtables-save": "ebtables-nft-save", "ebtables-restore": "ebtables-nft-restore",
}

// IptablesBase is Debian's iptables package as installed (every file but documentation, with what each
// program and module loads), its alternatives set to the nft back end as on a fresh install, and the
// directories iptables writes (/run for its lock, /tmp).
func IptablesBase() ([]ociimage.Entry, error) {
	files, err := ociimage.DebianPackageFiles("iptables")
	if err != nil {
		return nil, err
	}
	entries, err := ociimage.HostFiles(files...)
	if err != nil {
		return nil, err
	}
	for name, choice := range iptablesAlternatives {
		entries = append(entries,
			ociimage.Symlink("/usr/sbin/"+name, "/etc/alternatives/"+name),
			ociimage.Symlink("/etc/alternatives/"+name, "/usr/sbin/"+choice),
		)
	}
	return append(entries,
		ociimage.Content("/etc/passwd", []byte("root:x:0:0:root:/root:/bin/sh\n"), 0o644),
		ociimage.Content("/etc/group", []byte("root:x:0:\n"), 0o644),
		ociimage.Dir("/run", 0o755, 0, 0),
		ociimage.Symlink("/var/run", "/run"),
		ociimage.Dir("/tmp", 0o1777, 0, 0),
		ociimage.Dir("/root", 0o700, 0, 0),
	), nil
}
