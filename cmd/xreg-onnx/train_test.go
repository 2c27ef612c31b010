package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xreg-onnx/xreg-onnx/onnximport"
)

// TestMain lets the test binary act as the xreg-onnx command, so that tests can run it as a child
// process (and kill it).
func TestMain(m *testing.M) {
	if os.Getenv("XREG_ONNX_AS_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// command runs the test binary as xreg-onnx with args.
func command(args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "XREG_ONNX_AS_MAIN=1")
	return cmd
}

func fixture(parts ...string) string {
	return filepath.Join(append([]string{"..", "..", "testdata"}, parts...)...)
}

// TestTrainKillAndResume trains a small run to the end, then runs it again, kills the process with
// SIGKILL once its first checkpoint exists, resumes it, and checks that the trained models are
// identical and that the log has no duplicated φ updates.
func TestTrainKillAndResume(t *testing.T) {
	dir := t.TempDir()
	injected := filepath.Join(dir, "mlp.xreg.onnx")
	if out, err := command("inject", "-o", injected, fixture("models", "mlp-ln-op13.onnx")).CombinedOutput(); err != nil {
		t.Fatalf("inject: %v\n%s", err, out)
	}
	common := []string{"--data", fixture("fmnist-small", "train-images-idx3-ubyte.gz"), "--limit", "512",
		"--reg-data", fixture("fmnist-small", "reg-images-idx3-ubyte.gz"), "--reg-limit", "128",
		"--epochs", "6", "--batch-size", "32", "--reg-every", "3", "--mc", "2", "--checkpoint-every", "4", "--seed", "3"}
	full := filepath.Join(dir, "full.onnx")
	if out, err := command(append([]string{"train", "-o", full}, append(common, injected)...)...).CombinedOutput(); err != nil {
		t.Fatalf("train: %v\n%s", err, out)
	}

	killed := filepath.Join(dir, "killed.onnx")
	args := append([]string{"train", "-o", killed}, append(common, "--resume", injected)...)
	cmd := command(args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ckpt := killed + ".ckpt"
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err := os.Stat(ckpt); err == nil {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("no checkpoint after 60 s; stderr:\n%s", stderr.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	if _, err := os.Stat(killed); err == nil {
		t.Skip("the run finished before it could be killed (machine too fast for this test)")
	}
	out, err := command(args...).CombinedOutput()
	if err != nil {
		t.Fatalf("resume: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "resumed from "+killed+".ckpt at step ") {
		t.Errorf("the resumed run does not say where it resumed:\n%s", out)
	}
	a, err := onnximport.Load(full)
	if err != nil {
		t.Fatal(err)
	}
	b, err := onnximport.Load(killed)
	if err != nil {
		t.Fatal(err)
	}
	for name, ta := range a.Graph.Initializers {
		tb := b.Graph.Initializers[name]
		for i := range ta.Float {
			if ta.Float[i] != tb.Float[i] {
				t.Fatalf("%s[%d]: %v uninterrupted, %v after kill and resume", name, i, ta.Float[i], tb.Float[i])
			}
		}
	}
	// The resumed log holds each φ update once: 6 epochs × 16 steps / r=3 = 32 lines, in step order.
	data, err := os.ReadFile(killed + ".log.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	last := 0
	regs := 0
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var rec struct {
			Kind string
			Step int
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if rec.Kind == "reg" {
			regs++
			if rec.Step <= last {
				t.Fatalf("log repeats or reorders step %d after %d", rec.Step, last)
			}
			last = rec.Step
		}
	}
	if regs != 32 {
		t.Errorf("%d φ updates logged, want 32", regs)
	}
}

func TestTrainErrors(t *testing.T) {
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"no model", []string{"train", "--data", "x"}, "expected one model file"},
		{"missing data", []string{"train", "--data", "/nonexistent/train.idx", fixture("models", "mlp-ln-op13.onnx")}, "--data"},
		{"not injected", []string{"train", "--data", fixture("fmnist-small", "train-images-idx3-ubyte.gz"), fixture("models", "mlp-ln-op13.onnx")}, "inject"},
		{"bad reg mode", []string{"train", "--regs", "maybe", "--data", fixture("fmnist-small", "train-images-idx3-ubyte.gz"), fixture("models", "mlp-ln-op13.onnx")},
			`train: --regs "maybe": is not one of learn, fixed, off`},
		{"no labels", []string{"train", "--data", filepath.Join("..", "..", "dataset", "testdata", "idx", "nolabels-images-idx3-ubyte"), fixture("models", "mlp-ln-op13.onnx")},
			"not found; give the labels file with --labels"},
		{"bad reg optimizer", []string{"train", "--reg-optimizer", "lion", "--data", fixture("fmnist-small", "train-images-idx3-ubyte.gz"), fixture("models", "mlp-ln-op13.onnx")},
			`train: --reg-optimizer "lion": is not one of adam, sgd`},
		{"one MC pass", []string{"train", "--mc", "1", "--data", fixture("fmnist-small", "train-images-idx3-ubyte.gz"), fixture("models", "mlp-ln-op13.onnx")},
			"train: --mc 1: cross-regularization needs at least 2 Monte-Carlo passes"},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, err := command(c.args...).CombinedOutput()
			if err == nil {
				t.Fatalf("no error; output:\n%s", out)
			}
			s := strings.TrimSpace(string(out))
			if strings.Count(s, "\n") > 0 || !strings.Contains(s, c.want) || strings.Contains(s, "goroutine") {
				t.Fatalf("want one line containing %q, got:\n%s", c.want, s)
			}
		})
	}
}

func TestFlagsFirst(t *testing.T) {
	app := newApp()
	for _, c := range []struct{ in, want string }{
		{"x export m.onnx -o out.onnx --mc 4", "x export -o out.onnx --mc 4 m.onnx"},
		{"x export -o out.onnx m.onnx", "x export -o out.onnx m.onnx"},
		{"x inject m.onnx --force --sigma0=0.5", "x inject --force --sigma0=0.5 m.onnx"},
		{"x train m.onnx --resume --data d.gz", "x train --resume --data d.gz m.onnx"},
		{"x train --data d.gz -- -odd-name.onnx", "x train --data d.gz -odd-name.onnx"},
		{"x unknown a -b", "x unknown a -b"},
	} {
		got := strings.Join(flagsFirst(app, strings.Fields(c.in)), " ")
		if got != c.want {
			t.Errorf("%q → %q, want %q", c.in, got, c.want)
		}
	}
}

// TestTrainRegsOff: with --regs off no σ is reported anywhere — not in the progress lines, the
// JSONL log, the trained model's metadata or the export's — since no noise was applied; with
// learned regs the σ keys are named sigma (they hold σ, not log σ).
func TestTrainRegsOff(t *testing.T) {
	dir := t.TempDir()
	injected := filepath.Join(dir, "cnn.xreg.onnx")
	if out, err := command("inject", "--placement", "pre-affine", "-o", injected, fixture("models", "cnn-bn.onnx")).CombinedOutput(); err != nil {
		t.Fatalf("inject: %v\n%s", err, out)
	}
	common := []string{"--data", fixture("fmnist-small", "train-images-idx3-ubyte.gz"), "--limit", "64",
		"--reg-data", fixture("fmnist-small", "reg-images-idx3-ubyte.gz"), "--reg-limit", "32",
		"--epochs", "1", "--batch-size", "32", "--reg-every", "1", "--mc", "2", "--seed", "1"}
	for _, regs := range []string{"off", "learn"} {
		trained := filepath.Join(dir, regs+".onnx")
		out, err := command(append([]string{"train", "--regs", regs, "-o", trained}, append(common, injected)...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("train --regs %s: %v\n%s", regs, err, out)
		}
		log, err := os.ReadFile(trained + ".log.jsonl")
		if err != nil {
			t.Fatal(err)
		}
		exported := filepath.Join(dir, regs+".export.onnx")
		ex, err := command("export", "-o", exported, trained).CombinedOutput()
		if err != nil {
			t.Fatalf("export: %v\n%s", err, ex)
		}
		tm, err := onnximport.Load(trained)
		if err != nil {
			t.Fatal(err)
		}
		em, err := onnximport.Load(exported)
		if err != nil {
			t.Fatal(err)
		}
		meta := ""
		for _, e := range tm.Proto.MetadataProps {
			if strings.Contains(e.GetKey(), "sigma") {
				meta += e.GetKey() + " "
			}
		}
		learned, _ := em.Metadata("xreg.export.regs")
		if regs == "off" {
			for what, text := range map[string]string{"progress": string(out), "log": string(log), "metadata": meta,
				"export output": string(ex), "export metadata": learned} {
				if strings.Contains(text, "σ [") || strings.Contains(text, `"sigma"`) || strings.Contains(text, ".sigma") ||
					strings.Contains(text, "σ =") || strings.Contains(text, `"value"`) {
					t.Errorf("--regs off: %s shows a σ:\n%s", what, text)
				}
			}
			if !strings.Contains(string(ex), "--regs off") {
				t.Errorf("export does not say the model was trained without noise:\n%s", ex)
			}
			continue
		}
		if !strings.Contains(string(log), `.sigma":`) || strings.Contains(string(log), "log_sigma") ||
			!strings.Contains(meta, "xreg.train.noise.bn1.BatchNormalization.sigma") || !strings.Contains(string(ex), "σ =") {
			t.Errorf("--regs learn: σ keys in the log %q, metadata %q, export output %q", log[:min(len(log), 300)], meta, ex)
		}
	}
}
