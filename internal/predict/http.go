package predict

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"io"
	"math"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/xreg-onnx/xreg-onnx/dataset"
)

// Request is the body of POST /predict. Inputs is the batch: one array per example, flat or nested.
// Shape, when given, is the shape of the whole input (batch dimension first), and Inputs is read in
// row-major order; without it a nested example gives its own shape, and a flat one takes the
// model's fixed example shape.
type Request struct {
	Inputs json.RawMessage `json:"inputs"`
	Shape  []int64         `json:"shape,omitempty"`
}

// Response is the body of a successful POST /predict.
type Response struct {
	Model string `json:"model"`
	Result
}

// Handler serves predictions of p: POST /predict (Request → Response, or a PNG or JPEG image with
// Content-Type image/png or image/jpeg, converted by ImageInput with p's preprocessing) and
// GET /healthz. Request
// bodies larger than maxBody bytes are refused with 413; every error is a JSON object
// {"error": "..."} with a 4xx status for the client's mistakes (400 bad JSON, 404, 405, 413, 422
// wrong shape or values) and 5xx for the server's.
func Handler(p *Predictor, maxBody int64) http.Handler {
	model := filepath.Base(p.Model())
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			methodNotAllowed(w, "GET, HEAD")
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "model": model, "input": p.Input()})
	})
	mux.HandleFunc("/predict", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			methodNotAllowed(w, "POST")
			return
		}
		var data []float32
		var shape []int64
		if ct := r.Header.Get("Content-Type"); ct == "image/png" || ct == "image/jpeg" {
			body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body larger than %d bytes", tooBig.Limit))
				return
			}
			var img image.Image
			if err == nil {
				img, err = dataset.DecodeImageBytes(ct+" body", body)
			}
			if err != nil {
				writeError(w, http.StatusBadRequest, fmt.Sprintf("bad %s image: %v", ct, err))
				return
			}
			if data, shape, err = ImageInput(img, p.in, p.pre); err != nil {
				writeError(w, http.StatusUnprocessableEntity, err.Error())
				return
			}
		} else {
			var req Request
			if code, err := decode(w, r, maxBody, &req); err != nil {
				writeError(w, code, err.Error())
				return
			}
			var err error
			if data, shape, err = p.requestTensor(req); err != nil {
				writeError(w, http.StatusUnprocessableEntity, err.Error())
				return
			}
		}
		res, err := p.Predict(r.Context(), data, shape)
		var se *shapeError
		switch {
		case err == nil:
			writeJSON(w, http.StatusOK, Response{Model: model, Result: *res})
		case errors.As(err, &se):
			writeError(w, http.StatusUnprocessableEntity, err.Error())
		case r.Context().Err() != nil:
			writeError(w, http.StatusServiceUnavailable, "request cancelled")
		default:
			writeError(w, http.StatusInternalServerError, err.Error())
		}
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no such endpoint %s; use POST /predict or GET /healthz", r.URL.Path))
	})
	return mux
}

// decode reads one JSON object, with no unknown fields and nothing after it, from a body of at most
// maxBody bytes, and returns the HTTP status to answer on failure.
func decode(w http.ResponseWriter, r *http.Request, maxBody int64, v any) (int, error) {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if err = dec.Decode(&struct{}{}); err == io.EOF {
			return 0, nil
		} else if err == nil {
			err = errors.New("more than one JSON value")
		}
	}
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return http.StatusRequestEntityTooLarge, fmt.Errorf("request body larger than %d bytes", tooBig.Limit)
	case err == io.EOF:
		return http.StatusBadRequest, errors.New("bad JSON: empty body")
	}
	return http.StatusBadRequest, fmt.Errorf("bad JSON: %v", err)
}

