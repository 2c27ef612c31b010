package executor

import (
	"fmt"
	"math"
	"sort"
	"sync"
	"unsafe"

	"gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/xreg-onnx/xreg-onnx/internal/kernels"
)

// Arena lends output buffers to the ops of one or more Nets. A pooled Net (the default; see
// BuildOptions.KeepValues) takes a buffer from its arena just before an op runs and gives it back
// right after the last op that reads the value, so that a pass holds only the values still to be
// read: the forward activations a backward pass needs, not every intermediate of every pass. Nets
// that share an Arena (BuildOptions.Arena) and run one after another — a trainer's training,
// regularization and evaluation nets — reuse each other's buffers, so that their peak is the
// largest single pass, not the sum. The roots of a net (outputs, loss, gradients) keep buffers of
// their own, valid until the net's next Forward. An Arena is safe for concurrent use.
type Arena struct {
	mu sync.Mutex
	// free are the free chunks of each element type, sorted by size; at and end index them by
	// where they start and end in their allocation, to merge neighbours.
	free    map[tensor.Dtype][]chunk
	at, end map[chunkPos]chunk
	lent    map[unsafe.Pointer]chunk // by the address of the chunk's first element
	allocs  int
	bytes   int64 // total allocated by the arena
	// poison fills every lent buffer with NaN (tests: catches an op that reads what it did not write).
	poison bool
}

// chunk is a span of one allocation (base: a []float32 or []float64) of the arena.
type chunk struct {
	dt     tensor.Dtype
	base   any
	alloc  int // which allocation
	off, n int
}

type chunkPos struct{ alloc, pos int }

// NewArena returns an empty arena.
func NewArena() *Arena {
	return &Arena{free: map[tensor.Dtype][]chunk{}, at: map[chunkPos]chunk{}, end: map[chunkPos]chunk{},
		lent: map[unsafe.Pointer]chunk{}, poison: poisonArenas}
}

// poisonArenas makes NewArena's arenas fill every lent buffer with NaN (set by the package's tests).
var poisonArenas bool

// Bytes returns the bytes of all the buffers the arena allocated (lent or free).
func (a *Arena) Bytes() int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.bytes
}

// minLend is the smallest value (in elements) taken from an arena; smaller ones stay with their op.
// The package's tests lend every value (1).
var minLend = 1024

// chunkAlign is the granularity of chunks in elements (64 bytes of float32), so that every lent
// buffer starts on a cache line of its allocation.
const chunkAlign = 16

// get returns a tensor of the given shape and element type backed by a chunk of a free span — the
// smallest free span that holds it, split when larger (best fit; freed chunks merge with free
// neighbours, so a span freed by large values serves several smaller ones and back) — or by a new
// allocation.
func (a *Arena) get(dt tensor.Dtype, shape tensor.Shape) (*tensor.Dense, error) {
	if dt != tensor.Float32 && dt != tensor.Float64 {
		return nil, fmt.Errorf("executor: arena: element type %v is not supported", dt)
	}
	m := shape.TotalSize()
	n := (m + chunkAlign - 1) / chunkAlign * chunkAlign
	a.mu.Lock()
	list := a.free[dt]
	i := sort.Search(len(list), func(i int) bool { return list[i].n >= n })
	var c chunk
	if i < len(list) {
		c = list[i]
		a.unfree(c)
		if c.n > n {
			a.insertFree(chunk{dt: dt, base: c.base, alloc: c.alloc, off: c.off + n, n: c.n - n})
			c.n = n
		}
	} else {
		c = chunk{dt: dt, alloc: a.allocs, n: n}
		a.allocs++
		if dt == tensor.Float32 {
			c.base = make([]float32, n)
			a.bytes += int64(4 * n)
		} else {
			c.base = make([]float64, n)
			a.bytes += int64(8 * n)
		}
	}
	var d *tensor.Dense
	switch b := c.base.(type) {
	case []float32:
		s := b[c.off : c.off+m : c.off+m]
		a.lent[unsafe.Pointer(unsafe.SliceData(s))] = c
		if a.poison {
			fillNaN(s)
		}
		d = tensor.New(tensor.WithShape(shape...), tensor.WithBacking(s))
	case []float64:
		s := b[c.off : c.off+m : c.off+m]
		a.lent[unsafe.Pointer(unsafe.SliceData(s))] = c
		if a.poison {
			fillNaN(s)
		}
		d = tensor.New(tensor.WithShape(shape...), tensor.WithBacking(s))
	}
	a.mu.Unlock()
	return d, nil
}

