package kernels

import (
	"fmt"

	"gorgonia.org/tensor"
)

// Window is the sliding-window geometry of a Conv or pooling node over one or two spatial
// dimensions, with the meaning of the ONNX attributes of the same names.
type Window struct {
	// Kernel is kernel_shape; for Conv, nil means the weight's spatial shape.
	Kernel []int
	// Strides and Dilations default to 1 per spatial dimension when nil.
	Strides   []int
	Dilations []int
	// Pads are [begin…, end…] per spatial dimension, ONNX order: [top, left, bottom, right] in 2-D,
	// [begin, end] in 1-D. Nil means no padding. Ignored unless AutoPad is NOTSET.
	Pads []int
	// AutoPad is "" or "NOTSET" (use Pads), "SAME_UPPER", "SAME_LOWER" or "VALID".
	AutoPad string
	// CeilMode rounds pooling output sizes up (a window that would start in the end padding is
	// dropped, as in PyTorch and onnxruntime).
	CeilMode bool
}

// geom is a Window resolved against an input shape, in 2-D form: a 1-D window is a 2-D one of
// height 1.
type geom struct {
	rank           int // rank of the input tensor: 3 (1-D) or 4 (2-D)
	n, c, h, w     int
	kh, kw         int
	sh, sw         int
	dh, dw         int
	pt, pl, pb, pr int
	oh, ow         int
}

func (g *geom) String() string {
	return fmt.Sprintf("k%dx%d s%dx%d d%dx%d p%d,%d,%d,%d in%dx%dx%dx%d out%dx%d",
		g.kh, g.kw, g.sh, g.sw, g.dh, g.dw, g.pt, g.pl, g.pb, g.pr, g.n, g.c, g.h, g.w, g.oh, g.ow)
}

// outShape returns the output shape for c output channels, in the input's rank.
func (g *geom) outShape(c int) tensor.Shape {
	if g.rank == 3 {
		return tensor.Shape{g.n, c, g.ow}
	}
	return tensor.Shape{g.n, c, g.oh, g.ow}
}

// resolve computes the geometry of win over input shape in (N×C×W or N×C×H×W). kernel is the
// kernel shape to use when win.Kernel is nil; pool selects pooling rules (ceil_mode).
func (win Window) resolve(in tensor.Shape, kernel []int) (geom, error) {
	var g geom
	if len(in) != 3 && len(in) != 4 {
		return g, fmt.Errorf("input shape %v: want N×C×W or N×C×H×W", in)
	}
	nd := len(in) - 2
	if win.Kernel != nil {
		kernel = win.Kernel
	}
	if len(kernel) != nd {
		return g, fmt.Errorf("kernel shape %v does not match the %d spatial dimensions of input %v", kernel, nd, in)
	}
	get := func(name string, v []int, n, def int) ([]int, error) {
		if v == nil {
			out := make([]int, n)
			for i := range out {
				out[i] = def
			}
			return out, nil
		}
		if len(v) != n {
			return nil, fmt.Errorf("%s %v: want %d values", name, v, n)
		}
		return v, nil
	}
	strides, err := get("strides", win.Strides, nd, 1)
	if err != nil {
		return g, err
	}
	dils, err := get("dilations", win.Dilations, nd, 1)
	if err != nil {
		return g, err
	}
	pads, err := get("pads", win.Pads, 2*nd, 0)
	if err != nil {
		return g, err
	}
	g.rank = len(in)
	g.n, g.c = in[0], in[1]
	sp := []int(in[2:])
	begin, end, out := make([]int, nd), make([]int, nd), make([]int, nd)
	for i := 0; i < nd; i++ {
		k, s, d, x := kernel[i], strides[i], dils[i], sp[i]
		if k < 1 || s < 1 || d < 1 || x < 1 {
			return g, fmt.Errorf("spatial dimension %d: kernel %d, stride %d, dilation %d, input size %d must all be ≥ 1", i, k, s, d, x)
		}
		dk := (k-1)*d + 1
		switch win.AutoPad {
		case "", "NOTSET":
			begin[i], end[i] = pads[i], pads[i+nd]
			if begin[i] < 0 || end[i] < 0 {
				return g, fmt.Errorf("pads %v: negative padding is not supported", pads)
			}
			span := x + begin[i] + end[i] - dk
			if span < 0 {
				return g, fmt.Errorf("spatial dimension %d: padded input %d is smaller than the dilated kernel %d", i, x+begin[i]+end[i], dk)
			}
			if win.CeilMode {
				out[i] = (span+s-1)/s + 1
				if (out[i]-1)*s >= x+begin[i] {
					out[i]--
				}
			} else {
				out[i] = span/s + 1
			}
		case "VALID":
			if x < dk {
				return g, fmt.Errorf("spatial dimension %d: input %d is smaller than the dilated kernel %d", i, x, dk)
			}
			out[i] = (x-dk)/s + 1
		case "SAME_UPPER", "SAME_LOWER":
			out[i] = (x + s - 1) / s
			total := (out[i]-1)*s + dk - x
			if total < 0 {
				total = 0
			}
			small := total / 2
			if win.AutoPad == "SAME_UPPER" {
				begin[i], end[i] = small, total-small
			} else {
				begin[i], end[i] = total-small, small
			}
		default:
			return g, fmt.Errorf("auto_pad %q is not supported (NOTSET, SAME_UPPER, SAME_LOWER, VALID are)", win.AutoPad)
		}
		if out[i] < 1 {
			return g, fmt.Errorf("spatial dimension %d: empty output", i)
		}
	}
	if nd == 1 {
		g.h, g.kh, g.sh, g.dh, g.oh = 1, 1, 1, 1, 1
		g.w, g.kw, g.sw, g.dw, g.pl, g.pr, g.ow = sp[0], kernel[0], strides[0], dils[0], begin[0], end[0], out[0]
	} else {
		g.h, g.kh, g.sh, g.dh, g.pt, g.pb, g.oh = sp[0], kernel[0], strides[0], dils[0], begin[0], end[0], out[0]
		g.w, g.kw, g.sw, g.dw, g.pl, g.pr, g.ow = sp[1], kernel[1], strides[1], dils[1], begin[1], end[1], out[1]
	}
	return g, nil
}

// validRange returns the output positions [lo, hi) of [0, n) whose tap o·s+off falls in [0, size).
func validRange(n, s, off, size int) (lo, hi int) {
	if off < 0 {
		lo = (-off + s - 1) / s
	}
	last := size - 1 - off
	if last < 0 {
		return 0, 0
	}
	hi = last/s + 1
	if hi > n {
		hi = n
	}
	if lo > hi {
		lo = hi
	}
	return lo, hi
}
