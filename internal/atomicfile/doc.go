// Package atomicfile owns the project's file-writing policy, used by every command that writes:
//
//   - Write and WriteFile create a file so that a reader never sees a partial one: the data goes
//     to a temporary file in the destination's folder, is synced, and is renamed over the
//     destination. On failure the temporary file is removed.
//   - CheckOutputs is the overwrite policy: an output is never one of the run's inputs (compared
//     with os.SameFile, so "./x", symlinks and hard links are caught), never another output of
//     the run, and an existing output is replaced only when the caller says so (--force).
//   - Cleanup removes every temporary file this process still has open; cmd/xreg-onnx calls it on
//     SIGINT and SIGTERM. A temporary file's name carries its process id
//     (".NAME.tmp-PID-RANDOM"), so one that a SIGKILL left behind is swept by the next write to
//     the same destination once that process is gone.
//   - Lazy is a progressively written output (a training log) that only comes into existence at
//     its first write, so no empty file survives a failed run; Discard removes it.
package atomicfile
