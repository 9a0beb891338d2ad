package ociimage

import (
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Config is the part of an image's configuration the images here set.
type Config struct {
	Entrypoint []string
	Cmd        []string
	// User is "UID:GID" (or empty for root), as a Dockerfile's USER.
	User       string
	Env        []string
	WorkingDir string
	Labels     map[string]string
}

// DefaultPath is the PATH of Debian's images, set in every image's environment unless Config.Env sets one.
const DefaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Layer is the content of one layer and what made it, recorded in the image's history.
type Layer struct {
	Entries   []Entry
	CreatedBy string
}

// NewImage builds a linux/amd64 OCI image from layers (base first) with cfg.
func NewImage(cfg Config, layers ...Layer) (v1.Image, error) {
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	return Append(img, cfg, layers...)
}

// Append adds layers to base and sets cfg over base's configuration: fields cfg leaves empty keep base's
// values, and cfg.Env is added to base's environment (a variable set in both takes cfg's value).
func Append(base v1.Image, cfg Config, layers ...Layer) (v1.Image, error) {
	var adds []mutate.Addendum
	for _, l := range layers {
		layer, err := NewLayer(l.Entries)
		if err != nil {
			return nil, err
		}
		adds = append(adds, mutate.Addendum{
			Layer:     layer,
			MediaType: types.OCILayer,
			History:   v1.History{Created: v1.Time{Time: epoch}, CreatedBy: l.CreatedBy},
		})
	}
	img, err := mutate.Append(base, adds...)
	if err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}
	file, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}
	file = file.DeepCopy()
	file.OS, file.Architecture = "linux", "amd64"
	file.Created = v1.Time{Time: epoch}
	c := &file.Config
	if cfg.Entrypoint != nil {
		c.Entrypoint = cfg.Entrypoint
	}
	if cfg.Cmd != nil {
		c.Cmd = cfg.Cmd
	}
	if cfg.User != "" {
		c.User = cfg.User
	}
	if cfg.WorkingDir != "" {
		c.WorkingDir = cfg.WorkingDir
	}
	c.Env = mergeEnv(c.Env, cfg.Env)
	if len(cfg.Labels) > 0 {
		if c.Labels == nil {
			c.Labels = map[string]string{}
		}
		for k, v := range cfg.Labels {
			c.Labels[k] = v
		}
	}
	img, err = mutate.ConfigFile(img, file)
	if err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}
	return img, nil
}

// mergeEnv returns base with add applied (a name in both takes add's value), and DefaultPath when neither
// sets PATH.
func mergeEnv(base, add []string) []string {
	out := append([]string{}, base...)
	for _, kv := range add {
		name := kv
		if i := indexByte(kv, '='); i >= 0 {
			name = kv[:i]
		}
		replaced := false
		for i, old := range out {
			if j := indexByte(old, '='); j >= 0 && old[:j] == name {
				out[i], replaced = kv, true
			}
		}
		if !replaced {
			out = append(out, kv)
		}
	}
	for _, kv := range out {
		if len(kv) >= 5 && kv[:5] == "PATH=" {
			return out
		}
	}
	return append([]string{DefaultPath}, out...)
}

func indexByte(s string, b byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == b {
			return i
		}
	}
	return -1
}
