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
	"sync/atomic"
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

// Limits bound what the server holds at once. A request's memory is about the tensor it sends
// (4 bytes per value; the body is decoded as it streams in), so at most MaxInFlight such tensors
// exist at a time; requests beyond them wait in a queue of MaxQueue (holding no body), and past
// that are answered 503 with Retry-After.
type Limits struct {
	// MaxBody is the largest request body accepted (413 past it).
	MaxBody int64
	// MaxInFlight is how many requests are decoded and run at once (default 4).
	MaxInFlight int
	// MaxQueue is how many more wait for a turn (default 64; a negative value: none).
	MaxQueue int
	// QueueWait is how long a request waits for its turn before a 503 (default 30 s).
	QueueWait time.Duration
}

// DefaultLimits returns the limits serve uses unless told otherwise, for a body limit.
func DefaultLimits(maxBody int64) Limits {
	return Limits{MaxBody: maxBody, MaxInFlight: 4, MaxQueue: 64, QueueWait: 30 * time.Second}
}

// bodyReadTime is how long a request's body may take to arrive once it has its turn.
const bodyReadTime = time.Minute

// retryAfter is the Retry-After of a 503, in seconds.
const retryAfter = "1"

// Handler serves predictions of p with DefaultLimits(maxBody); see NewHandler.
func Handler(p *Predictor, maxBody int64) http.Handler { return NewHandler(p, DefaultLimits(maxBody)) }

// NewHandler serves predictions of p: POST /predict (Request → Response, or a PNG or JPEG image
// with Content-Type image/png or image/jpeg, converted by ImageInput with p's preprocessing) and
// GET /healthz. Request bodies larger than lim.MaxBody bytes are refused with 413; every error is
// a JSON object
// {"error": "..."} with a 4xx status for the client's mistakes (400 bad JSON, 404, 405, 413, 422
// wrong shape or values), 503 with Retry-After when the server is full (see Limits) and 5xx for
// the server's own failures.
func NewHandler(p *Predictor, lim Limits) http.Handler {
	def := DefaultLimits(lim.MaxBody)
	if lim.MaxInFlight <= 0 {
		lim.MaxInFlight = def.MaxInFlight
	}
	if lim.MaxQueue == 0 {
		lim.MaxQueue = def.MaxQueue
	}
	if lim.QueueWait <= 0 {
		lim.QueueWait = def.QueueWait
	}
	g := &gate{slots: make(chan struct{}, lim.MaxInFlight), maxQueue: int64(max(lim.MaxQueue, 0)), wait: lim.QueueWait}
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
		release, err := g.enter(r.Context())
		if err != nil {
			// Read the body away (bounded, into no buffer) so the client sees the answer rather
			// than a connection reset mid-upload.
			_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(bodyReadTime))
			io.Copy(io.Discard, http.MaxBytesReader(w, r.Body, lim.MaxBody))
			w.Header().Set("Retry-After", retryAfter)
			writeError(w, http.StatusServiceUnavailable, err.Error())
			return
		}
		defer release()
		// The wait in the queue does not count against the time to read the body.
		_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(bodyReadTime))
		var data []float32
		var shape []int64
		if ct := r.Header.Get("Content-Type"); ct == "image/png" || ct == "image/jpeg" {
			body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, lim.MaxBody))
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
			// A JSON number takes at least 2 bytes with its separator.
			values, nested, given, err := decodeRequest(http.MaxBytesReader(w, r.Body, lim.MaxBody), int(min(lim.MaxBody/2+1, math.MaxInt32)))
			if err != nil {
				var tooBig *http.MaxBytesError
				var re *requestError
				switch {
				case errors.As(err, &tooBig):
					writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body larger than %d bytes", tooBig.Limit))
				case errors.As(err, &re):
					writeError(w, re.code, err.Error())
				default:
					writeError(w, http.StatusBadRequest, err.Error())
				}
				return
			}
			if data, shape, err = p.requestTensor(values, nested, given); err != nil {
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

// gate admits MaxInFlight requests at a time and queues maxQueue more.
type gate struct {
	slots    chan struct{}
	queued   atomic.Int64
	maxQueue int64
	wait     time.Duration
}

// enter waits for a slot; it fails at once when the queue is full, or after the wait.
func (g *gate) enter(ctx context.Context) (release func(), err error) {
	release = func() { <-g.slots }
	select {
	case g.slots <- struct{}{}:
		return release, nil
	default:
	}
	if g.queued.Add(1) > g.maxQueue {
		g.queued.Add(-1)
		return nil, fmt.Errorf("server busy: %d requests running and %d waiting; retry later", cap(g.slots), g.maxQueue)
	}
	defer g.queued.Add(-1)
	t := time.NewTimer(g.wait)
	defer t.Stop()
	select {
	case g.slots <- struct{}{}:
		return release, nil
	case <-t.C:
		return nil, fmt.Errorf("server busy: no turn within %v; retry later", g.wait)
	case <-ctx.Done():
		return nil, fmt.Errorf("request cancelled while waiting: %w", context.Cause(ctx))
	}
}

// requestTensor checks a decoded request (values, their nested shape, the optional shape field)
// and returns the data and the shape to predict with.
func (p *Predictor) requestTensor(data []float32, nested, shape []int64) ([]float32, []int64, error) {
	if shape != nil {
		for _, d := range shape {
			if d < 0 {
				return nil, nil, fmt.Errorf("shape %v has a negative dimension", shape)
			}
		}
		if n := numel(shape); n < 0 {
			return nil, nil, fmt.Errorf("shape %v is too large", shape)
		} else if n != int64(len(data)) {
			return nil, nil, fmt.Errorf("shape %v needs %d values, inputs hold %d", shape, n, len(data))
		}
		return data, shape, nil
	}
	// Flat examples take the model's example shape when it is fixed.
	if m := p.in.Shape; len(nested) == 2 && len(m) > 2 && !slices.Contains(m[1:], -1) && numel(m[1:]) == nested[1] {
		return data, append([]int64{nested[0]}, m[1:]...), nil
	}
	return data, nested, nil
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
