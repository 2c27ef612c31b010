package ort_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/xreg-onnx/xreg-onnx/internal/ort"
)

// writeTarball writes a gzipped tarball holding the given files (path → content).
func writeTarball(t *testing.T, path string, files map[string]string) {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for name, body := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestInstallFromTarball installs from a hand-made npm tarball (the layout of onnxruntime-node)
// into XDG_DATA_HOME/xreg-onnx, where the loader then finds it; a second call keeps it, --force
// replaces it, and a tarball without the library writes nothing.
func TestInstallFromTarball(t *testing.T) {
	arch := map[string]string{"amd64": "x64", "arm64": "arm64"}[runtime.GOARCH]
	if runtime.GOOS != "linux" || arch == "" {
		t.Skip("onnxruntime-node ships Linux x64 and arm64 libraries only")
	}
	root := t.TempDir()
	t.Setenv(ort.EnvDataHome, filepath.Join(root, "data"))
	t.Setenv(ort.EnvLib, "")
	t.Chdir(root) // no go.mod above: the checkout's copy is not found
	tgz := filepath.Join(root, "onnxruntime-node-1.30.0.tgz")
	writeTarball(t, tgz, map[string]string{
		"package/package.json": "{}",
		"package/bin/napi-v6/linux/" + arch + "/libonnxruntime.so.1": "the library",
		"package/bin/napi-v6/linux/other/libonnxruntime.so.1":        "wrong arch",
	})
	var log bytes.Buffer
	got, err := ort.Install(context.Background(), ort.InstallOptions{Tarball: tgz, Log: &log})
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(root, "data", "xreg-onnx", "libonnxruntime.so.1")
	if got != want {
		t.Fatalf("Install = %s, want %s", got, want)
	}
	if b, _ := os.ReadFile(want); string(b) != "the library" {
		t.Errorf("installed %q, want the x64 library", b)
	}
	if b, _ := os.ReadFile(filepath.Join(filepath.Dir(want), "VERSION")); strings.TrimSpace(string(b)) != ort.NPMVersion {
		t.Errorf("VERSION = %q, want %s", b, ort.NPMVersion)
	}
	if found, err := ort.FindLibrary(); err != nil || found != want {
		t.Errorf("after Install, FindLibrary = %q, %v; want %s", found, err, want)
	}

	// Installed already: kept, even from another tarball; Force replaces it.
	writeTarball(t, tgz, map[string]string{"package/bin/napi-v6/linux/" + arch + "/libonnxruntime.so.1": "newer"})
	log.Reset()
	if _, err := ort.Install(context.Background(), ort.InstallOptions{Tarball: tgz, Log: &log}); err != nil || !strings.Contains(log.String(), "already installed") {
		t.Errorf("second Install: %v, log %q", err, log.String())
	}
	if _, err := ort.Install(context.Background(), ort.InstallOptions{Tarball: tgz, Force: true}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(want); string(b) != "newer" {
		t.Errorf("Force: installed %q, want the new library", b)
	}

	// A tarball without the library: an error naming it, nothing written.
	bad := filepath.Join(root, "bad.tgz")
	writeTarball(t, bad, map[string]string{"package/package.json": "{}"})
	dir := filepath.Join(root, "other")
	_, err = ort.Install(context.Background(), ort.InstallOptions{Tarball: bad, Dir: dir})
	if err == nil || !strings.Contains(err.Error(), "bad.tgz holds no package/bin/napi-v6/linux/") {
		t.Errorf("bad tarball: err = %v", err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("bad tarball left %s behind", dir)
	}
}
