package atomicfile

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ErrExists is returned (wrapped) by CheckOutputs for an existing output when force is false.
var ErrExists = errors.New("exists")

// ErrIsInput is returned (wrapped) by CheckOutputs for an output that is one of the run's inputs,
// or another of its outputs.
var ErrIsInput = errors.New("is also an input of this run")

// live holds the temporary files of writes in flight; mu also serialises the final renames
// against Cleanup.
var (
	mu   sync.Mutex
	live = map[string]bool{}
)

// WriteFile writes data to path atomically with the given permissions.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	return Write(path, perm, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// Write creates path atomically from what fill writes. If fill fails, the destination is untouched
// and the temporary file is removed. Orphaned temporary files of the same destination, left by a
// killed process, are swept first.
func Write(path string, perm os.FileMode, fill func(w io.Writer) error) (err error) {
	Sweep(path)
	f, err := createTemp(path)
	if err != nil {
		return fmt.Errorf("atomicfile: %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
			untrack(tmp)
		}
	}()
	if err = fill(f); err != nil {
		return fmt.Errorf("atomicfile: writing %s: %w", path, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("atomicfile: %s: %w", path, err)
	}
	if err = f.Chmod(perm); err != nil {
		return fmt.Errorf("atomicfile: %s: %w", path, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("atomicfile: %s: %w", path, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if err = os.Rename(tmp, path); err != nil {
		return fmt.Errorf("atomicfile: %s: %w", path, err)
	}
	delete(live, tmp)
	return nil
}

// tempPrefix is the name prefix of path's temporary files.
func tempPrefix(path string) string { return "." + filepath.Base(path) + ".tmp-" }

// createTemp creates and tracks a temporary file beside path, named after this process.
func createTemp(path string) (*os.File, error) {
	f, err := os.CreateTemp(filepath.Dir(path), tempPrefix(path)+strconv.Itoa(os.Getpid())+"-*")
	if err != nil {
		return nil, err
	}
	mu.Lock()
	live[f.Name()] = true
	mu.Unlock()
	return f, nil
}

func untrack(name string) {
	mu.Lock()
	delete(live, name)
	mu.Unlock()
}

// legacyAge is how old a temporary file without a process id (written before the id was part of
// the name) must be before Sweep removes it.
const legacyAge = time.Hour

// Sweep removes the temporary files of path left by processes that no longer run (a SIGKILL
// mid-write). Files of live processes, this one included, are left alone. Errors are ignored: a
// sweep is housekeeping.
func Sweep(path string) {
	dir, prefix := filepath.Dir(path), tempPrefix(path)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, prefix) || !e.Type().IsRegular() {
			continue
		}
		rest := name[len(prefix):]
		pidText, _, hasPid := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidText)
		if !hasPid || err != nil || pid <= 0 {
			if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > legacyAge {
				os.Remove(filepath.Join(dir, name))
			}
			continue
		}
		if pid != os.Getpid() && !processAlive(pid) {
			os.Remove(filepath.Join(dir, name))
		}
	}
}

// processAlive reports whether a process with this id exists (signal 0 probes without sending).
func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// Cleanup removes every temporary file of writes in flight.
// It is meant for a signal handler that exits right after: it keeps the package's lock, so that
// no write in flight can rename its temporary file into place afterwards.
func Cleanup() {
	mu.Lock()
	for name := range live {
		os.Remove(name)
	}
	live = map[string]bool{}
}

// CheckOutputs applies the overwrite policy before a run writes anything: no output may be the
// same file as an input (os.SameFile: through "./", symlinks and hard links) or as another
// output, and an existing output is refused (ErrExists) unless force. A directory output is
// checked by the caller on the files it will hold. Inputs that do not exist are ignored (their
// own reader reports them).
func CheckOutputs(outputs, inputs []string, force bool) error {
	type known struct {
		path string
		info os.FileInfo
	}
	var ins []known
	for _, p := range inputs {
		if info, err := os.Stat(p); err == nil {
			ins = append(ins, known{p, info})
		}
	}
	var outs []known
	for _, out := range outputs {
		if out == "" {
			continue
		}
		for _, o := range outs {
			if filepath.Clean(o.path) == filepath.Clean(out) {
				return fmt.Errorf("atomicfile: %s is written twice by this run (%w)", out, ErrIsInput)
			}
		}
		info, err := os.Stat(out)
		if err != nil {
			if !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("atomicfile: output %w", err)
			}
			outs = append(outs, known{out, nil})
			continue
		}
		for _, in := range ins {
			if os.SameFile(info, in.info) {
				if filepath.Clean(in.path) == filepath.Clean(out) {
					return fmt.Errorf("atomicfile: output %s %w; refusing to overwrite it", out, ErrIsInput)
				}
				return fmt.Errorf("atomicfile: output %s is the same file as the input %s; refusing to overwrite it (%w)", out, in.path, ErrIsInput)
			}
		}
		for _, o := range outs {
			if o.info != nil && os.SameFile(info, o.info) {
				return fmt.Errorf("atomicfile: outputs %s and %s are the same file (%w)", o.path, out, ErrIsInput)
			}
		}
		if info.IsDir() {
			return fmt.Errorf("atomicfile: output %s is a directory", out)
		}
		if !force {
			return fmt.Errorf("atomicfile: output %s %w", out, ErrExists)
		}
		outs = append(outs, known{out, info})
	}
	return nil
}

// Lazy is an output written progressively, such as a log: the file is created (truncated) at the
// first Write, so a run that fails before writing anything leaves no file; Discard removes it.
type Lazy struct {
	path string
	perm os.FileMode
	f    *os.File
	// appendTo opens an existing file for appending instead of truncating it.
	appendTo bool
}

// NewLazy returns a Lazy for path; nothing is created yet. With appendTo, the first Write appends
// to an existing file (a resumed run's log), which Discard then leaves in place.
func NewLazy(path string, perm os.FileMode, appendTo bool) *Lazy {
	return &Lazy{path: path, perm: perm, appendTo: appendTo}
}

// Path returns the file's path.
func (l *Lazy) Path() string { return l.path }

// Write creates the file on first use and writes p to it.
func (l *Lazy) Write(p []byte) (int, error) {
	if l.f == nil {
		flags := os.O_WRONLY | os.O_CREATE | os.O_TRUNC
		if l.appendTo {
			flags = os.O_WRONLY | os.O_CREATE | os.O_APPEND
		}
		f, err := os.OpenFile(l.path, flags, l.perm)
		if err != nil {
			return 0, fmt.Errorf("atomicfile: %w", err)
		}
		l.f = f
	}
	return l.f.Write(p)
}

// Written reports whether anything was written.
func (l *Lazy) Written() bool { return l.f != nil }

// Close closes the file, keeping it.
func (l *Lazy) Close() error {
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	if err != nil {
		return fmt.Errorf("atomicfile: %w", err)
	}
	return nil
}

// Discard closes the file and removes it if this Lazy created it.
func (l *Lazy) Discard() {
	if l.f == nil {
		return
	}
	l.f.Close()
	l.f = nil
	if !l.appendTo {
		os.Remove(l.path)
	}
}
