// Package ociimage builds container images without Docker, with go-containerregistry: files from the host
// or generated, in layers that are byte-for-byte reproducible (sorted entries, fixed times and owners, no
// host names), an OCI image configuration, and OCI image-layout tarballs that `ctr images import`,
// `docker load` and `podman load` read. HostFiles copies Debian binaries with every shared library they
// need (the ELF closure), so an image can carry a dynamically linked program such as iptables or curl.
//
// Same inputs, same digest: nothing in an image depends on when or where it was built.
package ociimage
