package kubelet

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
)

// Nothing can be pulled here, so every image is built as a docker-archive tarball (one
// layer, a config, a manifest naming the tag) and imported into containerd's k8s.io
// namespace, where the CRI plugin finds it.

type imageFile struct {
	name string // path inside the image, without the leading slash
	mode int64
	data []byte
	link string // symlink target, for a symlink
	dir  bool
}

type image struct {
	tag        string
	entrypoint []string
	user       string
	files      []imageFile
}

// hostFile copies a file of the host into the image at the same path.
func hostFile(p string, mode int64) (imageFile, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return imageFile{}, err
	}
	return imageFile{name: strings.TrimPrefix(p, "/"), mode: mode, data: b}, nil
}

// withLibs adds the shared libraries a dynamically linked host binary needs (as ldd
// reports them), at their host paths, so that the binary runs in the image.
func withLibs(bin string) ([]imageFile, error) {
	out, err := exec.Command("ldd", bin).CombinedOutput()
	if strings.Contains(string(out), "not a dynamic executable") {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("ldd %s: %w", bin, err)
	}
	var files []imageFile
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		var p string
		switch {
		case len(f) >= 3 && f[1] == "=>" && strings.HasPrefix(f[2], "/"):
			p = f[2]
		case len(f) >= 1 && strings.HasPrefix(f[0], "/"):
			p = f[0]
		default:
			continue
		}
		real, err := filepath.EvalSymlinks(p)
		if err != nil {
			return nil, err
		}
		lib, err := hostFile(real, 0o755)
		if err != nil {
			return nil, err
		}
		lib.name = strings.TrimPrefix(p, "/")
		files = append(files, lib)
	}
	return files, nil
}

// layer writes the files, with every parent directory, as one tar layer owned by root.
func (im image) layer() ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := map[string]bool{}
	var mkdirs func(string) error
	mkdirs = func(d string) error {
		if d == "." || d == "" || dirs[d] {
			return nil
		}
		if err := mkdirs(path.Dir(d)); err != nil {
			return err
		}
		dirs[d] = true
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o755})
	}
	for _, f := range im.files {
		if err := mkdirs(path.Dir(f.name)); err != nil {
			return nil, err
		}
		h := &tar.Header{Name: f.name, Mode: f.mode}
		switch {
		case f.dir:
			h.Typeflag, h.Name = tar.TypeDir, f.name+"/"
			dirs[f.name] = true
		case f.link != "":
			h.Typeflag, h.Linkname = tar.TypeSymlink, f.link
		default:
			h.Typeflag, h.Size = tar.TypeReg, int64(len(f.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write(f.data); err != nil {
				return nil, err
			}
		}
	}
	return buf.Bytes(), tw.Close()
}

// archive writes the image as a docker-archive tarball at dst.
func (im image) archive(dst string) error {
	layer, err := im.layer()
	if err != nil {
		return err
	}
	sum := sha256.Sum256(layer)
	diffID := "sha256:" + hex.EncodeToString(sum[:])
	config, err := json.Marshal(map[string]any{
		"architecture": "amd64",
		"os":           "linux",
		"config":       map[string]any{"Entrypoint": im.entrypoint, "User": im.user},
		"rootfs":       map[string]any{"type": "layers", "diff_ids": []string{diffID}},
	})
	if err != nil {
		return err
	}
	csum := sha256.Sum256(config)
	configName := hex.EncodeToString(csum[:]) + ".json"
	manifest, err := json.Marshal([]map[string]any{{
		"Config": configName, "RepoTags": []string{im.tag}, "Layers": []string{"layer.tar"},
	}})
	if err != nil {
		return err
	}
	f, err := os.Create(dst)
	if err != nil {
		return err
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	for _, e := range []struct {
		name string
		data []byte
	}{{"layer.tar", layer}, {configName, config}, {"manifest.json", manifest}} {
		if err := tw.WriteHeader(&tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.data)), Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		if _, err := tw.Write(e.data); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return f.Close()
}

// importImages builds each image and imports it with ctr into the k8s.io namespace.
func (n *node) importImages(images []image) error {
	for i, im := range images {
		dst := filepath.Join(n.dir, fmt.Sprintf("image-%d.tar", i))
		if err := im.archive(dst); err != nil {
			return fmt.Errorf("image %s: %w", im.tag, err)
		}
		out, err := exec.Command("ctr", "--address", n.sock, "-n", "k8s.io", "images", "import", dst).CombinedOutput()
		if err != nil {
			return fmt.Errorf("ctr images import %s: %v\n%s", im.tag, err, out)
		}
		os.Remove(dst)
	}
	return nil
}
