package export_test

import (
	"testing"

	"github.com/xreg-onnx/xreg-onnx/internal/ort/orttest"
)

func TestMain(m *testing.M) { orttest.Main(m) }
