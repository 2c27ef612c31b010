package atomicfile

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteReplacesWhole(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "out.bin")
	if err := WriteFile(p, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(p, []byte("new content"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(p)
	if err != nil || string(got) != "new content" {
		t.Fatalf("got %q, %v", got, err)
	}
	st, _ := os.Stat(p)
	if st.Mode().Perm() != 0o600 {
		t.Errorf("perm %v, want 0600", st.Mode().Perm())
	}
}

func TestWriteFailureKeepsOld(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "out.bin")
	if err := WriteFile(p, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err := Write(p, 0o644, func(w io.Writer) error {
		w.Write([]byte("partial"))
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want boom", err)
	}
	got, _ := os.ReadFile(p)
	if string(got) != "old" {
		t.Fatalf("destination changed to %q", got)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("temporary file left behind: %v", entries)
	}
}

// TestCheckOutputs: an output that is an input — by the same path, through "./", a symlink or a
// hard link — is refused even with force; an existing output only with force; two outputs naming
// one file are refused.
func TestCheckOutputs(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.onnx")
	if err := os.WriteFile(in, []byte("model"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.onnx")
	if err := os.Symlink(in, link); err != nil {
		t.Fatal(err)
	}
	hard := filepath.Join(dir, "hard.onnx")
	if err := os.Link(in, hard); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "other.onnx")
	if err := os.WriteFile(other, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	dotted := dir + "/./sub/../in.onnx" // not cleaned, as a user would type it
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name    string
		outs    []string
		force   bool
		wantErr error
	}{
		{"output is input", []string{in}, true, ErrIsInput},
		{"through ./ and ..", []string{dotted}, true, ErrIsInput},
		{"through a symlink", []string{link}, true, ErrIsInput},
		{"through a hard link", []string{hard}, true, ErrIsInput},
		{"existing output", []string{other}, false, ErrExists},
		{"existing output with force", []string{other}, true, nil},
		{"new output", []string{filepath.Join(dir, "new.onnx")}, false, nil},
		{"two outputs, one file", []string{filepath.Join(dir, "a"), dir + "/./a"}, false, ErrIsInput},
		{"two existing outputs, one file", []string{other, dir + "/sub/../other.onnx"}, true, ErrIsInput},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := CheckOutputs(c.outs, []string{in}, c.force)
			if c.wantErr == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, c.wantErr) {
				t.Fatalf("err = %v, want %v", err, c.wantErr)
			}
			if !strings.Contains(err.Error(), c.outs[len(c.outs)-1]) {
				t.Errorf("error %q does not name the output", err)
			}
		})
	}
	got, _ := os.ReadFile(in)
	if string(got) != "model" {
		t.Fatalf("input changed to %q", got)
	}
}

// TestSweep: a temporary file of a process that is gone (a SIGKILL mid-write) is removed by the
// next write to the same destination; one of a live process is not.
func TestSweep(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "out.onnx")
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skip("no `true` to get a dead process id:", err)
	}
	dead := cmd.Process.Pid
	orphan := filepath.Join(dir, fmt.Sprintf(".out.onnx.tmp-%d-123", dead))
	alive := filepath.Join(dir, fmt.Sprintf(".out.onnx.tmp-%d-456", os.Getppid()))
	unrelated := filepath.Join(dir, fmt.Sprintf(".other.onnx.tmp-%d-789", dead))
	for _, f := range []string{orphan, alive, unrelated} {
		if err := os.WriteFile(f, []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := WriteFile(p, []byte("new"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(orphan); !os.IsNotExist(err) {
		t.Errorf("orphan of dead process %d not swept: %v", dead, err)
	}
	for _, f := range []string{alive, unrelated} {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("%s removed: %v", f, err)
		}
	}
}

// TestCleanup: Cleanup removes the temporary file of a write in flight, and that write cannot
// rename it into place afterwards.
func TestCleanup(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "out.onnx")
	started, finish := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- Write(p, 0o644, func(w io.Writer) error {
			w.Write([]byte("partial"))
			close(started)
			<-finish
			return nil
		})
	}()
	<-started
	Cleanup()
	close(finish)
	entries, _ := os.ReadDir(dir)
	if len(entries) != 0 {
		t.Errorf("left after Cleanup: %v", entries)
	}
	mu.Unlock() // what a real caller never does: it exits
	err := <-done
	if err == nil {
		t.Errorf("the interrupted write succeeded")
	}
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Errorf("destination exists after Cleanup: %v", err)
	}
}

// TestLazy: nothing is created before the first write; Discard removes what was created, but
// never a file it only appended to.
func TestLazy(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "log.jsonl")
	l := NewLazy(p, 0o644, false)
	l.Discard()
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Fatalf("file exists before any write: %v", err)
	}
	if _, err := l.Write([]byte("line\n")); err != nil {
		t.Fatal(err)
	}
	l.Discard()
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Fatalf("Discard left the file: %v", err)
	}
	if err := os.WriteFile(p, []byte("kept\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	a := NewLazy(p, 0o644, true)
	if _, err := a.Write([]byte("more\n")); err != nil {
		t.Fatal(err)
	}
	a.Discard()
	got, _ := os.ReadFile(p)
	if string(got) != "kept\nmore\n" {
		t.Fatalf("appended file holds %q", got)
	}
}
