package predict

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/xreg-onnx/xreg-onnx/internal/testutil"
)

var client = &http.Client{Timeout: 10 * time.Second}

func TestHandlerErrors(t *testing.T) {
	p := openLinear(t, []int64{2}, "")
	srv := httptest.NewServer(Handler(p, 256)) // loopback only
	defer srv.Close()
	big := `{"inputs": [[` + strings.Repeat("1.0, ", 100) + `1]]}`
	for _, test := range []struct {
		name, method, path, body string
		code                     int
		want                     string // substring of the error
		allow                    string
	}{
		{"predict by GET", "GET", "/predict", "", 405, "method not allowed; use POST", "POST"},
		{"healthz by POST", "POST", "/healthz", "{}", 405, "use GET or HEAD", "GET, HEAD"},
		{"unknown path", "GET", "/nope", "", 404, "no such endpoint /nope", ""},
		{"empty body", "POST", "/predict", "", 400, "bad JSON: empty body", ""},
		{"syntax", "POST", "/predict", `{"inputs": [[1, 2]`, 400, "bad JSON: unexpected EOF", ""},
		{"unknown field", "POST", "/predict", `{"input": [[1, 2]]}`, 400, `bad JSON: json: unknown field "input"`, ""},
		{"two values", "POST", "/predict", `{"inputs": [[1, 2]]} {}`, 400, "bad JSON: more than one JSON value", ""},
		{"shape not ints", "POST", "/predict", `{"inputs": [[1, 2]], "shape": ["a"]}`, 400, "bad JSON: json: cannot unmarshal a string into the shape", ""},
		{"too large", "POST", "/predict", big, 413, "request body larger than 256 bytes", ""},
		{"no inputs", "POST", "/predict", `{}`, 422, `"inputs" is missing`, ""},
		{"inputs not array", "POST", "/predict", `{"inputs": "abc"}`, 422, "inputs must be an array of examples, got a string", ""},
		{"inputs empty", "POST", "/predict", `{"inputs": []}`, 422, "inputs is empty", ""},
		{"ragged", "POST", "/predict", `{"inputs": [[1, 2], [3]]}`, 422, "inputs[1]: want an array of 2, got an array of 1", ""},
		{"not a number", "POST", "/predict", `{"inputs": [[1, "2"]]}`, 422, "inputs[0][1]: want a number, got a string", ""},
		{"too big a number", "POST", "/predict", `{"inputs": [[1, 1e39]]}`, 422, "inputs[0][1]: 1e39 is out of float32 range", ""},
		{"wrong shape", "POST", "/predict", `{"inputs": [[1, 2, 3]]}`, 422, `input shape [1 3] does not match model input "x": want [N 2]`, ""},
		{"shape vs values", "POST", "/predict", `{"inputs": [1, 2, 3], "shape": [2, 2]}`, 422, "shape [2 2] needs 4 values, inputs hold 3", ""},
		{"overflowing shape", "POST", "/predict", `{"inputs": [1, 2], "shape": [3, 6148914691236517206]}`, 422, "shape [3 6148914691236517206] is too large", ""},
		{"negative shape", "POST", "/predict", `{"inputs": [1, 2], "shape": [-1, 2]}`, 422, "negative dimension", ""},
	} {
		req, err := http.NewRequest(test.method, srv.URL+test.path, strings.NewReader(test.body))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body struct{ Error string }
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if err != nil {
			t.Errorf("%s: body is not JSON: %v", test.name, err)
		}
		if resp.StatusCode != test.code || !strings.Contains(body.Error, test.want) {
			t.Errorf("%s: %d %q; want %d and an error containing %q", test.name, resp.StatusCode, body.Error, test.code, test.want)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s: Content-Type %q", test.name, ct)
		}
		if got := resp.Header.Get("Allow"); got != test.allow {
			t.Errorf("%s: Allow %q, want %q", test.name, got, test.allow)
		}
	}
}