// requestTensor turns a request into row-major data and the shape to predict with.
func (p *Predictor) requestTensor(req Request) ([]float32, []int64, error) {
	if len(req.Inputs) == 0 || string(req.Inputs) == "null" {
		return nil, nil, errors.New(`"inputs" is missing`)
	}
	var v any
	if err := json.Unmarshal(req.Inputs, &v); err != nil {
		return nil, nil, fmt.Errorf("inputs: %v", err)
	}
	data, nested, err := flatten(v)
	if err != nil {
		return nil, nil, err
	}
	if req.Shape != nil {
		for _, d := range req.Shape {
			if d < 0 {
				return nil, nil, fmt.Errorf("shape %v has a negative dimension", req.Shape)
			}
		}
		if n := numel(req.Shape); n < 0 {
			return nil, nil, fmt.Errorf("shape %v is too large", req.Shape)
		} else if n != int64(len(data)) {
			return nil, nil, fmt.Errorf("shape %v needs %d values, inputs hold %d", req.Shape, n, len(data))
		}
		return data, req.Shape, nil
	}
	// Flat examples take the model's example shape when it is fixed.
	if m := p.in.Shape; len(nested) == 2 && len(m) > 2 && !slices.Contains(m[1:], -1) && numel(m[1:]) == nested[1] {
		return data, append([]int64{nested[0]}, m[1:]...), nil
	}
	return data, nested, nil
}

// flatten checks that v is a rectangular, non-empty nested array of at least one level of numbers
// and returns its values in row-major order with its shape.
func flatten(v any) ([]float32, []int64, error) {
	top, ok := v.([]any)
	if !ok {
		return nil, nil, fmt.Errorf("inputs must be an array of examples, got %s", jsonKind(v))
	}
	if len(top) == 0 {
		return nil, nil, errors.New("inputs is empty")
	}
	var shape []int64
	for cur := v; ; {
		a, ok := cur.([]any)
		if !ok {
			break
		}
		if len(a) == 0 {
			return nil, nil, fmt.Errorf("inputs holds an empty array")
		}
		shape = append(shape, int64(len(a)))
		cur = a[0]
	}
	data := make([]float32, 0, numel(shape))
	var walk func(v any, depth int, path string) error
	walk = func(v any, depth int, path string) error {
		if depth == len(shape) {
			f, ok := v.(float64)
			if !ok {
				return fmt.Errorf("%s: want a number, got %s (inputs must have shape %v)", path, jsonKind(v), shape)
			}
			if math.Abs(f) > math.MaxFloat32 {
				return fmt.Errorf("%s: %g is out of float32 range", path, f)
			}
			data = append(data, float32(f))
			return nil
		}
		a, ok := v.([]any)
		if !ok || int64(len(a)) != shape[depth] {
			return fmt.Errorf("%s: want an array of %d, got %s (inputs must be rectangular, shape %v)", path, shape[depth], describeJSON(v), shape)
		}
		for i, e := range a {
			if err := walk(e, depth+1, fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(v, 0, "inputs"); err != nil {
		return nil, nil, err
	}
	return data, shape, nil
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case float64:
		return "a number"
	case string:
		return "a string"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

func describeJSON(v any) string {
	if a, ok := v.([]any); ok {
		return fmt.Sprintf("an array of %d", len(a))
	}
	return jsonKind(v)
}

func methodNotAllowed(w http.ResponseWriter, allow string) {
	w.Header().Set("Allow", allow)
	writeError(w, http.StatusMethodNotAllowed, "method not allowed; use "+strings.ReplaceAll(allow, ", ", " or "))
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v) // the client may be gone; nothing to do about it
}

// Serve serves h on ln until ctx is done, then shuts down gracefully: it stops accepting, lets
// requests in flight finish for up to grace, and closes what is left. It returns nil after a clean
// shutdown.
func Serve(ctx context.Context, ln net.Listener, h http.Handler, grace time.Duration) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute,
		WriteTimeout:      2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("predict: serve %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
		<-errc
		return fmt.Errorf("predict: shutdown after %v: %w", grace, err)
	}
	<-errc // http.ErrServerClosed
	return nil
}
