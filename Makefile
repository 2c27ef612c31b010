# The two commands a newcomer needs (see README.md):
#   make demo   `xreg-onnx finetune` on the bundled pretrained cnn-bn model and Fashion-MNIST subset
#   make test   the test suite
# Each installs what it needs first (scripts/setup.sh).

GO ?= go
BIN := bin/xreg-onnx
OUT ?= out/demo

.PHONY: setup build test fuzz soak demo report-screenshot demo-model vet fixtures fixtures-large test-large zoo-table bench bench-protocol bench-placement bench-placement-full proto bench-ridge bench-lasso bench-spline bench-speed

setup:
	@scripts/setup.sh

build:
	$(GO) build -o $(BIN) ./cmd/xreg-onnx

test: setup
	$(GO) vet ./...
	$(GO) test -count=1 ./...
	$(GO) test -count=1 -tags purego ./internal/blas ./internal/kernels ./executor
	$(GO) test -count=1 -tags nodnnl ./internal/kernels ./executor
	$(MAKE) --no-print-directory fuzz

# Every fuzz target for FUZZTIME each (make test: 10 s; longer: make fuzz FUZZTIME=10m). A crash
# is saved under the package's testdata/fuzz/ and then replays in every go test run.
FUZZTIME ?= 10s
FUZZ_TARGETS := onnximport:FuzzDecodeTensor onnximport:FuzzParseModel dataset:FuzzNPY dataset:FuzzLoadFile internal/predict:FuzzDecodeRequest
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "fuzz $$name ($$pkg, $(FUZZTIME))"; \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) ./$$pkg; \
	done

# The full serve soak: 200 concurrent 8 MiB requests, peak RSS under its documented bound.
soak: setup
	XREG_SOAK=1 $(GO) test -count=1 -run TestServeSoak -v -timeout 20m ./internal/predict
	$(GO) test -count=1 -tags purego ./internal/blas ./internal/kernels ./executor

demo: setup build
	OUT=$(OUT) BIN=$(BIN) scripts/demo.sh

# Screenshot check of the demo's report in headless Chromium (Debian package chromium): renders
# out/demo/report.html offline to docs/report.png and prints it to PDF (scripts/screenshot.sh).
report-screenshot:
	@[ -s $(OUT)/report.html ] || $(MAKE) demo
	scripts/screenshot.sh $(OUT)/report.html docs/report.png

# The demo's pretrained model (needs Debian's python3-torch; committed, so never needed otherwise).
demo-model:
	/usr/bin/python3 scripts/make_demo_model.py

# Fixture models (needs Debian's python3-torch, python3-torchvision, python3-onnx; never needed by
# the Go build or tests). The small ones are committed; the large ones go to testdata/large/ and
# testdata/zoo-large/.
fixtures:
	/usr/bin/python3 scripts/make_fixtures.py
	/usr/bin/python3 scripts/make_zoo.py

fixtures-large:
	/usr/bin/python3 scripts/make_fixtures.py --large
	/usr/bin/python3 scripts/make_zoo.py --large

# Parity and export tests on the large fixtures (vgg11-bn, wrn-16-4, resnet18) and the full-width
# model zoo (testdata/zoo-large).
test-large: setup
	XREG_LARGE=1 $(GO) test -count=1 -timeout 60m ./...

# The model-zoo table (README, docs/ZOO.md) from the committed and the full-width zoo; the
# full-width outcome is recorded in docs/zoo-large.json (about 9 minutes on 2 cores).
zoo-table: setup
	XREG_LARGE=1 $(GO) test -count=1 -timeout 60m ./internal/zoo -run TestZoo -update

bench: setup
	$(GO) test -run '^$$' -bench . -benchtime 5x ./...

# Regenerate the ONNX protobuf bindings (needs protoc and protoc-gen-go v1.36.10).
proto:
	cd internal/onnxpb && protoc --go_out=. --go_opt=paths=source_relative onnx.proto

