package ociimage

import (
	"bufio"
	"debug/elf"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// libraryDirs is where the dynamic loader of Debian (x86-64, merged /usr) looks for a library that a program
// names without a path, in its order.
var libraryDirs = []string{
	"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib",
}

// HostFiles returns entries that reproduce the host's paths in an image: each path as the host has it
// (every symbolic link met on the way, including merged-/usr links such as /lib64 -> usr/lib64, and the
// file it leads to) and, for each ELF program or library among them, its interpreter and every shared
// library it needs, transitively. The result runs in an image with nothing else in it.
func HostFiles(paths ...string) ([]Entry, error) {
	c := &closure{seen: map[string]bool{}, elfSeen: map[string]bool{}}
	for _, p := range paths {
		if err := c.add(p); err != nil {
			return nil, err
		}
	}
	return c.entries, nil
}

type closure struct {
	entries []Entry
	seen    map[string]bool // image paths added
	elfSeen map[string]bool // real files whose dependencies were added
}

// add adds host path p (absolute), its symbolic links and what it resolves to.
func (c *closure) add(p string) error {
	real, err := c.addPath(p, 0)
	if err != nil {
		return err
	}
	return c.addDependencies(real)
}

// addPath walks p component by component as the kernel does, adding each symbolic link met and the final
// file, and returns the final file's real path.
func (c *closure) addPath(p string, depth int) (string, error) {
	if depth > 40 {
		return "", fmt.Errorf("%s: too many levels of symbolic links", p)
	}
	p = path.Clean(p)
	if !path.IsAbs(p) {
		return "", fmt.Errorf("%s: not an absolute path", p)
	}
	parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
	current := "/"
	for i, part := range parts {
		next := path.Join(current, part)
		info, err := os.Lstat(next)
		if err != nil {
			return "", fmt.Errorf("host file %s: %w", p, err)
		}
		if info.Mode()&fs.ModeSymlink != 0 {
			target, err := os.Readlink(next)
			if err != nil {
				return "", fmt.Errorf("host file %s: %w", p, err)
			}
			c.addEntry(Symlink(next, target))
			resolved := target
			if !path.IsAbs(target) {
				resolved = path.Join(current, target)
			}
			rest := path.Join(append([]string{resolved}, parts[i+1:]...)...)
			return c.addPath(rest, depth+1)
		}
		if i < len(parts)-1 {
			if !info.IsDir() {
				return "", fmt.Errorf("host file %s: %s is not a directory", p, next)
			}
			current = next
			continue
		}
		if info.IsDir() {
			c.addEntry(Dir(next, int64(info.Mode().Perm()), 0, 0))
			return next, nil
		}
		e, err := File(next, next)
		if err != nil {
			return "", err
		}
		c.addEntry(e)
		return next, nil
	}
	return current, nil
}

func (c *closure) addEntry(e Entry) {
	if c.seen[e.Path] {
		return
	}
	c.seen[e.Path] = true
	c.entries = append(c.entries, e)
}

// addDependencies adds the interpreter and needed libraries of real, when it is an ELF file.
func (c *closure) addDependencies(real string) error {
	if c.elfSeen[real] {
		return nil
	}
	c.elfSeen[real] = true
	f, err := elf.Open(real)
	if err != nil {
		var format *elf.FormatError
		if errors.As(err, &format) || errors.Is(err, fs.ErrInvalid) || strings.Contains(err.Error(), "bad magic") {
			return nil // not an ELF file: data, a script
		}
		return fmt.Errorf("reading %s: %w", real, err)
	}
	defer f.Close()
	for _, prog := range f.Progs {
		if prog.Type != elf.PT_INTERP {
			continue
		}
		buf := make([]byte, prog.Filesz)
		if _, err := prog.ReadAt(buf, 0); err != nil {
			return fmt.Errorf("reading the interpreter of %s: %w", real, err)
		}
		if err := c.add(strings.TrimRight(string(buf), "\x00")); err != nil {
			return err
		}
	}
	needed, err := f.DynString(elf.DT_NEEDED)
	if err != nil {
		return nil // statically linked
	}
	var runpath []string
	for _, tag := range []elf.DynTag{elf.DT_RUNPATH, elf.DT_RPATH} {
		values, _ := f.DynString(tag)
		for _, v := range values {
			for _, dir := range strings.Split(v, ":") {
				runpath = append(runpath, strings.ReplaceAll(dir, "$ORIGIN", filepath.Dir(real)))
			}
		}
	}
	for _, lib := range needed {
		found := ""
		for _, dir := range append(runpath, libraryDirs...) {
			candidate := path.Join(dir, lib)
			if _, err := os.Stat(candidate); err == nil {
				found = candidate
				break
			}
		}
		if found == "" {
			return fmt.Errorf("%s needs %s, which is in none of %v", real, lib, append(runpath, libraryDirs...))
		}
		if err := c.add(found); err != nil {
			return err
		}
	}
	return nil
}

// DebianPackageFiles returns the regular files and symbolic links that Debian package pkg installed (from
// dpkg's database), leaving out documentation (/usr/share/doc, /usr/share/man, ...).
func DebianPackageFiles(pkg string) ([]string, error) {
	var list *os.File
	var err error
	for _, name := range []string{pkg + ".list", pkg + ":amd64.list"} {
		if list, err = os.Open(filepath.Join("/var/lib/dpkg/info", name)); err == nil {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("the Debian package %s is not installed (apt-get install %s): %w", pkg, pkg, err)
	}
	defer list.Close()
	var files []string
	scanner := bufio.NewScanner(list)
	for scanner.Scan() {
		p := scanner.Text()
		if strings.HasPrefix(p, "/usr/share/") {
			continue
		}
		info, err := os.Lstat(p)
		if err != nil || info.IsDir() {
			continue
		}
		files = append(files, p)
	}
	return files, scanner.Err()
}