func TestHandlerPredict(t *testing.T) {
	dense := openLinear(t, []int64{2}, "")
	image := openLinear(t, []int64{1, 2, 1}, "") // [N 1 2 1]: flat examples take the model's shape
	for _, test := range []struct {
		name string
		p    *Predictor
		body string
	}{
		{"nested", dense, `{"inputs": [[1, 2], [3, -1]]}`},
		{"flat with shape", dense, `{"inputs": [1, 2, 3, -1], "shape": [2, 2]}`},
		{"flat to image model", image, `{"inputs": [[1, 2], [3, -1]]}`},
		{"nested image", image, `{"inputs": [[[[1], [2]]], [[[3], [-1]]]]}`},
	} {
		srv := httptest.NewServer(Handler(test.p, 1<<20))
		resp, err := client.Post(srv.URL+"/predict", "application/json", strings.NewReader(test.body))
		if err != nil {
			t.Fatal(err)
		}
		var got Response
		err = json.NewDecoder(resp.Body).Decode(&got)
		resp.Body.Close()
		srv.Close()
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s: %d, %v", test.name, resp.StatusCode, err)
		}
		if got.Model != "model.onnx" || got.Output != "y" || !got.SoftmaxApplied || len(got.Probabilities) != 2 ||
			len(got.Classes) != 2 || got.Classes[0] != 0 || got.Classes[1] != 0 {
			t.Errorf("%s: response %+v", test.name, got)
			continue
		}
		for i, row := range got.Probabilities {
			if testutil.Compare(row, softmaxLin[i], 1e-6, 0).Bad != 0 {
				t.Errorf("%s: row %d = %v, want %v", test.name, i, row, softmaxLin[i])
			}
		}
	}

	srv := httptest.NewServer(Handler(dense, 1<<20))
	defer srv.Close()
	// Concurrent requests are serialised by the Predictor and all answered correctly.
	errs := make(chan string, 16)
	for range cap(errs) {
		go func() {
			resp, err := client.Post(srv.URL+"/predict", "application/json", strings.NewReader(`{"inputs": [[3, -1]]}`))
			if err != nil {
				errs <- err.Error()
				return
			}
			defer resp.Body.Close()
			var got Response
			if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || resp.StatusCode != 200 ||
				len(got.Probabilities) != 1 || testutil.Compare(got.Probabilities[0], softmaxLin[1], 1e-6, 0).Bad != 0 {
				errs <- fmt.Sprintf("status %d, %+v, %v", resp.StatusCode, got, err)
				return
			}
			errs <- ""
		}()
	}
	for range cap(errs) {
		if e := <-errs; e != "" {
			t.Errorf("concurrent request: %s", e)
		}
	}

	resp, err := client.Get(srv.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := `{"input":{"name":"x","type":"float32","shape":[-1,2]},"model":"model.onnx","status":"ok"}`; resp.StatusCode != 200 || strings.TrimSpace(string(b)) != want {
		t.Errorf("healthz: %d %s, want %s", resp.StatusCode, b, want)
	}
}

// TestServeShutdown checks that cancelling Serve's context lets a request in flight finish, and
// that a request outlasting the grace period makes Serve give up with an error.
func TestServeShutdown(t *testing.T) {
	for _, test := range []struct {
		name    string
		work    time.Duration // how long the request in flight takes
		grace   time.Duration
		wantErr bool
	}{
		{"finishes in time", 200 * time.Millisecond, 5 * time.Second, false},
		{"outlasts grace", 5 * time.Second, 100 * time.Millisecond, true},
	} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		entered := make(chan struct{})
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			close(entered)
			select {
			case <-time.After(test.work):
				io.WriteString(w, "done")
			case <-r.Context().Done():
			}
		})
		ctx, cancel := context.WithCancel(context.Background())
		served := make(chan error, 1)
		go func() { served <- Serve(ctx, ln, h, test.grace) }()
		answered := make(chan string, 1)
		go func() {
			resp, err := client.Get("http://" + ln.Addr().String() + "/")
			if err != nil {
				answered <- "error: " + err.Error()
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			answered <- string(b)
		}()
		<-entered
		start := time.Now()
		cancel()
		select {
		case err := <-served:
			if (err != nil) != test.wantErr {
				t.Errorf("%s: Serve returned %v after %v", test.name, err, time.Since(start))
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: Serve did not return", test.name)
		}
		if got := <-answered; !test.wantErr && got != "done" {
			t.Errorf("%s: request in flight got %q, want done", test.name, got)
		}
		if test.wantErr && time.Since(start) > 3*time.Second {
			t.Errorf("%s: Serve waited %v, past its grace of %v", test.name, time.Since(start), test.grace)
		}
	}
}
