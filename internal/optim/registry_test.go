package optim

import (
	"errors"
	"reflect"
	"testing"
)

func TestNew(t *testing.T) {
	for _, tc := range []struct {
		spec Spec
		want Optimizer
	}{
		{Spec{Name: AdamName}, &Adam{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}},
		{Spec{Name: AdamName, LR: 0.05, Beta2: 0.99, WeightDecay: 0.1}, &Adam{LR: 0.05, Beta1: 0.9, Beta2: 0.99, Eps: 1e-8, WeightDecay: 0.1}},
		{Spec{Name: SGDName}, &SGD{LR: 1e-2}},
		{Spec{Name: SGDName, LR: 0.1, Momentum: 0.9}, &SGD{LR: 0.1, Momentum: 0.9}},
	} {
		got, err := New(tc.spec)
		if err != nil {
			t.Fatal(err)
		}
		// Compare the hyperparameters only (the slot maps are empty either way).
		switch w := tc.want.(type) {
		case *Adam:
			g, ok := got.(*Adam)
			if !ok || g.LR != w.LR || g.Beta1 != w.Beta1 || g.Beta2 != w.Beta2 || g.Eps != w.Eps || g.WeightDecay != w.WeightDecay {
				t.Errorf("New(%+v) = %+v, want %+v", tc.spec, got, w)
			}
		case *SGD:
			g, ok := got.(*SGD)
			if !ok || g.LR != w.LR || g.Momentum != w.Momentum || g.WeightDecay != w.WeightDecay {
				t.Errorf("New(%+v) = %+v, want %+v", tc.spec, got, w)
			}
		}
	}
	if _, err := New(Spec{Name: "lion"}); !errors.Is(err, ErrUnknown) {
		t.Errorf("unknown name: %v", err)
	}
	if got := Names(); !reflect.DeepEqual(got, []string{"adam", "sgd"}) {
		t.Errorf("Names = %v", got)
	}
	if d, ok := Default(AdamName); !ok || d.LR != 1e-3 {
		t.Errorf("Default(adam) = %+v, %v", d, ok)
	}
}
