package main

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/xreg-onnx/xreg-onnx/internal/ort/orttest"
	"github.com/xreg-onnx/xreg-onnx/internal/predict"
)

func TestParseByteSize(t *testing.T) {
	for _, test := range []struct {
		in   string
		want int64
		err  bool
	}{
		{"512", 512, false}, {"8MiB", 8 << 20, false}, {"8mib", 8 << 20, false}, {"1MB", 1000000, false},
		{"64 KiB", 64 << 10, false}, {"1.5KB", 1500, false}, {"2GiB", 2 << 30, false}, {"100B", 100, false},
		{"", 0, true}, {"0", 0, true}, {"-1", 0, true}, {"8 MiBs", 0, true}, {"MiB", 0, true}, {"2TiB", 0, true},
	} {
		got, err := parseByteSize(test.in)
		if (err != nil) != test.err || got != test.want {
			t.Errorf("parseByteSize(%q) = %d, %v; want %d, error %v", test.in, got, err, test.want, test.err)
		}
	}
}

// syncBuffer is a bytes.Buffer safe to read while the command writes to it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestServeCommand serves the PyTorch CNN fixture on a loopback port, checks one prediction
// against torch's probabilities and a too-large body, then stops the server with SIGTERM.
func TestServeCommand(t *testing.T) {
	orttest.Require(t)
	x, _, err := predict.LoadNPY("testdata/predict/x.npy") // [3 1 8 8]
	if err != nil {
		t.Fatal(err)
	}
	probs, _, err := predict.LoadNPY("testdata/predict/probs.npy") // [3 5]
	if err != nil {
		t.Fatal(err)
	}

	out := &syncBuffer{}
	app := newApp()
	app.Writer, app.ErrWriter = out, out
	done := make(chan error, 1)
	go func() {
		done <- app.RunContext(context.Background(), []string{"xreg-onnx", "serve",
			"--model", "testdata/predict/cnn.onnx", "--addr", "127.0.0.1:0", "--max-body", "4KiB"})
	}()
	addrRE := regexp.MustCompile(`http://(127\.0\.0\.1:[0-9]+)`)
	var base string
	for deadline := time.Now().Add(10 * time.Second); base == ""; time.Sleep(10 * time.Millisecond) {
		if m := addrRE.FindStringSubmatch(out.String()); m != nil {
			base = "http://" + m[1]
		}
		select {
		case err := <-done:
			t.Fatalf("serve returned early: %v\n%s", err, out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not start:\n%s", out.String())
		}
	}
	client := &http.Client{Timeout: 10 * time.Second}

	// Example 1 as a flat array: it takes the model's example shape [1 8 8].
	body, _ := json.Marshal(map[string]any{"inputs": [][]float32{x[64:128]}})
	resp, err := client.Post(base+"/predict", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var got predict.Response
	err = json.NewDecoder(resp.Body).Decode(&got)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || len(got.Probabilities) != 1 || got.Model != "cnn.onnx" || !got.SoftmaxApplied {
		t.Fatalf("predict: %d %+v %v", resp.StatusCode, got, err)
	}
	for j, p := range got.Probabilities[0] {
		if math.Abs(p-float64(probs[5+j])) > 1e-6 {
			t.Errorf("class %d: %v, torch %v", j, p, probs[5+j])
		}
	}

	resp, err = client.Post(base+"/predict", "application/json", strings.NewReader(`{"inputs": [[`+strings.Repeat("0.5,", 2000)+`0]]}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("8 KB body with --max-body 4KiB: status %d, want 413", resp.StatusCode)
	}

	if err := syscall.Kill(syscall.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serve after SIGTERM: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not stop after SIGTERM")
	}
	if !strings.HasSuffix(out.String(), "serve: stopped\n") {
		t.Errorf("output:\n%s", out.String())
	}
	if _, err := client.Get(base + "/healthz"); err == nil {
		t.Error("server still answers after stopping")
	}
}

func TestServeErrors(t *testing.T) {
	orttest.Require(t)
	for _, test := range []struct {
		args []string
		want string
	}{
		{[]string{"--model", "testdata/predict/cnn.onnx", "--max-body", "lots"}, `serve: --max-body: size "lots": want a number of bytes`},
		{[]string{"--model", "testdata/predict/cnn.onnx", "--addr", "127.0.0.1:notaport"}, "serve: listen tcp: "},
		{[]string{"--model", "testdata/predict/cnn.onnx", "--threads", "-2"}, "serve: --threads -2: want a value in [1, 256]"},
		{[]string{"--model", "testdata/predict/missing.onnx"}, "ort: model testdata/predict/missing.onnx: "},
	} {
		var out bytes.Buffer
		err := runApp(context.Background(), &out, append([]string{"serve"}, test.args...)...)
		if err == nil || !strings.Contains(err.Error(), test.want) {
			t.Errorf("serve %v: error %v, want %q", test.args, err, test.want)
		}
	}
}
