package main

import (
	"fmt"
	"net"
	"os"
	"os/signal"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/xreg-onnx/xreg-onnx/internal/ort"
	"github.com/xreg-onnx/xreg-onnx/internal/predict"
)

// serveGrace is how long serve lets requests in flight finish after SIGINT or SIGTERM.
const serveGrace = 10 * time.Second

func init() {
	commands = append(commands, &cli.Command{
		Name:      "serve",
		Usage:     "serve a model's class probabilities over HTTP (POST /predict, GET /healthz)",
		ArgsUsage: "model.onnx",
		Description: `POST /predict takes {"inputs": [example, ...], "shape": [optional full shape]}, each example
a flat or nested array of numbers, and answers {"probabilities": [[...]], "classes": [...],
"model": "...", "output": "...", "softmax_applied": bool}. Errors are {"error": "..."} with a 4xx
status for the client's mistakes. A PNG or JPEG image posted with Content-Type image/png or
image/jpeg is one example, preprocessed as the model records it from train (resize, crop,
mean/std, channel order, layout) or as the preprocessing flags say. JSON bodies are decoded as
they stream in, so a request holds about its input tensor (4 bytes per value); at most
--max-concurrent requests are decoded and run at once, --queue more wait (up to 30 s), and past
that the answer is 503 with Retry-After. Runs are serialised; SIGINT or SIGTERM stops the server
after the requests in flight (at most 10 s). Flags may come before or after the model file.`,
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "model", Usage: "deprecated: ONNX model `FILE` (give the model as the argument)"},
			&cli.StringFlag{Name: "addr", Value: "127.0.0.1:8080", Usage: "listen on `HOST:PORT`"},
			&cli.StringFlag{Name: "max-body", Value: "8MiB", Usage: "largest request body accepted (`SIZE`: bytes, or with B, KB, KiB, MB, MiB, GB, GiB)"},
			&cli.IntFlag{Name: "threads", Value: 1, Usage: "onnxruntime intra-op threads (`N`)"},
			&cli.IntFlag{Name: "max-concurrent", Value: predict.DefaultLimits(0).MaxInFlight, Usage: "requests decoded and run at once (`N`); each holds about its input tensor in memory"},
			&cli.IntFlag{Name: "queue", Value: predict.DefaultLimits(0).MaxQueue, Usage: "requests waiting for a turn (`N`, 0: none); past it the answer is 503 with Retry-After"},
		}, preprocessFlags(" (default: what the model records, from train)")...),
		Action: func(c *cli.Context) error {
			return runServe(c)
		},
	})
}

func runServe(c *cli.Context) error {
	maxBody, err := parseByteSize(c.String("max-body"))
	if err != nil {
		return fmt.Errorf("serve: --max-body: %w", err)
	}
	model, err := modelArg(c, "serve")
	if err != nil {
		return err
	}
	sess, err := ort.Open(model, &ort.Options{IntraOpThreads: c.Int("threads")})
	if err != nil {
		return err
	}
	defer sess.Close()
	p, err := predict.New(sess)
	if err != nil {
		return err
	}
	spec, err := preprocessSpec(c, "serve", model, nil)
	if err != nil {
		return err
	}
	p.SetPreprocess(spec)
	limits := predict.DefaultLimits(maxBody)
	limits.MaxInFlight, limits.MaxQueue = c.Int("max-concurrent"), c.Int("queue")
	if limits.MaxQueue == 0 {
		limits.MaxQueue = -1 // no queue: NewHandler reads 0 as the default
	}
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	ln, err := net.Listen("tcp", c.String("addr"))
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	fmt.Fprintf(c.App.Writer, "serving %s (input %s) on http://%s: POST /predict, GET /healthz\n", model, p.Input(), ln.Addr())
	if err := predict.Serve(ctx, ln, predict.NewHandler(p, limits), serveGrace); err != nil {
		return err
	}
	fmt.Fprintln(c.App.Writer, "serve: stopped")
	return nil
}

var byteSizeRE = regexp.MustCompile(`^([0-9]+(?:\.[0-9]+)?)\s*([kmg]i?b|b)?$`)

// parseByteSize parses a positive size such as 512, 64KB, 8MiB or 1.5GiB (KB = 1000 bytes,
// KiB = 1024; case-insensitive).
func parseByteSize(s string) (int64, error) {
	m := byteSizeRE.FindStringSubmatch(strings.ToLower(strings.TrimSpace(s)))
	if m == nil {
		return 0, fmt.Errorf("size %q: want a number of bytes, optionally with B, KB, KiB, MB, MiB, GB or GiB", s)
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0, fmt.Errorf("size %q: %w", s, err)
	}
	unit := map[string]float64{"": 1, "b": 1, "kb": 1e3, "kib": 1 << 10, "mb": 1e6, "mib": 1 << 20, "gb": 1e9, "gib": 1 << 30}[m[2]]
	n := v * unit
	if n < 1 || n > 1<<40 {
		return 0, fmt.Errorf("size %q: want between 1 byte and 1 TiB", s)
	}
	return int64(n), nil
}