# The benchmark protocol (../shared/PROTOCOL.md) on mlp-ln and cnn-bn: per-run JSON in
# results/protocol/ (an interrupted run resumes), then the Markdown summary. cnn-bn uses the
# OpenBLAS build (the default build since oneDNN; Debian libopenblas-dev), as the committed results did.
# Both noise placements (issue 14), θ drawn from each seed, fresh Monte-Carlo and deployable rows
# (BENCHMARKS.md, "Noise placement"). The committed numbers used the budget below (20 epochs,
# r = 10, φ lr 0.1, the first 2000 test images) on a shared 2-core machine; PLACEMENT_FLAGS=
# "-epochs 50 -reg-every 30 -reg-lr 0.05 -test-limit 0" runs the full protocol. Per-run JSON resumes.
PLACEMENT_FLAGS ?= -epochs 20 -reg-every 10 -reg-lr 0.1 -test-limit 2000
# The same at the protocol's budget (cnn-bn 50, mlp-ln 100 epochs, r = 30, φ lr 0.05), both splits, seeds 0–2.
bench-placement-full: setup
	$(GO) run ./cmd/xreg-bench -model cnn-bn -methods none,learn -placement post-affine,pre-affine -split unseen -epochs 50 -reg-every 30 -reg-lr 0.05 -test-limit 2000 -out results/placement/unseen-cnn50
	$(GO) run ./cmd/xreg-bench -summary results/placement/unseen-cnn50 > results/placement/unseen-cnn50/SUMMARY.md
	$(GO) run ./cmd/xreg-bench -model cnn-bn -methods none,learn -placement post-affine,pre-affine -split protocol -epochs 50 -reg-every 30 -reg-lr 0.05 -test-limit 2000 -out results/placement/protocol-cnn50
	$(GO) run ./cmd/xreg-bench -summary results/placement/protocol-cnn50 > results/placement/protocol-cnn50/SUMMARY.md
	$(GO) run ./cmd/xreg-bench -model mlp-ln -methods none,learn -placement post-affine,pre-affine -split unseen -epochs 100 -reg-every 30 -reg-lr 0.05 -test-limit 2000 -out results/placement/unseen-mlp100
	$(GO) run ./cmd/xreg-bench -summary results/placement/unseen-mlp100 > results/placement/unseen-mlp100/SUMMARY.md
	$(GO) run ./cmd/xreg-bench -model mlp-ln -methods none,learn -placement post-affine,pre-affine -split protocol -epochs 100 -reg-every 30 -reg-lr 0.05 -test-limit 2000 -out results/placement/protocol-mlp100
	$(GO) run ./cmd/xreg-bench -summary results/placement/protocol-mlp100 > results/placement/protocol-mlp100/SUMMARY.md

bench-placement: setup
	$(GO) run ./cmd/xreg-bench -model cnn-bn -methods none,learn -placement post-affine,pre-affine -split unseen $(PLACEMENT_FLAGS) -out results/placement/unseen-cnn20
	$(GO) run ./cmd/xreg-bench -summary results/placement/unseen-cnn20 > results/placement/unseen-cnn20/SUMMARY.md
	$(GO) run ./cmd/xreg-bench -model cnn-bn -methods none,learn -placement pre-affine,post-affine -split protocol $(PLACEMENT_FLAGS) -out results/placement/protocol-cnn20
	$(GO) run ./cmd/xreg-bench -summary results/placement/protocol-cnn20 > results/placement/protocol-cnn20/SUMMARY.md
	$(GO) run ./cmd/xreg-bench -model cnn-bn -methods learn -placement post-affine,pre-affine -split unseen -seeds 0 -reinit=false -exports=false -test-mc 4 $(PLACEMENT_FLAGS) -out results/placement/unseen-cnn20-fixture-init
	$(GO) run ./cmd/xreg-bench -summary results/placement/unseen-cnn20-fixture-init > results/placement/unseen-cnn20-fixture-init/SUMMARY.md

bench-protocol: setup
	$(GO) run ./cmd/xreg-bench -model mlp-ln -out results/protocol
	$(GO) run ./cmd/xreg-bench -model cnn-bn -out results/protocol
	$(GO) run ./cmd/xreg-bench -summary results/protocol > results/protocol/SUMMARY.md

# The norm-based problems of the protocol and the spline example (seconds each): Markdown tables on
# stdout, as pasted into BENCHMARKS.md; the plots go to docs/.
bench-ridge:
	$(GO) run ./cmd/xreg-normbench -problem ridge

bench-lasso:
	$(GO) run ./cmd/xreg-normbench -problem lasso -plot docs/lasso-path.png

bench-spline:
	$(GO) run ./cmd/xreg-normbench -problem spline -plot docs/spline-fit.png

# Training speed and memory against PyTorch, side by side, alternating (scripts/bench_speed.py;
# needs Debian's python3-torch and python3-torchvision): writes the table into BENCHMARKS.md.
# QUICK=1 runs cnn-bn, mlp-ln and resnet18 only, once; BENCH_SPEED_FLAGS passes more options
# (--models, --threads, --rounds, --out -).
bench-speed: setup
	$(GO) build -o bin/xreg-bench ./cmd/xreg-bench
	nice /usr/bin/python3 scripts/bench_speed.py --go-bin bin/xreg-bench $(if $(QUICK),--quick) $(BENCH_SPEED_FLAGS)
