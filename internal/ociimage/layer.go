package ociimage

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Entry is one file, directory or symbolic link of a layer.
type Entry struct {
	// Path is the absolute path in the image.
	Path string
	// Type is tar.TypeReg, tar.TypeDir or tar.TypeSymlink.
	Type byte
	// Mode holds the permission bits (and sticky bit); UID and GID own the entry.
	Mode     int64
	UID, GID int
	// Source is the host file a regular file's content is read from; Data is the content when Source is "".
	Source string
	Data   []byte
	// Link is a symbolic link's target.
	Link string
}

// File is a regular file copied from the host file source, with the host file's permission bits.
func File(imagePath, source string) (Entry, error) {
	info, err := os.Stat(source)
	if err != nil {
		return Entry{}, fmt.Errorf("image file %s: %w", imagePath, err)
	}
	if !info.Mode().IsRegular() {
		return Entry{}, fmt.Errorf("image file %s: %s is not a regular file", imagePath, source)
	}
	return Entry{Path: imagePath, Type: tar.TypeReg, Mode: int64(info.Mode().Perm()), Source: source}, nil
}

// Content is a regular file with the given content and mode.
func Content(imagePath string, data []byte, mode int64) Entry {
	return Entry{Path: imagePath, Type: tar.TypeReg, Mode: mode, Data: data}
}

// Dir is a directory with the given mode and owner.
func Dir(imagePath string, mode int64, uid, gid int) Entry {
	return Entry{Path: imagePath, Type: tar.TypeDir, Mode: mode, UID: uid, GID: gid}
}

// Symlink is a symbolic link to target.
func Symlink(imagePath, target string) Entry {
	return Entry{Path: imagePath, Type: tar.TypeSymlink, Mode: 0o777, Link: target}
}

// epoch is every entry's modification time and the image's creation time.
var epoch = time.Unix(0, 0).UTC()

// LayerTar returns the uncompressed tar of entries: sorted by path, each parent directory present (created
// as root-owned 0755 unless given), duplicates rejected unless identical.
func LayerTar(entries []Entry) ([]byte, error) {
	byPath := map[string]Entry{}
	for _, e := range entries {
		p := path.Clean("/" + e.Path)
		if p == "/" {
			continue
		}
		e.Path = p
		if old, ok := byPath[p]; ok && !sameEntry(old, e) {
			return nil, fmt.Errorf("layer: two different entries for %s", p)
		}
		byPath[p] = e
	}
	for p := range byPath {
		for dir := path.Dir(p); dir != "/"; dir = path.Dir(dir) {
			if _, ok := byPath[dir]; !ok {
				byPath[dir] = Dir(dir, 0o755, 0, 0)
			}
		}
	}
	paths := make([]string, 0, len(byPath))
	for p := range byPath {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, p := range paths {
		e := byPath[p]
		if e.Type != tar.TypeDir && e.Type != tar.TypeReg && e.Type != tar.TypeSymlink {
			return nil, fmt.Errorf("layer: %s has unsupported type %q", p, e.Type)
		}
		if dir := path.Dir(p); dir != "/" && byPath[dir].Type != tar.TypeDir {
			return nil, fmt.Errorf("layer: %s is inside %s, which is not a directory", p, dir)
		}
		name := strings.TrimPrefix(p, "/")
		if e.Type == tar.TypeDir {
			name += "/"
		}
		data := e.Data
		if e.Type == tar.TypeReg && e.Source != "" {
			var err error
			if data, err = os.ReadFile(e.Source); err != nil {
				return nil, fmt.Errorf("layer: %s: %w", p, err)
			}
		}
		hdr := &tar.Header{
			Typeflag: e.Type, Name: name, Linkname: e.Link, Mode: e.Mode, Uid: e.UID, Gid: e.GID,
			ModTime: epoch, Format: tar.FormatPAX,
		}
		if e.Type == tar.TypeReg {
			hdr.Size = int64(len(data))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, fmt.Errorf("layer: %s: %w", p, err)
		}
		if e.Type == tar.TypeReg {
			if _, err := tw.Write(data); err != nil {
				return nil, fmt.Errorf("layer: %s: %w", p, err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("layer: %w", err)
	}
	return buf.Bytes(), nil
}

func sameEntry(a, b Entry) bool {
	return a.Type == b.Type && a.Mode == b.Mode && a.UID == b.UID && a.GID == b.GID && a.Source == b.Source &&
		bytes.Equal(a.Data, b.Data) && a.Link == b.Link
}

// NewLayer returns entries as a gzip-compressed OCI layer.
func NewLayer(entries []Entry) (v1.Layer, error) {
	data, err := LayerTar(entries)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(
		func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil },
		tarball.WithMediaType(types.OCILayer), tarball.WithCompressionLevel(gzip.BestSpeed))
	if err != nil {
		return nil, fmt.Errorf("layer: %w", err)
	}
	return layer, nil
}