// put takes back the buffer of d, which nothing may use afterwards: a chunk the arena lent, or a
// buffer an op allocated itself, which the arena adopts.
func (a *Arena) put(d *tensor.Dense) {
	if d == nil {
		return
	}
	var p unsafe.Pointer
	var c chunk
	switch b := d.Data().(type) {
	case []float32:
		if len(b) == 0 {
			return
		}
		p = unsafe.Pointer(unsafe.SliceData(b))
		c = chunk{dt: tensor.Float32, base: b[:len(b):len(b)], n: len(b)}
	case []float64:
		if len(b) == 0 {
			return
		}
		p = unsafe.Pointer(unsafe.SliceData(b))
		c = chunk{dt: tensor.Float64, base: b[:len(b):len(b)], n: len(b)}
	default:
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if lent, ok := a.lent[p]; ok {
		delete(a.lent, p)
		c = lent
	} else {
		c.alloc = a.allocs
		a.allocs++
		a.bytes += int64(c.n) * int64(c.dt.Size())
	}
	a.insertFree(c)
}

// insertFree adds a free chunk, merged with the free chunks on either side of it.
func (a *Arena) insertFree(c chunk) {
	if l, ok := a.end[chunkPos{c.alloc, c.off}]; ok {
		a.unfree(l)
		c.off, c.n = l.off, l.n+c.n
	}
	if r, ok := a.at[chunkPos{c.alloc, c.off + c.n}]; ok {
		a.unfree(r)
		c.n += r.n
	}
	list := a.free[c.dt]
	i := sort.Search(len(list), func(i int) bool { return list[i].n >= c.n })
	list = append(list, chunk{})
	copy(list[i+1:], list[i:])
	list[i] = c
	a.free[c.dt] = list
	a.at[chunkPos{c.alloc, c.off}] = c
	a.end[chunkPos{c.alloc, c.off + c.n}] = c
}

// unfree removes a chunk from the free chunks.
func (a *Arena) unfree(c chunk) {
	list := a.free[c.dt]
	i := sort.Search(len(list), func(i int) bool { return list[i].n >= c.n })
	for ; i < len(list) && list[i].n == c.n; i++ {
		if list[i].alloc == c.alloc && list[i].off == c.off {
			a.free[c.dt] = append(list[:i], list[i+1:]...)
			break
		}
	}
	delete(a.at, chunkPos{c.alloc, c.off})
	delete(a.end, chunkPos{c.alloc, c.off + c.n})
}

func fillNaN[T float](b []T) {
	nan := T(math.NaN())
	for i := range b {
		b[i] = nan
	}
}

// Lend lends n elements of type dt as scratch memory for one run of an op (kernels.Lender): a
// chunk as for a value; nil for an element type the arena does not hold.
func (a *Arena) Lend(dt tensor.Dtype, n int) *tensor.Dense {
	d, err := a.get(dt, tensor.Shape{n})
	if err != nil {
		return nil
	}
	return d
}

// Return takes back what Lend lent.
func (a *Arena) Return(d *tensor.Dense) { a.put(d) }

var _ kernels.Lender = (*Arena)(nil)

// scratchUser is implemented by ops that can take their scratch memory (oneDNN's reordered
// copies and scratchpad, im2col columns) from a lender for the span of each run: a pooled net's
// ops take it from the net's arena instead of each keeping its own between runs.
type scratchUser interface {
	SetLender(l kernels.Lender)
}

// outputSwapper is implemented by the ops of this package and of internal/kernels: SwapOutput
// installs a lent output buffer and returns the previous one.
type outputSwapper interface {
	SwapOutput(d *tensor.Dense) *tensor.Dense
}

// stateReader is implemented by ops that read what other ops keep between runs outside the
// graph's edges (a loss gradient reading the forward pass's probabilities, a max-pool gradient its
// argmax record): a schedule runs them after those ops.
type stateReader interface {
	ReadsStateOf() []gorgonia.Op
}

// stateLender is implemented by ops that keep state for other ops (stateReader) and can take its
// buffer from an arena (a max pooling's argmax record): a pooled net lends it, float32 elements of
// StateShape, from just before the op runs to just after the last step that reads the state (the
// op itself where none does), instead of the op keeping it for the whole run. SwapState installs a
// buffer (nil: none) and returns the one the op no longer references.
type stateLender interface {
	StateShape() tensor.Shape
	SwapState(d *tensor.Dense) *tensor.Dense
}

// ReadsStateOf: the gradient reads the probabilities of the forward pass (mcNLLOp.probs, mean),
// and its inputs (logits, the output gradient) do not order it after the loss.
func (op *mcNLLGradOp) ReadsStateOf() []gorgonia.Op { return []gorgonia.Op{op.fwd} }

// step is one op node of a pooled program.
type step struct {
	node *gorgonia.Node
	op   gorgonia.Op
	// in are the node's inputs: the step that computes each, or -1 for a leaf (input, param,
	// constant) read from leaves.
	in     []int
	leaves []*gorgonia.Node
	args   []gorgonia.Value
	root   bool
	// lend: the output buffer comes from the arena; swap or pre say how the op takes it.
	lend bool
	swap outputSwapper
	pre  gorgonia.UsePreallocDoer
	// release lists the steps whose buffers go back to the arena after this step ran; fillLeaves
	// and dropLeaves the lazy leaves lent before it runs and given back after; state is the op's
	// stateLender when its state is lent, dropState the steps whose state goes back after this one.
	release                []int
	state                  stateLender
	dropState              []int
	fillLeaves, dropLeaves []int
	val                    gorgonia.Value
	lent                   *tensor.Dense
}

// schedule is a pooled program: the op nodes in an order that runs every node after its inputs.
type schedule struct {
	steps []step
	arena *Arena
	// lazy are the leaves (noise inputs) that get a lent buffer, filled by fill, just before their
	// first reader and give it back after their last.
	lazy []lazyLeaf
	fill func(node *gorgonia.Node, d *tensor.Dense) error
}

type lazyLeaf struct {
	node        *gorgonia.Node
	first, last int
	d           *tensor.Dense
}

// lazyNodes returns the leaves the schedule fills itself.
func (p *schedule) lazyNodes() []*gorgonia.Node {
	out := make([]*gorgonia.Node, len(p.lazy))
	for i, l := range p.lazy {
		out[i] = l.node
	}
	return out
}

// newSchedule orders the op nodes that the roots need and works out, for each value, the step after
// which no op reads it. Of the candidate leaves (lazy), those some step reads and no root is are
// lent a buffer for the span of their readers (lazyNodes), filled by the schedule's fill.
func newSchedule(roots gorgonia.Nodes, arena *Arena, lazy ...*gorgonia.Node) (*schedule, error) {
	p := &schedule{arena: arena}
	index := map[*gorgonia.Node]int{}
	isRoot := map[*gorgonia.Node]bool{}
	for _, r := range roots {
		isRoot[r] = true
	}
	pinned := map[int]bool{}
	// nodeOf finds the node of an op that another op reads private state of (stateReader).
	nodeOf := map[gorgonia.Op]*gorgonia.Node{}
	if len(roots) > 0 {
		for _, n := range roots[0].Graph().AllNodes() {
			if n.Op() != nil {
				nodeOf[n.Op()] = n
			}
		}
	}
	var visit func(n *gorgonia.Node) error
	visit = func(n *gorgonia.Node) error {
		if _, done := index[n]; done {
			return nil
		}
		index[n] = -2 // in progress
		var kids []*gorgonia.Node
		it := n.Graph().From(n.ID())
		for it.Next() {
			c, ok := it.Node().(*gorgonia.Node)
			if !ok {
				return fmt.Errorf("node %v: a child of type %T", n, it.Node())
			}
			kids = append(kids, c)
		}
		if a := n.Op().Arity(); a >= 0 && a != len(kids) {
			return fmt.Errorf("node %v: %d inputs, its op takes %d", n, len(kids), a)
		}
		s := step{node: n, op: n.Op(), root: isRoot[n], in: make([]int, len(kids)), leaves: make([]*gorgonia.Node, len(kids)), args: make([]gorgonia.Value, len(kids))}
		for i, c := range kids {
			s.in[i] = -1
			if isLeaf(c) {
				s.leaves[i] = c
				continue
			}
			if index[c] == -2 {
				return fmt.Errorf("node %v: the graph has a cycle", n)
			}
			if err := visit(c); err != nil {
				return err
			}
			s.in[i] = index[c]
		}
		if r, ok := s.op.(stateReader); ok {
			for _, op := range r.ReadsStateOf() {
				dep, ok := nodeOf[op]
				if !ok {
					return fmt.Errorf("node %v reads the state of op %v, which is not in the graph", n, op)
				}
				if err := visit(dep); err != nil {
					return err
				}
			}
		}
		swap, _ := s.op.(outputSwapper)
		pre, _ := s.op.(gorgonia.UsePreallocDoer)
		if mayAlias(s.op) {
			// A foreign op whose Do may return a view of an input: its inputs and its output
			// keep their buffers. (OverwritesInput only concerns UnsafeDo, never called here;
			// an op that takes a preallocated buffer writes into it, which exec checks.)
			for _, j := range s.in {
				if j >= 0 {
					pinned[j] = true
				}
			}
		}
		s.swap, s.pre = swap, pre
		if l, ok := s.op.(stateLender); ok && l.StateShape().TotalSize() > 0 {
			s.state = l
		}
		if u, ok := s.op.(scratchUser); ok && arena != nil {
			u.SetLender(arena)
		}
		shape := n.Shape()
		s.lend = !s.root && (swap != nil || pre != nil) && shape.Dims() > 0 && shape.TotalSize() >= minLend
		index[n] = len(p.steps)
		p.steps = append(p.steps, s)
		return nil
	}
	for _, r := range roots {
		if err := visit(r); err != nil {
			return nil, err
		}
	}
	// last[j] is the last step that reads step j's value.
	last := make([]int, len(p.steps))
	for i := range last {
		last[i] = i
	}
	for i, s := range p.steps {
		for _, j := range s.in {
			if j >= 0 {
				last[j] = max(last[j], i)
			}
		}
	}
	for _, node := range lazy {
		l := lazyLeaf{node: node, first: -1}
		for i, s := range p.steps {
			for _, leaf := range s.leaves {
				if leaf == node {
					if l.first < 0 {
						l.first = i
					}
					l.last = i
				}
			}
		}
		if l.first >= 0 && !isRoot[node] && !pinnedLeaf(p.steps, node) {
			k := len(p.lazy)
			p.lazy = append(p.lazy, l)
			p.steps[l.first].fillLeaves = append(p.steps[l.first].fillLeaves, k)
			p.steps[l.last].dropLeaves = append(p.steps[l.last].dropLeaves, k)
		}
	}
	// A lent state goes back after the last step that reads it.
	stateLast := map[gorgonia.Op]int{}
	for i, s := range p.steps {
		if s.state != nil {
			stateLast[s.op] = i
		}
	}
	for i, s := range p.steps {
		if r, ok := s.op.(stateReader); ok {
			for _, op := range r.ReadsStateOf() {
				if j, ok := stateLast[op]; ok {
					stateLast[op] = max(j, i)
				}
			}
		}
	}
	for j, s := range p.steps {
		if s.state != nil {
			k := stateLast[s.op]
			p.steps[k].dropState = append(p.steps[k].dropState, j)
		}
	}
	for j := range p.steps {
		if pinned[j] {
			p.steps[j].lend = false
		}
		if p.steps[j].lend {
			p.steps[last[j]].release = append(p.steps[last[j]].release, j)
		}
	}
	return p, nil
}

// isLeaf reports whether a node holds its value without running: an input, a param or a constant.
func isLeaf(n *gorgonia.Node) bool {
	if n.Op() == nil {
		return true
	}
	_, isConst := n.Op().(interface{ Value() gorgonia.Value })
	return isConst
}

// run executes the plan once, binding the roots' values to their nodes.
func (p *schedule) run() error {
	for i := range p.steps {
		s := &p.steps[i]
		for _, k := range s.fillLeaves {
			if err := p.lendLeaf(&p.lazy[k]); err != nil {
				return err
			}
		}
		for k, j := range s.in {
			if j < 0 {
				s.args[k] = s.leaves[k].Value()
			} else {
				s.args[k] = p.steps[j].val
			}
		}
		if err := p.exec(s); err != nil {
			return fmt.Errorf("%v: %w", s.node.Name(), err)
		}
		for _, j := range s.release {
			p.giveBack(&p.steps[j])
		}
		for _, j := range s.dropState {
			p.arena.put(p.steps[j].state.SwapState(nil))
		}
		for _, k := range s.dropLeaves {
			p.arena.put(p.lazy[k].d)
			p.lazy[k].d = nil
		}
	}
	return nil
}

// lendLeaf binds a lent buffer, filled, to a lazy leaf.
func (p *schedule) lendLeaf(l *lazyLeaf) error {
	d, err := p.arena.get(l.node.Dtype(), l.node.Shape())
	if err != nil {
		return err
	}
	if err := p.fill(l.node, d); err != nil {
		return err
	}
	l.d = d
	return gorgonia.Let(l.node, d)
}

// mayAlias reports whether an op's Do may return a view of one of its inputs: a foreign op that
// says it returns a pointer and takes no preallocated buffer.
func mayAlias(op gorgonia.Op) bool {
	if _, ok := op.(outputSwapper); ok {
		return false
	}
	_, pre := op.(gorgonia.UsePreallocDoer)
	return !pre && op.ReturnsPtr()
}

// pinnedLeaf reports whether a foreign op that may alias its inputs reads the leaf.
func pinnedLeaf(steps []step, node *gorgonia.Node) bool {
	for _, s := range steps {
		if mayAlias(s.op) {
			for _, leaf := range s.leaves {
				if leaf == node {
					return true
				}
			}
		}
	}
	return false
}

func (p *schedule) exec(s *step) error {
	var err error
	if s.state != nil {
		d, err := p.arena.get(tensor.Float32, s.state.StateShape())
		if err != nil {
			return err
		}
		p.arena.put(s.state.SwapState(d))
	}
	s.lent = nil
	if s.lend {
		if s.lent, err = p.arena.get(s.node.Dtype(), s.node.Shape()); err != nil {
			return err
		}
	}
	switch {
	case s.lent != nil && s.swap != nil:
		p.arena.put(s.swap.SwapOutput(s.lent))
		s.val, err = s.op.Do(s.args...)
	case s.lent != nil && s.pre != nil:
		s.val, err = s.pre.UsePreallocDo(s.lent, s.args...)
		if v, ok := s.val.(*tensor.Dense); err == nil && (!ok || v != s.lent) {
			// Its value may be a view of an input, which the schedule did not plan for.
			return fmt.Errorf("op %v (%T) did not write into its preallocated buffer (build the net with KeepValues)", s.op, s.op)
		}
	default:
		s.val, err = s.op.Do(s.args...)
	}
	if err != nil {
		return err
	}
	clear(s.args)
	if s.root {
		return gorgonia.UnsafeLet(s.node, s.val)
	}
	return nil
}

// giveBack returns a step's buffer to the arena once its last reader ran.
func (p *schedule) giveBack(s *step) {
	switch {
	case s.swap != nil:
		p.arena.put(s.swap.SwapOutput(nil))
	case s.lent != nil:
		p.arena.put(s.lent)
	}
	s.lent, s.val = nil, nil
}

// ReadsStateOf: the gradient reads the softmax its forward op kept (mcPassOp.probs).
func (op *mcPassGradOp) ReadsStateOf() []gorgonia.Op { return []gorgonia.Op{op.fwd} }
