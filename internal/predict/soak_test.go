package predict

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xreg-onnx/xreg-onnx/internal/ort"
	"github.com/xreg-onnx/xreg-onnx/internal/ort/orttest"
)

// The soak test serves the linear fixture from a child process (this test binary, re-executed)
// and sends it many large requests at once from this one; it checks that every request is
// answered 200 or 503 (with Retry-After), that the server's peak RSS stays under a bound, and that
// /healthz answers afterwards. By default it runs a small version (40 requests of 512 KiB against
// 2 running and 4 queued, so most are turned away); XREG_SOAK=1 (make soak) runs the full one: 200
// concurrent requests of 8 MiB against the default limits (4 running, 64 queued).
//
// Bounds (peak RSS of the whole server process, onnxruntime included; documented in README):
// the server holds at most MaxInFlight (4) decoded tensors at a time, each about 2× the body
// (4-byte float32 per value of at least 2 bytes of JSON), with slack for the Go heap's growth.
const (
	soakSmallRSS = 256 << 20
	soakFullRSS  = 512 << 20
)

// TestSoakServerProcess is the child: it serves until its stdin closes. It is skipped unless
// the parent runs it.
func TestSoakServerProcess(t *testing.T) {
	if os.Getenv("XREG_SOAK_CHILD") != "1" {
		t.Skip("run by TestServeSoak")
	}
	maxBody, _ := strconv.ParseInt(os.Getenv("XREG_SOAK_MAXBODY"), 10, 64)
	lim := DefaultLimits(maxBody)
	if q := os.Getenv("XREG_SOAK_SMALL_QUEUE"); q == "1" {
		lim.MaxInFlight, lim.MaxQueue = 2, 4
	}
	s, err := ort.Open(soakModel, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	p, err := New(s)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("ADDR %s\n", ln.Addr())
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	if err := Serve(ctx, ln, NewHandler(p, lim), time.Second); err != nil {
		t.Fatal(err)
	}
}

// soakModel is the PyTorch CNN fixture: input [N 1 8 8], 5 class scores, so a response is small
// beside its request.
var soakModel = filepath.Join("..", "..", "cmd", "xreg-onnx", "testdata", "predict", "cnn.onnx")

// bodyReader streams a request body of about size bytes, {"inputs": [[64 values], ...]}, never
// holding it whole.
type bodyReader struct {
	left int
	buf  []byte
	pos  int
	done bool
}

func newBody(size int) *bodyReader {
	return &bodyReader{left: size, buf: []byte(`{"inputs": [`)}
}

var soakRow = "[" + strings.Repeat("0.5,-0.25,", 31) + "0.5,-0.25],"

func (b *bodyReader) Read(p []byte) (int, error) {
	if b.pos == len(b.buf) {
		switch {
		case b.done:
			return 0, io.EOF
		case b.left > 64<<10:
			b.buf = []byte(strings.Repeat(soakRow, (64<<10)/len(soakRow)))
		default:
			b.buf, b.done = []byte(strings.TrimSuffix(soakRow, ",")+"]}"), true
		}
		b.pos = 0
		b.left -= len(b.buf)
	}
	n := copy(p, b.buf[b.pos:])
	b.pos += n
	return n, nil
}

func bodySize(size int) int {
	n := 0
	r := newBody(size)
	buf := make([]byte, 64<<10)
	for {
		m, err := r.Read(buf)
		n += m
		if err != nil {
			return n
		}
	}
}

func TestServeSoak(t *testing.T) {
	requests, size, bound, small := 40, 512<<10, int64(soakSmallRSS), "1"
	if os.Getenv("XREG_SOAK") == "1" {
		requests, size, bound, small = 200, 8<<20, soakFullRSS, "0"
	}
	maxBody := int64(size + 1<<20)
	orttest.Require(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestSoakServerProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), "XREG_SOAK_CHILD=1", "XREG_SOAK_MAXBODY="+strconv.FormatInt(maxBody, 10), "XREG_SOAK_SMALL_QUEUE="+small)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close()
		cmd.Wait()
	}()
	sc := bufio.NewScanner(stdout)
	var addr string
	for sc.Scan() {
		if a, ok := strings.CutPrefix(sc.Text(), "ADDR "); ok {
			addr = a
			break
		}
	}
	if addr == "" {
		t.Fatal("the server child did not start")
	}
	go io.Copy(io.Discard, stdout)
	base := "http://" + addr
	n := bodySize(size)
	client := &http.Client{Timeout: 5 * time.Minute, Transport: &http.Transport{MaxConnsPerHost: 0, DisableKeepAlives: true}}
	codes := make([]int, requests)
	errs := make([]error, requests)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range requests {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, err := http.NewRequest("POST", base+"/predict", newBody(size))
			if err != nil {
				errs[i] = err
				return
			}
			req.ContentLength = int64(n)
			resp, err := client.Do(req)
			if err != nil {
				errs[i] = err
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			codes[i] = resp.StatusCode
			if resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") == "" {
				errs[i] = fmt.Errorf("503 without Retry-After")
			}
		}()
	}
	wg.Wait()
	count := map[int]int{}
	for i := range requests {
		if errs[i] != nil {
			t.Errorf("request %d: %v", i, errs[i])
			continue
		}
		count[codes[i]]++
		if codes[i] != http.StatusOK && codes[i] != http.StatusServiceUnavailable {
			t.Errorf("request %d answered %d, want 200 or 503", i, codes[i])
		}
	}
	if count[http.StatusOK] == 0 {
		t.Errorf("no request answered 200: %v", count)
	}
	resp, err := client.Get(base + "/healthz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz after the soak: %v %v", resp, err)
	}
	resp.Body.Close()
	hwm := peakRSS(t, cmd.Process.Pid)
	t.Logf("%d requests of %d bytes in %v: %v; server peak RSS %d MiB (bound %d MiB)", requests, n, time.Since(start).Round(time.Millisecond), count, hwm>>20, bound>>20)
	if hwm > bound {
		t.Errorf("server peak RSS %d MiB, over the bound of %d MiB", hwm>>20, bound>>20)
	}
}

// peakRSS reads a process's peak resident set size (VmHWM) from /proc.
func peakRSS(t *testing.T, pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skip("no /proc:", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc status")
	return 0
}
